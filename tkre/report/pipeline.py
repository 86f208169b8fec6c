"""The pipeline's report: a table of its stages, then the episodic and fine-tuning tables of its encoders.

Usage: ``text = write_pipeline_report(open_storage(run_dir), records, {"TKRE (mslm + scl)": results}, "FewRel val")``
"""

from __future__ import annotations

from tkre.report.tables import episodic_table, finetune_table, plot_episodic


def stage_figures(name: str, summary: dict) -> str:
    """The few numbers that say what a pipeline stage produced."""
    if name == "synth":
        failed = f", {summary['failed_requests']} requests failed" if summary.get("failed_requests") else ""
        return (f"{summary['explanations']} explanations, {summary['synthetic']} synthetic instances "
                f"(acceptance {summary['acceptance_rate']}), {summary['tokens_out']} tokens out{failed}")
    if "step" in summary:
        parts = [f"{k} {summary[k]:.3f}" for k in ("loss", "mslm", "scl") if k in summary]
        return f"step {summary['step']}, " + ", ".join(parts)
    scores = ", ".join(f"{k} {100 * v:.2f}" for k, v in summary.items() if "/" in k)
    return scores + (f", {summary['synthetic_added']} synthetic instances trained on" if "synthetic_added" in summary else "")


def pipeline_report(run_dir: str, records: dict[str, dict], results: dict[str, dict]) -> tuple[str, dict]:
    """The pipeline's Markdown report and its episodic results by ``encoder / pooling`` (for the plot).

    ``records``: stage name -> its record (status, output, summary, wall_s); ``results``: encoder
    label -> an eval run's ``results.json``.
    """
    lines = [f"# TKRE pipeline: {run_dir}", "", "| stage | status | output | figures | wall s |", "|---|---|---|---|---|"]
    for name, r in records.items():
        lines.append(f"| {name} | {r['status']} | {r['output']} | {stage_figures(name, r['summary'])} | {r['wall_s']} |")
    episodic = {f"{label} / {pooling}": by_setting for label, res in results.items()
                for pooling, by_setting in res.get("episodic", {}).items()}
    if episodic:
        lines += ["", "## Episodic evaluation (accuracy %, 95% interval)", "", episodic_table(episodic)]
    finetune = [(label, run) for label, res in results.items() for run in res.get("finetune", [])]
    if finetune:
        lines += ["", "## K-shot fine-tuning", "",
                  finetune_table([run for _, run in finetune], [label for label, _ in finetune])]
    return "\n".join(lines), episodic


def write_pipeline_report(store, records: dict[str, dict], results: dict[str, dict], title: str) -> str:
    """Writes ``report.md`` and (with episodic results) ``report.png`` into ``store``; returns the report."""
    report, episodic = pipeline_report(store.uri, records, results)
    store.write_text("report.md", report + "\n")
    if episodic:
        store.write_bytes("report.png", plot_episodic(episodic, title))
    return report
