"""Files under a local folder or an ``s3://bucket/prefix``, behind one small interface, and the run-dir layout.

This module alone decides local versus S3. S3 credentials, region and endpoint come from the
standard AWS chain (``AWS_ENDPOINT_URL`` points it at an S3-compatible store); nothing about them
is stored. Folders move through boto3's managed transfers (multipart, streamed to and from disk).

Every run dir holds ``config.yaml``, ``metrics.json`` and, for a training stage, ``export/`` (the
Hugging Face encoder the next stage loads).

Usage::

    store = open_storage("s3://bucket/runs/synth")      # or "runs/synth"
    store.check()                                        # StorageError when it cannot be used
    store.write_text("manifest.json", text); store.read_text("manifest.json"); store.list("records/")
    export_of("s3://bucket/runs/mslm")                   # "s3://bucket/runs/mslm/export"
    with local_copy("s3://bucket/runs/mslm/export") as folder: ...   # a local folder either way
    with staged("s3://bucket/runs/eval") as folder: ...  # written locally, uploaded at the end
    write_file("s3://bucket/out/predictions.jsonl", data); read_file("queries.jsonl")   # one file
    path, filesystem = arrow_location("s3://bucket/queries.jsonl")   # for Arrow and Ray Data readers
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from tkre.errors import StorageError

CONFIG, METRICS_FILE, EXPORT = "config.yaml", "metrics.json", "export"


def is_remote(uri: str | Path) -> bool:
    """Whether ``uri`` names an S3 location (``s3://...``) rather than a local path: the one test for it."""
    return str(uri).startswith("s3://")


def absolute(uri: str | Path, root: str | Path | None = None) -> str:
    """A local path made absolute against ``root`` (default: the working dir); a remote URI as is."""
    if is_remote(uri):
        return str(uri)
    return os.path.abspath(os.path.join(root or os.getcwd(), os.path.expanduser(str(uri))))


def join(uri: str | Path, *names: str) -> str:
    """``uri/name/...`` for a folder or an ``s3://`` prefix."""
    return "/".join([str(uri).rstrip("/"), *names])


def export_of(run_dir: str | Path) -> str:
    """Where a training run dir keeps its exported encoder."""
    return join(run_dir, EXPORT)


class LocalStorage:
    """A folder; writes are atomic (temporary file, then rename)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = str(self.root)

    def write_bytes(self, name: str, data: bytes) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)

    def read_bytes(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()

    def check(self) -> None:
        """Raises ``StorageError`` when the folder cannot be created or written."""
        existing = next(p for p in [self.root.absolute(), *self.root.absolute().parents] if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK):
            raise StorageError(f"{self.uri}: cannot write there ({existing} is not a writable folder)")

    def delete_all(self) -> None:
        """Removes the folder and everything under it."""
        shutil.rmtree(self.root, ignore_errors=True)

    def list(self, prefix: str) -> list[str]:
        """Names of the files under ``prefix`` (a folder name ending in ``/``), relative to the root."""
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    def put_file(self, name: str, path: Path) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)

    def get_file(self, name: str, path: Path) -> None:
        shutil.copyfile(self.root / name, path)

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()


class S3Storage(LocalStorage):
    """A prefix in an S3 bucket; each write is one object, so a reader never sees half a file."""

    def __init__(self, uri: str):
        import boto3

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise StorageError(f"{uri!r}: expected s3://bucket/prefix")
        self.uri, self.bucket, self.prefix = uri, bucket, prefix.strip("/")
        self.s3 = boto3.client("s3")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def write_bytes(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def read_bytes(self, name: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()

    def put_file(self, name: str, path: Path) -> None:
        self.s3.upload_file(str(path), self.bucket, self._key(name))  # managed: multipart for large files

    def get_file(self, name: str, path: Path) -> None:
        self.s3.download_file(self.bucket, self._key(name), str(path))  # streamed to disk

    def exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(name))
        except self.s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def check(self) -> None:
        """Raises ``StorageError`` when the bucket is missing or the credentials or endpoint cannot reach it."""
        import botocore.exceptions as bex

        try:
            self.s3.head_bucket(Bucket=self.bucket)
        except bex.NoCredentialsError:
            raise StorageError(f"{self.uri}: no S3 credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID / "
                               f"AWS_SECRET_ACCESS_KEY, or run where an instance role gives them)") from None
        except (bex.EndpointConnectionError, bex.ConnectTimeoutError) as error:
            raise StorageError(f"{self.uri}: cannot reach the S3 endpoint ({error})") from None
        except bex.ClientError as error:
            code = error.response["Error"]["Code"]
            why = {"404": "no such bucket", "NoSuchBucket": "no such bucket", "403": "access denied"}.get(code, code)
            raise StorageError(f"{self.uri}: {why} (bucket {self.bucket})") from None

    def delete_all(self) -> None:
        """Removes every object under the prefix (1000 per request)."""
        keys = [self._key(name) for name in self.list("")]
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[start : start + 1000]]})

    def list(self, prefix: str) -> list[str]:
        names, start = [], len(self._key(""))
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            names.extend(obj["Key"][start:] for obj in page.get("Contents", []))
        return sorted(names)


def open_storage(uri: str | Path) -> LocalStorage:
    """``S3Storage`` for ``s3://`` URIs, ``LocalStorage`` for everything else."""
    return S3Storage(str(uri)) if is_remote(uri) else LocalStorage(uri)


def arrow_location(uri: str):
    """``(path, filesystem)`` for Arrow readers (Ray Data): an ``s3://`` URI as bucket/key with a pyarrow S3
    filesystem that honours ``AWS_ENDPOINT_URL`` and ``AWS_DEFAULT_REGION``; a local path as is, with None."""
    if not is_remote(uri):
        return uri, None
    from pyarrow import fs

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    return uri.removeprefix("s3://"), fs.S3FileSystem(endpoint_override=os.environ.get("AWS_ENDPOINT_URL"), region=region)


def _parent_and_name(uri: str) -> tuple[str, str]:
    parent, _, name = str(uri).rpartition("/")
    return (parent or "."), name


def read_file(uri: str) -> bytes:
    """The bytes of one local or ``s3://`` file; ``FileNotFoundError`` when there is none."""
    parent, name = _parent_and_name(uri)
    store = open_storage(parent)
    if is_remote(uri) and not store.exists(name):
        raise FileNotFoundError(uri)
    return store.read_bytes(name)


def write_file(uri: str, data: bytes) -> None:
    """Writes one local or ``s3://`` file whole (a reader never sees half of it)."""
    parent, name = _parent_and_name(uri)
    open_storage(parent).write_bytes(name, data)


def delete_folder(uri: str) -> None:
    """Removes the folder or ``s3://`` prefix ``uri`` and everything under it."""
    open_storage(uri).delete_all()


def upload_folder(local: str | Path, uri: str) -> None:
    """Copies every file under the folder ``local`` to ``uri`` (a folder or ``s3://`` prefix), replacing what was there."""
    if not is_remote(uri):
        shutil.rmtree(uri, ignore_errors=True)
    store = open_storage(uri)
    for path in sorted(Path(local).rglob("*")):
        if path.is_file():
            store.put_file(str(path.relative_to(local)), path)


def download_folder(uri: str, local: str | Path) -> Path:
    """Copies every file under ``uri`` into the folder ``local``; an empty or missing ``uri`` is an error."""
    store = open_storage(uri)
    names = store.list("")
    if not names:
        raise StorageError(f"{uri}: no files there")
    for name in names:
        path = Path(local) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        store.get_file(name, path)
    return Path(local)


@contextlib.contextmanager
def local_copy(uri: str):
    """A local folder holding ``uri``: the folder itself, or a temporary download of an ``s3://`` prefix."""
    if not is_remote(uri):
        yield str(uri)
        return
    with tempfile.TemporaryDirectory(prefix="tkre-copy-") as scratch:
        yield str(download_folder(uri, Path(scratch) / "copy"))


@contextlib.contextmanager
def staged(uri: str):
    """A local folder to write ``uri``'s files into: the folder itself, or a temporary one uploaded at the end."""
    if not is_remote(uri):
        Path(uri).mkdir(parents=True, exist_ok=True)
        yield Path(uri)
        return
    with tempfile.TemporaryDirectory(prefix="tkre-out-") as scratch:
        yield Path(scratch)
        upload_folder(scratch, uri)
