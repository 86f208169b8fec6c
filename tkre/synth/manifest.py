"""What a synthesis run did, as ``manifest.json``: requests, accepted and rejected output, tokens, cost, budget.

Usage::

    outcome = Outcome(edkg_rows, edkg_records, scdg_rows, scdg_records, explanations, explanation_rejects,
                      accepted, rejects, synthetic_rows)
    manifest = build_manifest(cfg, endpoint.description, schemas, len(support), outcome, budget, previous, wall_s)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from tkre.data.quality import corpus_quality
from tkre.data.readers import tacred_instances
from tkre.data.schemas import Schemas
from tkre.synth.config import SynthConfig
from tkre.synth.dispatch import Budget
from tkre.synth.prompts import EDKG_VERSION, SCDG_VERSION

NOT_CANDIDATES = ("no_instances", "malformed_json", "over_quota")  # rejects that are not a rejected instance
EXPLANATION_PROBLEMS = ("echoes_prompt", "head_not_named", "tail_not_named")  # rejects of parsed explanations


@dataclass
class Outcome:
    """The requests of both kinds, their records in request order, and what was kept of them."""

    edkg_rows: list[dict]
    edkg_records: list[dict]
    scdg_rows: list[dict]
    scdg_records: list[dict]
    explanations: list[dict]
    explanation_rejects: Counter
    accepted: Counter  # synthetic instances per relation
    rejects: Counter  # SCDG rejects by reason
    synthetic: list[dict]  # the accepted instances, Wiki80 layout


def request_counts(rows: list[dict], records: list[dict]) -> dict:
    """Planned, done, failed and unsent requests of one kind, with the failures by reason."""
    status = Counter(r["status"] for r in records)
    return {"planned": len(rows), "done": status["done"], "failed": status["failed"],
            "not_sent": len(rows) - len(records),
            "failed_by_reason": dict(Counter(r["reason"] for r in records if r["status"] == "failed"))}


def build_manifest(cfg: SynthConfig, endpoint: str, schemas: Schemas, instances: int, outcome: Outcome, budget: Budget,
                   previous: dict, wall_s: float) -> dict:
    """The manifest; ``previous`` is the one an earlier run of the same output left (its wall time adds up)."""
    all_records = outcome.edkg_records + outcome.scdg_records
    tokens_in = sum(r.get("tokens_in", 0) for r in all_records)
    tokens_out = sum(r.get("tokens_out", 0) for r in all_records)
    cost = None
    if cfg.llm.price_in_per_mtok is not None and cfg.llm.price_out_per_mtok is not None:
        cost = round((tokens_in * cfg.llm.price_in_per_mtok + tokens_out * cfg.llm.price_out_per_mtok) / 1e6, 6)
    accepted = outcome.accepted
    n_accepted = sum(accepted.values())
    candidates = n_accepted + sum(v for k, v in outcome.rejects.items() if k not in NOT_CANDIDATES)
    target = cfg.scdg.per_relation
    parsed = len(outcome.explanations) + sum(outcome.explanation_rejects[k] for k in EXPLANATION_PROBLEMS)
    return {
        "model": cfg.llm.model,
        "endpoint": endpoint,
        "prompts": {"edkg": EDKG_VERSION, "scdg": SCDG_VERSION},
        "support": {"dataset": cfg.support.dataset, "k_shot": cfg.support.k_shot, "seed": cfg.support.seed,
                    "relations": len(schemas), "instances": instances, "schema": schemas.summary()},
        "requests": {"edkg": request_counts(outcome.edkg_rows, outcome.edkg_records),
                     "scdg": request_counts(outcome.scdg_rows, outcome.scdg_records),
                     "attempts": sum(r.get("attempts", 0) for r in all_records)},
        "explanations": {"accepted": len(outcome.explanations), "rejects": dict(outcome.explanation_rejects)},
        "synthetic": {
            "accepted": n_accepted,
            "candidates": candidates,
            "acceptance_rate": round(n_accepted / candidates, 4) if candidates else None,
            "per_relation_target": target,
            "relations_at_target": sum(1 for v in accepted.values() if v >= target),
            "relations_with_none": sum(1 for v in accepted.values() if v == 0),
            "per_relation": dict(sorted(accepted.items())),
        },
        "rejects": dict(outcome.rejects.most_common()),
        "quality": corpus_quality(outcome.explanations, tacred_instances(outcome.synthetic, "synthetic.json"),
                                  parsed, list(accepted)),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": cost,
        "budget": {"max_requests": cfg.budget.max_requests, "max_tokens": cfg.budget.max_tokens,
                   "stopped_by": budget.stopped_by},
        "wall_s": round(wall_s, 1),
        "wall_s_all_runs": round(wall_s + previous.get("wall_s_all_runs", 0.0), 1),
    }
