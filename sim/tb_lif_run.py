"""Run the LIF network's cocotb testbench (``dynalign.sim.tb_lif``) on Verilated cases.

:func:`run_lif_cases` writes the cases to JSON, builds the network's Verilog with
Verilator through :func:`dynalign.sim.runner.run_cocotb` in ``build/cocotb_lif_<hash>/`` (the
hash of the Verilog text: every design variant has its own build directory) and returns
the per-sample read-backs the testbench wrote.  One build serves every case: the design
is elaborated once at the largest size and each case loads its network through ``cfg``.
Used by the pytest tier and by ``dynalign verify network``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dynalign.hw.lif.rtl import LIFNetwork
from dynalign.sim.runner import run_cocotb, verilog_of

__all__ = ["TOPLEVEL", "run_lif_cases", "default_build_root"]

TOPLEVEL = "lif_network"


def default_build_root() -> Path:
    """``build/`` of the current working tree (``DYNALIGN_BUILD`` overrides)."""
    return Path(os.environ.get("DYNALIGN_BUILD", "build"))


def run_lif_cases(dut: LIFNetwork, cases: list, *, build_root=None, tag: str = "run",
                  seed: int | None = None):
    """Simulate ``cases`` (see :func:`dynalign.hw.lif.rtl_check.make_case`) on ``dut``'s Verilog.

    Returns ``(results, passed)``: ``results`` per case, per sample
    ``{"o", "reads", "cycles"}``; ``passed`` False when the cocotb test failed.
    """
    text = verilog_of(dut, name=TOPLEVEL)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = Path(build_root or default_build_root()).resolve() / f"cocotb_lif_{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    case_file = build_dir / f"cases_{tag}.json"
    result_file = build_dir / f"result_{tag}.json"
    case_file.write_text(json.dumps({"cases": cases}))
    if result_file.exists():
        result_file.unlink()
    passed = True
    try:
        run_cocotb(verilog_text=text, toplevel=TOPLEVEL, test_module="dynalign.sim.tb_lif",
                   build_dir=build_dir, seed=seed,
                   extra_env={"DYNALIGN_LIF_CASES": str(case_file),
                              "DYNALIGN_LIF_RESULT": str(result_file)})
    except (AssertionError, SystemExit):     # the cocotb runner exits on a failed test
        passed = False
    if not result_file.exists():
        raise RuntimeError(f"the LIF testbench wrote no results (see {build_dir}/test.log)")
    return json.loads(result_file.read_text())["results"], passed
