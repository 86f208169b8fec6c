"""A loopback OpenAI-compatible chat server that injects faults, for tests and the throughput benchmark.

It speaks HTTP like any endpoint (``/health``, ``/v1/models``, ``/v1/chat/completions``), answers
with ``responder(messages)`` after ``latency_s``, and for each attempt at a request asks
``plan(request_id, attempt)`` for a fault: ``"429"`` (with ``Retry-After``), ``"500"``, ``"hang"``
(sleeps ``hang_s`` before answering), ``"malformed"`` (a 200 whose body is not JSON) or ``None``.
With ``refuse_response_format`` it answers 400 to any request that sets ``response_format``;
with ``api_key`` it answers 401 to any ``/v1`` request without ``Authorization: Bearer <api_key>``.
Requests are told apart by their messages and parameters; every attempt is logged.

Usage::

    with FaultServer(lambda messages: '{"explanation": "..."}', latency_s=0.2, plan=every_fifth_fails) as server:
        ChatClient(settings, server.base_url, "fake").complete(messages, {})
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

FAULTS = ("429", "500", "hang", "malformed")


def no_faults(request_id: str, attempt: int) -> str | None:
    return None


def first_attempt_faults(request_id: str, attempt: int) -> str | None:
    """The first attempt of four requests in five fails, one fault kind each; later attempts succeed."""
    if attempt > 1:
        return None
    slot = int(request_id[:8], 16) % 5
    return FAULTS[slot - 1] if slot else None


def random_429s(rate: float, seed: int = 0) -> Callable[[str, int], str | None]:
    """Each attempt is refused with a 429 with probability ``rate`` (seeded per request and attempt)."""
    def plan(request_id: str, attempt: int) -> str | None:
        return "429" if random.Random(f"{seed}:{request_id}:{attempt}").random() < rate else None
    return plan


class FaultServer:
    def __init__(self, responder: Callable[[list[dict]], str], latency_s: float = 0.0,
                 plan: Callable[[str, int], str | None] = no_faults, retry_after_s: float = 0.1, hang_s: float = 5.0,
                 refuse_response_format: bool = False, api_key: str | None = None):
        self.responder, self.latency_s, self.plan = responder, latency_s, plan
        self.refuse_response_format, self.api_key = refuse_response_format, api_key
        self.retry_after_s, self.hang_s = retry_after_s, hang_s
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.log: list[dict] = []  # one entry per attempt as it starts: request id, attempt, outcome, start, end[, client_gone]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> "FaultServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def successes(self) -> dict[str, int]:
        """Completed (200, well-formed) answers per request id."""
        with self.lock:
            out: dict[str, int] = {}
            for entry in self.log:
                if entry["outcome"] == "ok" and "end" in entry and not entry.get("client_gone"):
                    out[entry["request_id"]] = out.get(entry["request_id"], 0) + 1
            return out

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in separate writes

            def log_message(self, *args):  # quiet
                pass

            def _send(self, code: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _refused_key(self) -> bool:
                """Answers 401, as hosted endpoints do, when a key is required and not the one sent."""
                if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                    return False
                self._send(401, b'{"error": {"message": "invalid api key", "code": "invalid_api_key"}}')
                return True

            def do_GET(self):
                if self.path.startswith("/v1/") and self._refused_key():
                    return
                if self.path == "/health":
                    self._send(200, b'{"status": "ok"}')
                elif self.path == "/v1/models":
                    self._send(200, b'{"object": "list", "data": [{"id": "fake", "object": "model"}]}')
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if self._refused_key():
                    return
                identity = {k: v for k, v in body.items() if k not in ("response_format", "model")}
                request_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
                with server.lock:
                    attempt = server.attempts[request_id] = server.attempts.get(request_id, 0) + 1
                fault = server.plan(request_id, attempt)
                if server.refuse_response_format and "response_format" in body:
                    fault = "400"
                entry = {"request_id": request_id, "attempt": attempt, "outcome": fault or "ok", "start": time.time()}
                with server.lock:
                    server.log.append(entry)
                try:
                    if fault == "429":
                        self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": str(server.retry_after_s)})
                    elif fault in ("400", "500"):
                        self._send(int(fault), b'{"error": {"message": "refused"}}')
                    else:
                        time.sleep(server.hang_s if fault == "hang" else server.latency_s)
                        if fault == "malformed":
                            self._send(200, b'{"id": "x", "choices": [{"message": ')
                        else:
                            self._send(200, json.dumps(self._completion(body)).encode())
                except (BrokenPipeError, ConnectionResetError):
                    entry["client_gone"] = True
                entry["end"] = time.time()

            def _completion(self, body: dict) -> dict:
                text = server.responder(body["messages"])
                return {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                              "completion_tokens": len(text.split()), "total_tokens": 0},
                }

        return Handler
