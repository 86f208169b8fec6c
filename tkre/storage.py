"""Files under a local folder or an ``s3://bucket/prefix``, behind one small interface.

S3 credentials, region and endpoint come from the standard AWS chain (``AWS_ENDPOINT_URL``
points it at an S3-compatible store); nothing about them is stored.

Usage::

    store = open_storage("s3://bucket/runs/synth")      # or "runs/synth"
    store.write_text("manifest.json", text)
    store.read_text("manifest.json"); store.list("records/"); store.exists("config.yaml"); store.check()
    upload_folder("runs/mslm/hf", "s3://bucket/runs/mslm/export"); download_folder("s3://bucket/runs/mslm/export", "/tmp/m")
    delete_folder("s3://bucket/runs/mslm")
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


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
        """Raises ``PermissionError`` when the folder cannot be created or written."""
        existing = next(p for p in [self.root.absolute(), *self.root.absolute().parents] if p.exists())
        if not os.access(existing, os.W_OK):
            raise PermissionError(f"{existing} is not writable")

    def delete_all(self) -> None:
        """Removes the folder and everything under it."""
        shutil.rmtree(self.root, ignore_errors=True)

    def list(self, prefix: str) -> list[str]:
        """Names of the files under ``prefix`` (a folder name ending in ``/``), relative to the root."""
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()


class S3Storage(LocalStorage):
    """A prefix in an S3 bucket; each write is one PUT, so a reader never sees half a file."""

    def __init__(self, uri: str):
        import boto3

        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"{uri!r}: expected s3://bucket/prefix")
        self.uri, self.bucket, self.prefix = uri, bucket, prefix.strip("/")
        self.s3 = boto3.client("s3")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def write_bytes(self, name: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def read_bytes(self, name: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()

    def exists(self, name: str) -> bool:
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self._key(name))
        except self.s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def check(self) -> None:
        """Raises boto3's error when the bucket is missing or the credentials cannot reach it."""
        self.s3.head_bucket(Bucket=self.bucket)

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
    return S3Storage(str(uri)) if str(uri).startswith("s3://") else LocalStorage(uri)


def delete_folder(uri: str) -> None:
    """Removes the folder or ``s3://`` prefix ``uri`` and everything under it."""
    open_storage(uri).delete_all()


def upload_folder(local: str | Path, uri: str) -> None:
    """Copies every file under the folder ``local`` to ``uri`` (a folder or ``s3://`` prefix)."""
    store = open_storage(uri)
    for path in sorted(Path(local).rglob("*")):
        if path.is_file():
            store.write_bytes(str(path.relative_to(local)), path.read_bytes())


def download_folder(uri: str, local: str | Path) -> Path:
    """Copies every file under ``uri`` into the folder ``local``; an empty or missing ``uri`` is an error."""
    store = open_storage(uri)
    names = store.list("")
    if not names:
        raise FileNotFoundError(f"{uri}: no files there")
    for name in names:
        path = Path(local) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.read_bytes(name))
    return Path(local)
