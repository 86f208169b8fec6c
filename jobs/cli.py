"""The ``tkre`` command: ``tkre <job> ...`` is ``python -m jobs.<job> ...``, the same arguments and behaviour
(``tkre mslm`` and ``tkre scl`` are ``python -m jobs.pretrain mslm`` and ``... scl``).

Usage::

    tkre synth --config jobs/configs/synth/smoke.yaml
    tkre mslm --config jobs/configs/mslm/smoke.yaml --set loop.max_steps=20
    tkre meta-train --config jobs/configs/meta_train/smoke.yaml
"""

from __future__ import annotations

import importlib
import sys

# command -> (module under jobs/, what it does); mslm and scl are the two stages of one recipe, jobs/pretrain.py
COMMANDS = {
    "data": ("data", "download the datasets with sha256 checks (data fetch --dest DIR)"),
    "synth": ("synth", "EDKG explanations and SCDG synthetic instances through an LLM, on Ray Data"),
    "mslm": ("pretrain", "stage 1: masked span language modelling on Ray Train + DeepSpeed"),
    "scl": ("pretrain", "stage 2: span-level contrastive learning with MSLM, from the stage-1 export"),
    "meta-train": ("meta_train", "prototypical meta-training on the Wiki80 relations unseen in FewRel val"),
    "eval": ("eval", "episodic evaluation on unseen relations and K-shot fine-tuning"),
    "finetune": ("finetune", "K-shot fine-tuning that keeps the best-dev classifier (--save DIR)"),
    "predict": ("predict", "relations in new text: few-shot from an export, or a kept classifier; Ray Data batch"),
    "sweep": ("sweep", "Ray Tune search over the SCL stage, scored by episodic validation"),
    "pipeline": ("pipeline", "synth -> mslm -> scl -> eval -> report, resumable, in one run dir"),
    "report": ("report", "collect eval runs into one table, JSON and plot"),
    "gain": ("gain", "the pre-training experiment's headline figures (docs/results/tkre_gain.json)"),
}


def usage() -> str:
    lines = ["usage: tkre <command> [options]   (tkre <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<11} {what}" for name, (_, what) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        raise SystemExit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        print(f"tkre: error: unknown command {argv[0]!r}\n{usage()}", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(f"jobs.{COMMANDS[argv[0]][0]}")
    stage = {"stage": argv[0]} if module.__name__ == "jobs.pretrain" else {}
    module.main(argv[1:], prog=f"tkre {argv[0]}", **stage)


if __name__ == "__main__":
    main()
