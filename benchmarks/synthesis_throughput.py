"""Synthesis throughput: requests/s through the Ray Data actor pool against C / latency, and SmolLM2 tokens/s.

A loopback fault server answers every request after a fixed latency; with concurrency
C = actors x in_flight the bound is C / latency. The rate is measured over the requests'
own span on the server (first arrival to last answer), and end to end including the actor
pool start. The same run is repeated with 20% of attempts refused with 429 + Retry-After.
Then the embedded transformers serve + SmolLM2 generates at concurrency 1 and C.

Usage: ``python benchmarks/synthesis_throughput.py [--requests 2000 --latency 0.2 --actors 4 --in-flight 4]``
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from tkre.launch.session import init_ray, stop_ray
from tkre.storage import open_storage
from tkre.synth.client import ChatClient, LLMSettings
from tkre.synth.config import SynthConfig
from tkre.synth.dispatch import run_on_ray
from tkre.synth.endpoint import Endpoint
from tkre.synth.records import RecordStore, make_request
from tkre.synth.server import EmbeddedServer, smollm2_folder
from tkre.testing import FaultServer, no_faults, random_429s


def pool_run(args, plan, label: str) -> dict:
    rows = [make_request("edkg", [{"role": "user", "content": f"{label} request {i}"}], "fake", {}, {"i": i})
            for i in range(args.requests)]
    answer = json.dumps({"explanation": "fixed answer"})
    with tempfile.TemporaryDirectory() as out, FaultServer(lambda m: answer, args.latency, plan,
                                                           retry_after_s=args.retry_after) as server:
        cfg = SynthConfig(output=out)
        cfg.llm.base_url, cfg.llm.timeout_s, cfg.llm.max_attempts = server.base_url, 10.0, 8
        cfg.workers.actors, cfg.workers.in_flight, cfg.workers.batch_size = args.actors, args.in_flight, args.batch_size
        start = time.time()
        results = run_on_ray(rows, cfg, Endpoint(cfg.llm, None), out)
        wall = time.time() - start
        ok = [e for e in server.log if e["outcome"] == "ok"]
        span = max(e["end"] for e in ok) - min(e["start"] for e in server.log)
        done = RecordStore(open_storage(out)).done_keys([r["key"] for r in rows])
    statuses = [r["status"] for r in results]
    return {"requests": args.requests, "requests_per_s": round(args.requests / span, 2),
            "requests_per_s_end_to_end": round(args.requests / wall, 2), "wall_s": round(wall, 2),
            "attempts": len(server.log), "refused_429": sum(e["outcome"] == "429" for e in server.log),
            "done": statuses.count("done"), "lost": args.requests - len(done)}


def smollm2_tokens_per_s(concurrency: int, n_requests: int, max_tokens: int) -> dict:
    with EmbeddedServer(smollm2_folder()) as server:
        client = ChatClient(LLMSettings(timeout_s=600), server.base_url, server.model)
        prompt = "Explain in two sentences why {} is a {}."
        topics = [("Paris", "capital"), ("the Nile", "river"), ("Python", "language"), ("Mozart", "composer")]
        client.complete([{"role": "user", "content": "Hello"}], {"max_tokens": 8})  # warm-up
        start = time.time()
        with ThreadPoolExecutor(concurrency) as pool:
            replies = list(pool.map(
                lambda i: client.complete([{"role": "user", "content": prompt.format(*topics[i % 4])}],
                                          {"max_tokens": max_tokens, "temperature": 0.7}), range(n_requests)))
        wall = time.time() - start
    tokens = sum(r.tokens_out for r in replies)
    return {"concurrency": concurrency, "requests": n_requests, "tokens_out": tokens, "tokens_per_s": round(tokens / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--retry-after", type=float, default=0.2)
    parser.add_argument("--actors", type=int, default=4)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--smollm2-requests", type=int, default=32)
    parser.add_argument("--smollm2-max-tokens", type=int, default=64)
    args = parser.parse_args()
    init_ray()
    concurrency = args.actors * args.in_flight
    bound = concurrency / args.latency
    clean = pool_run(args, no_faults, "clean")
    print(f"[bench] no faults: {clean}", file=sys.stderr)
    faulty = pool_run(args, random_429s(0.2, seed=1), "faulty")
    print(f"[bench] 20% 429s: {faulty}", file=sys.stderr)
    stop_ray()
    single = smollm2_tokens_per_s(1, 4, args.smollm2_max_tokens)
    batched = smollm2_tokens_per_s(concurrency, args.smollm2_requests, args.smollm2_max_tokens)
    print(f"[bench] SmolLM2: {single} / {batched}", file=sys.stderr)
    print(json.dumps({
        "concurrency": concurrency, "latency_s": args.latency, "requests": args.requests,
        "requests_per_s": clean["requests_per_s"], "bound": round(bound, 2),
        "efficiency": round(clean["requests_per_s"] / bound, 4),
        "efficiency_end_to_end": round(clean["requests_per_s_end_to_end"] / bound, 4),
        "requests_per_s_with_429": faulty["requests_per_s"],
        "efficiency_with_429": round(faulty["requests_per_s"] / bound, 4),
        "refused_429": faulty["refused_429"], "lost": clean["lost"] + faulty["lost"],
        "smollm2_tokens_per_s_1": single["tokens_per_s"], f"smollm2_tokens_per_s_{concurrency}": batched["tokens_per_s"],
    }))


if __name__ == "__main__":
    main()
