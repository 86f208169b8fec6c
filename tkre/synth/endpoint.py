"""The LLM endpoint a synthesis talks to: a configured ``base_url``, or the embedded server, started on first use.

Usage::

    with contextlib.ExitStack() as stack:
        endpoint = Endpoint(cfg.llm, stack)
        endpoint.check_reachable()              # EndpointError before any work
        base_url, model = endpoint.resolve()    # starts the embedded transformers serve if base_url is null
"""

from __future__ import annotations

import contextlib
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from tkre.errors import EndpointError
from tkre.synth.client import LLMSettings
from tkre.synth.server import EmbeddedServer, smollm2_folder


def public_url(url: str) -> str:
    """``url`` without any user:password part."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl()


class Endpoint:
    """The configured ``base_url``, or the embedded server, started on first use and stopped with ``stack``."""

    def __init__(self, llm: LLMSettings, stack: contextlib.ExitStack):
        self.llm, self.stack, self.url, self.model = llm, stack, llm.base_url, llm.model
        self.description = "embedded transformers serve" if llm.base_url is None else public_url(llm.base_url)

    def check_reachable(self) -> None:
        """Fails fast, before any work, when a configured endpoint does not answer or refuses the key."""
        if self.url is None:
            return
        key = os.environ.get(self.llm.api_key_env)
        request = urllib.request.Request(self.url.rstrip("/") + "/models",
                                         headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            urllib.request.urlopen(request, timeout=10).close()
        except urllib.error.HTTPError as error:
            if error.code in (401, 403):  # other answers (404, ...): reachable, /models is optional
                why = f"${self.llm.api_key_env} is not set" if not key else f"the key in ${self.llm.api_key_env} was refused"
                raise EndpointError(f"llm.base_url {self.description}: HTTP {error.code}, {why}") from None
        except OSError as error:
            raise EndpointError(f"llm.base_url {self.description}: cannot connect ({error})") from None

    def resolve(self) -> tuple[str, str]:
        """The base URL and model name to send requests to."""
        if self.url is None:
            server = self.stack.enter_context(EmbeddedServer(smollm2_folder()))
            self.url, self.model = server.base_url, server.model
            print(f"[synth] embedded transformers serve on {server.base_url} ({server.dtype})", file=sys.stderr)
        return self.url, self.model
