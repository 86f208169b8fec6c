"""predict job: relations in new text, from an encoder export and a few labelled sentences, or a kept classifier.

Few-shot: ``--model`` is an export (or ``minilm``), ``--support`` a file of labelled records and
``--schema`` (optional) gives "name: description" texts; a kept classifier (``tkre finetune --save``)
needs neither. Records are JSON lines, a JSON list or Parquet, local or ``s3://`` (see
``tkre.data.records``). Without ``batch`` the predictions go to one file; with ``batch`` (or
``--ray``) the queries are scored on a Ray Data actor pool and the output is a folder of parts.
Each output row is its input record plus ``relation`` (null: none of the above, below
``--threshold``), ``score`` and ``top_k``. Ends with one JSON line.

Usage::

    tkre predict --model runs/scl/export --support support.jsonl --schema schema.yaml \\
        --input queries.jsonl --output predictions.jsonl [--top-k 3] [--threshold 0.5]
    tkre predict --config jobs/configs/predict/batch.yaml --set input=s3://bucket/queries.jsonl --ray
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass

from tkre.config import at_least, build_config, config_data, job_parser, positive
from tkre.data.records import FORMATS, raw_records, record_format
from tkre.errors import ConfigError, user_errors
from tkre.launch.session import stop_ray
from tkre.predict.batch import BatchSettings, load_predictor, predict_on_ray, predictions, write_rows
from tkre.storage import open_storage


@dataclass
class Config:
    model: str = "minilm"  # an export, minilm, a kept classifier folder, or any of these under s3://
    support: str | None = None  # labelled records (few-shot); a kept classifier needs none
    schema: str | None = None  # descriptions: fewrel, wiki80, semeval, or a .json/.yaml schema file
    input: str = ""  # the query records
    output: str = ""  # a file (one process) or a folder (batch)
    input_format: str | None = None  # jsonl | json | parquet (default: from the file name)
    output_format: str | None = None  # the same; batch default jsonl
    top_k: int = positive(3)
    threshold: float | None = None  # below it the relation is null (none of the above)
    data_dir: str | None = None  # for the dataset schema sources
    batch: BatchSettings | None = None  # Ray Data actor pool (null: predict in this process)
    batch_size: int = at_least(64, 1)


FLAGS = {"model": "MODEL", "support": "FILE", "schema": "SCHEMA", "input": "FILE", "output": "FILE_OR_FOLDER",
         "top_k": "K", "threshold": "SCORE"}


def load(argv: list[str] | None, prog: str) -> Config:
    """The config file (optional), then ``--set``, then the flags."""
    parser = job_parser(__doc__.split("\n")[0], prog, config=False)
    parser.add_argument("--config", help="a YAML file under jobs/configs/predict/")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    for key, metavar in FLAGS.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, metavar=metavar)
    parser.add_argument("--ray", action="store_true", help="score on a Ray Data actor pool (batch defaults)")
    args = parser.parse_args(argv)
    overrides = [*args.set, *(f"{k}={getattr(args, k)}" for k in FLAGS if getattr(args, k) is not None)]
    data = config_data(args.config, overrides)
    if args.ray and not data.get("batch"):
        data["batch"] = {}
    cfg = build_config(Config, data, args.config or "the command line", overrides)
    for key in ("input", "output"):
        if not getattr(cfg, key):
            raise ConfigError(f"--{key}: required")
    return cfg


def run(cfg: Config) -> dict:
    """Checks the output and every input record before anything is written; predicts; returns a summary."""
    start = time.perf_counter()
    if cfg.output_format is not None and cfg.output_format not in FORMATS:
        raise ConfigError(f"output_format {cfg.output_format!r}: choose one of {', '.join(FORMATS)}")
    predictor = load_predictor(cfg.model, cfg.support, cfg.schema, data_dir=cfg.data_dir)
    predictor.check_threshold(cfg.threshold)
    print(f"[predict] {cfg.model}: {len(predictor.relations)} relations", file=sys.stderr)
    summary = {"model": cfg.model, "relations": len(predictor.relations), "output": cfg.output}
    if cfg.batch is not None:
        summary.update(predict_on_ray(predictor, cfg.input, cfg.output, cfg.batch, cfg.top_k, cfg.threshold,
                                      cfg.input_format, cfg.output_format or "jsonl"))
    else:
        record_format(cfg.output, cfg.output_format)
        open_storage(cfg.output.rpartition("/")[0] or ".").check()
        records = raw_records(cfg.input, cfg.input_format)
        found = predictions(predictor.build(), records, cfg.input, cfg.top_k, cfg.threshold, cfg.batch_size)
        rows = [{**record, **p} for (_, record), p in zip(records, found)]
        write_rows(rows, cfg.output, cfg.output_format)
        summary["predictions"] = len(rows)
    return {**summary, "seconds": round(time.perf_counter() - start, 2)}


def main(argv: list[str] | None = None, prog: str = "python -m jobs.predict") -> dict:
    with user_errors(prog):
        try:
            summary = run(load(argv, prog))
        finally:
            stop_ray()  # the actors' logs end before the summary line, or the error line
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
