"""Golden tests for reading LLM answers: JSON in its usual wrappings, the reference line format, garbage."""

import pytest

from tkre.synth.parsing import ParseError, json_values, parse_explanation, parse_instances

MERKEL = {"sentence": "Angela Merkel is a German politician .", "head": "Angela Merkel", "tail": "German"}
PELE = {"sentence": "Pele was a Brazilian footballer .", "head": "Pele", "tail": "Brazilian"}


@pytest.mark.parametrize(
    "text",
    [
        '{"instances": [{"sentence": "Angela Merkel is a German politician .", "head": "Angela Merkel", "tail": "German"},'
        ' {"sentence": "Pele was a Brazilian footballer .", "head": "Pele", "tail": "Brazilian"}]}',
        '[{"sentence": "Angela Merkel is a German politician .", "head": "Angela Merkel", "tail": "German"},'
        ' {"sentence": "Pele was a Brazilian footballer .", "head": "Pele", "tail": "Brazilian"}]',
        # one object per line, as SmolLM2 answers
        '{"sentence": "Angela Merkel is a German politician .", "head": "Angela Merkel", "tail": "German"}\n'
        '{"sentence": "Pele was a Brazilian footballer .", "head": "Pele", "tail": "Brazilian"}',
        # fenced, with prose around it
        'Sure! Here are two examples:\n```json\n{"examples": [{"text": "Angela Merkel is a German politician .",'
        ' "subject": "Angela Merkel", "object": "German"}, {"sentence": "Pele was a Brazilian footballer .",'
        ' "head_entity": "Pele", "tail_entity": "Brazilian"}]}\n```\nHope this helps.',
        # the reference code's line format, one record per line and one label per line
        "Relation: country of citizenship Context: Angela Merkel is a German politician . Head Entity: Angela Merkel"
        " Tail Entity: German\nRelation: country of citizenship\nContext: Pele was a Brazilian footballer .\n"
        "Head Entity: Pele\nTail Entity: Brazilian\n",
    ],
)
def test_instances_in_every_supported_shape(text):
    found = parse_instances(text)
    assert [{k: x[k] for k in ("sentence", "head", "tail")} for x in found] == [MERKEL, PELE]


def test_line_format_keeps_relation_and_types():
    text = ("Relation: founded by\nContext: Apple was founded by Steve Jobs .\nHead Entity: Apple\nHead Type: organization\n"
            "Tail Entity: Steve Jobs\nTail Type: human")
    assert parse_instances(text) == [{"relation": "founded by", "sentence": "Apple was founded by Steve Jobs .",
                                      "head": "Apple", "head_type": "organization", "tail": "Steve Jobs",
                                      "tail_type": "human"}]


def test_truncated_json_keeps_the_complete_objects():
    text = '{"sentence": "Pele was a Brazilian footballer .", "head": "Pele", "tail": "Brazilian"}\n{"sentence": "Ange'
    assert parse_instances(text) == [PELE]


def test_unescaped_quotes_inside_a_value_still_parse():
    text = ('{"head": "The Great Gatsby", "tail": "New Zealand", "sentence": "The film "The Great Gatsby" was shot'
            ' in New Zealand ."}\n{"head": "Pele", "tail": "Brazilian", "sentence": "Pele was a \\"Brazilian\\" footballer ."}')
    assert parse_instances(text) == [
        {"sentence": 'The film "The Great Gatsby" was shot in New Zealand .', "head": "The Great Gatsby",
         "tail": "New Zealand"},
        {"sentence": 'Pele was a "Brazilian" footballer .', "head": "Pele", "tail": "Brazilian"},
    ]


@pytest.mark.parametrize("text", ["", "I cannot help with that.", "{not json at all", "[1, 2", "```\n\n```",
                                  '{"head": "Pele", "sentence": "Pele was a Brazi'])
def test_garbage_has_no_instances(text):
    with pytest.raises(ParseError) as error:
        parse_instances(text)
    assert error.value.reason == "no_instances"


def test_json_values_skips_prose_and_braces_that_are_not_json():
    assert json_values('x {bad} y {"a": 1} z [2, 3]') == [{"a": 1}, [2, 3]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"explanation": "Merkel holds German citizenship."}', "Merkel holds German citizenship."),
        ('```json\n{"explanation": "Because \\"German\\" names\\n her country."}\n```', 'Because "German" names her country.'),
        ("Explanation: the sentence calls her a German politician.", "the sentence calls her a German politician."),
        ('{"explanation": "cut off in the mid', "cut off in the mid"),
        ("  Plain   answer\nover two lines. ", "Plain answer over two lines."),
    ],
)
def test_explanations(text, expected):
    assert parse_explanation(text) == expected


@pytest.mark.parametrize("text, reason", [("", "empty_explanation"), ('{"answer": 42}', "malformed_json"),
                                          ('{"explanation": ""}', "empty_explanation")])
def test_unusable_explanations(text, reason):
    with pytest.raises(ParseError) as error:
        parse_explanation(text)
    assert error.value.reason == reason


def test_explanations_that_read_the_prompt_back_or_miss_an_entity_are_rejected():
    from tkre.data.instance import RelationInstance
    from tkre.synth.corpus import collect_explanations

    inst = RelationInstance(tuple("Shaft is a novel by Ernest Tidyman .".split()), (0, 1), (5, 7), "after a work by")
    echo = "Sentence: Shaft is a novel by Ernest Tidyman . Subject: Shaft Object: Ernest Tidyman"
    good = '{"explanation": "Ernest Tidyman wrote Shaft, so the film is after his work."}'
    vague = '{"explanation": "The novel came first, so the film is after its author\'s work."}'
    records = [{"status": "done", "key": k, "text": t, "meta": {"support_index": 0}}
               for k, t in (("a", echo), ("b", good), ("d", vague))]
    rows, rejects = collect_explanations(records + [{"status": "failed", "key": "c", "meta": {}}], [inst])
    assert [r["key"] for r in rows] == ["b"] and rejects == {"echoes_prompt": 1, "head_not_named": 1}
    assert rows[0] == {"relation": "after a work by", "support_index": 0, "head": "Shaft", "tail": "Ernest Tidyman",
                       "explanation": "Ernest Tidyman wrote Shaft, so the film is after his work.", "key": "b"}
