"""Requests out over a Ray Data actor pool, within a budget; every answer lands in the record store.

Usage::

    budget = Budget(cfg.budget, existing_records)
    send(rows, cfg, records, budget, endpoint)           # skips rows already done; stops when the budget is spent
    in_order = ordered(records.load(keys), rows)
"""

from __future__ import annotations

from dataclasses import asdict

from tkre.synth.config import BudgetConfig, SynthConfig
from tkre.synth.endpoint import Endpoint
from tkre.synth.records import RecordStore


class Budget:
    """Request and token caps over the whole output (earlier runs included)."""

    def __init__(self, cfg: BudgetConfig, records: list[dict]):
        self.cfg, self.stopped_by = cfg, None
        self.requests = len(records)
        self.tokens = sum(r.get("tokens_in", 0) + r.get("tokens_out", 0) for r in records)

    def allow(self, n: int) -> int:
        """How many of ``n`` more requests the budget allows."""
        if self.cfg.max_tokens is not None and self.tokens >= self.cfg.max_tokens:
            self.stopped_by = "max_tokens"
            return 0
        if self.cfg.max_requests is not None and self.requests + n > self.cfg.max_requests:
            self.stopped_by = "max_requests"
            return max(0, self.cfg.max_requests - self.requests)
        return n


def run_on_ray(rows: list[dict], cfg: SynthConfig, endpoint: Endpoint, output_uri: str) -> list[dict]:
    """Sends ``rows`` through an actor pool of ``SynthesisWorker``; returns one status row per request."""
    import ray

    from tkre.launch.session import init_ray
    from tkre.synth.worker import SynthesisWorker

    base_url, model = endpoint.resolve()
    init_ray()
    w = cfg.workers
    batch_size = max(1, min(w.batch_size, -(-len(rows) // (2 * w.actors))))  # at least two batches per actor
    ds = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // batch_size))
    out = ds.map_batches(
        SynthesisWorker,
        fn_constructor_kwargs=dict(settings=asdict(cfg.llm), base_url=base_url, model=model,
                                   output_uri=output_uri, in_flight=w.in_flight),
        batch_size=batch_size, num_cpus=w.cpus_per_actor,
        compute=ray.data.ActorPoolStrategy(size=w.actors, max_tasks_in_flight_per_actor=2,
                                           max_concurrent_calls_per_actor=2, enable_true_multi_threading=True),
    )
    return out.take_all()


def send(rows: list[dict], cfg: SynthConfig, records: RecordStore, budget: Budget, endpoint: Endpoint) -> None:
    """Sends the rows not done yet, in chunks, within the budget."""
    done = records.done_keys([r["key"] for r in rows])
    todo = [r for r in rows if r["key"] not in done]
    chunk = cfg.budget.chunk if cfg.budget.max_tokens is not None else max(1, len(todo))
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        part = part[: budget.allow(len(part))]
        if not part:
            return
        run_on_ray(part, cfg, endpoint, records.storage.uri)
        new = records.load([r["key"] for r in part])
        budget.requests += len(new)
        budget.tokens += sum(r.get("tokens_in", 0) + r.get("tokens_out", 0) for r in new.values())
        if budget.stopped_by:
            return


def ordered(records: RecordStore, rows: list[dict]) -> list[dict]:
    """The records of ``rows`` that exist, in the rows' order."""
    found = records.load([r["key"] for r in rows])
    return [found[r["key"]] for r in rows if r["key"] in found]
