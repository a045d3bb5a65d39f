"""The package's shape: one installed name, and a layer contract that names every module.

``make lint`` runs the contract itself (import-linter, ``[tool.importlinter]`` in
pyproject.toml); these tests keep it complete, so that a new module cannot slip past it
unnamed, and keep the sources on the installed name.
"""

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> installed package
PACKAGES = {"hw": "dynalign.hw", "sw": "dynalign.sw", "sim": "dynalign.sim",
            "constraints": "dynalign.constraints"}


def _modules():
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            yield path, ".".join([package, *parts])


def _layer_entries():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["type"] == "layers"]
    entries = []
    for layer in contract["layers"]:
        for sep in ("|", ":"):
            layer = layer.replace(sep, " ")
        entries += layer.split()
    return entries


def _covered(module, entries):
    return any(module == e or module.startswith(e + ".") for e in entries)


def test_every_module_is_in_a_layer():
    entries = _layer_entries()
    missing = [m for path, m in _modules()
               if path.name != "__init__.py" and not _covered(m, entries)]
    assert not missing, f"modules named by no layer of the import contract: {missing}"


def test_every_layer_entry_exists():
    modules = {m for _, m in _modules()}
    stale = [e for e in _layer_entries() if e not in modules]
    assert not stale, f"layer entries that name no module: {stale}"


def _sources():
    for folder in (*PACKAGES, "tests", "bench"):
        yield from sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", list(_sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_use_the_installed_name(path):
    """``import hw`` / ``from sw.x import y`` would work from the repository root only;
    every absolute import of the project goes through ``dynalign``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    bare = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        bare += [f"line {node.lineno}: {n}" for n in names
                 if n.split(".")[0] in (*PACKAGES, "bench")]
    assert not bare, f"{path.name} imports the folders, not the package: {bare}"


def test_every_package_is_installed():
    """pyproject lists the packages explicitly (the folders map into ``dynalign``): a
    folder left out would work in the editable install and vanish from a wheel."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())
                 ["tool"]["setuptools"]["packages"])
    found = {m for path, m in _modules() if path.name == "__init__.py"}
    assert found == listed, (f"packages not listed in pyproject: {sorted(found - listed)}; "
                             f"listed but absent: {sorted(listed - found)}")
