"""Corpus hygiene: explanations naming both entities, plausible synthetic mentions, every reject counted, the summary."""

from collections import Counter

import pytest

from tkre.data.instance import RelationInstance
from tkre.data.pretrain import pretraining_texts, read_synthesis
from tkre.data.quality import corpus_quality, entity_problem, explanation_problem


@pytest.mark.parametrize("text, problem", [
    ("Ernest Tidyman wrote Shaft, so the film is after his work.", None),
    ("ernest tidyman's novel SHAFT came first.", None),  # case-insensitive, at word boundaries
    ("Sentence: Shaft is a novel. Subject: Shaft Object: Ernest Tidyman", "echoes_prompt"),
    ("<<Shaft>> Ernest Tidyman wrote it.", "echoes_prompt"),
    ("Shaftesbury honours Ernest Tidyman.", "head_not_named"),  # a longer word is not the mention
    ("Shaft is a novel by a famous author.", "tail_not_named"),
])
def test_an_explanation_must_name_both_entities_and_not_echo_the_prompt(text, problem):
    assert explanation_problem(text, "Shaft", "Ernest Tidyman") == problem


def spans(sentence, head, tail):
    tokens = tuple(sentence.split())

    def find(words):
        words = words.split()
        return next((i, i + len(words)) for i in range(len(tokens)) if list(tokens[i : i + len(words)]) == words)
    return tokens, find(head), find(tail)


@pytest.mark.parametrize("sentence, head, tail, problem", [
    ("Ford founded Ford Motor Company in 1903 .", "Ford Motor Company", "Ford", None),  # a standalone short name is fine
    ("The Bomlitz is a tributary of the Böhme .", "Böhme", "Bomlitz", None),
    ("Eleanor of Aquitaine was the wife of King Louis .", "Eleanor", "Eleanor of Aquitaine", "nested_entities"),
    ("Liam Hetred directed the film The Night of the Dead 3 in 1998 .", "The Night of the Dead", "Liam Hetred",
     "truncated_entity"),
    ("Shaun Baker is the Libertarian Party candidate .", "Shaun Baker", "Libertarian", "truncated_entity"),
    ('Spartacus is a character in " Rome " , made in 2014 .', 'Spartacus is', '" Rome "', "implausible_entity"),
    ("The band , - , played in Melbourne .", ", -", "Melbourne", "implausible_entity"),
])
def test_synthetic_mentions_must_be_plausible_whole_names(sentence, head, tail, problem):
    assert entity_problem(*spans(sentence, head, tail)) == problem


def test_a_mention_longer_than_the_limit_is_implausible():
    tokens, head, tail = spans("A B C D E F founded Acme .", "A B C D E F", "Acme")
    assert entity_problem(tokens, head, tail, max_tokens=6) is None
    assert entity_problem(tokens, head, tail, max_tokens=5) == "implausible_entity"


def test_reading_a_corpus_applies_the_same_hygiene_and_counts_what_it_leaves_out(tmp_path):
    from test_pretrain_corpus import EXPLANATION, SUPPORT, SYNTHETIC, write

    echo = {**EXPLANATION, "explanation": "Subject: Apple Object: Steve Jobs"}
    missing = {**EXPLANATION, "explanation": "Apple was founded by its founder."}
    cut = {**SYNTHETIC, "token": "Tesla Motors was founded by Elon Musk .".split(), "obj_start": 5, "obj_end": 6}
    dropped = Counter()
    texts = pretraining_texts(read_synthesis(write(tmp_path / "s", [EXPLANATION, echo, missing], [SYNTHETIC, cut])),
                              SUPPORT, dropped=dropped)
    assert [t.source for t in texts] == ["explanation", "synthetic", "support", "support"]
    assert dropped == {"explanation: echoes_prompt": 1, "explanation: tail_not_named": 1, "synthetic: truncated_entity": 1}
    everything = pretraining_texts(read_synthesis(str(tmp_path / "s")), SUPPORT, dropped=dropped, hygiene=False)
    assert [t.source for t in everything] == ["explanation"] * 3 + ["synthetic"] * 2 + ["support"] * 2
    assert sum(dropped.values()) == 3  # nothing more left out


def test_the_quality_summary():
    explanations = [{"explanation": text, "head": "Apple", "tail": "Steve Jobs"}
                    for text in ("Steve Jobs started Apple .", "Apple , founded by Steve Jobs .", "Steve Jobs : Apple")]
    synthetic = [RelationInstance(tuple("Tesla was founded by Elon Musk .".split()), (0, 1), (4, 6), "founded by"),
                 RelationInstance(tuple("Elon Musk , Tesla".split()), (3, 4), (0, 2), "founded by"),
                 RelationInstance(tuple("Oslo is led by Marianne Borgen".split()), (0, 1), (4, 6), "head of government")]
    q = corpus_quality(explanations, synthetic, parsed_explanations=4)
    assert q["explanations_naming_both"] == 0.75
    assert q["relation_span_words"]["explanation"] == {"n": 3, "empty": 0, "p10": 1, "p50": 1, "p90": 2, "max": 3}
    assert q["relation_span_words"]["synthetic"]["n"] == 3 and q["relation_span_words"]["synthetic"]["max"] == 3
    assert q["synthetic_per_relation"] == {"relations": 2, "min": 1, "median": 1.5, "max": 2}
    with_empty = corpus_quality(explanations, synthetic, 4, relations=["founded by", "head of government", "mother"])
    assert with_empty["synthetic_per_relation"] == {"relations": 3, "min": 0, "median": 1.0, "max": 2}
