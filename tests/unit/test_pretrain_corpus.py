"""Reading a synthesis output into pre-training texts; bad files name the file, the record and the field."""

import json

import pytest

from tkre.data.instance import RelationInstance
from tkre.data.pretrain import pretraining_texts, read_synthesis
from tkre.errors import DataError

SUPPORT = [
    RelationInstance(tuple("Phoenix is run by mayor Greg Stanton .".split()), (0, 1), (5, 7), "head of government"),
    RelationInstance(tuple("Apple was founded by Steve Jobs .".split()), (0, 1), (4, 6), "founded by"),
]
EXPLANATION = {"relation": "founded by", "support_index": 1, "head": "Apple", "tail": "Steve Jobs",
               "explanation": "Steve Jobs started Apple, so Apple was founded by him.", "key": "k1"}
SYNTHETIC = {"token": "Tesla was founded by Elon Musk .".split(), "subj_start": 0, "subj_end": 0, "obj_start": 4,
             "obj_end": 5, "subj_type": None, "obj_type": None, "relation": "founded by", "key": "k2"}


def write(folder, explanations=(EXPLANATION,), synthetic=(SYNTHETIC,), raw_explanations=None):
    folder.mkdir(exist_ok=True)
    (folder / "explanations.jsonl").write_text(raw_explanations or "".join(json.dumps(x) + "\n" for x in explanations))
    (folder / "synthetic.json").write_text(json.dumps(list(synthetic)))
    (folder / "config.yaml").write_text("support:\n  dataset: wiki80\n")
    return str(folder)


def test_texts_from_every_source_with_their_mentions(tmp_path):
    texts = pretraining_texts(read_synthesis(write(tmp_path / "s")), SUPPORT)
    assert [(t.source, t.head, t.tail, t.relation) for t in texts] == [
        ("explanation", "Apple", "Steve Jobs", "founded by"),
        ("synthetic", "Tesla", "Elon Musk", "founded by"),
        ("support", "Phoenix", "Greg Stanton", "head of government"),
        ("support", "Apple", "Steve Jobs", "founded by"),
    ]
    assert texts[1].text == "Tesla was founded by Elon Musk ."
    only = pretraining_texts(read_synthesis(write(tmp_path / "s")), SUPPORT, sources=("synthetic",))
    assert [t.source for t in only] == ["synthetic"]
    with pytest.raises(ValueError, match="'gold'"):
        pretraining_texts(read_synthesis(write(tmp_path / "s")), SUPPORT, sources=("gold",))


@pytest.mark.parametrize("row, field", [
    ({**EXPLANATION, "support_index": "1"}, "support_index"),
    ({**EXPLANATION, "explanation": ""}, "explanation"),
    ({k: v for k, v in EXPLANATION.items() if k != "tail"}, "tail"),
])
def test_a_bad_explanation_row_names_file_line_and_field(tmp_path, row, field):
    folder = write(tmp_path / "s", explanations=[EXPLANATION, row])
    with pytest.raises(DataError) as error:
        read_synthesis(folder)
    assert error.value.path.endswith("explanations.jsonl") and error.value.record == "line 2"
    assert error.value.field == field


def test_invalid_json_and_bad_synthetic_records_are_named(tmp_path):
    with pytest.raises(DataError, match=r"explanations.jsonl: record line 1: field '<json>'"):
        read_synthesis(write(tmp_path / "a", raw_explanations="{not json\n"))
    with pytest.raises(DataError, match=r"synthetic.json: record 0: field 'obj_start/obj_end'"):
        read_synthesis(write(tmp_path / "b", synthetic=[{**SYNTHETIC, "obj_end": 40}]))


def test_an_explanation_pointing_at_another_support_set_is_an_error(tmp_path):
    synthesis = read_synthesis(write(tmp_path / "s", explanations=[{**EXPLANATION, "support_index": 0}]))
    with pytest.raises(DataError, match="support_index.*another support config"):
        pretraining_texts(synthesis, SUPPORT)
    with pytest.raises(DataError, match="support_index"):
        pretraining_texts(synthesis, SUPPORT[:0])


def test_shot_settings_keep_the_first_k_support_instances_their_explanations_and_n_synthetic(tmp_path):
    support = [
        RelationInstance(tuple(f"City{i} is run by mayor Person{i} .".split()), (0, 1), (5, 6), "head of government")
        for i in range(3)
    ] + SUPPORT[1:]
    explanations = [{"relation": "head of government", "support_index": i, "head": f"City{i}", "tail": f"Person{i}",
                     "explanation": f"Person{i} runs City{i}.", "key": f"e{i}"} for i in range(3)]
    synthetic = [{**SYNTHETIC, "token": f"Firm{i} was founded by Elon Musk .".split(), "key": f"s{i}"} for i in range(3)]
    synthesis = read_synthesis(write(tmp_path / "s", explanations=explanations, synthetic=synthetic))

    def kept(**shots):
        return [(t.source, t.head) for t in pretraining_texts(synthesis, support, **shots)]

    assert len(kept()) == 3 + 3 + 4
    assert kept(support_k=2, synthetic_per_relation=1) == [
        ("explanation", "City0"), ("explanation", "City1"), ("synthetic", "Firm0"),
        ("support", "City0"), ("support", "City1"), ("support", "Apple")]
    assert [s for s, _ in kept(support_k=0, synthetic_per_relation=0)] == []
    with pytest.raises(ValueError, match="support_k: expected a count >= 0"):
        kept(support_k=-1)


def test_a_corpus_that_is_not_a_synthesis_output_is_named(tmp_path):
    from tkre.data.pretrain import synthesis_support
    from tkre.errors import DataMissing

    with pytest.raises(DataMissing, match=r"nope/explanations.jsonl not found: corpus must be a synthesis output"):
        read_synthesis(str(tmp_path / "nope"))
    with pytest.raises(DataMissing, match=r"nope/config.yaml not found"):
        synthesis_support(str(tmp_path / "nope"))
