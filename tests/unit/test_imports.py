"""Models, losses, data and evaluation stay free of Ray, DeepSpeed and the OpenAI client."""

import pkgutil
import subprocess
import sys

import tkre

PURE = ("tkre.data", "tkre.models", "tkre.losses", "tkre.eval", "tkre.train", "tkre.synth")
HEAVY = ("ray", "deepspeed", "openai")


def test_pure_packages_do_not_import_ray_deepspeed_or_openai():
    modules = [m.name for m in pkgutil.walk_packages(tkre.__path__, "tkre.") if m.name.startswith(PURE)]
    assert "tkre.models.encoder" in modules and "tkre.eval.episodic" in modules
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
