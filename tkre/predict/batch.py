"""Prediction over files: in this process, or on Ray Data with an actor pool that loads the model once per actor.

A predictor is a fitted ``FewShotRelationClassifier`` (an encoder export plus support and
descriptions) or a kept ``RelationClassifier`` (a folder with ``classifier.json``). Each output row is
the input record plus ``relation`` (null: none of the above), ``score`` and ``top_k``. On Ray Data the
input (JSON lines or Parquet, local or ``s3://``) is read in blocks, each actor (CPU or GPU) loads the
encoder and the driver's prototypes once, and the output is a folder of JSON-lines or Parquet parts.

Usage::

    predictor = load_predictor("runs/scl/export", support="support.jsonl", schema="schema.yaml")
    found = predictions(predictor.build(), raw_records("queries.jsonl"), "queries.jsonl", top_k=3)  # here
    predict_on_ray(predictor, "s3://b/queries.jsonl", "s3://b/predictions/", BatchSettings(actors=2))
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass

import torch

from tkre.config import positive
from tkre.data.records import FORMATS, raw_records, read_records, record_format, record_instance
from tkre.data.schemas import read_schema_source, relation_schemas
from tkre.errors import ConfigError, DataError
from tkre.eval.finetune import CLASSIFIER_FILE, RelationClassifier
from tkre.predict.fewshot import FewShotRelationClassifier, ranked
from tkre.storage import download_folder, is_remote, open_storage


@dataclass
class BatchSettings:
    actors: int = positive(2)
    batch_size: int = positive(64)  # records per batch an actor scores
    cpus_per_actor: float = positive(1.0)
    use_gpu: bool = False  # one GPU per actor


@dataclass
class Predictor:
    """What an actor needs to rebuild the model: the model, and the few-shot prototypes (None: a kept classifier)."""

    model: str
    relations: list[str]
    prototypes: torch.Tensor | None = None
    settings: dict | None = None

    def build(self, device: str | None = None):
        """The model in this process: ``scores(instances)`` [N, relations] is what it offers."""
        if self.prototypes is None:
            return RelationClassifier.from_pretrained(self.model, device)
        clf = FewShotRelationClassifier.from_pretrained(self.model, device, **self.settings)
        clf.relations, clf.prototypes = self.relations, self.prototypes
        return clf


def descriptions_of(schema: str | None, relations: set[str], data_dir: str | None = None) -> dict[str, str]:
    """"name: description" texts: of the support's relations from a dataset source, or of every relation a
    user schema file holds (those without support are then scored by their description alone)."""
    if schema is None:
        return {}
    if schema in ("fewrel", "wiki80", "semeval"):
        return {r: s.text for r, s in relation_schemas(relations, schema, data_dir).items()}
    return {r: s.text for r, s in read_schema_source(schema).items()}


def load_predictor(model: str, support: str | None = None, schema: str | None = None, fmt: str | None = None,
                   data_dir: str | None = None, **settings) -> Predictor:
    """A kept classifier as it is, or an encoder export fitted on ``support`` (and ``schema``'s descriptions)."""
    model = local_model(model)
    if os.path.isfile(os.path.join(model, CLASSIFIER_FILE)):
        return Predictor(model, RelationClassifier.from_pretrained(model, "cpu").labels)
    shots = read_records(support, fmt, need_relation=True) if support else []
    clf = FewShotRelationClassifier.from_pretrained(model, "cpu", **settings)
    clf.fit(shots, descriptions_of(schema, {x.relation for x in shots}, data_dir))
    return Predictor(model, clf.relations, clf.prototypes, settings)


def local_model(model: str) -> str:
    """``model`` itself, or a local download of an ``s3://`` export (kept for the life of this process)."""
    if not is_remote(model):
        return model
    return str(download_folder(model, tempfile.mkdtemp(prefix="tkre-model-")))


def predictions(model, records: list[tuple[object, dict]], source: str, top_k: int = 3,
                threshold: float | None = None, batch_size: int = 64) -> list[dict]:
    """The prediction of each ``(where, record)``; a bad record raises ``DataError`` naming ``source``."""
    instances = [record_instance(r, source, where) for where, r in records]
    scores = model.scores(instances, batch_size=batch_size) if instances else torch.empty((0, len(relations_of(model))))
    return ranked(scores, relations_of(model), top_k, threshold)


def relations_of(model) -> list[str]:
    return model.relations if isinstance(model, FewShotRelationClassifier) else model.labels


class BatchPredictor:
    """A Ray Data actor: the model, built once, scores each batch of records."""

    def __init__(self, predictor: Predictor, source: str, top_k: int, threshold: float | None, threads: int):
        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = Predictor(local_model(predictor.model), predictor.relations, predictor.prototypes,
                               predictor.settings).build(device)
        self.source, self.top_k, self.threshold = source, top_k, threshold

    def __call__(self, batch):
        """The batch (an Arrow table) with ``relation``, ``score`` and ``top_k`` columns added."""
        import pyarrow as pa

        records = arrow_records(batch)
        found = predictions(self.model, records, self.source, self.top_k, self.threshold, len(records))
        top = pa.list_(pa.struct([("relation", pa.string()), ("score", pa.float64())]))
        for name, kind in (("relation", pa.string()), ("score", pa.float64()), ("top_k", top)):
            batch = batch.append_column(name, pa.array([p[name] for p in found], kind))
        return batch


def arrow_records(batch) -> list[tuple[str, dict]]:
    """``(where, record)`` of an Arrow batch: null fields (another record's columns) dropped, each record
    named by its ``id``, else by the start of its text."""
    records = [{k: v for k, v in r.items() if v is not None} for r in batch.to_pylist()]
    return [(f"id {r['id']}" if "id" in r else f"with text {str(r.get('text', r.get('tokens')))[:40]!r}", r)
            for r in records]


def bad_records(batch, source: str):
    """The records of a batch that do not parse: their name, field and problem (a table, maybe empty)."""
    import pyarrow as pa

    bad = []
    for where, record in arrow_records(batch):
        try:
            record_instance(record, source, where)
        except DataError as error:
            bad.append({"record": str(error.record), "field": error.field, "problem": error.problem})
    return pa.Table.from_pylist(bad, schema=pa.schema([("record", pa.string()), ("field", pa.string()),
                                                      ("problem", pa.string())]))


def arrow_filesystem(uri: str):
    """A pyarrow S3 filesystem for ``s3://`` URIs that honours ``AWS_ENDPOINT_URL``; None for local paths."""
    if not is_remote(uri):
        return None
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    return fs.S3FileSystem(endpoint_override=endpoint, region=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def arrow_path(uri: str) -> str:
    return uri.removeprefix("s3://")


def predict_on_ray(predictor: Predictor, source: str, output: str, batch: BatchSettings, top_k: int = 3,
                   threshold: float | None = None, input_format: str | None = None,
                   output_format: str = "jsonl") -> dict:
    """Scores every record of ``source`` on a Ray Data actor pool into the folder ``output``; returns counts."""
    import ray

    from tkre.launch.session import init_ray

    fmt = record_format(source, input_format)
    if output_format not in FORMATS:
        raise ConfigError(f"output format {output_format!r}: choose one of {', '.join(FORMATS)}")
    open_storage(output).check()
    init_ray()
    fs = arrow_filesystem(source)
    io_tasks = {"num_cpus": 0}  # reading and writing wait on storage; the actors hold the CPUs
    if fmt == "json":  # one JSON list: read here (Arrow's JSON reader, used for JSON lines, streams objects only)
        ds = ray.data.from_items([r for _, r in raw_records(source, fmt)])
    elif fmt == "parquet":
        ds = ray.data.read_parquet(arrow_path(source) if fs else source, filesystem=fs, ray_remote_args=io_tasks)
    else:
        ds = ray.data.read_json(arrow_path(source) if fs else source, filesystem=fs, ray_remote_args=io_tasks)
    bad = ds.map_batches(bad_records, batch_format="pyarrow", fn_kwargs={"source": source},
                         **io_tasks).take_all()
    if bad:  # checked before anything is written
        raise DataError(source, bad[0]["record"], bad[0]["field"], bad[0]["problem"])
    out = ds.map_batches(BatchPredictor, batch_format="pyarrow", batch_size=batch.batch_size,
                         fn_constructor_kwargs=dict(predictor=predictor, source=source, top_k=top_k,
                                                    threshold=threshold, threads=int(batch.cpus_per_actor)),
                         num_cpus=batch.cpus_per_actor, num_gpus=1 if batch.use_gpu else 0,
                         compute=ray.data.ActorPoolStrategy(size=batch.actors))
    out_fs = arrow_filesystem(output)
    target = arrow_path(output) if out_fs else output
    if output_format == "parquet":
        out.write_parquet(target, filesystem=out_fs, ray_remote_args=io_tasks)
    else:
        out.write_json(target, filesystem=out_fs, ray_remote_args=io_tasks)
    return {"input": source, "output": output, "actors": batch.actors}

