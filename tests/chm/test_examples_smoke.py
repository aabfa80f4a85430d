"""The examples compile and expose their entry point (they are not run here)."""
import ast
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["weizmann_horse.py"])
def test_example_compiles_and_defines_main(name):
    path = EXAMPLES / name
    source = path.read_text()
    compile(source, str(path), "exec")
    tree = ast.parse(source, str(path))
    mains = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "main"]
    assert len(mains) == 1
    # main(argv=None): callable without arguments, and with an argv list
    args = mains[0].args
    assert [a.arg for a in args.args] == ["argv"]
    assert len(args.defaults) == 1
    assert ast.get_docstring(tree), "the example should explain itself in a docstring"
    guard = [node for node in tree.body if isinstance(node, ast.If)
             and "__main__" in ast.unparse(node.test)]
    assert guard, "running the file should call main() under an __main__ guard"


def _chm_names(tree):
    """(module, name) pairs the example takes from the chm package."""
    pairs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "chm":
            pairs.update((node.module, alias.name) for alias in node.names)
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
              and node.value.id == "chm"):
            pairs.add(("chm", node.attr))
    return pairs


def _missing(name, modules):
    import importlib

    tree = ast.parse((EXAMPLES / name).read_text())
    missing = []
    for module, attr in sorted(_chm_names(tree)):
        if module in modules and not hasattr(importlib.import_module(module), attr):
            missing.append(f"{module}.{attr}")
    return missing


def test_weizmann_example_submodule_imports_resolve():
    tree = ast.parse((EXAMPLES / "weizmann_horse.py").read_text())
    modules = {m for m, _ in _chm_names(tree)} - {"chm"}
    assert modules, "the example should use chm submodules"
    assert _missing("weizmann_horse.py", modules) == []


def test_weizmann_example_top_level_names_resolve():
    assert _missing("weizmann_horse.py", {"chm"}) == []
