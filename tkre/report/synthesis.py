"""What a person reads after a synthesis run: a Markdown summary and a PNG of rejects and yield.

Usage::

    print(summary_table(manifest))
    storage.write_bytes("synthesis.png", plot_synthesis(manifest))
"""

from __future__ import annotations

from tkre.report.tables import png_bytes


def summary_table(manifest: dict) -> str:
    """Requests per stage, reject reasons, then the corpus quality, as Markdown tables."""
    lines = ["| stage | planned | done | failed | not sent | accepted |", "|---|---|---|---|---|---|"]
    for stage, accepted in (("edkg", manifest["explanations"]["accepted"]), ("scdg", manifest["synthetic"]["accepted"])):
        r = manifest["requests"][stage]
        lines.append(f"| {stage} | {r['planned']} | {r['done']} | {r['failed']} | {r['not_sent']} | {accepted} |")
    lines += ["", "| reject reason | count |", "|---|---|"]
    rejects = {**manifest["rejects"], **{f"edkg: {k}": v for k, v in manifest["explanations"]["rejects"].items()}}
    lines += [f"| {k} | {v} |" for k, v in rejects.items()] or ["| (none) | 0 |"]
    q = manifest["quality"]
    share = "n/a" if q["explanations_naming_both"] is None else f"{100 * q['explanations_naming_both']:.1f}%"
    lines += ["", f"Parsed explanations kept, each naming both entities: {share}. Synthetic instances per relation: "
              f"min {q['synthetic_per_relation']['min']}, median {q['synthetic_per_relation']['median']:g}, "
              f"max {q['synthetic_per_relation']['max']}.", "",
              "| relation span (words between the mentions) | n | empty | p10 | median | p90 | max |", "|---|---|---|---|---|---|---|"]
    for source, d in q["relation_span_words"].items():
        lines.append(f"| {source} | {d['n']} | " + " | ".join(str(d.get(k, "")) for k in ("empty", "p10", "p50", "p90", "max")) + " |")
    return "\n".join(lines)


def plot_synthesis(manifest: dict) -> bytes:
    """PNG bytes: SCDG rejects by reason (left) and how many relations got how many instances (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    rejects = sorted(manifest["rejects"].items(), key=lambda kv: kv[1])
    left.barh([k for k, _ in rejects], [v for _, v in rejects], color="indianred")
    left.set_xlabel("candidates rejected")
    s = manifest["synthetic"]
    left.set_title(f"SCDG: {s['accepted']} of {s['candidates']} candidates accepted")
    target = s["per_relation_target"]
    counts = [sum(1 for v in s["per_relation"].values() if v == n) for n in range(target + 1)]
    right.bar(range(target + 1), counts, color="seagreen")
    right.set_xticks(range(target + 1))
    right.set_xlabel("accepted synthetic instances")
    right.set_ylabel("relations")
    right.yaxis.get_major_locator().set_params(integer=True)
    right.set_title(f"{len(s['per_relation'])} relations, target {target} each")
    fig.suptitle(f"{manifest['model']} via {manifest['endpoint']}", fontsize=9)
    fig.tight_layout()
    return png_bytes(fig, dpi=110)
