"""Sweep results: a Markdown table best first, and accuracy against the temperature as a PNG.

Usage::

    store.write_text("results.md", sweep_table(rows, keys, metrics, "val/acc at the first validation"))
    store.write_bytes("results.png", plot_sweep(rows, keys, metrics, "scl_temperature_shots"))
"""

from __future__ import annotations

from tkre.report.tables import png_bytes

FIRST = "first_validation"  # the metric at every trial's first validation: all trials compared at one budget


def sweep_table(rows: list[dict], keys: list[str], metrics: list[str], first: str) -> str:
    head = ["trial", *keys, *metrics, "step", "ASHA-stopped", first]
    lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for r in rows:
        cells = [r["trial"], *(_fmt(r.get(k)) for k in keys), *(_fmt(r.get(m)) for m in metrics),
                 str(r["step"]), "yes" if r["stopped_early"] else "", _fmt(r.get(FIRST))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1 else f"{value:.2f}"
    return "" if value is None else str(value)


def plot_sweep(rows: list[dict], keys: list[str], metrics: list[str], title: str) -> bytes:
    """Accuracy against the temperature (or the first swept key): a panel per metric, a line per shot setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key = "scl.temperature" if "scl.temperature" in keys else keys[0]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        label = ", ".join(f"{k.split('.')[-1]}={r.get(k)}" for k in keys if k != x_key) or "all trials"
        groups.setdefault(label, []).append(r)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for label, members in sorted(groups.items()):
            members = sorted((r for r in members if metric in r), key=lambda r: r[x_key])
            line, = ax.plot([r[x_key] for r in members], [r[metric] for r in members], "-", alpha=0.6, label=label)
            done = [r for r in members if not r["stopped_early"]]
            ax.plot([r[x_key] for r in done], [r[metric] for r in done], "o", color=line.get_color())
            stopped = [r for r in members if r["stopped_early"]]
            ax.plot([r[x_key] for r in stopped], [r[metric] for r in stopped], "o", mfc="none", color=line.get_color())
        if x_key == "scl.temperature":
            ax.set_xscale("log")
            ax.set_xticks([0.02, 0.05, 0.1, 0.2, 0.5], ["0.02", "0.05", "0.1", "0.2", "0.5"])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.axvline(0.1, color="grey", ls=":", lw=1)  # the paper's temperature
        ax.set_xlabel(x_key)
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7, title="filled: full budget, hollow: ASHA-stopped", title_fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)
