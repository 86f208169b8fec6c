"""The committed Wiki80 K=8 corpus reads back against the support set its own config names."""

from collections import Counter
from pathlib import Path

from tkre.data.pretrain import pretraining_texts, read_synthesis, support_of

CORPUS = Path(__file__).resolve().parents[2] / "corpora" / "wiki80_k8_smollm2"


def test_the_committed_corpus_matches_its_support_set(data_dir):
    synthesis = read_synthesis(str(CORPUS))
    assert (len(synthesis.explanations), len(synthesis.synthetic)) == (481, 36)
    dropped = Counter()
    texts = pretraining_texts(synthesis, support_of(synthesis, data_dir), dropped=dropped)
    counts = {s: sum(t.source == s for t in texts) for s in ("explanation", "synthetic", "support")}
    assert counts == {"explanation": 323, "synthetic": 25, "support": 512}  # corpus hygiene applies as it is read
    assert dropped == {"explanation: head_not_named": 95, "explanation: tail_not_named": 41,
                       "explanation: echoes_prompt": 22, "synthetic: truncated_entity": 7, "synthetic: nested_entities": 4}
    assert len({t.relation for t in texts}) == 64


def test_a_stage_with_hygiene_off_reads_every_text_of_the_corpus(data_dir):
    from tkre.train.config import PretrainConfig
    from tkre.train.stage import corpus_texts

    texts, _ = corpus_texts(PretrainConfig(corpus=str(CORPUS), data_dir=str(data_dir), hygiene=False))
    counts = {s: sum(t.source == s for t in texts) for s in ("explanation", "synthetic", "support")}
    assert counts == {"explanation": 481, "synthetic": 36, "support": 512}
