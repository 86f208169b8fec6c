"""The pre-training settings, torch-free: loading a config imports neither torch nor transformers.

``PretrainConfig`` is what ``tkre mslm`` and ``tkre scl`` read (``jobs/configs/{mslm,scl}/``); its
sections are the loop, the engine, the workers, the MSLM and SCL settings, and ``val``, the
validation on held-out relations that sweeps score (also meta-training's). ``check_stage`` holds the
rules between fields of one stage.

Usage::

    cfg = load_config(PretrainConfig, "jobs/configs/scl/smoke.yaml", ["scl.temperature=0.05"],
                      check=lambda c: check_stage(c, "scl"))
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tkre.config import FieldError, at_least, checked, fraction, one_of, positive
from tkre.data.masking import MaskingRates
from tkre.data.pretrain import SOURCES
from tkre.data.splits import HoldoutSettings
from tkre.models.scoring import ScoringSettings
from tkre.tracking import TrackingSettings

STAGES = ("mslm", "scl")
ANCHORS = ("learned", "description")


@dataclass
class LoopSettings:
    max_steps: int = positive(200)
    batch_size: int = positive(16)  # per worker
    checkpoint_every: int = positive(50)
    log_every: int = positive(10)
    seed: int = 0
    eval_every: int = at_least(0, 0)  # steps between calls of the loop's ``evaluate`` (0: never)


@dataclass
class EngineSettings:
    kind: str = one_of("deepspeed", ("deepspeed", "torch"))  # torch: plain, DDP across ranks
    zero_stage: int = one_of(1, (0, 1, 2, 3))
    bf16: bool = False  # GPU only
    lr: float = at_least(5e-5, 0)
    weight_decay: float = at_least(0.01, 0)
    eps: float = positive(1e-6)
    warmup_ratio: float = fraction(0.1)
    clip: float = positive(1.0)


@dataclass
class MSLMSettings:
    head_warmup_steps: int = at_least(0, 0)  # steps that train the MLM head alone
    untie_decoder: bool = False  # the head's output matrix stops sharing the input embeddings
    dropout: float | None = fraction(None)  # the encoder's hidden and attention dropout (null: the model's own)


@dataclass
class SCLSettings:
    temperature: float = positive(0.1)
    in_batch_negatives: bool = False
    projection_size: int | None = positive(None)  # learned anchors only
    mslm_weight: float = at_least(1.0, 0)  # l1
    scl_weight: float = at_least(1.0, 0)  # l2
    anchors: str = one_of("learned", ANCHORS)  # learned: the paper's; description: the encoded "name: description"
    positive: str = one_of("span", ("span", "mean"))  # the relation span, or the sentence mean evaluation pools
    entity_mask: float = fraction(0.0)  # description anchors: mask the positive pass's mentions with this chance
    schema: str | None = None  # description anchors: schema source or file (null: the corpus's dataset)


def _positive_ints(values: list[int]) -> str | None:
    return None if values and all(v > 0 for v in values) else f"must be a non-empty list of K > 0, got {values!r}"


@dataclass
class ValidationConfig(ScoringSettings, HoldoutSettings):
    """Validation during training (``tkre.eval.validation.Validator``): the ``holdout`` validation relations
    (``tkre.data.splits.validation_relations``) are held out of training and scored as frozen episodes under
    the scoring settings; ``max_length`` null: the trained model's."""

    max_length: int | None = positive(None)
    data: str = "wiki80"
    split: str = checked(lambda v: "validation never reads a test split" if v == "test" else None, "dev")
    n_way: int = at_least(5, 2)
    k_shots: list[int] = checked(_positive_ints, lambda: [1, 5])  # val/acc is their mean
    n_query: int = positive(5)
    episodes: int = positive(200)  # per K
    seed: int = 0
    limit_per_relation: int | None = positive(40)
    batch_size: int = positive(64)


@dataclass
class WorkersConfig:
    num_workers: int = positive(2)
    use_gpu: bool = False
    cpus_per_worker: float = positive(1.0)
    max_failures: int = at_least(1, 0)


@dataclass
class PretrainConfig:
    run_dir: str = "runs/mslm"
    corpus: str = "corpora/wiki80_k8_smollm2"  # a synthesis output
    data_dir: str | None = None
    sources: list[str] = one_of(lambda: list(SOURCES), SOURCES)
    support_k: int | None = positive(None)  # the first K support instances per relation and their explanations (null: all)
    synthetic_per_relation: int | None = at_least(None, 0)  # the first N synthetic instances per relation (null: all)
    hygiene: bool = True  # leave out what corpus hygiene (tkre.data.quality) rejects; false: keep it, to measure its worth
    init_from: str | None = None  # minilm, a folder or hub name; stage 2: the stage-1 export
    max_length: int = positive(128)
    markers: bool = False  # @ head @ ... # tail # around the mentions, as downstream
    masking: MaskingRates = field(default_factory=MaskingRates)
    mslm: MSLMSettings = field(default_factory=MSLMSettings)
    loop: LoopSettings = field(default_factory=LoopSettings)
    engine: EngineSettings = field(default_factory=EngineSettings)
    workers: WorkersConfig = field(default_factory=WorkersConfig)
    scl: SCLSettings | None = None  # stage 2 only
    val: ValidationConfig | None = None  # episodic validation on the held-out validation relations (sweeps)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # MLflow: where this job's run is logged


def check_stage(cfg: PretrainConfig, stage: str) -> None:
    """The rules between fields of one stage; ``FieldError`` names the field."""
    if stage == "scl" and cfg.scl is None:
        raise FieldError("scl", "the scl stage needs its settings (scl.temperature, ...)")
    if stage == "scl" and (not cfg.init_from or cfg.init_from == "minilm"):
        raise FieldError("init_from", "the scl stage starts from the stage-1 export (e.g. runs/mslm/export)")
    if stage == "mslm" and cfg.scl is not None:
        raise FieldError("scl", "scl settings belong to the scl stage")
    if cfg.scl is not None and cfg.scl.anchors == "learned" and cfg.scl.entity_mask:
        raise FieldError("scl.entity_mask", "masks the unmasked positive pass of description anchors (scl.anchors)")
    if cfg.val is not None and cfg.loop.eval_every < 1:
        raise FieldError("loop.eval_every", "set the steps between validations (val is set)")
    if cfg.val is not None and cfg.engine.kind == "deepspeed" and cfg.engine.zero_stage == 3:
        raise FieldError("engine.zero_stage", "validation reads rank 0's whole weights; use ZeRO stage 0-2")
