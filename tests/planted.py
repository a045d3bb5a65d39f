"""Helpers for tests that plant a fault in the design or drive an encoder: a module with
one token of its source changed (an elaborated block built from it carries the fault),
and the register writes that set an encoder up."""

from __future__ import annotations

import importlib
import types
from pathlib import Path


def mutant(module, old: str, new: str) -> types.ModuleType:
    """A copy of ``module`` (a module or its dotted name) with the one occurrence of
    ``old`` in its source replaced by ``new``; the original stays imported as it was."""
    original = importlib.import_module(module) if isinstance(module, str) else module
    path = Path(original.__file__)
    src = path.read_text()
    assert src.count(old) == 1, f"{old!r} is not exactly once in {path}"
    mod = types.ModuleType(original.__name__ + "_mutant")
    mod.__package__, mod.__file__ = original.__package__, str(path)
    exec(compile(src.replace(old, new), str(path), "exec"), mod.__dict__)
    return mod


async def write_registers(ctx, dut, regs: dict) -> None:
    """``regs`` (``{address: value}``, e.g. :func:`dynalign.hw.encoder.regs.encoder_registers`)
    over ``dut``'s ``reg_we`` / ``reg_addr`` / ``reg_data``, one a cycle."""
    for a, v in regs.items():
        ctx.set(dut.reg_we, 1)
        ctx.set(dut.reg_addr, a)
        ctx.set(dut.reg_data, v)
        await ctx.tick()
    ctx.set(dut.reg_we, 0)
