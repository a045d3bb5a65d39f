"""The host driver against the simulated top level: :func:`run_ops` runs a job of driver
operations (:mod:`dynalign.sw.link_tb`) on a Verilated :class:`dynalign.hw.top.DynalignTop`."""

from __future__ import annotations

from dynalign.sim.tb_top_run import run_top_job

__all__ = ["run_ops"]

#: The cocotb test module that drives the job through the host driver.
TEST_MODULE = "dynalign.sw.link_tb"


def run_ops(top, ops: list, *, quiet_cycles: int = 4000, quiet_limit: int = 5000,
            build_root=None, tag: str = "run") -> dict:
    """Simulate ``ops`` (see :mod:`dynalign.sw.link_tb`) on ``top``; returns the summary
    (one output per operation, byte and cycle counts)."""
    return run_top_job(top, ops, test_module=TEST_MODULE, quiet_cycles=quiet_cycles,
                       quiet_limit=quiet_limit, build_root=build_root, tag=tag)
