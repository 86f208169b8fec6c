"""Local storage and the record store: atomic writes, listings, done keys."""

from tkre.storage import LocalStorage, S3Storage, open_storage
from tkre.synth.records import RecordStore, make_request, request_key


def test_local_storage_round_trip_and_listing(tmp_path):
    store = open_storage(tmp_path / "out")
    assert isinstance(store, LocalStorage) and store.list("records/") == []
    store.write_text("records/b.json", "{}")
    store.write_bytes("records/a.json", b"[]")
    store.write_text("manifest.json", "x")
    assert store.list("records/") == ["records/a.json", "records/b.json"]
    assert store.read_text("records/a.json") == "[]" and store.exists("manifest.json") and not store.exists("nope")
    assert not list((tmp_path / "out" / "records").glob(".tmp-*"))


def test_s3_uris_open_s3_storage():
    store = open_storage("s3://bucket/some/prefix/")
    assert isinstance(store, S3Storage) and (store.bucket, store.prefix) == ("bucket", "some/prefix")
    assert store._key("records/x.json") == "some/prefix/records/x.json"


def test_request_keys_depend_on_prompt_model_and_parameters_only():
    messages = [{"role": "user", "content": "why?"}]
    key = request_key(messages, "m", {"temperature": 0.7, "seed": 0})
    assert key == request_key(messages, "m", {"seed": 0, "temperature": 0.7})
    assert key != request_key(messages, "m", {"temperature": 0.7, "seed": 1})
    assert key != request_key(messages, "other", {"temperature": 0.7, "seed": 0})
    assert make_request("edkg", messages, "m", {"temperature": 0.7, "seed": 0}, {"i": 1})["key"] == key


def test_done_keys_leave_failed_requests_to_be_retried(tmp_path):
    records = RecordStore(open_storage(tmp_path))
    records.put("k1", {"status": "done"})
    records.put("k2", {"status": "failed"})
    assert records.done_keys(["k1", "k2", "k3"]) == {"k1"}
    assert set(records.load(["k2", "k3"])) == {"k2"} and sorted(records.keys()) == ["k1", "k2"]


def test_a_local_folder_is_deleted_whole_and_nothing_beside_it(tmp_path):
    from tkre.storage import delete_folder

    store = open_storage(tmp_path / "run" / "mslm")
    store.check()  # a folder that does not exist yet can be created
    store.write_text("train/checkpoint_1/shard.pt", "1")
    open_storage(tmp_path / "run" / "mslm2").write_text("config.yaml", "x")
    delete_folder(store.uri)
    assert not (tmp_path / "run" / "mslm").exists() and (tmp_path / "run" / "mslm2" / "config.yaml").exists()


def test_one_test_says_what_is_remote_and_every_reader_follows_it(tmp_path):
    from tkre.storage import arrow_location, is_remote

    assert is_remote("s3://bucket/x") and not is_remote("runs/x") and not is_remote("sentence-transformers/all-MiniLM-L6-v2")
    assert isinstance(open_storage(tmp_path), LocalStorage) and arrow_location(str(tmp_path / "q.jsonl")) == (str(tmp_path / "q.jsonl"), None)
    path, filesystem = arrow_location("s3://bucket/queries/q.jsonl")
    assert path == "bucket/queries/q.jsonl" and type(filesystem).__name__ == "S3FileSystem"
