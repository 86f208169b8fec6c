"""The eval job's settings: episodic evaluation (settings, episodes, pooling, metric, NOTA, replay) and fine-tuning runs.

Usage: ``cfg = load_config(EvalConfig, "jobs/configs/eval/smoke.yaml", ["episodic.metric=cosine"])``

Settings ``"5-0"``/``"10-0"`` are 0-shot episodes scored by descriptions alone; ``relations:
validation`` keeps the Wiki80 relations held out for choosing settings (``tkre.data.splits``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tkre.config import at_least, checked, one_of, positive
from tkre.data.datasets import unknown_dataset
from tkre.data.splits import HoldoutSettings
from tkre.eval.finetune import FinetuneRun
from tkre.models.scoring import POOLINGS, ScoringSettings, scoring_of
from tkre.tracking import TrackingSettings


def parse_setting(setting: str) -> tuple[int, int]:
    """``"5-1"`` -> (5, 1); ``"5-0"`` -> (5, 0), 0-shot: descriptions alone."""
    n_way, _, k_shot = setting.partition("-")
    if not (n_way.isdigit() and k_shot.isdigit() and int(n_way) >= 2):
        raise ValueError(f"expected N-K with N >= 2 and K >= 0, such as 5-1 or 5-0; got {setting!r}")
    return int(n_way), int(k_shot)


def _settings_rule(settings: list[str]) -> str | None:
    try:
        return None if settings and [parse_setting(s) for s in settings] else "must list at least one N-K setting"
    except ValueError as error:
        return str(error)


@dataclass
class EpisodicConfig(ScoringSettings, HoldoutSettings):
    """Episodes and how they are scored: ``ScoringSettings`` (defaults chosen on validation,
    jobs/configs/eval/validation.yaml, docs/results/protocol_validation.md); ``holdout`` and
    ``holdout_seed`` pick the validation relations for ``relations: validation``."""

    dataset: str = checked(unknown_dataset, "fewrel")  # a registered dataset (tkre.data.datasets)
    split: str = "val"
    data: str | None = None  # your own file instead of dataset/split (FewRel, TACRED, SemEval lines or records)
    data_format: str | None = None  # fewrel | tacred | semeval | records (default: inferred from the file)
    settings: list[str] = checked(_settings_rule, lambda: ["5-1", "5-5", "10-1", "10-5"])  # N-K
    episodes: int = positive(1000)
    n_query: int = positive(5)  # queries per relation
    seed: int = 0
    poolings: list[str] | None = one_of(None, POOLINGS)  # compare several poolings (null: ``pooling`` alone)
    schema: str | None = None  # relation names and descriptions: the dataset's own, or a .json/.yaml file
    relations: str = one_of("all", ("all", "validation"))  # validation: Wiki80's held-out validation relations
    na_rate: float = at_least(0.0, 0)  # none-of-the-above queries per episode, as a multiple of n_query
    batch_size: int = positive(64)
    limit_per_relation: int | None = positive(None)  # keep the first N instances of each relation
    episodes_from: str | None = None  # replay the frozen episodes in this local folder (an earlier run's episodes/)

    def scorings(self) -> list[ScoringSettings]:
        """The scoring settings of each pooling compared."""
        return [scoring_of(self, pooling=p) for p in self.poolings or [self.pooling]]


@dataclass
class EvalConfig:
    run_dir: str = "runs/eval"
    model: str = "minilm"  # minilm (packaged), a folder, an s3:// export or a hub name
    data_dir: str | None = None
    episodic: EpisodicConfig | None = field(default_factory=EpisodicConfig)
    finetune: list[FinetuneRun] = field(default_factory=list)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)  # MLflow: where this job's run is logged
