"""Mutation benchmark of the gateware: how many planted bugs do the fast tests catch?

For each gateware file, every single-token mutant of the body of its ``elaborate``
methods (a comparison flipped, ``+``/``-`` or ``&``/``|`` or ``<<``/``>>`` swapped, a
small integer constant moved by one, ``~`` dropped) is written into the file in turn, the
file's fast test tier runs against it (``pytest -x``, with a time limit), and the file is
restored.  A mutant is *killed* when the tests fail, *timed out* when they run past the
limit (a hang: the tests should fail instead, so these are reported apart), and
*survives* otherwise.  Prints one JSON object::

    {"bench": "mutation", "files": {path: {"mutants", "killed", "timeouts", "survived",
     "kill_rate", "seconds", "survivors": [{"line", "mutation"}, ...]}}, "seed", ...}

The file under test is modified in place and restored afterwards (also on Ctrl-C), so
run it in a checkout you are not editing.  ``--max-per-file`` samples mutants (seeded)
to bound the time; without it every mutant runs (tens of minutes per file).

    python bench/mutation.py --max-per-file 20 hw/engine/receiver.py
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: The fast tier that covers each gateware folder or file (first match wins).
TESTS = {
    "hw/lif/": ["tests/test_lif_blocks.py", "tests/test_lif_rtl.py", "tests/test_lif_cycles.py"],
    "hw/encoder/": ["tests/test_encoder_blocks.py", "tests/test_encoder_rtl.py"],
    "hw/engine/": ["tests/test_engine_blocks.py", "tests/test_link.py"],
    "hw/core/": ["tests/test_core_blocks.py"],
    "hw/top.py": ["tests/test_top.py"],
    "hw/uart.py": ["tests/test_uart.py"],
    "hw/ram.py": ["tests/test_ram.py"],
}

DEFAULT_FILES = ["hw/engine/receiver.py", "hw/engine/dispatcher.py", "hw/engine/store.py",
                 "hw/engine/sender.py", "hw/lif/update.py", "hw/lif/issue.py",
                 "hw/lif/serialiser.py", "hw/encoder/lookup.py", "hw/core/run.py"]

_SWAP_OPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
             ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitXor: ast.BitOr}
_SWAP_CMP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
             ast.Gt: ast.GtE, ast.GtE: ast.Gt}


def _sites(tree):
    """``(node path, kind, description, line)`` of every mutable token inside the body
    of an ``elaborate`` method; a site is addressed by its index in ``ast.walk`` order
    of the whole module, so the same site is found again in a fresh parse."""
    inside = set()
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef):
            for fn in cls.body:
                if isinstance(fn, ast.FunctionDef) and fn.name == "elaborate":
                    inside.update(id(n) for n in ast.walk(fn))
    out = []
    for i, node in enumerate(ast.walk(tree)):
        if id(node) not in inside:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.BinOp) and type(node.op) in _SWAP_OPS:
            new = _SWAP_OPS[type(node.op)].__name__
            out.append((i, "binop", f"{type(node.op).__name__} -> {new}", line))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 \
                and type(node.ops[0]) in _SWAP_CMP:
            new = _SWAP_CMP[type(node.ops[0])].__name__
            out.append((i, "compare", f"{type(node.ops[0]).__name__} -> {new}", line))
        elif isinstance(node, ast.Constant) and type(node.value) is int \
                and 0 <= node.value <= 64:
            out.append((i, "const+1", f"{node.value} -> {node.value + 1}", line))
            if node.value > 0:
                out.append((i, "const-1", f"{node.value} -> {node.value - 1}", line))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            out.append((i, "drop~", "~x -> x", line))
    return out


def mutant_source(source: str, site) -> str:
    """``source`` with the one mutation ``site`` (from :func:`_sites`) applied."""
    tree = ast.parse(source)
    index, kind = site[0], site[1]
    nodes = list(ast.walk(tree))
    node = nodes[index]
    if kind == "binop":
        node.op = _SWAP_OPS[type(node.op)]()
    elif kind == "compare":
        node.ops = [_SWAP_CMP[type(node.ops[0])]()]
    elif kind == "const+1":
        node.value += 1
    elif kind == "const-1":
        node.value -= 1
    elif kind == "drop~":
        parent = next(p for p in nodes for f, v in ast.iter_fields(p)
                      if v is node or (isinstance(v, list) and any(x is node for x in v)))
        for f, v in ast.iter_fields(parent):
            if v is node:
                setattr(parent, f, copy.copy(node.operand))
            elif isinstance(v, list):
                setattr(parent, f, [copy.copy(node.operand) if x is node else x for x in v])
    return ast.unparse(tree)


def tests_for(path: str) -> list[str]:
    for prefix, tests in TESTS.items():
        if path.startswith(prefix):
            return tests
    raise SystemExit(f"no fast test tier is known for {path}")


def run_tests(tests, timeout: float) -> str:
    """``"killed"``, ``"survived"`` or ``"timeout"`` for the current tree."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-W", "ignore", *tests]
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if proc.returncode == 0 else "killed"


def mutate_file(path: str, *, max_mutants, seed: int, timeout: float) -> dict:
    target = ROOT / path
    original = target.read_text()
    sites = _sites(ast.parse(original))
    total = len(sites)
    if max_mutants is not None and len(sites) > max_mutants:
        sites = sorted(random.Random(f"{seed}:{path}").sample(sites, max_mutants))
    tests = tests_for(path)
    counts = {"killed": 0, "survived": 0, "timeout": 0}
    survivors, t0 = [], time.monotonic()
    try:
        for site in sites:
            target.write_text(mutant_source(original, site))
            verdict = run_tests(tests, timeout)
            counts[verdict] += 1
            if verdict != "killed":
                survivors.append({"line": site[3], "mutation": site[2], "verdict": verdict})
    finally:
        target.write_text(original)
    ran = len(sites)
    return {"sites": total, "mutants": ran, "killed": counts["killed"],
            "timeouts": counts["timeout"], "survived": counts["survived"],
            "kill_rate": round(counts["killed"] / ran, 3) if ran else None,
            "seconds": round(time.monotonic() - t0, 1), "tests": tests,
            "survivors": survivors}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", default=DEFAULT_FILES,
                    help="gateware files, relative to the checkout (default: a set of blocks)")
    ap.add_argument("--max-per-file", type=int, default=None,
                    help="sample this many mutants per file (seeded)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds the tests may take per mutant (a hang is reported)")
    args = ap.parse_args(argv)
    out = {"bench": "mutation", "seed": args.seed, "max_per_file": args.max_per_file,
           "files": {}}
    for path in args.files:
        out["files"][path] = mutate_file(path, max_mutants=args.max_per_file,
                                         seed=args.seed, timeout=args.timeout)
        print(json.dumps({path: out["files"][path]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
