import pytest

from tkre.data.instance import RelationInstance
from tkre.data.markers import mark_entities
from tkre.models.encoder import RelationEncoder

OBAMA = RelationInstance(("Barack", "Obama", "was", "born", "in", "Honolulu", ",", "Hawaii", "."), (0, 2), (5, 6),
                         "born in", "person", "city")
TAIL_FIRST = RelationInstance(("The", "Danube", "flows", "through", "Vienna", "."), (4, 5), (1, 2), "crosses")


def test_untyped_and_typed_marker_text():
    m = mark_entities(OBAMA)
    assert m.text == "@ Barack Obama @ was born in # Honolulu # , Hawaii ."
    assert m.text[m.head_marker] == "@" and m.text[m.tail_marker] == "#"
    assert m.text[slice(*m.head_chars)] == "Barack Obama" and m.text[slice(*m.tail_chars)] == "Honolulu"
    t = mark_entities(OBAMA, typed=True)
    assert t.text == "@ * person * Barack Obama @ was born in # ^ city ^ Honolulu # , Hawaii ."
    assert t.text[slice(*t.head_chars)] == "Barack Obama" and t.text[t.tail_marker] == "#"


def test_typed_falls_back_to_untyped_without_types_and_tail_first_order():
    m = mark_entities(TAIL_FIRST, typed=True)
    assert m.text == "The # Danube # flows through @ Vienna @ ."
    assert m.tail_marker < m.head_marker


def test_window_must_keep_entities():
    assert mark_entities(OBAMA, window=(0, 6)).text.endswith("# Honolulu #")
    with pytest.raises(ValueError, match="cuts the tail"):
        mark_entities(OBAMA, window=(0, 5))


@pytest.mark.parametrize("family", ["minilm_tokenizer", "bpe_tokenizer"])
@pytest.mark.parametrize("inst,typed", [(OBAMA, True), (OBAMA, False), (TAIL_FIRST, False)])
def test_marker_alignment_through_offsets(request, family, inst, typed):
    """WordPiece (MiniLM) and byte-level BPE: the marker index holds the marker, the span the mention."""
    tokenizer = request.getfixturevalue(family)
    encoder = RelationEncoder.__new__(RelationEncoder)  # alignment needs only the tokenizer
    encoder.tokenizer, encoder.typed_markers, encoder.max_length = tokenizer, typed, 512
    (f,) = encoder.featurize([inst])
    tokens = tokenizer.convert_ids_to_tokens(f.input_ids)
    text = lambda ids: tokenizer.decode(ids).strip().lower()  # noqa: E731
    assert text([f.input_ids[f.head_marker]]) == "@"
    assert text([f.input_ids[f.tail_marker]]) == "#"
    assert text(f.input_ids[slice(*f.head_span)]) == inst.head_text.lower(), tokens
    assert text(f.input_ids[slice(*f.tail_span)]) == inst.tail_text.lower(), tokens


def test_long_sentence_is_cropped_around_the_entities(minilm_tokenizer):
    words = tuple(f"w{i}" for i in range(300))
    inst = RelationInstance(words[:150] + ("Obama",) + words + ("Hawaii",) + words[:100], (150, 151), (451, 452), "r")
    encoder = RelationEncoder.__new__(RelationEncoder)
    encoder.tokenizer, encoder.typed_markers, encoder.max_length = minilm_tokenizer, False, 64
    with pytest.raises(ValueError, match="over max_length"):
        encoder.featurize([inst])  # the 300 words between the entities cannot be cropped
    near = RelationInstance(words[:150] + ("Obama", "in", "Hawaii") + words, (150, 151), (152, 153), "r")
    (f,) = encoder.featurize([near])
    assert len(f.input_ids) <= 64
    assert minilm_tokenizer.decode(f.input_ids[slice(*f.head_span)]) == "obama"
    assert minilm_tokenizer.decode(f.input_ids[slice(*f.tail_span)]) == "hawaii"
