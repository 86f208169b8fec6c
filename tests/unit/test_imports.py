"""Models, losses, data, evaluation and parsing stay free of Ray, DeepSpeed and the OpenAI client."""

import pkgutil
import subprocess
import sys

import tkre

PURE = ("tkre.data", "tkre.models", "tkre.losses", "tkre.eval", "tkre.train", "tkre.synth")
OPENAI_ALLOWED = ("tkre.synth.client", "tkre.synth.worker")  # the synth package's API side; still no Ray


def imports_after(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(eval(out.strip().splitlines()[-1]))  # a JSON list of names


def test_pure_packages_do_not_import_ray_deepspeed_or_openai():
    modules = [m.name for m in pkgutil.walk_packages(tkre.__path__, "tkre.") if m.name.startswith(PURE)]
    assert {"tkre.models.encoder", "tkre.eval.episodic", "tkre.synth.parsing", "tkre.synth.validation",
            "tkre.data.masking", "tkre.losses.scl"} <= set(modules)
    pure = [m for m in modules if m not in OPENAI_ALLOWED]
    assert not imports_after(pure) & {"ray", "deepspeed", "openai"}


def test_the_synthesis_worker_needs_the_openai_client_but_not_ray():
    assert not imports_after(list(OPENAI_ALLOWED)) & {"ray", "deepspeed"}
