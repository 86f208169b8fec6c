"""Result tables (Markdown) and plots (PNG bytes) for episodic and fine-tuning results, and the pipeline report.

Usage::

    text = episodic_table(results["episodic"]) + finetune_table(results["finetune"])
    store.write_bytes("episodic.png", plot_episodic(results["episodic"], "FewRel val, 1000 episodes"))
"""

from __future__ import annotations

import io
from pathlib import Path

# Proto (BERT-base) on FewRel 1.0 validation, as published (Han et al. / Gao et al., 2019).
PUBLISHED_PROTO_BERT = {"5-1": 80.68, "5-5": 89.60, "10-1": 71.48, "10-5": 82.89}


def all_settings(episodic: dict[str, dict[str, dict]]) -> list[str]:
    """Every N-K setting of any row, in the order first seen."""
    return list(dict.fromkeys(s for by_setting in episodic.values() for s in by_setting))


def episodic_table(episodic: dict[str, dict[str, dict]]) -> str:
    """Rows: pooling (or encoder); columns: N-K settings; cells: accuracy % +- 95% interval, blank where not run."""
    settings = all_settings(episodic)
    lines = ["| encoder / pooling | " + " | ".join(f"{s.replace('-', '-way ')}-shot" for s in settings) + " |",
             "|---" * (len(settings) + 1) + "|"]
    for pooling, by_setting in episodic.items():
        cells = [f"{100 * by_setting[s]['accuracy']:.2f} ± {100 * by_setting[s]['ci95']:.2f}" if s in by_setting else ""
                 for s in settings]
        lines.append(f"| {pooling} | " + " | ".join(cells) + " |")
    published = [f"{PUBLISHED_PROTO_BERT[s]:.2f}" if s in PUBLISHED_PROTO_BERT else "" for s in settings]
    lines.append("| Proto, BERT-base (published) | " + " | ".join(published) + " |")
    return "\n".join(lines)


def finetune_table(runs: list[dict], labels: list[str] | None = None) -> str:
    """One row per fine-tuning run: (encoder,) dataset, K, seeds, test micro-F1 mean and std."""
    head = "| data | K | seeds | epochs | test micro-F1 (mean ± std) | per seed |"
    lines = [("| encoder " if labels else "") + head, "|---" * (6 + bool(labels)) + "|"]
    for i, r in enumerate(runs):
        per_seed = ", ".join(f"{100 * s['test_f1']:.1f}" for s in r["per_seed"])
        lines.append((f"| {labels[i]} " if labels else "") + f"| {Path(r['dataset']).name} | {r['k_shot']} | {len(r['seeds'])} | "
                     f"{r['config']['epochs']} | {100 * r['test_f1_mean']:.2f} ± {100 * r['test_f1_std']:.2f} | {per_seed} |")
    return "\n".join(lines)


def png_bytes(fig, dpi: int = 120) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def plot_episodic(episodic: dict[str, dict[str, dict]], title: str) -> bytes:
    """Grouped bars of accuracy per setting and pooling with 95% intervals and the published reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = all_settings(episodic)
    width = 0.8 / (len(episodic) + 1)
    fig, ax = plt.subplots(figsize=(3 + 1.6 * len(settings), 4))
    colors = plt.get_cmap("tab10" if len(episodic) <= 10 else "tab20").colors  # one color per row
    for j, (pooling, by_setting) in enumerate(episodic.items()):
        xs = [i + j * width for i in range(len(settings))]
        ax.bar(xs, [100 * by_setting[s]["accuracy"] if s in by_setting else 0 for s in settings], width,
               yerr=[100 * by_setting[s]["ci95"] if s in by_setting else 0 for s in settings], capsize=3, label=pooling,
               color=colors[j % len(colors)])
    xs = [i + len(episodic) * width for i in range(len(settings))]
    ax.bar(xs, [PUBLISHED_PROTO_BERT.get(s, 0) for s in settings], width, color="lightgray", label="Proto BERT-base (published)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(settings))], [f"{s}" for s in settings])
    ax.set_xlabel("N-way-K-shot")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(title)
    if max(len(label) for label in episodic) <= 10:
        ax.legend(fontsize=8, loc="upper center", ncol=len(episodic) + 1)
    else:  # long labels: below the axes, two columns
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    fig.tight_layout()
    return png_bytes(fig)
