"""Run the encoder's cocotb testbench (``sim.tb_encoder``) on Verilated cases.

:func:`run_encoder_cases` writes the cases to JSON, builds the encoder's Verilog with
Verilator through :func:`sim.runner.run_cocotb` in ``build/cocotb_encoder_<hash>/``
(the hash of the Verilog text, so every design variant has its own cached build) and
returns the per-case results the testbench wrote.  Used by the pytest tier and by
``dynalign verify encoder``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from hw.encoder.rtl import TrajectoryEncoder
from sim.runner import run_cocotb, verilog_of

__all__ = ["TOPLEVEL", "encoder_verilog", "run_encoder_cases", "default_build_root"]

TOPLEVEL = "trajectory_encoder"


def default_build_root() -> Path:
    """``build/`` of the current working tree (``DYNALIGN_BUILD`` overrides)."""
    return Path(os.environ.get("DYNALIGN_BUILD", "build"))


def encoder_verilog(*, max_T: int = 5, max_features: int = 8, lanes: int = 1) -> str:
    dut = TrajectoryEncoder(max_T=max_T, max_features=max_features, lanes=lanes)
    return verilog_of(dut, name=TOPLEVEL)


def run_encoder_cases(cases: list, *, lanes: int = 1, max_T: int = 5, max_features: int = 8,
                      build_root=None, tag: str = "run", seed: int | None = None):
    """Simulate ``cases`` (see :func:`hw.encoder.rtl_check.make_case`).

    Returns ``(results, passed)``: ``results`` the testbench's per-case list (compared,
    mismatches, first mismatch, flags, cycles); ``passed`` False when the cocotb test
    failed (a mismatch, a wrong flag or a testbench error).
    """
    text = encoder_verilog(max_T=max_T, max_features=max_features, lanes=lanes)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    build_dir = Path(build_root or default_build_root()).resolve() / f"cocotb_encoder_{digest}"
    build_dir.mkdir(parents=True, exist_ok=True)
    case_file = build_dir / f"cases_{tag}.json"
    result_file = build_dir / f"result_{tag}.json"
    case_file.write_text(json.dumps({"lanes": lanes, "cases": cases}))
    if result_file.exists():
        result_file.unlink()
    passed = True
    try:
        run_cocotb(verilog_text=text, toplevel=TOPLEVEL, test_module="sim.tb_encoder",
                   build_dir=build_dir, seed=seed,
                   extra_env={"DYNALIGN_ENCODER_CASES": str(case_file),
                              "DYNALIGN_ENCODER_RESULT": str(result_file)})
    except (AssertionError, SystemExit):     # the cocotb runner exits on a failed test
        passed = False
    if not result_file.exists():
        raise RuntimeError(f"the encoder testbench wrote no results (see {build_dir}/test.log)")
    return json.loads(result_file.read_text())["cases"], passed
