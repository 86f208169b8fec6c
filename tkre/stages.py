"""Resumable stages of a pipeline: each records its config hash in ``<output>/stage.json``.

A rerun skips a stage that finished with the same hash, resumes one that did not finish
(synthesis from its records, training from its last checkpoint), and runs again one whose
settings (or an earlier stage's) changed; a training stage first clears its folder, so no
checkpoint of other settings is resumed.

Usage::

    stage = Stage("mslm", cfg, cfg.run_dir, config_hash(cfg, ("run_dir", "corpus"), [synth.hash]), mslm.run, clear=True)
    record = run_stage(stage, 2, 5)          # {"status": "ran" | "skipped", "summary": ..., "wall_s": ...}
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

from tkre.storage import delete_folder, open_storage

RECORD = "stage.json"


@dataclass
class Stage:
    name: str
    config: Any  # the stage job's config with its inputs and output filled in
    output: str  # the stage's folder or s3:// prefix
    hash: str
    run: Callable[[Any], dict]  # config -> summary
    clear: bool = False  # clear the output before running other settings (training: no foreign checkpoints)


def config_hash(cfg: Any, handed_over: tuple[str, ...], upstream: list[str]) -> str:
    """A digest of the stage's own settings (not the locations handed to it) and of the stages before it."""
    own = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in handed_over}
    text = json.dumps({"config": own, "after": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def stage_record(stage: Stage) -> dict | None:
    store = open_storage(stage.output)
    return json.loads(store.read_text(RECORD)) if store.exists(RECORD) else None


def finished(stage: Stage) -> bool:
    record = stage_record(stage)
    return bool(record and record["hash"] == stage.hash and record["complete"])


def run_stage(stage: Stage, index: int, total: int) -> dict:
    """Skips, resumes or (re)runs one stage; returns its record with ``status``."""
    record = stage_record(stage)
    tag = f"[pipeline] {index}/{total} {stage.name}"
    if record and record["hash"] == stage.hash and record["complete"]:
        print(f"{tag}: done before with the same config ({stage.hash}), skipped", file=sys.stderr)
        return {**record, "status": "skipped"}
    if record and record["hash"] != stage.hash:
        print(f"{tag}: {stage.output} holds a run of other settings ({record['hash']}); running again", file=sys.stderr)
        if stage.clear:
            delete_folder(stage.output)
    elif record:
        print(f"{tag}: resuming the unfinished run in {stage.output}", file=sys.stderr)
    else:
        print(f"{tag}: running into {stage.output}", file=sys.stderr)
    store = open_storage(stage.output)
    store.write_text(RECORD, json.dumps({"stage": stage.name, "hash": stage.hash, "complete": False}))
    start = time.time()
    summary = stage.run(stage.config)
    record = {"stage": stage.name, "hash": stage.hash, "complete": True, "output": stage.output,
              "summary": summary, "wall_s": round(time.time() - start, 1)}
    store.write_text(RECORD, json.dumps(record, indent=2))
    return {**record, "status": "ran"}
