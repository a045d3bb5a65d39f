"""Run the encoder's cocotb testbench (``dynalign.sim.tb_encoder``) on Verilated cases.

:func:`run_encoder_cases` writes the cases to JSON, builds the encoder's Verilog with
Verilator through :func:`dynalign.sim.runner.run_cocotb` in ``build/cocotb_encoder_<hash>/``
(the hash of the Verilog text, so every design variant has its own build).  The first
run builds (through ``run_cocotb``); later runs of the same Verilog reuse the built
simulator and only run the testbench (unless waveforms are requested, which needs a
traced build).  Returns the per-case results the testbench wrote.  Used by the pytest tier and by
``dynalign verify encoder``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dynalign.hw.encoder.encoder import TrajectoryEncoder
from dynalign.sim.runner import (
    MAKE_VARS,
    SPEED_ARGS,
    ensure_verilator,
    run_cocotb,
    verilog_of,
    waves_requested,
)

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
    """Simulate ``cases`` (see :func:`dynalign.hw.encoder.rtl_check.make_case`).

    Returns ``(results, passed)``: ``results`` the testbench's per-case list (compared,
    mismatches, first mismatch, flags, cycles); ``passed`` False when the cocotb test
    failed (a mismatch, a wrong flag or a testbench error).
    """
    text = encoder_verilog(max_T=max_T, max_features=max_features, lanes=lanes)
    digest = hashlib.sha256(text.encode()).hexdigest()
    build_dir = Path(build_root or default_build_root()).resolve() / f"cocotb_encoder_{digest[:12]}"
    build_dir.mkdir(parents=True, exist_ok=True)
    case_file = build_dir / f"cases_{tag}.json"
    result_file = build_dir / f"result_{tag}.json"
    case_file.write_text(json.dumps({"lanes": lanes, "cases": cases}))
    if result_file.exists():
        result_file.unlink()
    env = {"DYNALIGN_ENCODER_CASES": str(case_file),
           "DYNALIGN_ENCODER_RESULT": str(result_file)}
    stamp = build_dir / "verilog.sha256"
    digest = hashlib.sha256((digest + repr((SPEED_ARGS, MAKE_VARS))).encode()).hexdigest()
    cached = (stamp.exists() and stamp.read_text() == digest
              and (build_dir / TOPLEVEL).exists() and not waves_requested())
    passed = True
    try:
        if cached:
            _test_only(build_dir, env, seed)
        else:
            # a fresh build: Verilator's incremental rebuild in a used directory can
            # miss its precompiled headers, so start from an empty directory
            for f in build_dir.iterdir():
                if f.is_file() and f.name not in (case_file.name,):
                    f.unlink()
            run_cocotb(verilog_text=text, toplevel=TOPLEVEL, test_module="dynalign.sim.tb_encoder",
                       build_dir=build_dir, seed=seed, extra_env=env)
            stamp.write_text(digest)
    except (AssertionError, SystemExit):     # the cocotb runner exits on a failed test
        passed = False
    if not result_file.exists():
        raise RuntimeError(f"the encoder testbench wrote no results (see {build_dir}/test.log)")
    return json.loads(result_file.read_text())["cases"], passed


def _test_only(build_dir: Path, env: dict, seed):
    """Run the testbench on the cached Verilator build (what :func:`run_cocotb` does
    after its build step); raises ``AssertionError`` when a cocotb test failed."""
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    ensure_verilator()
    runner = get_runner("verilator")
    # always=False: the runner sees the built simulator is newer than the Verilog
    # and skips Verilator and make (this only records the sources and top level)
    runner.build(sources=[build_dir / f"{TOPLEVEL}.v"], hdl_toplevel=TOPLEVEL,
                 build_dir=build_dir, always=False, timescale=("1ns", "1ps"),
                 build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", *SPEED_ARGS],
                 log_file=build_dir / "build_cached.log")
    results = runner.test(test_module="dynalign.sim.tb_encoder", hdl_toplevel=TOPLEVEL,
                          build_dir=build_dir, test_dir=build_dir, extra_env=env, seed=seed,
                          log_file=build_dir / "test.log")
    n_tests, n_failed = get_results(results)
    if n_tests == 0 or n_failed:
        raise AssertionError(f"{n_failed} of {n_tests} cocotb tests failed "
                             f"(log: {build_dir / 'test.log'})")
