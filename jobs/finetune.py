"""finetune job: K-shot fine-tuning of one encoder (the paper's protocol), keeping the best-dev classifier.

Fine-tunes on each seed's K-shot split of Wiki80 or SemEval (or a task folder's own files), with
``synthetic`` (a synthesis output) adding its accepted instances of the task's relations, at most
``synthetic_per_relation`` each, to every training set; scores test micro-F1 at the best dev epoch, writes ``config.yaml``, ``results.json`` and ``results.md`` to ``run_dir`` and, with
``--save DIR`` (a folder or ``s3://`` prefix), keeps the classifier of the seed with the best dev
F1 (encoder, head, label map, marker style) for ``RelationClassifier.from_pretrained`` and
``tkre predict``. Ends with one JSON line.

Usage: ``python -m jobs.finetune --config jobs/configs/finetune/wiki80_k8.yaml --save runs/clf-wiki80`` (= ``tkre finetune ...``)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from tkre.config import config_yaml, job_parser, load_config
from tkre.data.datasets import task_label
from tkre.errors import user_errors
from tkre.eval.finetune import FinetuneRun, check_finetune, run_finetune
from tkre.models.encoder import resolve_model
from tkre.report.tables import finetune_table
from tkre.storage import CONFIG, is_remote, local_copy, open_storage, staged
from tkre.tracking import TrackingSettings, job_run, open_tracking


@dataclass
class Config(FinetuneRun):
    run_dir: str = "runs/finetune"
    model: str = "minilm"  # minilm (packaged), a folder, an s3:// export or a hub name
    data_dir: str | None = None
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # MLflow: where this job's run is logged


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides)


def run(cfg: Config) -> dict:
    """Checks the tracking server, model, storage, splits and synthesis output before writing; fine-tunes;
    returns the results (logged to the job's MLflow run with the classifier's card)."""
    tracking = open_tracking(cfg.tracking)
    if not is_remote(cfg.model):
        resolve_model(cfg.model)
    for uri in filter(None, (cfg.run_dir, cfg.save)):
        open_storage(uri).check()
    check_finetune(cfg, cfg.data_dir)
    with job_run(tracking, "finetune", cfg) as tracked:
        with local_copy(cfg.model) as model, staged(cfg.run_dir) as out:
            (out / CONFIG).write_text(config_yaml(cfg))
            result = run_finetune(cfg, model, cfg.data_dir)
            result = {**result, "model": cfg.model, "saved": cfg.save, "config": {**result["config"], "model": cfg.model}}
            report = f"## K-shot fine-tuning ({cfg.model})\n\n{finetune_table([result])}"
            (out / "results.md").write_text(report + "\n")
            (out / "results.json").write_text(json.dumps(result, indent=2))
        tracked.metrics(summary_line(cfg, result))
        tracked.artifacts(open_storage(cfg.run_dir), ["results.md", "results.json", CONFIG])
        if cfg.save:
            tracked.tags({"tkre.export": cfg.save})
            tracked.artifacts(open_storage(cfg.save), ["README.md", "classifier.json"], "classifier")
    print(report)
    return result


def summary_line(cfg: Config, result: dict) -> dict:
    """The one-line summary: where it went, the test F1 under the task's name, the synthetic instances added."""
    return {"run_dir": cfg.run_dir, "saved": cfg.save, f"test/f1_{task_label(cfg.dataset, cfg.k_shot)}": result["test_f1_mean"],
            "synthetic_added": sum(result["synthetic_added"])}


def main(argv: list[str] | None = None, prog: str = "python -m jobs.finetune") -> dict:
    with user_errors(prog):
        parser = job_parser(__doc__.split("\n")[0], prog)
        parser.add_argument("--save", metavar="DIR", help="keep the best-dev classifier in DIR (= --set save=DIR)")
        args = parser.parse_args(argv)
        cfg = load(args.config, args.set + ([f"save={args.save}"] if args.save else []))
        result = run(cfg)
    summary = summary_line(cfg, result)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
