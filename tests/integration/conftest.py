"""Fixtures of the integration tests: free loopback ports, a real S3 API (moto's server), a real MLflow tracking
server with its artifacts on S3, a tiny BERT."""

import os

import pytest
from servers import free_port, mlflow_server, moto_server


@pytest.fixture(name="free_port")
def free_port_fixture():
    """A function that returns a free loopback port each time it is called."""
    return free_port


@pytest.fixture
def moto_s3():
    """``(env, client)``: the environment that points boto3, pyarrow and Ray at a fresh moto server, and a client."""
    with moto_server() as (env, client):
        yield env, client


@pytest.fixture(scope="session")
def tracking_server(tmp_path_factory):
    """``(env, uri, s3)``: a real MLflow server (SQLite backend store, artifacts on its own moto S3, bucket
    ``mlflow``) for the session, and the environment that sends a job's runs there."""
    folder = tmp_path_factory.mktemp("mlflow")
    with moto_server() as (env, s3):
        s3.create_bucket(Bucket="mlflow")
        with mlflow_server(folder, "s3://mlflow/artifacts", env) as (uri, _):
            # jobs reach the server only: artifacts go through it, so they get no S3 credentials
            job_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            yield {**job_env, "MLFLOW_TRACKING_URI": uri, "TKRE_TRACKING": "on"}, uri, s3


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    """A 2-layer, 32-wide BERT with a masked-LM head and MiniLM's tokenizer, for tests whose behaviour does not
    depend on the model's size (the sweeps' stage-1 export, the Ray Jobs pipeline's starting encoder)."""
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from tkre.models.encoder import resolve_model

    folder = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("minilm"))
    BertForMaskedLM(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)
