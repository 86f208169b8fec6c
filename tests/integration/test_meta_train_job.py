"""The meta_train job: prototypical meta-training on the Wiki80 relations disjoint from FewRel val."""

import json

import pytest
import torch
from safetensors.torch import load_file

from jobs.meta_train import main
from tkre.data.splits import fewrel_val_relation_names
from tkre.models.encoder import RelationEncoder, resolve_model


def test_meta_training_exports_an_encoder_and_a_rerun_resumes_from_its_checkpoint(tmp_path, capsys):
    run_dir = tmp_path / "proto"
    summary = main(["--config", "jobs/configs/meta_train/smoke.yaml", "--set", f"run_dir={run_dir}"])
    out = capsys.readouterr()
    assert json.loads(out.out.strip().splitlines()[-1]) == summary
    assert summary["step"] == 4 and summary["relations"] == 64 and summary["loss"] > 0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [m["step"] for m in metrics["history"]] == [2, 4]
    assert "init_from: minilm" in (run_dir / "config.yaml").read_text()

    exported = load_file(run_dir / "export" / "model.safetensors")
    base = load_file(f"{resolve_model('minilm')}/model.safetensors")
    key = "encoder.layer.5.output.dense.weight"
    assert not torch.equal(exported[key], base[key])  # trained
    encoder = RelationEncoder(str(run_dir / "export"), "mean")
    assert encoder.output_size == 384
    card = json.loads((run_dir / "export" / "tkre.json").read_text())
    assert [s["stage"] for s in card["stages"]] == ["meta-train"] and card["stages"][0]["metrics"]["step"] == 4
    assert card["inference"]["metric"] == "cosine" and (run_dir / "export" / "README.md").read_text().startswith("---")

    main(["--config", "jobs/configs/meta_train/smoke.yaml", "--set", f"run_dir={run_dir}"])
    assert "[train] resumed at step 4" in capsys.readouterr().err
    assert torch.equal(load_file(run_dir / "export" / "model.safetensors")[key], exported[key])


def test_training_relations_exclude_every_fewrel_val_relation():
    from tkre.data.splits import wiki80_disjoint_from_fewrel_val

    instances = wiki80_disjoint_from_fewrel_val("dev")[0] + wiki80_disjoint_from_fewrel_val("test")[0]
    assert not {x.relation for x in instances} & fewrel_val_relation_names()


@pytest.mark.parametrize("override,message", [
    ("n_way=100", "tkre meta-train: error: 100-way episodes need 100 relations, data has 64"),
    ("val={}", "tkre meta-train: error: --set val={}: val: validation relations are trained on: set exclude_validation: true"),
])
def test_tkre_meta_train_names_what_cannot_work_and_writes_nothing(tmp_path, capsys, override, message):
    from jobs.cli import main as tkre

    with pytest.raises(SystemExit) as exit:
        tkre(["meta-train", "--config", "jobs/configs/meta_train/smoke.yaml", "--set", f"run_dir={tmp_path}",
              "--set", override])
    assert exit.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_meta_training_with_descriptions_leaves_the_validation_relations_out_and_scores_them(tmp_path, capsys):
    from tkre.data.splits import validation_relations

    run_dir = tmp_path / "proto"
    summary = main(["--config", "jobs/configs/meta_train/smoke.yaml", "--set", f"run_dir={run_dir}",
                    "--set", "exclude_validation=true", "--set", "metric=cosine", "--set", "scale=10",
                    "--set", "descriptions=add", "--set", "description_drop=0.5", "--set", "learn_scale=true",
                    "--set", "val={metric: cosine, descriptions: add, episodes: 10, limit_per_relation: 10, k_shots: [1]}",
                    "--set", "loop.eval_every=4"])
    assert summary["relations"] == 48 and 0 < summary["val/acc"] <= 100
    assert summary["scale"] != pytest.approx(10.0, abs=1e-6)  # learned
    assert "48 relations (0 without a schema entry)" in capsys.readouterr().err
    from jobs.meta_train import load, training_data

    cfg = load("jobs/configs/meta_train/smoke.yaml", ["exclude_validation=true"])
    instances, held_out = training_data(cfg)
    assert held_out == validation_relations() and not {x.relation for x in instances} & set(held_out)

