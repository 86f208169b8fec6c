"""Engine adapters: one interface over plain PyTorch / DDP and DeepSpeed; the only module importing DeepSpeed.

An engine owns the model, the AdamW optimizer and the linear warmup schedule, and knows how to
call, backpropagate, step, save and load. ``TorchEngine`` wraps the model in DDP when the process
group has more than one rank; ``DeepSpeedEngine`` hands everything to ``deepspeed.initialize``
(ZeRO stage from the config; gloo and the torch AdamW on CPU, nccl and bf16 on GPU).

Usage::

    engine = make_engine(EngineSettings(kind="deepspeed", zero_stage=2), model, total_steps=1000, micro_batch=16)
    out = engine(batch); engine.backward(out["loss"]); engine.step()
    engine.save("ckpt/step-000100", {"step": 100}); client_state = engine.load("ckpt/step-000100")
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from tkre.train.config import EngineSettings


def adamw(model: nn.Module, s: EngineSettings, delayed: set[str] = frozenset(), delay: int = 0) -> torch.optim.AdamW:
    """AdamW without weight decay on biases and normalisation weights.

    The parameters named in ``delayed`` get their own groups whose ``delay`` (steps at learning rate 0,
    so not even weight decay moves them) is ``delay``; ``linear_warmup`` reads it.
    """
    groups = []
    for late in (False, True):
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad and (n in delayed) == late]
        for decay in (True, False):
            params = [p for n, p in named if (p.ndim > 1) == decay]
            if params:
                groups.append({"params": params, "weight_decay": s.weight_decay if decay else 0.0,
                               "delay": delay if late else 0})
    return torch.optim.AdamW(groups, lr=s.lr, eps=s.eps)


def linear_warmup(optimizer, total_steps: int, warmup_ratio: float):
    """Linear warm-up over ``warmup_ratio`` of the steps, then linear decay; a group with a ``delay`` starts late."""
    def schedule(delay: int):
        steps = max(1, total_steps - delay)
        warmup = max(1, int(steps * warmup_ratio))
        return lambda step: 0.0 if step < delay else min(
            (step - delay + 1) / warmup, max(0.0, (steps - step + delay) / max(1, steps - warmup)))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, [schedule(g.get("delay", 0)) for g in optimizer.param_groups])


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


class TorchEngine:
    """Plain PyTorch on one process; DDP when the process group has more than one rank."""

    def __init__(self, model: nn.Module, s: EngineSettings, total_steps: int, device: torch.device,
                 delayed: set[str] = frozenset(), delay: int = 0):
        self.module, self.settings = model.to(device), s
        distributed = dist.is_initialized() and dist.get_world_size() > 1
        self.model = nn.parallel.DistributedDataParallel(model, find_unused_parameters=True) if distributed else model
        self.optimizer = adamw(model, s, delayed, delay)
        self.scheduler = linear_warmup(self.optimizer, total_steps, s.warmup_ratio)

    def __call__(self, batch: dict) -> dict:
        return self.model(batch)

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def step(self) -> None:
        nn.utils.clip_grad_norm_(self.module.parameters(), self.settings.clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def save(self, folder: str, client_state: dict) -> None:
        if rank() == 0:
            Path(folder).mkdir(parents=True, exist_ok=True)
            torch.save({"model": self.module.state_dict(), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "client": client_state}, Path(folder) / "engine.pt")

    def load(self, folder: str) -> dict:
        state = torch.load(Path(folder) / "engine.pt", map_location="cpu", weights_only=False)
        self.module.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        return state["client"]


class DeepSpeedEngine(TorchEngine):
    """DeepSpeed: every rank saves and loads its own ZeRO shards under ``<folder>/deepspeed``."""

    TAG = "deepspeed"

    def __init__(self, model: nn.Module, s: EngineSettings, total_steps: int, device: torch.device, micro_batch: int,
                 delayed: set[str] = frozenset(), delay: int = 0):
        import deepspeed
        import deepspeed.ops

        # DeepSpeed's shared-memory CPU all-reduce is a C++ op that each process JIT-loads under a lock file in
        # ~/.cache/torch_extensions; a process killed while holding it (preemption, a worker Ray Train replaces)
        # leaves every later DeepSpeed process on the machine waiting forever. Gloo does the all-reduce without it.
        deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False
        if not dist.is_initialized():
            for key, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500"), ("RANK", "0"),
                               ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
                os.environ.setdefault(key, value)
            deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")
        self.settings = s
        optimizer = adamw(model, s, delayed, delay)
        config = {"train_micro_batch_size_per_gpu": micro_batch, "gradient_accumulation_steps": 1,
                  "gradient_clipping": s.clip, "zero_optimization": {"stage": s.zero_stage},
                  "bf16": {"enabled": bool(s.bf16 and device.type == "cuda")}, "steps_per_print": 10**9}
        self.model, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model.to(device), optimizer=optimizer, lr_scheduler=linear_warmup(optimizer, total_steps, s.warmup_ratio),
            config=config)
        self.module = self.model.module

    def backward(self, loss: torch.Tensor) -> None:
        self.model.backward(loss)

    def step(self) -> None:
        self.model.step()  # clips, steps the optimizer and the schedule, zeroes the gradients

    def save(self, folder: str, client_state: dict) -> None:
        self.model.save_checkpoint(folder, tag=self.TAG, client_state=client_state)

    def load(self, folder: str) -> dict:
        _, client_state = self.model.load_checkpoint(folder, tag=self.TAG)
        return client_state


def make_engine(s: EngineSettings, model: nn.Module, total_steps: int, micro_batch: int,
                device: torch.device | None = None, delayed: set[str] = frozenset(), delay: int = 0) -> TorchEngine:
    """The engine of ``s.kind``; the parameters named in ``delayed`` stay at learning rate 0 for ``delay`` steps."""
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if s.kind == "torch":
        return TorchEngine(model, s, total_steps, device, delayed, delay)
    if s.kind == "deepspeed":
        return DeepSpeedEngine(model, s, total_steps, device, micro_batch, delayed, delay)
    raise ValueError(f"engine.kind: expected deepspeed or torch, got {s.kind!r}")
