"""Synthesis LLMs side by side: the embedded SmolLM2 against another GGUF model on the demo's support.

Each model is converted once into a plain folder, served by ``transformers serve`` on loopback, and
sent the same two slices of the demo's synthesis (``jobs/configs/pipeline/demo.yaml``): the first
``--requests`` EDKG requests, then one SCDG attempt (one request per relation, 16 relations).
Reports what the corpus-quality summary counts (explanations kept and naming both entities,
synthetic candidates parsed and accepted, rejects by reason) and the tokens out per second.

Usage: ``python benchmarks/synthesis_llm.py --gguf path/to/model.gguf [--requests 16 --keep runs/synthesis_llm]``
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

from jobs import pipeline, synth
from tkre.synth.server import EmbeddedServer, cache_dir, gguf_folder, smollm2_folder

DEMO = "jobs/configs/pipeline/demo.yaml"


def slices(requests: int) -> dict[str, dict]:
    """The two slices of the demo's synthesis, as config changes."""
    return {"edkg": {"budget": {"max_requests": requests}, "scdg": {"enabled": False}},
            "scdg": {"edkg": {"enabled": False}, "scdg": {"max_attempts": 1}}}


def configured(base: synth.Config, change: dict, output: str, url: str, model: str) -> synth.Config:
    cfg = dataclasses.replace(base, output=output, llm=dataclasses.replace(base.llm, base_url=url, model=model))
    for section, values in change.items():
        setattr(cfg, section, dataclasses.replace(getattr(cfg, section), **values))
    return cfg


def measure(name: str, folder: Path, base: synth.Config, out: Path, requests: int) -> dict:
    row = {"model": name}
    with EmbeddedServer(folder) as server:
        for part, change in slices(requests).items():
            cfg = configured(base, change, str(out / f"{name}-{part}"), server.base_url, server.model)
            manifest = synth.synthesize(cfg)
            done = sum(manifest["requests"][k]["done"] for k in ("edkg", "scdg"))
            row[part] = {"requests": done, "tokens_out": manifest["tokens_out"], "wall_s": round(manifest["wall_s"], 1),
                         "tokens_out_per_s": round(manifest["tokens_out"] / manifest["wall_s"], 2)}
            if part == "edkg":
                row[part].update(accepted=manifest["explanations"]["accepted"],
                                 naming_both=manifest["quality"]["explanations_naming_both"],
                                 rejects=manifest["explanations"]["rejects"])
            else:
                s = manifest["synthetic"]
                row[part].update(candidates=s["candidates"], accepted=s["accepted"], rejects=manifest["rejects"])
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gguf", required=True, help="the other model, one GGUF file")
    parser.add_argument("--requests", type=int, default=16, help="EDKG requests per model")
    parser.add_argument("--keep", default=None, help="a folder to keep the synthesis outputs in")
    args = parser.parse_args()
    base = pipeline.load(DEMO)[0].synth
    gguf = Path(args.gguf)
    other = gguf_folder(gguf, cache_dir() / gguf.stem)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.keep or tmp)
        rows = [measure("smollm2", smollm2_folder(), base, out, args.requests),
                measure(gguf.stem, other, base, out, args.requests)]
    print("| model | EDKG kept / sent | naming both | SCDG accepted / parsed / sent | tokens out/s |", file=sys.stderr)
    print("|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        e, s = r["edkg"], r["scdg"]
        rate = (e["tokens_out"] + s["tokens_out"]) / (e["wall_s"] + s["wall_s"])
        print(f"| {r['model']} | {e['accepted']} / {e['requests']} | {e['naming_both']:.2f} | "
              f"{s['accepted']} / {s['candidates']} / {s['requests']} | {rate:.1f} |", file=sys.stderr)
    print(json.dumps({"benchmark": "synthesis_llm", "config": DEMO, "requests": args.requests, "models": rows}))


if __name__ == "__main__":
    main()
