"""`tkre data fetch` against a real HTTP server on loopback that serves a copy of the data."""

import functools
import http.server
import shutil
import threading

import pytest

from tkre.data.fetch import SHA256, fetch, sha256_of


@pytest.fixture
def server(tmp_path, data_dir):
    root = tmp_path / "www"
    shutil.copytree(data_dir / "fewrel", root / "fewrel")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/fewrel/"
    httpd.shutdown()


def test_fetch_downloads_checks_and_skips_present(tmp_path, server):
    _, url = server
    dest = tmp_path / "data"
    assert fetch(dest, ["fewrel"], {"fewrel": url})["downloaded"] == len(SHA256["fewrel"])
    for name, digest in SHA256["fewrel"].items():
        assert sha256_of(dest / "fewrel" / name) == digest
    assert fetch(dest, ["fewrel"], {"fewrel": url}) == {"dest": str(dest), "datasets": ["fewrel"], "downloaded": 0, "already_present": 2}


def test_checksum_mismatch_writes_nothing(tmp_path, server):
    root, url = server
    (root / "fewrel" / "pid2name.json").write_text("{}")
    dest = tmp_path / "data"
    with pytest.raises(ValueError, match="pid2name.json: sha256 .* does not match"):
        fetch(dest, ["fewrel"], {"fewrel": url})
    assert not (dest / "fewrel" / "pid2name.json").exists()
    assert not list((dest / "fewrel").glob("*.part"))


def test_unreachable_home_says_what_to_do(tmp_path):
    with pytest.raises(ConnectionError, match="TKRE_DATA_DIR") as e:
        fetch(tmp_path / "data", ["semeval"], {"semeval": "http://127.0.0.1:9/"}, timeout=5)
    assert "--mirror semeval=URL" in str(e.value)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown datasets"):
        fetch("x", ["tacred"])
