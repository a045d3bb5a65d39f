"""The mutation benchmark's own machinery (bench/mutation.py): it finds the sites inside
``elaborate`` only, each mutant changes exactly that site, and the file is restored."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SOURCE = '''
class Block:
    def elaborate(self, platform):
        m = a + 1
        if b < 3:
            c = ~d & e
        return m

def outside():
    return x + 1 < 2
'''


def _tool():
    spec = importlib.util.spec_from_file_location("mutation", ROOT / "bench" / "mutation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_sites_are_inside_elaborate_only():
    tool = _tool()
    sites = tool._sites(ast.parse(SOURCE))
    assert {s[3] for s in sites} == {4, 5, 6}           # lines of elaborate's body
    kinds = sorted(s[1] for s in sites)
    assert kinds == ["binop", "binop", "compare", "const+1", "const+1", "const-1",
                     "const-1", "drop~"]


def test_sites_inside_named_functions():
    """``--functions``: the sites of the named functions' bodies, and only those."""
    tool = _tool()
    sites = tool._sites(ast.parse(SOURCE), {"outside"})
    assert {s[3] for s in sites} == {10} and sorted(s[1] for s in sites) == \
        ["binop", "compare", "const+1", "const+1", "const-1", "const-1"]
    both = tool._sites(ast.parse(SOURCE), {"outside", "elaborate"})
    assert {s[3] for s in both} == {4, 5, 6, 10}
    out = tool.mutant_source(SOURCE, sites[0])
    assert "m = a + 1" in out and "return x + 1 < 2" not in out
    with pytest.raises(SystemExit, match="has no function nowhere"):
        tool.sample_sites("hw/x.py", SOURCE, max_mutants=None, seed=0,
                          functions=["nowhere"])


def test_each_mutant_changes_one_site():
    tool = _tool()
    base = ast.unparse(ast.parse(SOURCE))
    outs = {tool.mutant_source(SOURCE, s) for s in tool._sites(ast.parse(SOURCE))}
    assert base not in outs and len(outs) == 8
    assert "m = a - 1" in tool.mutant_source(SOURCE, tool._sites(ast.parse(SOURCE))[0])
    for out in outs:
        assert "return x + 1 < 2" in out                  # outside elaborate: untouched


def test_the_file_is_restored(tmp_path, monkeypatch):
    tool = _tool()
    (tmp_path / "hw").mkdir()
    f = tmp_path / "hw" / "ram.py"
    f.write_text(SOURCE)
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    seen = []
    monkeypatch.setattr(tool, "run_tests",
                        lambda tests, timeout: seen.append(f.read_text()) or "killed")
    rep = tool.mutate_file("hw/ram.py", max_mutants=3, seed=0, timeout=1)
    assert rep["mutants"] == 3 and rep["killed"] == 3 and rep["kill_rate"] == 1.0
    assert all(s != SOURCE for s in seen)
    assert f.read_text() == SOURCE


def test_known_equivalents_and_a_recheck(tmp_path, monkeypatch):
    """A survivor listed as equivalent in the survivors file (by its line's text, column
    and mutation) is reported so and left out of the non-equivalent kill rate; a recheck
    runs only the earlier survivors and keeps the earlier kills."""
    import json
    tool = _tool()
    (tmp_path / "hw").mkdir()
    f = tmp_path / "hw" / "ram.py"
    f.write_text(SOURCE)
    monkeypatch.setattr(tool, "ROOT", tmp_path)
    sites = tool._sites(ast.parse(SOURCE))
    first = sites[0]                                      # m = a + 1: "Add -> Sub"
    known = tmp_path / "survivors.json"
    known.write_text(json.dumps({"files": {"hw/ram.py": [
        {"code": "m = a + 1", "col": first[4], "mutation": first[2],
         "equivalent": "planted for the test"}]}}))
    verdicts = iter(["survived", "survived", "killed", "killed"] + ["killed"] * 4)
    monkeypatch.setattr(tool, "run_tests", lambda tests, timeout: next(verdicts))
    rep = tool.mutate_file("hw/ram.py", max_mutants=None, seed=0, timeout=1,
                           survivors_file=known)
    assert (rep["mutants"], rep["killed"], rep["survived"], rep["equivalent"]) == (8, 6, 2, 1)
    assert rep["survivors"][0]["equivalent"] == "planted for the test"
    assert "equivalent" not in rep["survivors"][1]
    assert rep["kill_rate_non_equivalent"] == round(6 / 7, 3)
    ran = []
    monkeypatch.setattr(tool, "run_tests",
                        lambda tests, timeout: ran.append(f.read_text()) or "killed")
    again = tool.mutate_file("hw/ram.py", max_mutants=None, seed=0, timeout=1,
                             only=rep["survivors"], before=rep, survivors_file=known)
    # the equivalent one is carried over, not run; the other one runs and is killed
    assert len(ran) == 1 and again["mutants"] == 8 and again["killed"] == 7
    assert again["equivalent"] == 1 and again["survivors"][0]["rerun"] is False
    assert again["kill_rate_non_equivalent"] == 1.0
    assert f.read_text() == SOURCE
