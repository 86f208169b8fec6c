"""The Ray Data callable class that sends synthesis requests (no Ray import here).

Each actor holds one thread-safe ``ChatClient`` that keeps at most ``in_flight`` requests on the
wire, and a pool of twice as many threads shared by its calls: a request waiting out a backoff
leaves its slot to another. Ray Data runs two calls per actor at once, so while one batch waits
for its slowest request, the next batch's requests already fill the free slots. Every result is written to the record store the moment it arrives, and a
key whose record is already done is never sent again.

Usage (what ``tkre.synth.dispatch`` does)::

    ds.map_batches(SynthesisWorker, fn_constructor_kwargs={...}, batch_size=16,
                   compute=ray.data.ActorPoolStrategy(size=4, max_concurrent_calls_per_actor=2, ...))
    SynthesisWorker(settings, "http://127.0.0.1:8000/v1", "smollm2", "runs/synth", 4)(batch)  # plainly, in tests
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tkre.storage import open_storage
from tkre.synth.client import ChatClient, LLMSettings, RequestFailed
from tkre.synth.records import RecordStore


class SynthesisWorker:
    def __init__(self, settings: dict, base_url: str, model: str, output_uri: str, in_flight: int):
        slots = threading.Semaphore(max(1, in_flight))
        self.client = ChatClient(LLMSettings(**settings), base_url, model, slots)
        self.records = RecordStore(open_storage(output_uri))
        self.pool = ThreadPoolExecutor(2 * max(1, in_flight))

    def run_one(self, key: str, kind: str, request: str, meta: str) -> dict:
        existing = self.records.get(key)
        if existing and existing.get("status") == "done":
            return existing
        body = json.loads(request)
        started = time.time()
        record = {"key": key, "kind": kind, "meta": json.loads(meta)}
        try:
            reply = self.client.complete(body["messages"], body["params"], body.get("response_format"))
            record.update(status="done", text=reply.text, tokens_in=reply.tokens_in, tokens_out=reply.tokens_out,
                          attempts=reply.attempts)
        except RequestFailed as failure:
            record.update(status="failed", reason=failure.reason, attempts=failure.attempts, tokens_in=0, tokens_out=0)
        record["seconds"] = round(time.time() - started, 3)
        self.records.put(key, record)
        return record

    def __call__(self, batch: dict) -> dict:
        columns = ("key", "kind", "request", "meta")
        results = list(self.pool.map(self.run_one, *(list(batch[c]) for c in columns)))
        return {
            "key": [r["key"] for r in results],
            "status": [r["status"] for r in results],
            "reason": [r.get("reason", "") for r in results],
            "attempts": [r["attempts"] for r in results],
        }
