"""Synthesis requests and their results, keyed by a hash of (prompt, model, parameters).

A request is a flat row of strings (what Ray Data moves between workers); its result is one
JSON record at ``records/<key>.json`` under the output location, written as soon as it arrives,
so a rerun skips every key that is already done.

Usage::

    row = make_request("edkg", messages, "smollm2", {"temperature": 0.7}, {"relation": "founded by"})
    records = RecordStore(open_storage("runs/synth"))
    records.put(row["key"], {"status": "done", "text": "..."}); records.done_keys()
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

from tkre.storage import LocalStorage


def request_key(messages: list[dict], model: str, params: dict) -> str:
    payload = json.dumps({"messages": messages, "model": model, "params": params}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def make_request(kind: str, messages: list[dict], model: str, params: dict, meta: dict,
                 response_format: dict | None = None) -> dict[str, str]:
    """A row for the synthesis dataset; ``meta`` travels to the record untouched."""
    body = {"messages": messages, "params": params, "response_format": response_format}
    return {
        "key": request_key(messages, model, params),
        "kind": kind,
        "request": json.dumps(body, ensure_ascii=False),
        "meta": json.dumps(meta, ensure_ascii=False),
    }


class RecordStore:
    """One JSON record per request key under ``records/``."""

    def __init__(self, storage: LocalStorage):
        self.storage = storage

    def put(self, key: str, record: dict) -> None:
        self.storage.write_text(f"records/{key}.json", json.dumps(record, ensure_ascii=False))

    def get(self, key: str) -> dict | None:
        name = f"records/{key}.json"
        return json.loads(self.storage.read_text(name)) if self.storage.exists(name) else None

    def keys(self) -> list[str]:
        return [name.removeprefix("records/").removesuffix(".json") for name in self.storage.list("records/")]

    def load(self, keys: list[str], threads: int = 16) -> dict[str, dict]:
        """Records of the given keys that exist, read in parallel (S3 reads are network round trips)."""
        present = set(self.keys())
        wanted = [k for k in dict.fromkeys(keys) if k in present]
        with ThreadPoolExecutor(threads) as pool:
            texts = pool.map(lambda k: self.storage.read_text(f"records/{k}.json"), wanted)
            return {k: json.loads(t) for k, t in zip(wanted, texts)}

    def done_keys(self, keys: list[str]) -> set[str]:
        """The keys among ``keys`` whose record says done (failed ones are retried on a rerun)."""
        return {k for k, r in self.load(keys).items() if r.get("status") == "done"}
