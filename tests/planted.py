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


def swap_packed_nibbles(image: bytes) -> bytes:
    """A fault planted in the data: ``image`` with the two nibbles of every byte of its
    4-bit layers' weight words swapped (the other half of each byte taken)."""
    from dynalign.hw.wire import parse_image, weight_words
    header = parse_image(image).header
    out = bytearray(image)
    for k, at in enumerate(header.weights_at()):
        if header.layer_packed(k):
            n_in, n_out = header.layer_dims()[k]
            for a in range(at, at + header.lanes * weight_words(n_in, n_out, header.lanes,
                                                                  True)):
                out[a] = (out[a] >> 4) | (out[a] & 0xF) << 4
    return bytes(out)


def encoder_samples(config, codes):
    """``(N, T, 3K)``: the golden encoder's samples of the feature codes ``codes``
    ``(N, K)``, channels ``f0x f0y f0z f1x ...`` -- what a core feeds its network, to
    calibrate a random network's thresholds on."""
    import numpy as np

    from dynalign.hw.encoder.ref import ref_trajectory_table
    codes = np.asarray(codes, dtype=np.int64)
    n, k = codes.shape
    traj, _ = ref_trajectory_table(codes.ravel(), config)             # (N K, T, 3)
    return traj.reshape(n, k, config.samples, 3).transpose(0, 2, 1, 3).reshape(
        n, config.samples, 3 * k)
