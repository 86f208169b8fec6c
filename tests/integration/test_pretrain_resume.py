"""Pre-training resumes exactly from its last checkpoint, with the plain engine and with DeepSpeed (ZeRO-1, gloo)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tkre.data.masking import SpanMasker
from tkre.data.pretrain import PretrainText
from tkre.train.batches import collate, encode_texts
from tkre.train.config import EngineSettings, LoopSettings, MSLMSettings
from tkre.train.engines import make_engine
from tkre.train.loop import LocalContext, train
from tkre.train.model import PretrainModel

TEXTS = [PretrainText(f"City {i} is governed by its mayor Person {i} since {2000 + i} .", f"City {i}", f"Person {i}",
                      "head of government", "support") for i in range(8)]


class Crash(RuntimeError):
    pass


class CrashingContext(LocalContext):
    def __init__(self, run_dir, crash_at):
        super().__init__(run_dir)
        self.crash_at = crash_at

    def report(self, metrics, checkpoint):
        super().report(metrics, checkpoint)
        if metrics["step"] == self.crash_at:
            raise Crash()


def run(run_dir, ctx=None, kind="torch", head_warmup_steps=0):
    torch.manual_seed(0)
    model = PretrainModel("minilm", mslm=MSLMSettings(head_warmup_steps=head_warmup_steps))
    masker = SpanMasker(model.tokenizer)
    examples = encode_texts(TEXTS, masker)
    settings = LoopSettings(max_steps=6, batch_size=2, checkpoint_every=2, log_every=1, seed=0)
    engine = make_engine(EngineSettings(kind=kind, lr=1e-3), model, settings.max_steps, settings.batch_size,
                         delayed=model.encoder_parameter_names(), delay=head_warmup_steps)
    ctx = ctx or LocalContext(run_dir)
    metrics = train(engine, examples, lambda xs, epoch: collate(xs, masker.mask_token_id, 0, 0, epoch), settings, ctx,
                    export=model.export)
    return model, metrics, ctx


def test_a_crashed_run_resumes_from_its_last_checkpoint_to_the_same_weights(tmp_path):
    reference, ref_metrics, ref_ctx = run(tmp_path / "a")
    with pytest.raises(Crash):
        run(tmp_path / "b", CrashingContext(tmp_path / "b", crash_at=4))
    resumed, metrics, ctx = run(tmp_path / "b")
    assert [m["step"] for m in ctx.history] == [5, 6]  # nothing before the checkpoint is repeated
    assert metrics["step"] == 6 and metrics["mslm"] == pytest.approx(ref_metrics["mslm"], rel=1e-5)
    for (name, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.allclose(a, b, atol=1e-6), name
    assert (tmp_path / "b" / "checkpoints" / "step-000006" / "hf" / "config.json").exists()
    assert [m["step"] for m in ref_ctx.history] == [1, 2, 3, 4, 5, 6]


DEEPSPEED_RUN = """
import sys, torch
sys.path.insert(0, {tests!r})
import test_pretrain_resume as t
from transformers import AutoModel
from tkre.models.encoder import resolve_model
reference, ref_metrics, _ = t.run({a!r}, kind="deepspeed", head_warmup_steps=3)
try:
    t.run({b!r}, t.CrashingContext({b!r}, crash_at=4), kind="deepspeed", head_warmup_steps=3)
except t.Crash:
    pass
resumed, metrics, ctx = t.run({b!r}, kind="deepspeed", head_warmup_steps=3)
same = all(torch.allclose(x, y, atol=1e-6) for x, y in zip(reference.state_dict().values(), resumed.state_dict().values()))
base = AutoModel.from_pretrained(resolve_model("minilm")).state_dict()
def frozen(step):
    saved = AutoModel.from_pretrained({b!r} + f"/checkpoints/step-{{step:06d}}/hf").state_dict()
    return all(torch.equal(saved[k], v) for k, v in base.items() if not k.startswith("pooler"))  # MLM: no pooler
print("RESULT", [m["step"] for m in ctx.history], same, "warm-up", frozen(2), frozen(4))
"""


def test_the_deepspeed_engine_resumes_from_its_own_shards_and_keeps_the_encoder_frozen_in_the_head_warmup(tmp_path):
    code = DEEPSPEED_RUN.format(tests=str(Path(__file__).parent), a=str(tmp_path / "a"), b=str(tmp_path / "b"))
    # The lock a process killed while JIT-loading DeepSpeed's shm op leaves behind: the engine must not wait on it
    (tmp_path / "extensions" / "deepspeed_shm_comm").mkdir(parents=True)
    (tmp_path / "extensions" / "deepspeed_shm_comm" / "lock").touch()
    env = {**os.environ, "MASTER_PORT": "29531", "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RESULT [5, 6] True warm-up True False" in done.stdout  # encoder unchanged after 2 warm-up steps, not after 4
    shards = list((tmp_path / "b" / "checkpoints" / "step-000004" / "deepspeed").glob("*optim_states.pt"))
    assert shards, "no ZeRO optimizer shard saved"
