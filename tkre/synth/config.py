"""The synth job's settings: support, workers, EDKG, SCDG, budget, and the LLM endpoint.

Usage: ``cfg = load_config(SynthConfig, "jobs/configs/synth/smoke.yaml", ["llm.base_url=http://host:8000/v1"])``
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tkre.config import FieldError, at_least, positive
from tkre.data.splits import SupportConfig
from tkre.synth.client import LLMSettings
from tkre.synth.validation import ValidationRules
from tkre.tracking import TrackingSettings


@dataclass
class WorkersConfig:
    actors: int = positive(4)
    in_flight: int = positive(4)  # concurrent requests per actor
    batch_size: int = positive(16)  # requests per call; two calls per actor overlap, so slow requests leave no thread idle
    cpus_per_actor: float = positive(0.25)  # actors mostly wait on the network


@dataclass
class EDKGConfig:
    enabled: bool = True
    explain_per_relation: int | None = positive(None)  # the first N support instances of each relation (the reference: 6); null: all
    temperature: float = at_least(0.7, 0)
    max_tokens: int = positive(160)
    seed: int = 0


@dataclass
class SCDGConfig:
    enabled: bool = True
    per_relation: int = positive(8)  # accepted instances wanted per relation
    per_request: int = positive(8)  # instances asked for in one request
    max_attempts: int = positive(3)  # requests per relation at most
    temperature: float = at_least(0.9, 0)
    max_tokens: int = positive(768)
    rules: ValidationRules = field(default_factory=ValidationRules)
    # evaluation data (DATASET/SPLIT) never copied, besides the support task's own dev and test
    avoid: list[str] = field(default_factory=lambda: ["wiki80/dev", "wiki80/test", "fewrel/val"])


@dataclass
class BudgetConfig:
    max_requests: int | None = at_least(None, 0)
    max_tokens: int | None = at_least(None, 0)  # prompt + completion; checked between chunks of ``chunk`` requests
    chunk: int = positive(32)


@dataclass
class SynthConfig:
    output: str = "runs/synth"  # local folder or s3://bucket/prefix
    data_dir: str | None = None
    llm: LLMSettings = field(default_factory=LLMSettings)
    support: SupportConfig = field(default_factory=SupportConfig)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    edkg: EDKGConfig = field(default_factory=EDKGConfig)
    scdg: SCDGConfig = field(default_factory=SCDGConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # MLflow: where this job's run is logged


def check_synth(cfg: SynthConfig) -> None:
    """The rules between fields."""
    if cfg.llm.base_url is None and cfg.llm.model != "smollm2":
        raise FieldError("llm.model", "llm.base_url is null: the embedded server runs model smollm2 only")
