import json

import pytest
import torch

from tkre.errors import ConfigError
from tkre.models.card import InferenceSettings, read_card, read_settings, write_card
from tkre.predict.fewshot import FewShotRelationClassifier


@pytest.fixture(scope="module")
def export(tmp_path_factory, encoders):
    """A saved MiniLM with the cards of two stages: mslm, then scl from the mslm export."""
    root = tmp_path_factory.mktemp("exports")
    for name in ("mslm", "scl"):
        encoders["mean"].encoder.save_pretrained(root / name)
        encoders["mean"].tokenizer.save_pretrained(root / name)
    write_card(str(root / "mslm"), "mslm", {"loop": {"max_steps": 3}}, {"loss": 7.5, "note": "text"}, "12 texts",
               InferenceSettings(), "minilm")
    write_card(str(root / "scl"), "scl", {"scl": {"temperature": 0.1}}, {"loss": 6.0}, "12 texts",
               InferenceSettings(metric="euclidean", description_weight=2.0), str(root / "mslm"))
    return root / "scl"


def test_an_export_inherits_its_stages_and_records_its_inference_settings(export):
    info = read_card(str(export))
    assert info["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert [s["stage"] for s in info["stages"]] == ["mslm", "scl"]
    assert info["stages"][0]["metrics"] == {"loss": 7.5} and info["stages"][1]["config"] == {"scl": {"temperature": 0.1}}
    assert read_settings(str(export)) == {"pooling": "mean", "metric": "euclidean", "typed_markers": False,
                                          "max_length": 256, "description_weight": 2.0,
                                          "descriptions": "add", "nota_threshold": None}
    card = (export / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: sentence-transformers\nbase_model: sentence-transformers/all-MiniLM-L6-v2")
    assert "mslm -> scl" in card and "| scl | 12 texts | loss 6 |" in card
    clf = FewShotRelationClassifier.from_pretrained(str(export), device="cpu")
    assert (clf.settings.metric, clf.settings.description_weight) == ("euclidean", 2.0)
    assert FewShotRelationClassifier.from_pretrained(str(export), device="cpu", metric="cosine").settings.metric == "cosine"
    assert read_settings("minilm") == {} and read_card(str(export.parent / "none")) == {}


def test_sentence_transformers_loads_an_export_as_a_mean_pooled_encoder(export, encoders):
    from sentence_transformers import SentenceTransformer

    texts = ["founded by: founder or co-founder of this organization", "Paris is the capital of France ."]
    st = SentenceTransformer(str(export), device="cpu")
    assert json.loads((export / "sentence_bert_config.json").read_text())["max_seq_length"] == 256
    expected = encoders["mean"].encode_texts(texts)
    assert torch.allclose(torch.as_tensor(st.encode(texts)), expected, atol=1e-5)


def test_unknown_inference_settings_are_refused():
    with pytest.raises(ConfigError, match="pooling 'cls'"):
        InferenceSettings(pooling="cls")
