"""A scripted OpenAI-compatible LLM for the synthesis tests (served by ``tkre.testing``), and their outputs read back."""

import json
import re
from pathlib import Path

from tkre.data.readers import read_tacred
from tkre.testing import FAULTS

SMOKE = "jobs/configs/synth/smoke.yaml"


def fake_llm(messages):
    """Answers EDKG with an explanation naming both entities, SCDG with two bad and four good instances."""
    prompt = messages[-1]["content"]
    if "Subject: " in prompt:
        subject = re.search(r"^Subject: (.*)$", prompt, re.M).group(1)
        obj = re.search(r"^Object: (.*)$", prompt, re.M).group(1)
        return json.dumps({"explanation": f"The sentence says that {subject} is linked to {obj}."})
    instruction, demo = messages[1]["content"], json.loads(messages[2]["content"])
    relation = re.search(r'^Relation: "([^"]+)"', instruction, re.M).group(1)
    types = {side: re.search(rf"The {side} entity is of type: ([^,.\n]+)", instruction) for side in ("head", "tail")}
    tag = "".join(w[:3].capitalize() for w in relation.split())
    good = [{"sentence": f"Alpha{tag}{i} was tied to Beta{tag}{i} in the archive of {relation} .",
             "head": f"Alpha{tag}{i}", "tail": f"Beta{tag}{i}", "relation": relation,
             "head_type": types["head"].group(1) if types["head"] else None,
             "tail_type": types["tail"].group(1) if types["tail"] else None} for i in range(4)]
    missing_tail = {**good[0], "sentence": f"Alpha{tag}9 stood alone in the archive .", "head": f"Alpha{tag}9"}
    return json.dumps({"instances": [demo, missing_tail] + good})


def cycling_faults():
    """The first attempt of the n-th request gets fault n % 5 (none, 429, 500, hang, malformed)."""
    seen = {}

    def plan(request_id, attempt):
        if attempt > 1:
            return None
        index = seen.setdefault(request_id, len(seen))
        return ([None] + list(FAULTS))[index % 5]
    return plan


def overrides(output, base_url, relations=3, per_relation=3, **extra):
    settings = {
        "output": str(output), "llm.base_url": base_url, "llm.model": "fake", "llm.timeout_s": 1.0,
        "llm.max_attempts": 4, "llm.backoff_base_s": 0.05, "llm.backoff_max_s": 0.5,
        "support.max_relations": relations, "support.max_per_relation": per_relation,
        "scdg.per_relation": per_relation, "scdg.per_request": 4, "scdg.max_attempts": 2,
        "workers.actors": 2, "workers.in_flight": 4, **extra,
    }
    return [f"{k}={v}" for k, v in settings.items()]


def read_outputs(output: Path):
    """``(manifest, explanations, synthetic instances)`` of a synthesis output folder."""
    manifest = json.loads((output / "manifest.json").read_text())
    explanations = [json.loads(line) for line in (output / "explanations.jsonl").read_text().splitlines()]
    return manifest, explanations, read_tacred(output / "synthetic.json")
