"""Wall time of a pipeline config (the demo by default), end to end and per stage, from a cold start.

Runs ``python -m jobs.pipeline`` as a user does (a new process: Ray start-up, the embedded LLM
server and model loading included) into a fresh run dir, then reruns it to time the all-skipped
case. The stage times come from the run's own ``pipeline.json``.
Last stdout line: one JSON object with ``wall_s``, ``stages_s``, ``rerun_wall_s`` and the summary.

Usage: ``python benchmarks/pipeline_demo.py [--config jobs/configs/pipeline/semeval_k8.yaml] [--keep runs/pipeline_bench]``
(``--keep``: run into this new folder and keep it, report included, instead of a temporary one)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time


def timed_run(config: str, run_dir: str) -> tuple[float, dict]:
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "jobs.pipeline", "--config", config, "--set", f"run_dir={run_dir}"],
                          stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the pipeline failed with status {done.returncode}")
    return time.time() - start, json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="jobs/configs/pipeline/demo.yaml")
    parser.add_argument("--keep", help="a new folder to run into and keep")
    args = parser.parse_args(argv)
    if args.keep and os.path.exists(args.keep):
        raise SystemExit(f"--keep {args.keep}: exists; the benchmark times a cold start into a new folder")
    with tempfile.TemporaryDirectory(prefix="tkre-pipeline-bench-") as scratch:
        run_dir = os.path.abspath(args.keep) if args.keep else os.path.join(scratch, "run")
        wall, summary = timed_run(args.config, run_dir)
        with open(os.path.join(run_dir, "pipeline.json")) as f:
            stages = {name: r["wall_s"] for name, r in json.load(f)["stages"].items()}
        rerun_wall, rerun = timed_run(args.config, run_dir)
    result = {"benchmark": "pipeline", "config": args.config, "wall_s": round(wall, 1), "stages_s": stages,
              "rerun_wall_s": round(rerun_wall, 1), "rerun_stages": rerun["stages"],
              "metrics": {k: v for k, v in summary.items() if "/" in k},
              "cpus": os.cpu_count(), "machine": platform.machine()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
