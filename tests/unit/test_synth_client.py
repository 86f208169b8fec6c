"""The retrying client and the synthesis worker against a fault-injecting HTTP server on loopback."""

import json

import pytest

from tkre.storage import open_storage
from tkre.synth.client import ChatClient, LLMSettings, RequestFailed
from tkre.synth.records import RecordStore, make_request
from tkre.synth.worker import SynthesisWorker
from tkre.testing import FaultServer, first_attempt_faults

FAST = dict(timeout_s=0.5, max_attempts=3, backoff_base_s=0.01, backoff_max_s=0.5)


def echo(messages):
    return json.dumps({"explanation": "answer to " + messages[-1]["content"]})


def always(fault):
    return lambda request_id, attempt: fault


def messages(i):
    return [{"role": "user", "content": f"question {i}"}]


@pytest.mark.parametrize("fault", ["429", "500", "hang", "malformed"])
def test_a_transient_fault_is_retried_once_and_then_answered(fault):
    with FaultServer(echo, plan=lambda rid, attempt: fault if attempt == 1 else None, hang_s=1.5) as server:
        reply = ChatClient(LLMSettings(**FAST), server.base_url, "fake").complete(messages(0), {})
    assert reply.attempts == 2 and json.loads(reply.text)["explanation"] == "answer to question 0"
    assert [e["outcome"] for e in sorted(server.log, key=lambda e: e["attempt"])] == [fault, "ok"]


def test_retry_after_is_honoured():
    with FaultServer(echo, plan=lambda rid, attempt: "429" if attempt == 1 else None, retry_after_s=0.4) as server:
        ChatClient(LLMSettings(**{**FAST, "backoff_base_s": 0.0}), server.base_url, "fake").complete(messages(0), {})
    first, second = sorted(server.log, key=lambda e: e["attempt"])
    assert second["start"] - first["end"] >= 0.4


@pytest.mark.parametrize("fault, reason", [("500", "http_500"), ("429", "http_429"), ("hang", "timeout"),
                                           ("malformed", "malformed_response")])
def test_attempts_are_capped(fault, reason):
    with FaultServer(echo, plan=always(fault), retry_after_s=0.01, hang_s=1.0) as server:
        with pytest.raises(RequestFailed) as error:
            ChatClient(LLMSettings(**FAST), server.base_url, "fake").complete(messages(0), {})
    assert (error.value.reason, error.value.attempts) == (reason, 3)
    assert len(server.log) == 3


def test_connection_errors_are_retried_and_capped():
    with FaultServer(echo) as server:
        url = server.base_url
    with pytest.raises(RequestFailed) as error:
        ChatClient(LLMSettings(**FAST), url, "fake").complete(messages(0), {})
    assert (error.value.reason, error.value.attempts) == ("connection_error", 3)


def test_a_server_that_refuses_response_format_is_asked_again_without_it():
    settings = LLMSettings(**FAST)
    with FaultServer(echo, refuse_response_format=True) as server:
        client = ChatClient(settings, server.base_url, "fake")
        reply = client.complete(messages(0), {}, {"type": "json_object"})
        client.complete(messages(1), {}, {"type": "json_object"})
    assert reply.attempts == 2 and not settings.json_mode
    assert [e["outcome"] for e in server.log] == ["400", "ok", "ok"]


def test_the_api_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("TKRE_TEST_KEY", "sk-secret-value")
    client = ChatClient(LLMSettings(api_key_env="TKRE_TEST_KEY"), "http://127.0.0.1:9/v1", "fake")
    assert client.openai.api_key == "sk-secret-value"
    assert "sk-secret" not in json.dumps(client.settings.__dict__)


def test_an_endpoint_that_refuses_the_key_is_caught_before_any_request_without_showing_it(monkeypatch):
    import contextlib

    from tkre.synth.endpoint import Endpoint

    monkeypatch.delenv("TKRE_TEST_KEY", raising=False)
    with FaultServer(echo, api_key="sk-right") as server:
        endpoint = Endpoint(LLMSettings(base_url=server.base_url, api_key_env="TKRE_TEST_KEY"), contextlib.ExitStack())
        with pytest.raises(ConnectionError, match=r"/v1: HTTP 401, \$TKRE_TEST_KEY is not set"):
            endpoint.check_reachable()
        monkeypatch.setenv("TKRE_TEST_KEY", "sk-wrong")
        with pytest.raises(ConnectionError, match=r"HTTP 401, the key in \$TKRE_TEST_KEY was refused") as refused:
            endpoint.check_reachable()
        assert "sk-wrong" not in str(refused.value)
        monkeypatch.setenv("TKRE_TEST_KEY", "sk-right")
        endpoint.check_reachable()
        assert ChatClient(endpoint.llm, server.base_url, "fake").complete(messages(0), {}).text
    assert [e["outcome"] for e in server.log] == ["ok"]  # the checks sent no chat request


def test_worker_ends_every_request_done_exactly_once_under_faults(tmp_path):
    rows = [make_request("edkg", messages(i), "fake", {"max_tokens": 8}, {"i": i}) for i in range(40)]
    batch = {c: [r[c] for r in rows] for c in ("key", "kind", "request", "meta")}
    with FaultServer(echo, plan=first_attempt_faults, hang_s=1.5) as server:
        worker = SynthesisWorker(FAST, server.base_url, "fake", str(tmp_path), in_flight=8)
        out = worker(batch)
        assert out["status"] == ["done"] * 40
        assert sorted(out["key"]) == sorted(r["key"] for r in rows)
        outcomes = {e["outcome"] for e in server.log}
        assert {"429", "500", "hang", "malformed", "ok"} <= outcomes
        assert sorted(server.successes().values()) == [1] * 40  # none answered twice
        before = len(server.log)
        again = worker(batch)  # a rerun: everything is done, nothing is sent
        assert again["status"] == ["done"] * 40 and len(server.log) == before
    records = RecordStore(open_storage(tmp_path)).load(batch["key"])
    assert {r["meta"]["i"] for r in records.values()} == set(range(40))
    assert all(json.loads(r["text"])["explanation"].startswith("answer to question") for r in records.values())


def test_worker_records_failures_and_a_rerun_retries_them(tmp_path):
    rows = [make_request("edkg", messages(i), "fake", {}, {}) for i in range(3)]
    batch = {c: [r[c] for r in rows] for c in ("key", "kind", "request", "meta")}
    with FaultServer(echo, plan=always("500")) as server:
        out = SynthesisWorker(FAST, server.base_url, "fake", str(tmp_path), 3)(batch)
    assert out["status"] == ["failed"] * 3 and out["reason"] == ["http_500"] * 3
    with FaultServer(echo) as server:
        out = SynthesisWorker(FAST, server.base_url, "fake", str(tmp_path), 3)(batch)
    assert out["status"] == ["done"] * 3 and len(server.log) == 3


def test_slots_bound_the_requests_on_the_wire_but_not_the_backoff():
    import threading
    from concurrent.futures import ThreadPoolExecutor

    plan = lambda rid, attempt: "429" if attempt == 1 else None  # noqa: E731
    with FaultServer(echo, latency_s=0.2, plan=plan, retry_after_s=0.3) as server:
        client = ChatClient(LLMSettings(**FAST), server.base_url, "fake", threading.Semaphore(2))
        with ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda i: client.complete(messages(i), {}), range(6)))
    served = [e for e in server.log if e["outcome"] == "ok"]
    most = max(sum(1 for o in served if o["start"] <= e["start"] < o["end"]) for e in served)
    assert most == 2 and len(served) == 6
    # all six 429s arrived before any answer: waiting threads released their slots
    refused = [e for e in server.log if e["outcome"] == "429"]
    assert len(refused) == 6 and max(e["start"] for e in refused) < min(e["end"] for e in served)
