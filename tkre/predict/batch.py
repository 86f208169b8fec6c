"""Prediction over files: in this process, or on Ray Data with an actor pool that loads the model once per actor.

A predictor is a fitted ``FewShotRelationClassifier`` (an encoder export plus support and
descriptions) or a kept ``RelationClassifier`` (a folder with ``classifier.json``). Each output row is
the input record plus ``relation`` (null: none of the above), ``score`` and ``top_k`` (replacing input
fields of those names). On Ray Data the
input (JSON lines or Parquet, local or ``s3://``) is read in blocks, each actor (CPU or GPU) loads the
encoder and the driver's prototypes once, and the output is a folder of JSON-lines or Parquet parts.

Usage::

    predictor = load_predictor("runs/scl/export", support="support.jsonl", schema="schema.yaml")
    found = predictions(predictor.build(), raw_records("queries.jsonl"), "queries.jsonl", top_k=3)  # here
    predict_on_ray(predictor, "s3://b/queries.jsonl", "s3://b/predictions/", BatchSettings(actors=2))
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass

import torch

from tkre.config import positive
from tkre.data.datasets import DATASETS, read_schema_source, relation_schemas
from tkre.data.records import FORMATS, arrow_records, raw_records, read_records, record_format, record_instance
from tkre.errors import ConfigError, UserError
from tkre.models.classifier import CLASSIFIER_FILE, RelationClassifier
from tkre.models.scoring import check_threshold
from tkre.predict.fewshot import FewShotRelationClassifier, ranked
from tkre.storage import (arrow_location, delete_folder, download_folder, is_remote, join, open_storage, read_file,
                          write_file)


@dataclass
class BatchSettings:
    actors: int = positive(2)
    batch_size: int = positive(512)  # records per call of an actor (encoded in length-sorted batches of 64)
    blocks_per_actor: int = positive(8)  # the input is read in actors x this many blocks, for balance
    cpus_per_actor: float = positive(1.0)
    use_gpu: bool = False  # one GPU per actor


@dataclass
class Predictor:
    """What an actor needs to rebuild the model: the model, and the few-shot prototypes (None: a kept classifier)."""

    model: str
    relations: list[str]
    prototypes: torch.Tensor | None = None
    settings: dict | None = None
    metric: str | None = None  # the few-shot scores' metric (None: a kept classifier's probabilities)

    def build(self, device: str | None = None):
        """The model in this process: ``scores(instances)`` [N, relations] is what it offers."""
        if self.prototypes is None:
            return RelationClassifier.from_pretrained(self.model, device)
        clf = FewShotRelationClassifier.from_pretrained(self.model, device, **self.settings)
        clf.relations, clf.prototypes = self.relations, self.prototypes
        return clf

    def check_threshold(self, threshold: float | None) -> None:
        """A none-of-the-above threshold outside the range of this predictor's scores is a ``ConfigError``."""
        check_threshold(threshold, self.metric)


def descriptions_of(schema: str | None, relations: set[str], data_dir: str | None = None) -> dict[str, str]:
    """"name: description" texts: of the support's relations from a dataset source, or of every relation a
    user schema file holds (those without support are then scored by their description alone)."""
    if schema is None:
        return {}
    if schema in DATASETS:
        return {r: s.text for r, s in relation_schemas(relations, schema, data_dir).items()}
    return {r: s.text for r, s in read_schema_source(schema).items()}


def load_predictor(model: str, support: str | None = None, schema: str | None = None, fmt: str | None = None,
                   data_dir: str | None = None, **settings) -> Predictor:
    """A kept classifier as it is, or an encoder export fitted on ``support`` (and ``schema``'s descriptions)."""
    model = local_model(model)
    kept = os.path.join(model, CLASSIFIER_FILE)
    if os.path.isfile(kept):  # its labels; each process that scores loads the classifier itself
        with open(kept, encoding="utf-8") as f:
            return Predictor(model, json.load(f)["labels"])
    if not (support or schema):
        raise ConfigError("--support: an encoder needs labelled support records (or --schema descriptions); "
                          "a classifier kept by `tkre finetune --save` needs neither")
    shots = read_records(support, fmt, need_relation=True) if support else []
    clf = FewShotRelationClassifier.from_pretrained(model, "cpu", **settings)
    clf.fit(shots, descriptions_of(schema, {x.relation for x in shots}, data_dir))
    return Predictor(model, clf.relations, clf.prototypes, settings, clf.settings.metric)


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
    """A Ray Data actor: the model, built once, scores each batch of records and writes it as one part of the
    output folder itself (Ray's write tasks would each start a worker process beside the busy actors)."""

    def __init__(self, predictor: Predictor, source: str, top_k: int, threshold: float | None, threads: int,
                 output: str, output_format: str):
        torch.set_num_threads(max(1, threads))
        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model = Predictor(local_model(predictor.model), predictor.relations, predictor.prototypes,
                               predictor.settings).build(device)
        self.source, self.top_k, self.threshold = source, top_k, threshold
        self.output, self.output_format = output, output_format
        self.name, self.parts = uuid.uuid4().hex[:8], 0

    def __call__(self, batch):
        """Writes the batch (an Arrow table) with ``relation``, ``score`` and ``top_k`` columns added; returns its size."""
        import pyarrow as pa

        records = arrow_records(batch)
        found = predictions(self.model, records, self.source, self.top_k, self.threshold)
        top = pa.list_(pa.struct([("relation", pa.string()), ("score", pa.float64())]))
        for name, kind in (("relation", pa.string()), ("score", pa.float64()), ("top_k", top)):
            kept = batch.drop_columns([name]) if name in batch.column_names else batch  # as {**record, **prediction}
            batch = kept.append_column(name, pa.array([p[name] for p in found], kind))
        self.parts += 1
        part = f"part-{self.name}-{self.parts:05d}.{self.output_format}"
        write_rows(batch.to_pylist(), join(self.output, part), self.output_format, batch.schema)
        return pa.table({"predictions": [batch.num_rows]})


def write_rows(rows: list[dict], uri: str, fmt: str | None, schema=None) -> None:
    """Rows as one JSON-lines, JSON or Parquet file (``schema``: its Arrow schema), local or ``s3://``, written whole."""
    fmt = record_format(uri, fmt)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), buffer)
        data = buffer.getvalue()
    elif fmt == "json":
        data = json.dumps(rows, indent=1).encode()
    else:
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    write_file(uri, data)


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
    ray.data.DataContext.get_current().raise_original_map_exception = True  # a bad record: its DataError
    io_tasks = {"num_cpus": 0}  # reading is light; the actors hold the CPUs
    blocks = batch.actors * batch.blocks_per_actor
    if fmt == "json":  # one JSON list: read here (Arrow's JSON reader, used for JSON lines, streams objects only)
        ds = ray.data.from_items([r for _, r in raw_records(source, fmt)], override_num_blocks=blocks)
    elif fmt == "parquet":  # read here: Ray's Parquet reader lists files in a 1-CPU task the actors starve
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(read_file(source)))
        step = max(1, -(-table.num_rows // blocks))
        ds = ray.data.from_arrow([table.slice(i, step) for i in range(0, max(table.num_rows, 1), step)])
    else:
        path, fs = arrow_location(source)
        ds = ray.data.read_json(path, filesystem=fs, ray_remote_args=io_tasks, override_num_blocks=blocks)
    out = ds.map_batches(BatchPredictor, batch_format="pyarrow", batch_size=batch.batch_size,
                         fn_constructor_kwargs=dict(predictor=predictor, source=source, top_k=top_k,
                                                    threshold=threshold, threads=int(batch.cpus_per_actor),
                                                    output=output, output_format=output_format),
                         num_cpus=batch.cpus_per_actor, num_gpus=1 if batch.use_gpu else 0,
                         compute=ray.data.ActorPoolStrategy(size=batch.actors))
    existed = bool(open_storage(output).list(""))
    for name in ("ray.data._internal.execution.streaming_executor_state", "ray.data.exceptions"):
        logging.getLogger(name).setLevel(logging.CRITICAL)  # a failed run is reported once, below
    try:
        written = sum(row["predictions"] for row in out.take_all())
    except Exception as error:
        if not existed:  # nothing is left of a failed run
            delete_folder(output)
        raise user_error_in(error) or error
    return {"input": source, "output": output, "actors": batch.actors, "predictions": written}


def user_error_in(error: BaseException) -> UserError | None:
    """The ``UserError`` (e.g. a bad record's ``DataError``) that a Ray task raised, under Ray's wrapping."""
    while error is not None:
        if isinstance(error, UserError) and not hasattr(error, "cause"):
            return error
        error = getattr(error, "cause", None)
    return None
