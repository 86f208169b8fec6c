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
    assert "| TKRE | 55.00 ± 2.00 | 48.0, 52.0 |\n" in md
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


def seeded_run(folder, per_episode):
    folder.mkdir()
    results = {"5-1": {"accuracy": sum(per_episode) / len(per_episode), "ci95": 0.01, "per_episode": per_episode}}
    (folder / "results.json").write_text(json.dumps({"episodic": {"mean": results}}))
    return str(folder)


def test_seeds_give_mean_and_spread_and_rows_get_a_paired_test(tmp_path, capsys):
    base = [0.4, 0.6, 0.8, 0.2] * 10
    runs_a = [seeded_run(tmp_path / f"a{s}", base) for s in range(2)]
    runs_b = [seeded_run(tmp_path / f"b{s}", [x + d for x in base]) for s, d in enumerate([0.1, 0.3])]
    out = tmp_path / "knowledge"
    summary = main(["--out", str(out), "--episodic", f"A={','.join(runs_a)}", "--episodic", f"B={','.join(runs_b)}",
                    "--paired", "B vs A"])
    b = summary["episodic"]["B"]["5-1"]
    assert b["accuracy"] == pytest.approx(0.7) and b["ci95"] == pytest.approx(0.1414, abs=1e-4) and b["seeds"] == 2
    assert b["per_seed"] == pytest.approx([0.6, 0.8])
    test = summary["paired"]["B vs A"]["5-1"]
    assert test["diff"] == pytest.approx(0.2) and test["p"] < 1e-6  # every episode +0.2 on the seed mean
    assert "| B vs A | 5-1 | +20.00 ± 0.00 |" in out.with_suffix(".md").read_text()
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--episodic", f"A={runs_a[0]}", "--paired", "A vs C"])
    assert "--paired 'A vs C': expected 'LABEL_A vs LABEL_B'" in capsys.readouterr().err


def finetune_json(path, f1s, seeds=(13, 21, 42, 87, 100)):
    per_seed = [{"seed": s, "test_f1": f} for s, f in zip(seeds, f1s)]
    mean = sum(f1s) / len(f1s)
    std = (sum((f - mean) ** 2 for f in f1s) / max(len(f1s) - 1, 1)) ** 0.5
    path.write_text(json.dumps({"test_f1_mean": mean, "test_f1_std": std, "per_seed": per_seed}))
    return str(path)


def test_fine_tuning_rows_get_a_paired_t_test_over_the_same_seeds(tmp_path, capsys):
    plain = finetune_json(tmp_path / "plain.json", [0.50, 0.52, 0.54, 0.56, 0.58])
    tkre = finetune_json(tmp_path / "tkre.json", [0.53, 0.56, 0.56, 0.60, 0.60])
    out = tmp_path / "gain"
    summary = main(["--out", str(out), "--finetune", f"plain={plain}", "--finetune", f"TKRE={tkre}",
                    "--paired", "TKRE vs plain"])
    test = summary["paired"]["TKRE vs plain"]["test F1"]
    # differences 3, 4, 2, 4, 2 points: mean 3, sample std 1, se 1/sqrt(5); t(0.975; 4) = 2.776445
    assert test["diff"] == pytest.approx(0.03) and test["n"] == 5
    assert test["ci95"] == pytest.approx(2.776445 * 0.01 / 5 ** 0.5, abs=1e-6)
    assert 0.001 < test["p"] < 0.01  # t = 6.7 with 4 degrees of freedom: p = 0.0026
    assert "| TKRE vs plain | test F1 | +3.00 ± 1.24 |" in out.with_suffix(".md").read_text()
    other = finetune_json(tmp_path / "other.json", [0.5] * 5, seeds=(1, 2, 3, 4, 5))
    with pytest.raises(SystemExit):
        main(["--out", str(out), "--finetune", f"plain={plain}", "--finetune", f"other={other}",
              "--paired", "other vs plain"])
    assert "different seeds" in capsys.readouterr().err


def test_single_seed_results_of_several_runs_make_one_row_over_their_seeds(tmp_path):
    plain = [finetune_json(tmp_path / f"plain{s}.json", [f], seeds=(s,)) for s, f in ((13, 0.50), (21, 0.52), (42, 0.54))]
    tkre = [finetune_json(tmp_path / f"tkre{s}.json", [f], seeds=(s,)) for s, f in ((13, 0.53), (21, 0.56), (42, 0.56))]
    summary = main(["--out", str(tmp_path / "task"), "--finetune", "plain=" + ",".join(plain),
                    "--finetune", "TKRE=" + ",".join(tkre), "--paired", "TKRE vs plain"])
    assert summary["finetune"]["plain"]["seeds"] == [13, 21, 42]
    assert summary["finetune"]["TKRE"]["test_f1_mean"] == pytest.approx(0.55)
    assert summary["finetune"]["TKRE"]["test_f1_std"] == pytest.approx(((0.02 ** 2 + 0.01 ** 2 * 2) / 2) ** 0.5)
    assert summary["paired"]["TKRE vs plain"]["test F1"]["diff"] == pytest.approx(0.03)
