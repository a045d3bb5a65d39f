"""Mutation benchmark of the gateware: how many planted bugs do the fast tests catch?

For each gateware file, every single-token mutant of the body of its ``elaborate``
methods (a comparison flipped, ``+``/``-`` or ``&``/``|`` or ``<<``/``>>`` swapped, a
small integer constant moved by one, ``~`` dropped) is written into the file in turn, the
file's fast test tier runs against it (``pytest -x``, with a time limit), and the file is
restored.  A mutant is *killed* when the tests fail, *timed out* when they run past the
limit (a hang: the tests should fail instead, so these are reported apart), and
*survives* otherwise.  Prints one JSON object::

    {"bench": "mutation", "files": {path: {"mutants", "killed", "timeouts", "survived",
     "equivalent", "kill_rate", "kill_rate_non_equivalent", "seconds",
     "survivors": [{"site", "line", "col", "code", "mutation", "verdict",
                    "equivalent"?}, ...]}}, "seed", ...}

A survivor is *equivalent* when :data:`SURVIVORS` (``bench/mutation_survivors.json``)
gives a reason it computes what the original does (a signal widened past any value it
takes, a bound no input reaches): ``kill_rate_non_equivalent`` is killed over the
mutants that are not.  That file is matched by the mutated line's text and the
mutation, not its line number, so it survives edits elsewhere in the file; its entries
with ``killed_by`` instead of ``equivalent`` document the test that now kills a former
survivor (they change nothing: such a mutant is run like any other).

The file under test is modified in place and restored afterwards (also on Ctrl-C), so
run it in a checkout you are not editing.  ``--functions NAME,...`` mutates the bodies
of the named functions (at any depth: module functions or methods) instead of the
``elaborate`` methods -- for gateware generators without an ``elaborate``, such as the
encoder's microprogram compiler (``--functions microprogram,register_allocation
hw/encoder/microcode.py``); the report names them.  ``--max-per-file`` samples mutants (seeded)
to bound the time; without it every mutant runs (tens of minutes per file).
``--recheck REPORT`` runs again only the survivors of an earlier report of the same
sample (same seed, same ``--max-per-file``, gateware unchanged), after tests were added:
the mutants it killed stay killed, since tests were only added, and the survivors that
the survivors file calls equivalent are carried over without a run (``"rerun": false``).

    python bench/mutation.py --max-per-file 20 hw/engine/receiver.py
    python bench/mutation.py --recheck before.json > after.json
    python bench/mutation.py --functions microprogram,register_allocation \
        --max-per-file 30 hw/encoder/microcode.py
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
    "hw/engine/queue.py": ["tests/test_streaming.py", "tests/test_link.py"],
    "hw/engine/": ["tests/test_engine_blocks.py", "tests/test_link.py",
                   "tests/test_streaming.py"],
    "hw/core/": ["tests/test_core_blocks.py"],
    # LIFCore (the core's wiring and its handshakes) on its own first, in the Amaranth
    # simulator (seconds), then the Verilated top through the UART (minutes)
    "hw/top.py": ["tests/test_core_blocks.py", "tests/test_top.py"],
    "hw/uart.py": ["tests/test_uart.py"],
    "hw/ram.py": ["tests/test_ram.py"],
}

#: known-equivalent survivors and the tests that kill former survivors
SURVIVORS = Path(__file__).resolve().parent / "mutation_survivors.json"

DEFAULT_FILES = ["hw/engine/receiver.py", "hw/engine/dispatcher.py", "hw/engine/store.py",
                 "hw/engine/sender.py", "hw/lif/update.py", "hw/lif/issue.py",
                 "hw/lif/serialiser.py", "hw/encoder/lookup.py", "hw/core/run.py"]

_SWAP_OPS = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
             ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitXor: ast.BitOr}
_SWAP_CMP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt,
             ast.Gt: ast.GtE, ast.GtE: ast.Gt}


def _sites(tree, functions=None):
    """``(node index, kind, description, line, column)`` of every mutable token inside
    the body of an ``elaborate`` method (with ``functions``, a collection of names: inside
    the bodies of the functions of those names, at any depth); a site is addressed by its
    index in ``ast.walk`` order of the whole module, so the same site is found again in a
    fresh parse."""
    inside = set()
    if functions:
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name in functions:
                inside.update(id(n) for n in ast.walk(fn) if n is not fn)
    else:
        for cls in ast.walk(tree):
            if isinstance(cls, ast.ClassDef):
                for fn in cls.body:
                    if isinstance(fn, ast.FunctionDef) and fn.name == "elaborate":
                        inside.update(id(n) for n in ast.walk(fn))
    out = []
    for i, node in enumerate(ast.walk(tree)):
        if id(node) not in inside:
            continue
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
        if isinstance(node, ast.BinOp) and type(node.op) in _SWAP_OPS:
            new = _SWAP_OPS[type(node.op)].__name__
            out.append((i, "binop", f"{type(node.op).__name__} -> {new}", line, col))
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 \
                and type(node.ops[0]) in _SWAP_CMP:
            new = _SWAP_CMP[type(node.ops[0])].__name__
            out.append((i, "compare", f"{type(node.ops[0]).__name__} -> {new}", line, col))
        elif isinstance(node, ast.Constant) and type(node.value) is int \
                and 0 <= node.value <= 64:
            out.append((i, "const+1", f"{node.value} -> {node.value + 1}", line, col))
            if node.value > 0:
                out.append((i, "const-1", f"{node.value} -> {node.value - 1}", line, col))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            out.append((i, "drop~", "~x -> x", line, col))
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


def known_survivors(path: str, survivors_file: Path = SURVIVORS) -> dict:
    """``{(code, column, mutation): entry}`` of ``path``'s entries in the survivors file
    (the mutated line's stripped text, the token's column, the mutation)."""
    if not survivors_file.exists():
        return {}
    entries = json.loads(survivors_file.read_text()).get("files", {}).get(path, [])
    return {(e["code"], e["col"], e["mutation"]): e for e in entries}


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


def sample_sites(path: str, source: str, *, max_mutants, seed: int, functions=None) -> list:
    """The sites of ``source`` that a run with this seed and sample size (and
    ``functions``, see :func:`_sites`) mutates."""
    sites = _sites(ast.parse(source), functions)
    if functions:
        missing = set(functions) - {fn.name for fn in ast.walk(ast.parse(source))
                                    if isinstance(fn, ast.FunctionDef)}
        if missing:
            raise SystemExit(f"{path} has no function {', '.join(sorted(missing))}")
    if max_mutants is not None and len(sites) > max_mutants:
        key = f"{seed}:{path}" + (f":{','.join(sorted(functions))}" if functions else "")
        sites = sorted(random.Random(key).sample(sites, max_mutants))
    return sites


def mutate_file(path: str, *, max_mutants, seed: int, timeout: float, only=None,
                before=None, survivors_file: Path = SURVIVORS, functions=None) -> dict:
    """Run the mutants of ``path`` (the seeded sample; with ``only``, the survivors of an
    earlier report ``before`` alone, its killed mutants counted as killed) against the
    file's tests; ``functions``: see :func:`_sites`."""
    target = ROOT / path
    original = target.read_text()
    lines = original.splitlines()
    total = len(_sites(ast.parse(original), functions))
    sites = sample_sites(path, original, max_mutants=max_mutants, seed=seed,
                         functions=functions)
    ran = len(sites)
    if only is not None:
        # by node index; an entry without one (older reports) by line and mutation
        keep = [s for s in sites if any(o.get("site", s[0]) == s[0] and o["line"] == s[3]
                                        and o["mutation"] == s[2] for o in only)]
        if len(keep) != len(only):
            raise SystemExit(f"{path}: survivors of the earlier report do not match this "
                             "sample (changed file, seed or sample size?)")
        sites = keep
    tests = tests_for(path)
    known = known_survivors(path, survivors_file)
    counts = {"killed": 0, "survived": 0, "timeout": 0}
    survivors, t0 = [], time.monotonic()
    if before is not None:
        counts["killed"] = before["killed"]
        # an earlier survivor that the survivors file calls equivalent is carried over,
        # not run again (it survived those tests; the added tests are not meant for it)
        carried = {(s["site"], s["mutation"]) for s in only
                   if s.get("verdict") == "survived"
                   and "equivalent" in known.get((s["code"], s["col"], s["mutation"]), {})}
        for s in only:
            if (s["site"], s["mutation"]) in carried:
                why = known[(s["code"], s["col"], s["mutation"])]["equivalent"]
                survivors.append({**s, "equivalent": why, "rerun": False})
                counts["survived"] += 1
        sites = [x for x in sites if (x[0], x[2]) not in carried]
    try:
        for site in sites:
            target.write_text(mutant_source(original, site))
            verdict = run_tests(tests, timeout)
            counts[verdict] += 1
            code = lines[site[3] - 1].strip()
            print(f"{path}:{site[3]}:{site[4]} {site[2]}: {verdict}  ({code})",
                  file=sys.stderr, flush=True)
            if verdict != "killed":
                entry = {"site": site[0], "line": site[3], "col": site[4], "code": code,
                         "mutation": site[2], "verdict": verdict}
                why = known.get((code, site[4], site[2]), {}).get("equivalent")
                if why is not None and verdict == "survived":
                    entry["equivalent"] = why
                survivors.append(entry)
    finally:
        target.write_text(original)
    equivalent = sum("equivalent" in s for s in survivors)
    live = ran - equivalent
    return {"sites": total, "max_per_file": max_mutants,
            "functions": sorted(functions) if functions else None, "mutants": ran,
            "killed": counts["killed"],
            "timeouts": counts["timeout"], "survived": counts["survived"],
            "equivalent": equivalent,
            "kill_rate": round(counts["killed"] / ran, 3) if ran else None,
            "kill_rate_non_equivalent": round(counts["killed"] / live, 3) if live else None,
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
    ap.add_argument("--functions", default=None, metavar="NAME,...",
                    help="mutate the bodies of these functions instead of the elaborate "
                         "methods (e.g. microprogram,register_allocation)")
    ap.add_argument("--recheck", type=Path, default=None, metavar="REPORT",
                    help="run only the survivors of this earlier report (its files, seed "
                         "and sample size)")
    args = ap.parse_args(argv)
    earlier = json.loads(args.recheck.read_text()) if args.recheck else None
    functions = [f for f in (args.functions or "").split(",") if f] or None
    if earlier is not None:
        args.seed, args.max_per_file = earlier["seed"], earlier["max_per_file"]
        args.files = list(earlier["files"])
    out = {"bench": "mutation", "seed": args.seed, "max_per_file": args.max_per_file,
           "recheck": str(args.recheck) if args.recheck else None, "files": {}}
    for path in args.files:
        before = earlier["files"][path] if earlier is not None else None
        only = before["survivors"] if before is not None else None
        # a merged report keeps each file's own sample size
        size = before.get("max_per_file", args.max_per_file) if before else args.max_per_file
        funcs = before.get("functions") if before is not None else functions
        out["files"][path] = mutate_file(path, max_mutants=size,
                                         seed=args.seed, timeout=args.timeout,
                                         only=only, before=before, functions=funcs)
        print(json.dumps({path: out["files"][path]}), file=sys.stderr, flush=True)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
