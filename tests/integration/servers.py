"""Servers the integration tests start on loopback: moto's S3 API and an MLflow tracking server.

Usage::

    with moto_server() as (env, s3), mlflow_server(folder, "s3://mlflow/artifacts", env) as (uri, process): ...
"""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    """Waits until ``url`` answers (the server ``process`` is up)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[:3]} exited with {process.returncode}")
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {seconds} s")


@contextlib.contextmanager
def moto_server():
    """``(env, client)`` of a fresh moto server: the environment that points boto3, pyarrow and Ray at it."""
    import boto3

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        wait_for(f"http://127.0.0.1:{port}/", server, 10)
        client = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id="testing",
                              aws_secret_access_key="testing-secret", region_name="us-east-1")
        yield env, client
    finally:
        server.terminate()
        server.wait()


@contextlib.contextmanager
def mlflow_server(folder, artifacts: str, env: dict):
    """``(uri, process)`` of a real MLflow tracking server on loopback: SQLite backend in ``folder``, artifacts
    proxied to ``artifacts`` (a folder, or ``s3://`` with the S3 settings in ``env``)."""
    port = free_port()
    log = open(f"{folder}/mlflow-server.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{folder}/mlflow.db",
                               "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, cwd=folder,
                              env={**os.environ, **env, "MLFLOW_S3_ENDPOINT_URL": env.get("AWS_ENDPOINT_URL", "")})
    try:
        wait_for(f"http://127.0.0.1:{port}/health", server)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        server.wait()
        log.close()
