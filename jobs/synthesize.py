"""synth job: EDKG explanations and SCDG synthetic instances from K-shot support, over Ray Data actors.

Reads the K-shot support of the chosen relations, sends one explanation request per support
instance and, per relation, up to ``scdg.max_attempts`` requests for new instances until
``scdg.per_relation`` pass validation. Every result is written as it arrives under
``output/records/``; a rerun skips what is done. Writes ``explanations.jsonl``,
``synthetic.json`` (Wiki80 layout), ``rejects.jsonl``, ``manifest.json``, ``summary.md``,
``synthesis.png`` and ``config.yaml``.
With ``llm.base_url: null`` it starts the embedded ``transformers serve`` + SmolLM2 and stops it after.

Usage: ``python -m jobs.synthesize --config jobs/configs/synthesize/smoke.yaml [--set llm.base_url=http://host:8000/v1]``
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

from tkre.config import config_yaml, job_arguments, load_config
from tkre.data.datasets import data_dir, kshot_support, load_kshot, load_split
from tkre.data.readers import read_pid2name
from tkre.storage import open_storage
from tkre.synth.client import LLMSettings
from tkre.synth.corpus import collect_explanations, collect_synthetic, edkg_requests, relation_schemas, scdg_requests
from tkre.synth.prompts import EDKG_VERSION, SCDG_VERSION
from tkre.synth.records import RecordStore
from tkre.synth.report import plot_synthesis, summary_table
from tkre.synth.server import EmbeddedServer, smollm2_folder
from tkre.synth.validation import OverlapIndex, ValidationRules


@dataclass
class SupportConfig:
    dataset: str = "wiki80"
    k_shot: int = 8
    seed: int = 42
    relations: str = "disjoint_from_fewrel_val"  # or "all"
    max_relations: int | None = None  # the first N relations by name, for quick runs
    max_per_relation: int | None = None  # the first N support instances of each relation, for quick runs


@dataclass
class WorkersConfig:
    actors: int = 4
    in_flight: int = 4  # concurrent requests per actor
    batch_size: int = 16  # requests per call; two calls per actor overlap, so slow requests leave no thread idle
    cpus_per_actor: float = 0.25  # actors mostly wait on the network


@dataclass
class EDKGConfig:
    enabled: bool = True
    temperature: float = 0.7
    max_tokens: int = 160
    seed: int = 0


@dataclass
class SCDGConfig:
    enabled: bool = True
    per_relation: int = 8  # accepted instances wanted per relation
    per_request: int = 8  # instances asked for in one request
    max_attempts: int = 3  # requests per relation at most
    temperature: float = 0.9
    max_tokens: int = 768
    rules: ValidationRules = field(default_factory=ValidationRules)
    avoid: list[str] = field(default_factory=lambda: ["wiki80/dev", "wiki80/test", "fewrel/val"])  # evaluation data


@dataclass
class BudgetConfig:
    max_requests: int | None = None
    max_tokens: int | None = None  # prompt + completion; checked between chunks of ``chunk`` requests
    chunk: int = 32


@dataclass
class SynthJobConfig:
    output: str = "runs/synth"  # local folder or s3://bucket/prefix
    data_dir: str | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)
    support: SupportConfig = field(default_factory=SupportConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    edkg: EDKGConfig = field(default_factory=EDKGConfig)
    scdg: SCDGConfig = field(default_factory=SCDGConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)


def load_support(cfg: SynthJobConfig):
    """Support instances, their relation schemas, and the evaluation sentences to keep away from."""
    root = data_dir(cfg.data_dir)
    task = load_kshot(cfg.support.dataset, cfg.support.k_shot, cfg.support.seed, root)
    support = kshot_support(task, cfg.support.relations, cfg.support.max_relations, cfg.support.max_per_relation, root)
    relations = {x.relation for x in support}
    descriptions = {name: desc for name, desc in read_pid2name(root / "fewrel" / "pid2name.json").values()}
    schemas = relation_schemas(support + [x for x in task.dev if x.relation in relations], descriptions)
    avoid = []
    for item in cfg.scdg.avoid:
        dataset, _, split = item.partition("/")
        avoid.extend(x.tokens for x in load_split(dataset, split, root))
    return support, schemas, OverlapIndex(avoid)


class Budget:
    """Request and token caps over the whole output (earlier runs included)."""

    def __init__(self, cfg: BudgetConfig, records: list[dict]):
        self.cfg, self.stopped_by = cfg, None
        self.requests = len(records)
        self.tokens = sum(r.get("tokens_in", 0) + r.get("tokens_out", 0) for r in records)

    def allow(self, n: int) -> int:
        if self.cfg.max_tokens is not None and self.tokens >= self.cfg.max_tokens:
            self.stopped_by = "max_tokens"
            return 0
        if self.cfg.max_requests is not None and self.requests + n > self.cfg.max_requests:
            self.stopped_by = "max_requests"
            return max(0, self.cfg.max_requests - self.requests)
        return n


class Endpoint:
    """The configured ``base_url``, or the embedded server, started on first use and stopped on close."""

    def __init__(self, llm: LLMSettings, stack: contextlib.ExitStack):
        self.llm, self.stack, self.url, self.model = llm, stack, llm.base_url, llm.model
        self.description = "embedded transformers serve" if llm.base_url is None else _public_url(llm.base_url)

    def check_reachable(self) -> None:
        """Fails fast, before any work, when a configured endpoint does not answer or refuses the key."""
        if self.url is None:
            return
        key = os.environ.get(self.llm.api_key_env)
        request = urllib.request.Request(self.url.rstrip("/") + "/models",
                                         headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):  # other answers (404, ...): reachable, /models is optional
                why = f"${self.llm.api_key_env} is not set" if not key else f"the key in ${self.llm.api_key_env} was refused"
                raise ConnectionError(f"llm.base_url {self.description}: HTTP {error.code}, {why}") from None
        except OSError as error:
            raise ConnectionError(f"llm.base_url {self.description}: cannot connect ({error})") from None

    def resolve(self) -> tuple[str, str]:
        if self.url is None:
            if self.llm.model != "smollm2":
                raise ValueError("llm.base_url is null: the embedded server runs model smollm2 only")
            server = self.stack.enter_context(EmbeddedServer(smollm2_folder()))
            self.url, self.model = server.base_url, server.model
            print(f"[synth] embedded transformers serve on {server.base_url}", file=sys.stderr)
        return self.url, self.model


def _public_url(url: str) -> str:
    """``url`` without any user:password part."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()


def run_on_ray(rows: list[dict], cfg: SynthJobConfig, endpoint: Endpoint, output_uri: str) -> list[dict]:
    """Sends ``rows`` through an actor pool of ``SynthesisWorker``; returns one status row per request."""
    import ray

    from tkre.synth.worker import SynthesisWorker

    base_url, model = endpoint.resolve()
    if not ray.is_initialized():
        ray.init(logging_level="warning")
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


def send(rows: list[dict], cfg: SynthJobConfig, records: RecordStore, budget: Budget, endpoint: Endpoint) -> None:
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


def ordered(records: dict[str, dict], rows: list[dict]) -> list[dict]:
    return [records[r["key"]] for r in rows if r["key"] in records]


def synthesize(cfg: SynthJobConfig) -> dict:
    start = time.time()
    storage = open_storage(cfg.output)
    storage.write_text("config.yaml", config_yaml(cfg))
    records = RecordStore(storage)
    support, schemas, evaluation = load_support(cfg)
    existing = records.load(records.keys())
    budget = Budget(cfg.budget, list(existing.values()))
    edkg_params = {"temperature": cfg.edkg.temperature, "max_tokens": cfg.edkg.max_tokens, "seed": cfg.edkg.seed}
    scdg_params = {"temperature": cfg.scdg.temperature, "max_tokens": cfg.scdg.max_tokens}
    print(f"[synth] {len(schemas)} relations, {len(support)} support instances, "
          f"{len(evaluation)} evaluation sentences to avoid, output {storage.uri}", file=sys.stderr)

    with contextlib.ExitStack() as stack:
        endpoint = Endpoint(cfg.llm, stack)
        endpoint.check_reachable()
        edkg_rows = edkg_requests(schemas, support, cfg.llm.model, edkg_params) if cfg.edkg.enabled else []
        send(edkg_rows, cfg, records, budget, endpoint)
        scdg_rows, synthetic = [], ([], Counter({r: 0 for r in schemas}), Counter(), [])
        for attempt in range(cfg.scdg.max_attempts if cfg.scdg.enabled else 0):
            if budget.stopped_by:
                break
            needing = [r for r in schemas if synthetic[1][r] < cfg.scdg.per_relation]
            if not needing:
                break
            print(f"[synth] SCDG attempt {attempt + 1}/{cfg.scdg.max_attempts}: {len(needing)} relations", file=sys.stderr)
            rows = scdg_requests(schemas, support, needing, cfg.llm.model, scdg_params, cfg.scdg.per_request, attempt)
            send(rows, cfg, records, budget, endpoint)
            scdg_rows += rows
            synthetic = collect_synthetic(ordered(records.load([r["key"] for r in scdg_rows]), scdg_rows), schemas,
                                          support, evaluation, cfg.scdg.rules, cfg.scdg.per_relation)
        description = endpoint.description

    edkg_records = ordered(records.load([r["key"] for r in edkg_rows]), edkg_rows)
    explanations, explanation_rejects = collect_explanations(edkg_records, support)
    rows, accepted, rejects, rejected_rows = synthetic
    scdg_records = ordered(records.load([r["key"] for r in scdg_rows]), scdg_rows)
    storage.write_text("explanations.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in explanations))
    storage.write_text("synthetic.json", "[\n" + ",\n".join(json.dumps(x, ensure_ascii=False) for x in rows) + "\n]\n")
    storage.write_text("rejects.jsonl", "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in rejected_rows))
    manifest = build_manifest(cfg, description, schemas, support, edkg_rows, edkg_records, scdg_rows, scdg_records,
                              explanations, explanation_rejects, accepted, rejects, budget, storage, time.time() - start)
    storage.write_text("manifest.json", json.dumps(manifest, indent=2))
    storage.write_text("summary.md", summary_table(manifest) + "\n")
    storage.write_bytes("synthesis.png", plot_synthesis(manifest))
    return manifest


def mentions_both(row: dict) -> bool:
    """Whether an explanation names both entities (what span masking in the next stage looks for)."""
    text = row["explanation"].lower()
    return row["head"].lower() in text and row["tail"].lower() in text


def _stage_counts(rows: list[dict], records: list[dict]) -> dict:
    status = Counter(r["status"] for r in records)
    return {"planned": len(rows), "done": status["done"], "failed": status["failed"],
            "not_sent": len(rows) - len(records),
            "failed_by_reason": dict(Counter(r["reason"] for r in records if r["status"] == "failed"))}


def build_manifest(cfg, endpoint, schemas, support, edkg_rows, edkg_records, scdg_rows, scdg_records,
                   explanations, explanation_rejects, accepted, rejects, budget, storage, wall_s) -> dict:
    all_records = edkg_records + scdg_records
    tokens_in = sum(r.get("tokens_in", 0) for r in all_records)
    tokens_out = sum(r.get("tokens_out", 0) for r in all_records)
    cost = None
    if cfg.llm.price_in_per_mtok is not None and cfg.llm.price_out_per_mtok is not None:
        cost = round((tokens_in * cfg.llm.price_in_per_mtok + tokens_out * cfg.llm.price_out_per_mtok) / 1e6, 6)
    candidate_rejects = sum(v for k, v in rejects.items() if k not in ("no_instances", "malformed_json", "over_quota"))
    n_accepted = sum(accepted.values())
    previous = json.loads(storage.read_text("manifest.json")) if storage.exists("manifest.json") else {}
    return {
        "model": cfg.llm.model,
        "endpoint": endpoint,
        "prompts": {"edkg": EDKG_VERSION, "scdg": SCDG_VERSION},
        "support": {"dataset": cfg.support.dataset, "k_shot": cfg.support.k_shot, "seed": cfg.support.seed,
                    "relations": len(schemas), "instances": len(support)},
        "requests": {"edkg": _stage_counts(edkg_rows, edkg_records), "scdg": _stage_counts(scdg_rows, scdg_records),
                     "attempts": sum(r.get("attempts", 0) for r in all_records)},
        "explanations": {"accepted": len(explanations), "rejects": dict(explanation_rejects),
                         "mentioning_both_entities": sum(mentions_both(x) for x in explanations)},
        "synthetic": {
            "accepted": n_accepted,
            "candidates": n_accepted + candidate_rejects,
            "acceptance_rate": round(n_accepted / (n_accepted + candidate_rejects), 4) if n_accepted + candidate_rejects else None,
            "per_relation_target": cfg.scdg.per_relation,
            "relations_at_target": sum(1 for v in accepted.values() if v >= cfg.scdg.per_relation),
            "relations_with_none": sum(1 for v in accepted.values() if v == 0),
            "per_relation": dict(sorted(accepted.items())),
        },
        "rejects": dict(rejects.most_common()),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": cost,
        "budget": {"max_requests": cfg.budget.max_requests, "max_tokens": cfg.budget.max_tokens,
                   "stopped_by": budget.stopped_by},
        "wall_s": round(wall_s, 1),
        "wall_s_all_runs": round(wall_s + previous.get("wall_s_all_runs", 0.0), 1),
    }


def run(config: str, overrides: list[str]) -> dict:
    """Runs the job, prints the summary tables, returns the one-line summary."""
    cfg = load_config(SynthJobConfig, config, overrides)
    try:
        manifest = synthesize(cfg)
    except KeyboardInterrupt:
        print(f"[synth] interrupted; what was done is under {cfg.output}/records; rerun the same command to resume",
              file=sys.stderr)
        raise SystemExit(130) from None
    print(summary_table(manifest))
    s = manifest["synthetic"]
    return {"output": cfg.output, "explanations": manifest["explanations"]["accepted"], "synthetic": s["accepted"],
            "acceptance_rate": s["acceptance_rate"], "tokens_out": manifest["tokens_out"],
            "stopped_by": manifest["budget"]["stopped_by"], "wall_s": manifest["wall_s"]}


def main(argv: list[str] | None = None) -> dict:
    args = job_arguments(__doc__.split("\n")[0], argv)
    try:
        summary = run(args.config, args.set)
    except ConnectionError as error:  # the endpoint, checked before any request
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
