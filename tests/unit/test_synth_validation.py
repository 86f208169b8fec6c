"""Every validation rule rejects with its own reason; accepted candidates carry exact token spans."""

import json

import pytest

from tkre.data.instance import RelationInstance
from tkre.data.schemas import RelationSchema
from tkre.synth.validation import OverlapIndex, Rejected, ValidationRules, Validator

SCHEMA = RelationSchema("founded by", "founder or co-founder of this organization", ("organization",), ("human", "group"))
DEMO = RelationInstance(tuple("Apple was founded by Steve Jobs in a garage .".split()), (0, 1), (4, 6), "founded by",
                        "organization", "human")
EVALUATION = [tuple("Microsoft was founded by Bill Gates and Paul Allen in Albuquerque .".split())]


def validator(**rules) -> Validator:
    return Validator(SCHEMA.name, SCHEMA, [DEMO], OverlapIndex(EVALUATION), ValidationRules(**rules))


def candidate(sentence="The Ford Motor Company was founded by Henry Ford in Detroit .", head="Ford Motor Company",
              tail="Henry Ford", **extra):
    return {"sentence": sentence, "head": head, "tail": tail, "head_type": "organization", "tail_type": "human", **extra}


def test_accepts_and_maps_mentions_to_token_spans():
    inst = validator().check(candidate(head="ford motor company", tail_type="Human"))  # case-insensitive
    assert inst.tokens[inst.head[0] : inst.head[1]] == ("Ford", "Motor", "Company")
    assert inst.tokens[inst.tail[0] : inst.tail[1]] == ("Henry", "Ford")
    assert (inst.relation, inst.head_type, inst.tail_type) == ("founded by", "organization", "human")


def test_punctuation_is_split_off_so_mentions_align():
    inst = validator().check(candidate(sentence='"Ford Motor Company", founded by Henry Ford, grew fast.'))
    assert inst.tokens[inst.tail[0] : inst.tail[1]] == ("Henry", "Ford")
    assert inst.tokens[inst.tail[1]] == ","


def test_repeated_mention_takes_the_first_occurrence_that_does_not_overlap_the_other_entity():
    inst = validator().check(candidate(sentence="Ford founded Ford Motor Company and Ford ran it for years .",
                                       head="Ford Motor Company", tail="Ford"))
    assert inst.head == (2, 5) and inst.tail == (0, 1)


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"tail": None}, "missing_field"),
        ({"sentence": "   "}, "missing_field"),
        ({"relation": "employer"}, "relation_mismatch"),
        ({"sentence": "Ford by Henry Ford", "head": "Ford"}, "too_short"),
        ({"head": "Henry Ford"}, "same_entity"),
        ({"head": "Toyota"}, "head_not_in_sentence"),
        ({"tail": "Henry Fo"}, "tail_not_in_sentence"),  # not at a word boundary
        ({"head_type": "city"}, "head_type_outside_schema"),
        ({"tail_type": None}, "tail_type_missing"),
        ({"sentence": "Apple was founded by Steve Jobs in a garage .", "head": "Apple", "tail": "Steve Jobs"},
         "copy_of_demonstration"),
        ({"sentence": "Apple was founded by Steve Jobs in a garage in 1976 .", "head": "Apple", "tail": "Steve Jobs"},
         "near_copy_of_demonstration"),
        ({"sentence": "microsoft was founded by bill gates and paul allen in albuquerque .", "head": "Microsoft",
          "tail": "Bill Gates"}, "copy_of_evaluation"),
        ({"sentence": "Microsoft was founded by Bill Gates and Paul Allen in Albuquerque in 1975 .",
          "head": "Microsoft", "tail": "Bill Gates"}, "near_copy_of_evaluation"),
        ({"sentence": "The Ford Motor Company was founded by Henry Ford Jr in Detroit ."}, "truncated_entity"),
        ({"sentence": "Eleanor of Aquitaine was the wife of King Eleanor of Aquitaine .", "head": "Eleanor",
          "tail": "Eleanor of Aquitaine"}, "nested_entities"),
        ({"sentence": 'The "Ford" company was founded by Henry Ford in Detroit .', "head": '"Ford"'},
         "implausible_entity"),
    ],
)
def test_rejects_with_reason(changes, reason):
    with pytest.raises(Rejected) as error:
        validator().check(candidate(**changes))
    assert error.value.reason == reason


def test_too_long():
    with pytest.raises(Rejected, match="too_long"):
        validator(max_tokens=8).check(candidate())


def test_duplicates_within_a_relation_are_rejected_after_the_first():
    v = validator()
    v.check(candidate())
    with pytest.raises(Rejected, match="duplicate"):
        v.check(candidate(sentence="the ford motor company was founded by henry ford in detroit ."))


def test_single_allowed_type_is_filled_in_and_untyped_schemas_accept_anything():
    head_only = RelationSchema("founded by", head_types=("organization",))
    inst = Validator(head_only.name, head_only, [], OverlapIndex([]), ValidationRules()).check(
        {"sentence": "The Ford Motor Company was founded by Henry Ford .", "head": "Ford Motor Company", "tail": "Henry Ford"})
    assert (inst.head_type, inst.tail_type) == ("organization", None)


def test_overlap_index_finds_the_nearest_sentence():
    index = OverlapIndex([tuple(f"sentence number {i} about topic{i} here".split()) for i in range(200)] + EVALUATION)
    assert index.max_overlap(tuple("Microsoft was founded by Bill Gates and Paul Allen .".split())) == pytest.approx(9 / 11)
    assert index.max_overlap(tuple("Completely unrelated words only".split())) == 0.0


def test_a_copy_is_caught_however_the_dataset_tokenised_it():
    demo = RelationInstance(("He", "moved", "to", "the", "U.S.", "in", "1990", "with", "Acme", "Corp."), (8, 10), (4, 5),
                            "founded by")
    v = Validator("founded by", RelationSchema("founded by"), [demo], OverlapIndex([]), ValidationRules())
    with pytest.raises(Rejected, match="^copy_of_demonstration$"):
        v.check({"sentence": "He moved to the U.S. in 1990 with Acme Corp.", "head": "Acme Corp", "tail": "U.S"})


def test_accepted_instances_carry_the_relation_key_not_the_schema_name():
    from tkre.synth.corpus import collect_synthetic

    schemas = {"Cause-Effect(e1,e2)": RelationSchema("cause effect", "the head causes the tail")}
    answer = {"instances": [{"sentence": "The storm caused a flood in the valley .", "head": "storm", "tail": "flood"}]}
    record = {"status": "done", "key": "k", "meta": {"relation": "Cause-Effect(e1,e2)"}, "text": json.dumps(answer)}
    rows, accepted, _, _ = collect_synthetic([record], schemas, [], OverlapIndex([]), ValidationRules(), 4)
    assert [r["relation"] for r in rows] == ["Cause-Effect(e1,e2)"] and accepted["Cause-Effect(e1,e2)"] == 1
