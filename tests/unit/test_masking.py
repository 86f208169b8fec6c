"""MSLM span masking on a WordPiece tokenizer (the packaged MiniLM) and a byte-level BPE one (SmolLM2's)."""

import pytest
import torch
from transformers import AutoTokenizer

from tkre.data.masking import ENTITY, OTHER, RELATION, SPECIAL, MaskingRates, SpanMasker, find_mentions
from tkre.models.encoder import resolve_model
from tkre.synth.server import smollm2_folder
from tkre.train.batches import mask_tokens


@pytest.fixture(scope="module", params=["wordpiece", "byte_bpe"])
def tokenizer(request):
    if request.param == "wordpiece":
        return AutoTokenizer.from_pretrained(resolve_model("minilm"))
    return AutoTokenizer.from_pretrained(smollm2_folder())


def masker(tokenizer, **rates):
    # SmolLM2 is a causal LM without a mask token: any id serves to test the regions
    return SpanMasker(tokenizer, MaskingRates(**rates), mask_token_id=tokenizer.mask_token_id or 0)


def words(tokenizer, item, region):
    ids = [i for i, r in zip(item.input_ids, item.regions) if r == region]
    return tokenizer.decode(ids).split()


def test_regions_follow_the_mentions_through_offsets(tokenizer):
    item = masker(tokenizer).encode("Phoenix is governed by its mayor Greg Stanton since 2012.", "phoenix", "Greg Stanton")
    assert item.status == "both_mentions"
    assert [w.lower() for w in words(tokenizer, item, ENTITY)] == ["phoenix", "greg", "stanton"]
    assert [w.lower() for w in words(tokenizer, item, RELATION)] == ["is", "governed", "by", "its", "mayor"]
    assert [w.lower() for w in words(tokenizer, item, OTHER)] == ["since", "2012."]
    rate = {OTHER: 0.2, ENTITY: 0.5, RELATION: 0.8, SPECIAL: 0.0}
    assert item.probabilities == [rate[r] for r in item.regions]
    special = [tokenizer.convert_ids_to_tokens(i) for i, r in zip(item.input_ids, item.regions) if r == SPECIAL]
    assert special == [t for t in (tokenizer.cls_token, tokenizer.sep_token) if t and tokenizer.cls_token]


def test_repeated_mentions_are_all_entities_and_the_closest_pair_bounds_the_relation(tokenizer):
    text = "Paris hosts museums; the capital of France is Paris, and France is proud."
    item = masker(tokenizer).encode(text, "Paris", "France")
    assert [w.strip(",.").lower() for w in words(tokenizer, item, ENTITY)] == ["paris", "france", "paris", "france"]
    assert words(tokenizer, item, RELATION) == ["is"]


def test_mentions_match_whole_words_only(tokenizer):
    assert find_mentions("Parisian cafes near Paris.", "paris") == [(20, 25)]
    item = masker(tokenizer).encode("Parisian cafes are famous.", "Paris", "cafes")
    assert item.status == "head_missing" and RELATION not in item.regions


def test_missing_mentions_leave_only_the_other_rate_and_are_counted(tokenizer):
    m = masker(tokenizer)
    item = m.encode("Nothing here names either entity.", "Phoenix", "Greg Stanton")
    assert item.status == "both_missing"
    assert {p for p, r in zip(item.probabilities, item.regions) if r != SPECIAL} == {0.2}
    m.encode("Phoenix is a city.", "Phoenix", "Greg Stanton")
    assert m.counts == {"both_missing": 1, "tail_missing": 1}


def test_mask_tokens_replaces_chosen_tokens_and_labels_only_them():
    ids = torch.arange(10, 20)
    probs = torch.tensor([0.0, 1.0] * 5)
    masked, labels = mask_tokens(ids, probs, mask_token_id=103)
    assert masked.tolist() == [10, 103, 12, 103, 14, 103, 16, 103, 18, 103]
    assert labels.tolist() == [-100, 11, -100, 13, -100, 15, -100, 17, -100, 19]


def test_rates_are_the_empirical_masking_frequencies():
    probs = torch.tensor([0.8, 0.5, 0.2, 0.0]).repeat(20000, 1)
    masked, labels = mask_tokens(torch.ones_like(probs, dtype=torch.long), probs, 0, torch.Generator().manual_seed(0))
    assert torch.allclose((labels != -100).float().mean(0), torch.tensor([0.8, 0.5, 0.2, 0.0]), atol=0.01)


def test_a_tokenizer_without_a_mask_token_is_a_clear_error():
    bpe = AutoTokenizer.from_pretrained(smollm2_folder())
    with pytest.raises(ValueError, match="no mask token"):
        SpanMasker(bpe)


def test_negative_spans_are_1_to_3_other_tokens_and_none_when_there_is_no_room():
    import random

    from tkre.data.masking import sample_negative_span

    regions = [SPECIAL, OTHER, OTHER, ENTITY, RELATION, RELATION, ENTITY, OTHER, OTHER, OTHER, OTHER, SPECIAL]
    rng = random.Random(0)
    seen = {sample_negative_span(regions, rng) for _ in range(500)}
    assert all(regions[i] == OTHER for s, e in seen for i in range(s, e))
    assert {e - s for s, e in seen} == {1, 2, 3} and (1, 3) in seen and (8, 11) in seen
    assert sample_negative_span([SPECIAL, ENTITY, RELATION, ENTITY, SPECIAL], rng) is None


def test_markers_wrap_the_closest_pair_as_downstream_and_are_never_masked(tokenizer):
    text = "Paris hosts museums; the capital of France is Paris, and France is proud."
    marked = masker(tokenizer, other=1.0)
    marked.markers = True
    item = marked.encode(text, "Paris", "France")
    decoded = tokenizer.decode(item.input_ids, skip_special_tokens=True)
    assert "".join(decoded.split()).lower() == "parishostsmuseums;thecapitalof#france#is@paris@,andfranceisproud."
    assert words(tokenizer, item, RELATION) == ["is"]
    markers = [tokenizer.decode([i]).strip() for i, r in zip(item.input_ids, item.regions) if r == SPECIAL]
    assert [m for m in markers if m in "@#"] == ["#", "#", "@", "@"]
    assert all(p == 0.0 for p, r in zip(item.probabilities, item.regions) if r == SPECIAL)
    plain = marked.encode("No mention at all here.", "Paris", "France")
    assert plain.status == "both_missing" and "@" not in tokenizer.decode(plain.input_ids)
