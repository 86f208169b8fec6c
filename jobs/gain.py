"""gain job: the headline figures of the pre-training experiment in one small JSON (percent, means over seeds).

Reads the report of ``make experiment`` (``jobs.report`` JSON: rows ``(d) meta-training`` and
``(e) (c), then (d)`` over pre-training/meta-training seeds, fine-tuning rows ``Wiki80, plain`` and
``Wiki80, after TKRE`` with their paired t-test) and the demo benchmark's JSON line
(``benchmarks/pipeline_demo.py``: the TKRE encoder's and MiniLM's accuracy in each episodic setting).

Usage::

    python -m jobs.gain --report docs/results/pretrain_experiment.json \\
        --demo docs/results/pipeline_demo_bench.json --seeds 0 1 2 --out docs/results/tkre_gain.json
(= ``tkre gain ...``)
"""

from __future__ import annotations

import json
from pathlib import Path

from tkre.config import job_parser
from tkre.errors import ConfigError, user_errors

META, TKRE_META = "(d) meta-training", "(e) (c), then (d)"
PLAIN, TKRE = "Wiki80, plain", "Wiki80, after TKRE"


def read_json(path: str, what: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what}") from None
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path}: not JSON ({error})") from None


def entry(data: dict, path: str, *keys: str):
    """``data[k1][k2]...``, or a one-line error naming the file and the missing key."""
    for depth, key in enumerate(keys):
        if not isinstance(data, dict) or key not in data:
            raise ConfigError(f"{path}: no {'.'.join(repr(k) for k in keys[: depth + 1])}")
        data = data[key]
    return data


def demo_min_gain(bench: dict, path: str) -> float:
    """The smallest gain (points) of the demo's pre-trained encoder over MiniLM as is across its episodic settings."""
    metrics = entry(bench, path, "metrics")
    baselines = {key: "baseline/" + key.removeprefix("eval/") for key in metrics if key.startswith("eval/val/acc_")}
    gains = [metrics[key] - metrics[base] for key, base in baselines.items() if base in metrics]
    if not gains:
        raise ConfigError(f"{path}: no episodic accuracies of both 'eval' and 'baseline' under 'metrics'")
    return 100 * min(gains)


def headline(report: dict, report_path: str, bench: dict, bench_path: str, seeds: list[int]) -> dict:
    """The keys of docs/results/tkre_gain.json."""
    meta, tkre_meta = (entry(report, report_path, "episodic", row, "5-1") for row in (META, TKRE_META))
    plain, tkre = (entry(report, report_path, "finetune", row) for row in (PLAIN, TKRE))
    test = entry(report, report_path, "paired", f"{TKRE} vs {PLAIN}", "test F1")
    return {
        "fewrel_5w1s_meta": 100 * meta["accuracy"],
        "fewrel_5w1s_meta_std": 100 * meta["ci95"],
        "fewrel_5w1s_tkre_meta": 100 * tkre_meta["accuracy"],
        "fewrel_5w1s_tkre_meta_std": 100 * tkre_meta["ci95"],
        "wiki80_k8_plain_f1": 100 * plain["test_f1_mean"],
        "wiki80_k8_tkre_f1": 100 * tkre["test_f1_mean"],
        "wiki80_k8_diff_ci95": 100 * test["ci95"],
        "wiki80_k8_p_value": test["p"],
        "demo_min_gain_points": demo_min_gain(bench, bench_path),
        "seeds": {"pretraining_and_meta_training": seeds, "fine_tuning": entry(report, report_path, "finetune", PLAIN, "seeds")},
    }


def main(argv: list[str] | None = None, prog: str = "python -m jobs.gain") -> dict:
    parser = job_parser(__doc__.split("\n")[0], prog, config=False)
    parser.add_argument("--report", required=True, help="the experiment report's JSON (jobs.report --out X writes X.json)")
    parser.add_argument("--demo", required=True, help="the demo benchmark's JSON (benchmarks/pipeline_demo.py)")
    parser.add_argument("--seeds", type=int, nargs="+", required=True, help="pre-training and meta-training seeds")
    parser.add_argument("--out", required=True, help="the JSON file written")
    with user_errors(prog):
        args = parser.parse_args(argv)
        gain = headline(read_json(args.report, "report"), args.report, read_json(args.demo, "benchmark result"),
                        args.demo, args.seeds)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(gain, indent=2) + "\n")
        print(json.dumps(gain))
        return gain


if __name__ == "__main__":
    main()
