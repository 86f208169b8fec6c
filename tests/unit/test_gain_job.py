"""The headline figures of the pre-training experiment, from its report and the demo benchmark."""

import json

import pytest
from test_report_job import finetune_json, seeded_run

from jobs import gain, report


def demo_bench(path, tkre, minilm):
    metrics = {f"eval/val/acc_{s}/mean": a for s, a in tkre.items()}
    metrics |= {f"baseline/val/acc_{s}/mean": a for s, a in minilm.items()}
    metrics |= {"eval/test/f1_semeval_k8": 0.9, "baseline/test/f1_semeval_k8": 0.1}
    path.write_text(json.dumps({"benchmark": "pipeline", "wall_s": 1.0, "metrics": metrics}))
    return str(path)


def test_headline_keys_from_the_report_and_the_demo(tmp_path, capsys):
    base = [0.5, 1.0, 0.75, 0.25] * 5
    meta = [seeded_run(tmp_path / f"d{s}", [x * f for x in base]) for s, f in enumerate([0.8, 0.9, 1.0])]
    tkre_meta = [seeded_run(tmp_path / f"e{s}", [min(1, x * f + 0.05) for x in base]) for s, f in enumerate([0.9, 0.9, 0.9])]
    plain = finetune_json(tmp_path / "plain.json", [0.50, 0.52, 0.54, 0.56, 0.58])
    tkre = finetune_json(tmp_path / "tkre.json", [0.53, 0.56, 0.56, 0.60, 0.60])
    out = tmp_path / "experiment"
    report.main(["--out", str(out), "--episodic", f"{gain.META}={','.join(meta)}",
                 "--episodic", f"{gain.TKRE_META}={','.join(tkre_meta)}",
                 "--finetune", f"{gain.PLAIN}={plain}", "--finetune", f"{gain.TKRE}={tkre}",
                 "--paired", f"{gain.TKRE} vs {gain.PLAIN}"])
    bench = demo_bench(tmp_path / "bench.json", {"5w1s": 0.80, "10w0s": 0.70}, {"5w1s": 0.75, "10w0s": 0.68})
    written = tmp_path / "results" / "tkre_gain.json"
    result = gain.main(["--report", f"{out}.json", "--demo", bench, "--seeds", "0", "1", "2", "--out", str(written)])
    assert json.loads(written.read_text()) == result
    # seeds of (d) at 50, 56.25, 62.5; every seed of (e) at (50 + 95 + 72.5 + 27.5) / 4 = 61.25
    assert result["fewrel_5w1s_meta"] == pytest.approx(56.25) and result["fewrel_5w1s_meta_std"] == pytest.approx(6.25)
    assert result["fewrel_5w1s_tkre_meta"] == pytest.approx(61.25) and result["fewrel_5w1s_tkre_meta_std"] == 0
    assert result["wiki80_k8_plain_f1"] == pytest.approx(54.0) and result["wiki80_k8_tkre_f1"] == pytest.approx(57.0)
    assert 0.001 < result["wiki80_k8_p_value"] < 0.01
    assert result["demo_min_gain_points"] == pytest.approx(2.0)  # 10-0: 70 vs 68; the fine-tuning F1 is no setting
    assert result["seeds"] == {"pretraining_and_meta_training": [0, 1, 2], "fine_tuning": [13, 21, 42, 87, 100]}


def test_a_report_without_a_row_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "r.json").write_text(json.dumps({"episodic": {}, "finetune": {}, "paired": {}}))
    bench = demo_bench(tmp_path / "bench.json", {"5w1s": 0.8}, {"5w1s": 0.7})
    out = tmp_path / "gain.json"
    with pytest.raises(SystemExit) as e:
        gain.main(["--report", str(tmp_path / "r.json"), "--demo", bench, "--seeds", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"r.json: no 'episodic'.'{gain.META}'" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
