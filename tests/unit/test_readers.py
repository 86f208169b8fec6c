import json

import pytest

from tkre.data.readers import read_fewrel, read_label_map, read_semeval, read_tacred
from tkre.errors import DataError


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


FEWREL_GOOD = {"P17": [{"tokens": ["Paris", "is", "in", "France"], "h": ["paris", "Q90", [[0]]], "t": ["france", "Q142", [[3]]]}]}
TACRED_GOOD = [{"token": ["Bud", "Frye", "Field", "serves", "Madison"], "relation": "place served", "subj_start": 0,
                "subj_end": 2, "obj_start": 4, "obj_end": 4, "subj_type": "airport", "obj_type": "region"}]
SEMEVAL_GOOD = {"token": ["the", "crane", "arm"], "h": {"name": "crane", "pos": [1, 2]}, "t": {"name": "arm", "pos": [2, 3]},
                "relation": "Component-Whole(e2,e1)"}


def test_fewrel_good(tmp_path):
    (x,) = read_fewrel(write(tmp_path, "f.json", json.dumps(FEWREL_GOOD)))
    assert (x.tokens, x.head, x.tail, x.relation) == (("Paris", "is", "in", "France"), (0, 1), (3, 4), "P17")


def test_tacred_good_inclusive_ends_become_half_open(tmp_path):
    (x,) = read_tacred(write(tmp_path, "t.json", json.dumps(TACRED_GOOD)))
    assert (x.head, x.tail, x.head_type, x.tail_type) == ((0, 3), (4, 5), "airport", "region")
    assert x.head_text == "Bud Frye Field"


def test_semeval_good(tmp_path):
    (x,) = read_semeval(write(tmp_path, "s.txt", json.dumps(SEMEVAL_GOOD) + "\n\n"))
    assert (x.head, x.tail, x.relation, x.head_type) == ((1, 2), (2, 3), "Component-Whole(e2,e1)", None)


def test_real_files(data_dir):
    fewrel = read_fewrel(data_dir / "fewrel/val_wiki.json")
    assert len(fewrel) == 11200 and len({x.relation for x in fewrel}) == 16
    wiki = read_tacred(data_dir / "wiki80/test.json")
    assert len(wiki) == 5600 and len({x.relation for x in wiki}) == 80
    semeval = read_semeval(data_dir / "semeval/test.txt")
    assert len(semeval) == 2717 and "Other" in {x.relation for x in semeval}
    assert all(0 <= x.head[0] < x.head[1] <= len(x.tokens) for x in fewrel + wiki + semeval)


def bad_fewrel():
    def variant(**changes):
        record = dict(FEWREL_GOOD["P17"][0], **changes)
        return json.dumps({"P17": [FEWREL_GOOD["P17"][0], record]})

    no_t = dict(FEWREL_GOOD["P17"][0])
    del no_t["t"]
    return [
        ('{"P17": [', "<json>", "invalid JSON"),
        (variant(tokens=[]), "tokens", "empty token list"),
        (variant(h=["paris", "Q90", [[7]]]), "h", "out of range"),
        (json.dumps({"P17": [no_t]}), "t", "missing"),
    ]


@pytest.mark.parametrize("text,field,problem", bad_fewrel())
def test_fewrel_malformed(tmp_path, text, field, problem):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(DataError) as e:
        read_fewrel(path)
    assert e.value.field == field and problem in str(e.value) and str(path) in str(e.value)


def bad_tacred():
    def variant(drop=None, **changes):
        record = dict(TACRED_GOOD[0], **changes)
        record.pop(drop, None)
        return json.dumps([TACRED_GOOD[0], record])

    return [
        ("[{", "<json>", "invalid JSON"),
        (variant(token=[]), "token", "empty token list"),
        (variant(obj_end=9), "obj_start/obj_end", "out of range"),
        (variant(drop="relation"), "relation", "missing"),
        (variant(subj_start="0"), "subj_start", "integer"),
    ]


@pytest.mark.parametrize("text,field,problem", bad_tacred())
def test_tacred_malformed_names_record_index(tmp_path, text, field, problem):
    path = write(tmp_path, "bad.json", text)
    with pytest.raises(DataError) as e:
        read_tacred(path)
    assert e.value.field == field and problem in str(e.value)
    if field != "<json>":
        assert e.value.record == 1  # the second record is the bad one


@pytest.mark.parametrize(
    "record,field,problem",
    [
        (dict(SEMEVAL_GOOD, token=[]), "token", "empty token list"),
        (dict(SEMEVAL_GOOD, t={"name": "arm", "pos": [2, 4]}), "t.pos", "out of range"),
        ({k: v for k, v in SEMEVAL_GOOD.items() if k != "h"}, "h", "missing"),
    ],
)
def test_semeval_malformed_names_line(tmp_path, record, field, problem):
    path = write(tmp_path, "bad.txt", json.dumps(SEMEVAL_GOOD) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(DataError) as e:
        read_semeval(path)
    assert (e.value.record, e.value.field) == ("line 2", field) and problem in str(e.value)


def test_semeval_bad_json_line(tmp_path):
    path = write(tmp_path, "bad.txt", json.dumps(SEMEVAL_GOOD) + "\n{not json\n")
    with pytest.raises(DataError, match="line 2.*invalid JSON"):
        read_semeval(path)


def test_label_map_rejects_duplicate_ids(tmp_path):
    with pytest.raises(DataError, match="not unique"):
        read_label_map(write(tmp_path, "rel2id.json", '{"a": 0, "b": 0}'))


@pytest.mark.parametrize("reader,text", [(read_tacred, '{"a": 1}'), (read_fewrel, "[1, 2]")])
def test_wrong_root_type(tmp_path, reader, text):
    with pytest.raises(DataError, match="record <root>: field '<root>': expected"):
        reader(write(tmp_path, "bad.json", text))
