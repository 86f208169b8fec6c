"""The committed Wiki80 K=8 corpus reads back against the support set its own config names."""

from pathlib import Path

from jobs.synthesize import SynthJobConfig
from tkre.config import from_dict
from tkre.data.datasets import kshot_support, load_kshot
from tkre.data.pretrain import pretraining_texts, read_synthesis

CORPUS = Path(__file__).resolve().parents[2] / "docs" / "results" / "synthesis_wiki80_k8"


def test_the_committed_corpus_matches_its_support_set(data_dir):
    import yaml

    synthesis = read_synthesis(str(CORPUS))
    cfg = from_dict(SynthJobConfig, yaml.safe_load(synthesis.config_yaml))
    task = load_kshot(cfg.support.dataset, cfg.support.k_shot, cfg.support.seed, data_dir)
    support = kshot_support(task, cfg.support.relations, cfg.support.max_relations, cfg.support.max_per_relation,
                            data_dir)
    texts = pretraining_texts(synthesis, support)
    counts = {s: sum(t.source == s for t in texts) for s in ("explanation", "synthetic", "support")}
    assert counts == {"explanation": 481, "synthetic": 36, "support": 512}
    assert len({t.relation for t in texts}) == 64
