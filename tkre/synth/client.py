"""A chat client for any OpenAI-compatible endpoint, with bounded retries.

Retries 429, 5xx, timeouts, connection errors and malformed response bodies with exponential
backoff and full jitter, honouring ``Retry-After``; gives up after ``max_attempts``. The key is
read from the environment variable named in the config and never stored or logged.

Usage::

    client = ChatClient(LLMSettings(base_url="http://127.0.0.1:8000/v1", model="gpt-4o-mini"))
    reply = client.complete(messages, {"temperature": 0.7, "max_tokens": 256})
    reply.text, reply.tokens_in, reply.tokens_out, reply.attempts
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from dataclasses import dataclass

import openai

from tkre.config import at_least, positive


@dataclass
class LLMSettings:
    base_url: str | None = None  # null: start the embedded transformers serve + SmolLM2
    model: str = "smollm2"
    api_key_env: str = "OPENAI_API_KEY"
    timeout_s: float = positive(120.0)
    max_attempts: int = positive(5)
    backoff_base_s: float = at_least(1.0, 0)
    backoff_max_s: float = at_least(30.0, 0)
    json_mode: bool = True  # send response_format (servers that do not support it ignore or refuse it)
    price_in_per_mtok: float | None = at_least(None, 0)  # USD per million prompt tokens, for the cost estimate
    price_out_per_mtok: float | None = at_least(None, 0)


@dataclass
class Reply:
    text: str
    tokens_in: int
    tokens_out: int
    attempts: int


class RequestFailed(RuntimeError):
    """A request that did not succeed within ``max_attempts``; ``reason`` is counted in the manifest."""

    def __init__(self, reason: str, attempts: int, detail: str):
        self.reason, self.attempts = reason, attempts
        super().__init__(f"{reason} after {attempts} attempts: {detail}")


def retry_after_s(error: Exception) -> float | None:
    """Seconds from a ``Retry-After`` header (numeric form), if the error carries one."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _classify(error: Exception) -> tuple[str, bool]:
    """(reason, retryable) for an error raised by the openai client."""
    if isinstance(error, openai.APITimeoutError):
        return "timeout", True
    if isinstance(error, openai.APIConnectionError):
        return "connection_error", True
    if isinstance(error, openai.RateLimitError):
        return "http_429", True
    if isinstance(error, openai.APIStatusError):
        code = error.status_code
        return f"http_{code}", code >= 500 or code in (408, 409)
    if isinstance(error, (openai.APIResponseValidationError, ValueError)):
        return "malformed_response", True
    raise error


class ChatClient:
    """One client per worker; thread-safe, so a worker may keep several requests in flight.

    ``slots`` (a semaphore) bounds the requests on the wire; a thread waiting out a backoff
    holds no slot, so other requests go out meanwhile.
    """

    def __init__(self, settings: LLMSettings, base_url: str | None = None, model: str | None = None,
                 slots: threading.Semaphore | None = None):
        self.settings, self.slots = settings, slots or contextlib.nullcontext()
        self.model = model or settings.model
        self.openai = openai.OpenAI(
            base_url=base_url or settings.base_url,
            api_key=os.environ.get(settings.api_key_env) or "unused",
            timeout=settings.timeout_s,
            max_retries=0,
        )

    def backoff_s(self, attempt: int, error: Exception) -> float:
        hinted = retry_after_s(error)
        if hinted is not None:
            return min(hinted, self.settings.backoff_max_s)
        cap = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)

    def complete(self, messages: list[dict], params: dict, response_format: dict | None = None) -> Reply:
        extra = {"response_format": response_format} if response_format and self.settings.json_mode else {}
        attempt = 0
        while attempt < self.settings.max_attempts:
            attempt += 1
            try:
                with self.slots:
                    response = self.openai.chat.completions.create(model=self.model, messages=messages, **params, **extra)
                text = response.choices[0].message.content
                if not isinstance(text, str):
                    raise ValueError("no message content in the response")
                usage = response.usage
                return Reply(text, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0, attempt)
            except Exception as error:  # noqa: BLE001 - classified, re-raised when not an API error
                reason, retryable = _classify(error)
                if reason == "http_400" and extra:  # a server that refuses response_format: ask in plain text
                    self.settings.json_mode, extra = False, {}
                    continue
                if not retryable or attempt == self.settings.max_attempts:
                    raise RequestFailed(reason, attempt, type(error).__name__) from None
                time.sleep(self.backoff_s(attempt, error))
        raise AssertionError("max_attempts must be at least 1")
