"""The house rules on imports, read from the source (imports inside functions too) and checked at import time.

- nothing in ``tkre/`` imports ``jobs``;
- only ``tkre/launch`` imports ``ray.train`` or ``ray.tune``;
- models, losses, data and eval import none of ray, deepspeed or openai;
- no module imports a higher layer (data -> models -> eval/train -> launch -> jobs), and no import circle.
"""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import tkre

ROOT = Path(tkre.__file__).parent
PURE = ("models", "losses", "data", "eval")
# the layers, lowest first: each imports only its own layer and those below
LAYERS = {"config": 0, "errors": 0, "storage": 0, "tracking": 0, "data": 1, "models": 2, "losses": 2, "eval": 3, "train": 3, "report": 3,
          "synth": 4, "predict": 4, "launch": 4, "stages": 4, "testing": 4}


def imported_names(path: Path) -> set[str]:
    """Every module an ``import`` or ``from ... import`` in the file names, at any depth of the file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def library_files() -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT.parent)): imported_names(p) for p in sorted(ROOT.rglob("*.py"))}


def under(name: str, *tops: str) -> bool:
    return any(name == t or name.startswith(t + ".") for t in tops)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from ray.train import report\n    import jobs.eval\n")
    assert {"ray.train", "ray.train.report", "jobs.eval"} <= imported_names(source)


def test_nothing_in_the_library_imports_the_jobs():
    offenders = {f: sorted(n for n in names if under(n, "jobs")) for f, names in library_files().items()}
    assert not {f: n for f, n in offenders.items() if n}


def test_only_launch_imports_ray_train_or_ray_tune():
    offenders = {f: sorted(n for n in names if under(n, "ray.train", "ray.tune"))
                 for f, names in library_files().items() if not f.startswith("tkre/launch/")}
    assert not {f: n for f, n in offenders.items() if n}
    assert any(under(n, "ray.train") for n in library_files()["tkre/launch/ray_train.py"])  # the walk finds them


def test_models_losses_data_and_eval_import_no_ray_deepspeed_or_openai():
    pure = {f: names for f, names in library_files().items() if f.split("/")[1] in PURE}
    assert {"tkre/models/encoder.py", "tkre/eval/episodic.py", "tkre/data/masking.py", "tkre/losses/scl.py"} <= set(pure)
    offenders = {f: sorted(n for n in names if under(n, "ray", "deepspeed", "openai")) for f, names in pure.items()}
    assert not {f: n for f, n in offenders.items() if n}
    # nor through what they import
    modules = [m.name for m in pkgutil.walk_packages(tkre.__path__, "tkre.") if m.name.split(".")[1] in PURE]
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'ray', 'deepspeed', 'openai'}))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_loading_a_pretraining_config_imports_neither_torch_nor_transformers():
    code = ("import sys\nfrom tkre.config import load_config\nfrom tkre.train.config import PretrainConfig, check_stage\n"
            "load_config(PretrainConfig, 'jobs/configs/scl/sweep_smoke.yaml', check=lambda c: check_stage(c, 'scl'))\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers'}))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT.parent).stdout
    assert out.strip().splitlines()[-1] == "[]"


def module_of(path: str) -> str:
    return path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def layer_of(module: str) -> int:
    parts = module.split(".")
    return 5 if parts[0] == "jobs" else LAYERS[parts[1]]


def test_no_module_imports_a_higher_layer_and_no_imports_form_a_circle():
    modules = {module_of(f): {n for n in names if under(n, "tkre", "jobs") and n != "tkre"}
               for f, names in library_files().items()}
    assert set(LAYERS) == {m.split(".")[1] for m in modules if m != "tkre"}  # every package has its layer
    upward = sorted((m, n) for m, names in modules.items() if m != "tkre" for n in names if layer_of(n) > layer_of(m))
    assert not upward
    # the module graph (a name imported from a module is an edge to that module), walked for a cycle
    graph = {m: {next(c for c in (n, n.rpartition(".")[0]) if c in modules) for n in names} - {m}
             for m, names in modules.items()}
    done, path = set(), []

    def visit(module):
        assert module not in path, f"import circle: {' -> '.join(path[path.index(module):] + [module])}"
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)
    assert "tkre.data.splits" in graph["tkre.train.stage"]  # the walk sees the edges
