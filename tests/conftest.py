"""Shared fixtures: the real data folder and the packaged MiniLM, loaded once per session."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("TKRE_DATA_DIR", str(REPO.parent / "shared" / "data"))
# jobs run untracked here (each tracked job costs about 2 s of MLflow start-up); the tracking tests turn it on
os.environ["TKRE_TRACKING"] = "off"


def pytest_configure(config):
    """Under pytest-xdist (``make test``: 2 workers on 2 cores) each worker computes with one torch thread:
    two workers of two threads each oversubscribe the cores and slow the in-process tests by a third."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


def pytest_collection_modifyitems(items):
    """``unit`` for tests/unit (no Ray, seconds: ``make test-unit``), ``integration`` for tests/integration."""
    for item in items:
        kind = Path(str(item.fspath)).parent.name
        if kind in ("unit", "integration"):
            item.add_marker(getattr(pytest.mark, kind))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ["TKRE_DATA_DIR"])
    assert (path / "fewrel" / "val_wiki.json").is_file(), f"TKRE_DATA_DIR={path} holds no FewRel data"
    return path


@pytest.fixture(scope="session")
def minilm_tokenizer():
    from transformers import AutoTokenizer

    from tkre.models.encoder import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("minilm"))


@pytest.fixture(scope="session")
def bpe_tokenizer():
    """A real byte-level BPE tokenizer (GPT-2 family: offsets include the leading space), trained here."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=["<pad>"])
    corpus = ["Barack Obama was born in Honolulu , Hawaii .", "The Danube flows through Vienna and Budapest ."] * 20
    bpe.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=bpe, pad_token="<pad>")


@pytest.fixture(scope="session")
def encoders():
    """One packaged-MiniLM encoder per pooling."""
    from tkre.models.encoder import RelationEncoder

    return {p: RelationEncoder("minilm", p) for p in ("marker", "entity", "mean")}
