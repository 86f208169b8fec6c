"""Ray Train wiring: the loop's context inside a ``TorchTrainer`` worker, the pre-training worker, and the trainer.

Every rank saves into its own local folder and reports it; Ray uploads all ranks' files into one
checkpoint directory under ``storage_path/name`` (local or ``s3://``). After a worker dies, Ray
restarts the group (``max_failures``) and ``latest_checkpoint`` brings the last one back.

Usage::

    result = fit(pretrain_worker, {"config": ..., "texts": ..., "heldout": ...}, num_workers=2, use_gpu=False,
                 storage_path="runs", name="train")
    result.checkpoint.path                       # the last checkpoint
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Callable

import ray.train
from ray.train import Checkpoint, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchConfig, TorchTrainer

from tkre.config import from_dict
from tkre.data.pretrain import PretrainText
from tkre.launch.session import init_ray
from tkre.tracking import tracked
from tkre.train.config import PretrainConfig
from tkre.train.stage import train_stage


class RayTrainContext:
    """The loop's context on one Ray Train worker."""

    def __init__(self):
        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        self.scratch = tempfile.mkdtemp(prefix=f"tkre-rank{self.rank}-")

    def latest_checkpoint(self) -> str | None:
        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            return None
        return checkpoint.to_directory(os.path.join(self.scratch, "restored"))

    def checkpoint_folder(self, step: int) -> str:
        folder = os.path.join(self.scratch, f"step-{step:06d}")
        os.makedirs(folder, exist_ok=True)
        return folder

    def report(self, metrics: dict, checkpoint: str | None) -> None:
        """Reports metrics and uploads ``checkpoint``; local copies are then deleted (hundreds of MB each)."""
        if checkpoint is None:
            ray.train.report(metrics)
            return
        ray.train.report(metrics, checkpoint=Checkpoint.from_directory(checkpoint),
                         delete_local_checkpoint_after_upload=True)
        shutil.rmtree(os.path.join(self.scratch, "restored"), ignore_errors=True)

    def close(self) -> None:
        """Removes this rank's scratch folder (checkpoints already uploaded)."""
        shutil.rmtree(self.scratch, ignore_errors=True)


def pretrain_worker(loop_config: dict) -> None:
    """One Ray Train worker of a pre-training stage: ``train_stage`` on this rank, with the driver's checked texts;
    rank 0 logs every report to the job's MLflow run (``loop_config["tracking"]``, when tracked)."""
    ctx = tracked(RayTrainContext(), loop_config.get("tracking"))
    try:
        train_stage(from_dict(PretrainConfig, loop_config["config"]), [PretrainText(**x) for x in loop_config["texts"]],
                    loop_config["heldout"], ctx)
    finally:
        ctx.close()


def fit(worker_loop: Callable[[dict], None], loop_config: dict, num_workers: int, use_gpu: bool,
        storage_path: str, name: str, max_failures: int = 0, cpus_per_worker: float = 1.0):
    """Runs ``worker_loop`` on ``num_workers`` Ray Train workers (gloo on CPU, nccl on GPU); returns the Result."""
    init_ray()
    trainer = TorchTrainer(
        worker_loop, train_loop_config=loop_config,
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        scaling_config=ScalingConfig(num_workers=num_workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus_per_worker}),
        run_config=RunConfig(name=name, storage_path=storage_path, failure_config=FailureConfig(max_failures)),
    )
    return trainer.fit()
