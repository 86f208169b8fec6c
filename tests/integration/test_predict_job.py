"""``tkre predict`` and ``tkre finetune --save`` as a user runs them: files, Ray Data with 2 actors, S3, bad records."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tkre.data.datasets import limit_per_relation, load_kshot, load_split
from tkre.data.records import instance_record
from tkre.errors import ModelError
from tkre.eval.metrics import micro_f1
from tkre.models.classifier import RelationClassifier
from tkre.predict.fewshot import FewShotRelationClassifier

REPO = Path(__file__).resolve().parents[2]
RELATIONS = ["P177", "P26", "P40", "P641", "P921"]


@pytest.fixture(scope="module")
def files(tmp_path_factory, data_dir):
    """support.jsonl (2 per relation), queries.jsonl (4 per relation, with ids) and the API's predictions."""
    root = tmp_path_factory.mktemp("predict")
    by_relation = {r: [x for x in load_split("fewrel", "val", data_dir) if x.relation == r][:6] for r in RELATIONS}
    support = [instance_record(x) for xs in by_relation.values() for x in xs[:2]]
    queries = [instance_record(x, id=f"q{i}", relation=None) for i, x in
               enumerate(x for xs in by_relation.values() for x in xs[2:])]
    (root / "support.jsonl").write_text("".join(json.dumps(r) + "\n" for r in support))
    (root / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries))
    clf = FewShotRelationClassifier.from_pretrained("minilm", device="cpu")
    clf.fit(support, {r: s for r, s in fewrel_texts(data_dir).items() if r in RELATIONS})
    expected = {q["id"]: p for q, p in zip(queries, clf.predict(queries, top_k=3))}
    return root, expected


def fewrel_texts(data_dir):
    from tkre.data.datasets import relation_schemas

    return {r: s.text for r, s in relation_schemas(RELATIONS, "fewrel", data_dir).items()}


def predict(*args, env=None):
    return subprocess.run([sys.executable, "-m", "jobs.cli", "predict", *args], cwd=REPO, capture_output=True,
                          text=True, env=env or os.environ, timeout=900)


def rows_of(path: Path) -> dict:
    """Predictions by query id, from one JSON-lines file or a folder of parts."""
    files = sorted(path.glob("*.json*")) if path.is_dir() else [path]
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines() if line.strip()]
    return {r["id"]: r for r in rows}


def same_predictions(rows: dict, expected: dict):
    assert sorted(rows) == sorted(expected)
    for qid, p in expected.items():
        assert rows[qid]["relation"] == p["relation"], qid
        assert rows[qid]["score"] == pytest.approx(p["score"], abs=1e-5)
        assert [t["relation"] for t in rows[qid]["top_k"]] == [t["relation"] for t in p["top_k"]]


@pytest.mark.timeout(900)
def test_the_cli_predicts_as_the_api_does(files):
    root, expected = files
    common = ["--model", "minilm", "--support", str(root / "support.jsonl"), "--schema", "fewrel",
              "--input", str(root / "queries.jsonl")]
    one = predict(*common, "--output", str(root / "out.jsonl"))
    assert one.returncode == 0, one.stderr[-3000:]
    assert json.loads(one.stdout.strip().splitlines()[-1])["predictions"] == 20
    same_predictions(rows_of(root / "out.jsonl"), expected)  # Ray Data: the S3 test below


@pytest.mark.timeout(900)
def test_ray_data_with_two_actors_on_s3_and_parquet_predicts_as_the_api_does(files, moto_s3):
    root, expected = files
    env, client = moto_s3
    client.create_bucket(Bucket="tkre")
    for name in ("support.jsonl", "queries.jsonl"):
        client.upload_file(str(root / name), "tkre", f"in/{name}")
    common = ["--model", "minilm", "--support", "s3://tkre/in/support.jsonl", "--schema", "fewrel",
              "--input", "s3://tkre/in/queries.jsonl"]
    one = predict(*common, "--output", "s3://tkre/out/predictions.jsonl", env=env)
    assert one.returncode == 0, one.stderr[-3000:]
    client.download_file("tkre", "out/predictions.jsonl", str(root / "from_s3.jsonl"))
    same_predictions(rows_of(root / "from_s3.jsonl"), expected)
    # Ray Data, Parquet in and out
    queries = [json.loads(line) for line in (root / "queries.jsonl").read_text().splitlines()]
    pq.write_table(pa.Table.from_pylist(queries), root / "queries.parquet")
    client.upload_file(str(root / "queries.parquet"), "tkre", "in/queries.parquet")
    batch = predict(*common[:-1], "s3://tkre/in/queries.parquet", "--output", "s3://tkre/batch/", "--ray",
                    "--set", "batch.actors=2", "--set", "batch.batch_size=4", "--set", "output_format=parquet", env=env)
    assert batch.returncode == 0, batch.stderr[-3000:]
    assert json.loads(batch.stdout.strip().splitlines()[-1])["predictions"] == 20  # counted from the actors' parts
    assert sum(1 for line in batch.stderr.splitlines() if "MapBatches(BatchPredictor)" in line) > 0  # progress shown
    (root / "batch_s3").mkdir()
    for obj in client.list_objects_v2(Bucket="tkre", Prefix="batch/")["Contents"]:
        client.download_file("tkre", obj["Key"], str(root / "batch_s3" / Path(obj["Key"]).name))
    rows = pa.concat_tables([pq.read_table(p) for p in sorted((root / "batch_s3").glob("*.parquet"))]).to_pylist()
    same_predictions({r["id"]: r for r in rows}, expected)
    assert "testing-secret" not in one.stderr + batch.stderr


@pytest.mark.timeout(900)
def test_a_bad_record_is_one_line_with_nothing_written(files):
    root, _ = files
    bad = root / "bad.jsonl"
    lines = (root / "queries.jsonl").read_text().splitlines()
    record = json.loads(lines[3])
    record["t"] = {"pos": [0, 10_000]}
    bad.write_text("\n".join([*lines[:3], json.dumps(record), *lines[4:]]) + "\n")
    common = ["--model", "minilm", "--support", str(root / "support.jsonl"), "--input", str(bad)]
    for extra, where in (([], "record line 4"), (["--ray"], "record id q3")):
        out = root / ("bad-out" if extra else "bad-out.jsonl")
        result = predict(*common, "--output", str(out), *extra)
        assert result.returncode == 2, result.stderr[-3000:]
        last = result.stderr.strip().splitlines()[-1]
        assert last.startswith("tkre predict: error: ") and f"{bad}: {where}: field 't.pos': span" in last, last
        assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.timeout(900)
def test_a_kept_classifier_reloads_with_the_same_f1_and_predicts_through_the_cli(files, tmp_path, data_dir):
    root, _ = files
    saved = tmp_path / "clf"
    result = subprocess.run([sys.executable, "-m", "jobs.cli", "finetune", "--config", "jobs/configs/finetune/smoke.yaml",
                             "--set", f"run_dir={tmp_path / 'run'}", "--save", str(saved)],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    kept = json.loads((saved / "classifier.json").read_text())
    assert kept["measured"]["seed"] == 13
    # reloaded, it scores the same test sentences (smoke: 2 per relation) to the same F1
    clf = RelationClassifier.from_pretrained(saved, device="cpu")
    task = load_kshot("semeval", 8, 13, data_dir)
    test = limit_per_relation(task.test, 2)
    assert clf.labels == kept["labels"] == sorted(task.label2id, key=task.label2id.get)
    predicted = clf.scores(test).argmax(-1).tolist()
    f1 = micro_f1(predicted, [task.label2id[x.relation] for x in test], task.label2id[task.no_relation])["f1"]
    assert f1 == kept["measured"]["test_f1"]
    with pytest.raises(ModelError, match="classifier.json"):
        RelationClassifier.from_pretrained(tmp_path)
    out = predict("--model", str(saved), "--input", str(root / "queries.jsonl"), "--output", str(tmp_path / "p.jsonl"))
    assert out.returncode == 0, out.stderr[-3000:]
    rows = rows_of(tmp_path / "p.jsonl")
    assert len(rows) == 20 and all(r["relation"] in kept["labels"] and 0 < r["score"] <= 1 for r in rows.values())
    beyond = predict("--model", str(saved), "--input", str(root / "queries.jsonl"), "--output", str(tmp_path / "t.jsonl"),
                     "--threshold", "2")
    assert beyond.returncode == 2 and "Traceback" not in beyond.stderr and not (tmp_path / "t.jsonl").exists()
    assert beyond.stderr.strip().splitlines()[-1].endswith(
        "--threshold 2.0: outside [0.0, 1.0], the range of a kept classifier's probabilities")
