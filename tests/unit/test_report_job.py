"""The experiment report: eval runs and fine-tuning results into one table, JSON and plot."""

import json

import pytest

from jobs.report import main


def eval_run(folder, accuracies):
    folder.mkdir()
    results = {s: {"accuracy": a, "ci95": 0.01} for s, a in accuracies.items()}
    (folder / "results.json").write_text(json.dumps({"episodic": {"mean": results}}))
    return folder


def test_rows_gains_plot_and_json(tmp_path, capsys):
    a = eval_run(tmp_path / "a", {"5-1": 0.5, "10-1": 0.4})
    c = eval_run(tmp_path / "c", {"5-1": 0.62, "10-1": 0.45})
    ft = {"test_f1_mean": 0.5, "test_f1_std": 0.02, "per_seed": [{"test_f1": 0.48}, {"test_f1": 0.52}]}
    (tmp_path / "plain.json").write_text(json.dumps(ft))
    (tmp_path / "tkre.json").write_text(json.dumps({**ft, "test_f1_mean": 0.55}))
    out = tmp_path / "report" / "experiment"
    summary = main(["--out", str(out), "--episodic", f"(a) as is={a}", "--episodic", f"(c) TKRE={c}",
                    "--finetune", f"plain={tmp_path / 'plain.json'}", "--finetune", f"TKRE={tmp_path / 'tkre.json'}"])
    md = out.with_suffix(".md").read_text()
    assert "| (c) TKRE | 62.00 ± 1.00 | 45.00 ± 1.00 |" in md
    assert "(c) TKRE 5-1 +12.00, 10-1 +5.00" in md
    assert "| TKRE | 55.00 ± 2.00 | 48.0, 52.0 | +5.00 |" in md
    assert out.with_suffix(".png").stat().st_size > 1000
    assert json.loads(out.with_suffix(".json").read_text()) == summary
    assert summary["episodic"]["(a) as is"]["5-1"]["accuracy"] == 0.5


def test_a_run_with_several_poolings_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"episodic": {"mean": {}, "marker": {}}}))
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "x"), "--episodic", f"a={run}"])
    assert e.value.code == 2 and "expected one pooling" in capsys.readouterr().err
