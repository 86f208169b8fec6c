"""The committed Wiki80 K=8 corpus reads back against the support set its own config names."""

from pathlib import Path

from tkre.data.pretrain import pretraining_texts, read_synthesis, support_of

CORPUS = Path(__file__).resolve().parents[2] / "corpora" / "wiki80_k8_smollm2"


def test_the_committed_corpus_matches_its_support_set(data_dir):
    synthesis = read_synthesis(str(CORPUS))
    texts = pretraining_texts(synthesis, support_of(synthesis, data_dir))
    counts = {s: sum(t.source == s for t in texts) for s in ("explanation", "synthetic", "support")}
    assert counts == {"explanation": 481, "synthetic": 36, "support": 512}
    assert len({t.relation for t in texts}) == 64
