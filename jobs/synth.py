"""synth job: EDKG explanations and SCDG synthetic instances from K-shot support, over Ray Data actors.

Reads the K-shot support of the chosen relations, sends one explanation request per support
instance and, per relation, up to ``scdg.max_attempts`` requests for new instances until
``scdg.per_relation`` pass validation. Every answer is written as it arrives under
``output/records/`` (a folder or ``s3://`` prefix); a rerun skips what is done. Writes
``explanations.jsonl``, ``synthetic.json`` (Wiki80 layout), ``rejects.jsonl``, ``manifest.json``,
``summary.md``, ``synthesis.png`` and ``config.yaml``. With ``llm.base_url: null`` it starts the
embedded ``transformers serve`` + SmolLM2 and stops it after. Ends with one JSON line.

Usage: ``python -m jobs.synth --config jobs/configs/synth/smoke.yaml [--set llm.base_url=http://host:8000/v1]``
(= ``tkre synth ...``)
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections import Counter

from tkre.config import config_yaml, data_arguments, load_config
from tkre.errors import user_errors
from tkre.launch.session import stop_ray
from tkre.report.synthesis import plot_synthesis, summary_table
from tkre.storage import CONFIG, open_storage
from tkre.synth.config import SynthConfig, check_synth
from tkre.synth.corpus import collect_explanations, collect_synthetic, edkg_requests, load_support, scdg_requests
from tkre.synth.dispatch import Budget, ordered, send
from tkre.synth.endpoint import Endpoint
from tkre.synth.manifest import Outcome, build_manifest
from tkre.synth.records import RecordStore
from tkre.tracking import Tracking, job_run, open_tracking

Config = SynthConfig


def load(path: str, overrides: list[str] = ()) -> Config:
    return load_config(Config, path, overrides, check=check_synth)


def jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rows)


def synthesis_metrics(manifest: dict) -> dict:
    """What synthesis did, as numbers: requests done and failed, explanations and instances accepted, tokens, cost."""
    counts = {f"requests/{kind}_{state}": manifest["requests"][kind][state] for kind in ("edkg", "scdg")
              for state in ("done", "failed")}
    return {**counts, "explanations": manifest["explanations"]["accepted"], "synthetic": manifest["synthetic"]["accepted"],
            "acceptance_rate": manifest["synthetic"]["acceptance_rate"], "tokens_in": manifest["tokens_in"],
            "tokens_out": manifest["tokens_out"], "cost_usd": manifest["cost_usd"], "wall_s": manifest["wall_s"]}


def synthesize(cfg: Config, tracking: Tracking) -> dict:
    """The whole synthesis into ``cfg.output``, logged to its MLflow run; returns the manifest."""
    start = time.time()
    storage = open_storage(cfg.output)
    support, schemas, evaluation = load_support(cfg)  # data errors stop here, before anything is written
    with contextlib.ExitStack() as stack:
        endpoint = Endpoint(cfg.llm, stack)
        endpoint.check_reachable()
        storage.check()
        storage.write_text(CONFIG, config_yaml(cfg))
        tracked = stack.enter_context(job_run(tracking, "synth", cfg, record=storage))  # a resumed run reopens it
        records = RecordStore(storage)
        budget = Budget(cfg.budget, list(records.load(records.keys()).values()))
        print(f"[synth] {len(schemas)} relations ({len(schemas.fallback)} without a schema entry), "
              f"{len(support)} support instances, "
              f"{len(evaluation)} evaluation sentences to avoid, output {storage.uri}", file=sys.stderr)

        # EDKG: one explanation per support instance
        edkg_params = {"temperature": cfg.edkg.temperature, "max_tokens": cfg.edkg.max_tokens, "seed": cfg.edkg.seed}
        edkg_rows = (edkg_requests(schemas, support, cfg.llm.model, edkg_params, cfg.edkg.explain_per_relation)
                     if cfg.edkg.enabled else [])
        send(edkg_rows, cfg, records, budget, endpoint)

        # SCDG: attempts per relation until enough instances pass validation
        scdg_params = {"temperature": cfg.scdg.temperature, "max_tokens": cfg.scdg.max_tokens}
        scdg_rows, synthetic = [], ([], Counter({r: 0 for r in schemas}), Counter(), [])
        for attempt in range(cfg.scdg.max_attempts if cfg.scdg.enabled else 0):
            needing = [r for r in schemas if synthetic[1][r] < cfg.scdg.per_relation]
            if budget.stopped_by or not needing:
                break
            print(f"[synth] SCDG attempt {attempt + 1}/{cfg.scdg.max_attempts}: {len(needing)} relations", file=sys.stderr)
            rows = scdg_requests(schemas, support, needing, cfg.llm.model, scdg_params, cfg.scdg.per_request, attempt)
            send(rows, cfg, records, budget, endpoint)
            scdg_rows += rows
            synthetic = collect_synthetic(ordered(records, scdg_rows), schemas, support, evaluation, cfg.scdg.rules,
                                          cfg.scdg.per_relation)

        edkg_records = ordered(records, edkg_rows)
        explanations, explanation_rejects = collect_explanations(edkg_records, support)
        synthetic_rows, accepted, rejects, rejected_rows = synthetic
        storage.write_text("explanations.jsonl", jsonl(explanations))
        storage.write_text("synthetic.json", "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in synthetic_rows) + "\n]\n")
        storage.write_text("rejects.jsonl", jsonl(rejected_rows))
        outcome = Outcome(edkg_rows, edkg_records, scdg_rows, ordered(records, scdg_rows), explanations,
                          explanation_rejects, accepted, rejects, synthetic_rows)
        previous = json.loads(storage.read_text("manifest.json")) if storage.exists("manifest.json") else {}
        manifest = build_manifest(cfg, endpoint.description, schemas, len(support), outcome, budget, previous,
                                  time.time() - start)
        storage.write_text("manifest.json", json.dumps(manifest, indent=2))
        storage.write_text("summary.md", summary_table(manifest) + "\n")
        storage.write_bytes("synthesis.png", plot_synthesis(manifest))
        tracked.metrics(synthesis_metrics(manifest))
        tracked.artifacts(storage, ["summary.md", "synthesis.png", "manifest.json", CONFIG])
    return manifest


def run(cfg: Config) -> dict:
    """Runs the job, prints the summary tables, returns the one-line summary."""
    tracking = open_tracking(cfg.tracking)  # before anything is written
    try:
        manifest = synthesize(cfg, tracking)
    except KeyboardInterrupt:
        print(f"[synth] interrupted; what was done is under {cfg.output}/records; rerun the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    print(summary_table(manifest))
    s = manifest["synthetic"]
    return {"output": cfg.output, "explanations": manifest["explanations"]["accepted"], "synthetic": s["accepted"],
            "acceptance_rate": s["acceptance_rate"], "tokens_out": manifest["tokens_out"],
            "done_requests": sum(manifest["requests"][k]["done"] for k in ("edkg", "scdg")),
            "failed_requests": sum(manifest["requests"][k]["failed"] for k in ("edkg", "scdg")),
            "failed_by_reason": dict(sum((Counter(manifest["requests"][k]["failed_by_reason"]) for k in ("edkg", "scdg")),
                                         Counter())),
            "stopped_by": manifest["budget"]["stopped_by"], "wall_s": manifest["wall_s"]}


def main(argv: list[str] | None = None, prog: str = "python -m jobs.synth") -> dict:
    with user_errors(prog):
        args = data_arguments(__doc__.split("\n")[0], argv, prog, "support.data")
        summary = run(load(args.config, args.set))
    stop_ray()
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
