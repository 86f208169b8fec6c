"""report job: collects eval runs into one table (Markdown), JSON and plot (PNG), e.g. the pre-training experiment.

Each ``--episodic LABEL=RUN_DIR[,RUN_DIR...]`` names an eval job's run dir (its ``results.json``,
one pooling), or several (seeds of one method on the same episodes: the cell is their mean ± their
standard deviation); each ``--finetune LABEL=PATH[,PATH...]`` an eval run dir (its first fine-tuning
run) or a JSON file of one fine-tuning result (several: their seeds together). Each ``--paired "LABEL_A vs LABEL_B"`` adds a paired t-test
of two episodic rows over the same episodes (per-episode accuracy, averaged over seeds), or of two
fine-tuning rows over the same seeds (per-seed test F1). The differences to the first episodic
row are added; fine-tuning rows are compared only through ``--paired`` (they may be on different data).
Any run dir may instead be a tracked run, ``runs:/<run_id>`` (its ``results.json`` read from the
MLflow tracking server at ``MLFLOW_TRACKING_URI``, or the local store ``mlflow.db``).

Usage::

    python -m jobs.report --out docs/results/pretrain_experiment \\
        --episodic "(a) MiniLM=runs/eval-a" --episodic "(c) +MSLM+SCL=runs/eval-c" \\
        --episodic "(d) meta=runs/eval-d0,runs/eval-d1,runs/eval-d2" --paired "(d) meta vs (a) MiniLM" \\
        --finetune "plain=docs/results/finetune_wiki80_k8.json" --finetune "TKRE=runs/ft-tkre"
(= ``tkre report ...``)
"""

from __future__ import annotations

import json
from pathlib import Path

from tkre.config import job_parser
from tkre.errors import ConfigError, user_errors
from tkre.eval.metrics import mean_std, paired_test
from tkre.report.tables import episodic_table, plot_episodic
from tkre.tracking import read_run_file


def labelled(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        label, sep, path = pair.rpartition("=")
        if not sep or not label:
            raise ConfigError(f"expected LABEL=PATH, got {pair!r}")
        out[label] = path
    return out


def results_json(source: str, expected: str) -> dict:
    """The ``results.json`` of a run dir (or the JSON file itself), or of an MLflow run ``runs:/<run_id>``."""
    if source.startswith("runs:/"):
        return json.loads(read_run_file(source, "results.json"))
    path = Path(source) / "results.json" if Path(source).is_dir() else Path(source)
    if not path.is_file():
        raise ConfigError(f"{path} not found: expected {expected}")
    return json.loads(path.read_text())


def episodic_results(run_dirs: str) -> dict[str, dict]:
    """``{setting: result}`` of one eval run's one pooling; over several runs (seeds), the mean accuracy,
    the standard deviation over seeds as ``ci95``'s stand-in, each seed's accuracy and the per-episode mean."""
    runs = []
    for run_dir in run_dirs.split(","):
        path = run_dir if run_dir.startswith("runs:/") else Path(run_dir) / "results.json"
        by_pooling = results_json(run_dir, "an eval run dir")
        if "episodic" not in by_pooling:
            raise ConfigError(f"{path}: no episodic results: is {run_dir} an eval run?")
        by_pooling = by_pooling["episodic"]
        if len(by_pooling) != 1:
            raise ConfigError(f"{path}: expected one pooling, found {sorted(by_pooling)}")
        runs.append(next(iter(by_pooling.values())))
    if len(runs) == 1:
        return runs[0]
    out = {}
    for setting in runs[0]:
        per_seed = [r[setting]["accuracy"] for r in runs]
        accuracy, std = mean_std(per_seed)
        per_episode = [sum(values) / len(runs) for values in zip(*(r[setting]["per_episode"] for r in runs))]
        out[setting] = {"accuracy": accuracy, "ci95": std, "seeds": len(runs), "per_seed": per_seed,
                        "per_episode": per_episode}
    return out


def paired_rows(episodic: dict[str, dict], finetune: dict[str, dict], pairs: list[str]) -> tuple[str, dict]:
    """A table of paired tests, one row per ``"A vs B"`` and setting both share (fine-tuning: per seed)."""
    lines, tests = ["| comparison | setting | difference (points, 95% interval) | p |", "|---|---|---|---|"], {}
    for pair in pairs:
        a, sep, b = pair.partition(" vs ")
        if sep and a in finetune and b in finetune:
            seeds = [[s["seed"] for s in finetune[x]["per_seed"]] for x in (a, b)]
            if seeds[0] != seeds[1]:
                raise ConfigError(f"--paired {pair!r}: the fine-tuning runs have different seeds {seeds[0]} and {seeds[1]}")
            samples = {"test F1": [[s["test_f1"] for s in finetune[x]["per_seed"]] for x in (a, b)]}
        elif sep and a in episodic and b in episodic:
            samples = {s: [episodic[a][s]["per_episode"], episodic[b][s]["per_episode"]] for s in episodic[a]
                       if s in episodic[b]}
        else:
            raise ConfigError(f"--paired {pair!r}: expected 'LABEL_A vs LABEL_B' with both labels among --episodic "
                              "or both among --finetune")
        for setting, (x, y) in samples.items():
            t = paired_test(x, y)
            tests.setdefault(pair, {})[setting] = {**t, "n": len(x)}
            p = f"{t['p']:.2g}" if t["p"] > 0 else "< 1e-300"
            lines.append(f"| {pair} | {setting} | {100 * t['diff']:+.2f} ± {100 * t['ci95']:.2f} | {p} |")
    return "\n".join(lines), tests


def finetune_result(paths: str) -> dict:
    """One fine-tuning result: an eval run dir's first one, or a JSON file of one; several (comma-separated,
    e.g. one pipeline run per seed) merged into one over all their seeds."""
    results = []
    for path in paths.split(","):
        result = results_json(path, "an eval or finetune run dir or a fine-tuning results JSON")
        results.append(result["finetune"][0] if "finetune" in result else result)
    if len(results) == 1:
        return results[0]
    per_seed = [s for r in results for s in r["per_seed"]]
    mean, std = mean_std([s["test_f1"] for s in per_seed])
    return {**results[0], "per_seed": per_seed, "test_f1_mean": mean, "test_f1_std": std}


def finetune_rows(runs: dict[str, dict]) -> str:
    lines = ["| encoder | test micro-F1 (mean ± std) | per seed |", "|---|---|---|"]
    for label, r in runs.items():
        per_seed = ", ".join(f"{100 * s['test_f1']:.1f}" for s in r["per_seed"])
        lines.append(f"| {label} | {100 * r['test_f1_mean']:.2f} ± {100 * r['test_f1_std']:.2f} | {per_seed} |")
    return "\n".join(lines)


def run(out: str, episodic_runs: dict[str, str], finetune_runs: dict[str, str], pairs: list[str] = (),
        title: str = "FewRel val, 1000 episodes per setting") -> dict:
    """Writes ``<out>.md``, ``<out>.json`` and ``<out>.png``; returns the summary."""
    episodic = {label: episodic_results(path) for label, path in episodic_runs.items()}
    finetune = {label: finetune_result(path) for label, path in finetune_runs.items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sections = []
    if episodic:
        first = next(iter(episodic.values()))
        gains = {label: {s: 100 * (r["accuracy"] - first[s]["accuracy"]) for s, r in by_setting.items() if s in first}
                 for label, by_setting in episodic.items()}
        spread = "std over seeds where a row has several, else 95% interval"
        sections.append(f"## {title} (accuracy %, {spread})\n\n" + episodic_table(episodic))
        sections.append("Gain over the first row (points): " + "; ".join(
            f"{label} " + ", ".join(f"{s} {g:+.2f}" for s, g in by_s.items()) for label, by_s in list(gains.items())[1:]))
        out.with_suffix(".png").write_bytes(plot_episodic(episodic, title))
    tests = {}
    if pairs:
        table, tests = paired_rows(episodic, finetune, pairs)
        sections.append("## Paired t-tests over the same episodes (or seeds)\n\n" + table)
    if finetune:
        sections.append("## K-shot fine-tuning\n\n" + finetune_rows(finetune))
    report = "\n\n".join(sections)
    out.with_suffix(".md").write_text(report + "\n")
    kept = ("accuracy", "ci95", "seeds", "per_seed")
    summary = {"episodic": {label: {s: {k: r[k] for k in kept if k in r} for s, r in by_s.items()}
                            for label, by_s in episodic.items()},
               "paired": tests,
               "finetune": {label: {"test_f1_mean": r["test_f1_mean"], "test_f1_std": r["test_f1_std"],
                                    "seeds": [s.get("seed") for s in r["per_seed"]],
                                    "per_seed": [s["test_f1"] for s in r["per_seed"]]} for label, r in finetune.items()}}
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2))
    print(report)
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None, prog: str = "python -m jobs.report") -> dict:
    parser = job_parser(__doc__.split("\n")[0], prog, config=False)
    parser.add_argument("--out", required=True, help="path prefix of the .md, .json and .png written")
    parser.add_argument("--title", default="FewRel val, 1000 episodes per setting")
    parser.add_argument("--episodic", action="append", default=[], metavar="LABEL=RUN_DIR[,RUN_DIR...]")
    parser.add_argument("--paired", action="append", default=[], metavar="'LABEL_A vs LABEL_B'")
    parser.add_argument("--finetune", action="append", default=[], metavar="LABEL=PATH[,PATH...]")
    with user_errors(prog):
        args = parser.parse_args(argv)
        return run(args.out, labelled(args.episodic), labelled(args.finetune), args.paired, args.title)


if __name__ == "__main__":
    main()
