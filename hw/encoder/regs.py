"""The encoder's register map and error bits, and the host-side helpers that fill them.

Every register is written as 32 bits (``reg_we`` / ``reg_addr`` / ``reg_data``):

=============  ========================  ==============================================
address        register                  value
=============  ========================  ==============================================
``SYSTEM``     system                    :data:`SYSTEM_CODES` (0 mixed, 1 Lorenz, ...)
``COEF0 + s``  coefficient slot ``s``    two's-complement :data:`~hw.formats.COEF`;
                                         the programme's coefficients in order
                                         (component x's, then y's, then z's): slot
                                         ``slot_base(system, c) + j`` is the ``j``-th
                                         coefficient of component ``c``
``H1/H2/H6``   ``h``, ``h/2``, ``h/6``   unsigned :data:`~hw.formats.STEP`
``STRIDE``     RK4 steps per sample      ``1 .. 2**STRIDE_WIDTH - 1``
``SAMPLES``    ``T``                     ``2 .. max_T``
``FEATURES``   ``K``, codes per request  ``1 .. max_features``
``SHIFT0 + t`` step shift of sample t    ``0 .. STEP_SHIFT_MAX`` (the low 5 bits are
                                         kept): sample ``t`` is written to the table as
                                         ``round_shift(sample, shift)``;
                                         ``t < STEP_SHIFT_SLOTS``
=============  ========================  ==============================================

The coefficient slots follow the systems' term programmes
(:meth:`dynalign.hw.systems.EncoderConfig.coef_program`), the one source of the terms.
"""

from __future__ import annotations

import enum as py_enum

from ..formats import CODE, STEP_SHIFT_MAX, STEP_SHIFT_SLOTS
from ..systems import EncoderConfig, System, program_shape
from ..validate import positive_int
from .ref import FixedEncoder

__all__ = ["SYSTEM_CODES", "SYSTEM_WIDTH", "program_terms", "slot_base", "N_SLOTS", "Reg",
           "REG_ADDR_WIDTH", "Error", "ERROR_WIDTH", "STRIDE_WIDTH", "SHIFT_WIDTH",
           "shift_registers", "encoder_registers",
           "table_writes"]

#: The run-time ``system`` register value of each system (the order of :class:`System`:
#: 0 mixed, 1 Lorenz, 2 Chen, 3 Rossler, 4 Aizawa, 5 Nose-Hoover, 6 Sprott C, 7 Chua).
SYSTEM_CODES = {s: i for i, s in enumerate(System)}
#: Bits of the ``SYSTEM`` register (a larger value is an unknown system).
SYSTEM_WIDTH = max(1, (len(SYSTEM_CODES) - 1).bit_length())


def program_terms(system) -> tuple:
    """The term names of each derivative component (:func:`~hw.systems.program_shape`)."""
    return program_shape(system)


def slot_base(system, component: int) -> int:
    """The first coefficient slot of ``component`` (0 x, 1 y, 2 z) of ``system``: the
    slots hold the programme's coefficients one component after the other."""
    return sum(len(comp) for comp in program_terms(system)[:component])


#: Coefficient registers: the longest programme (Aizawa: 3 + 3 + 8 terms).
N_SLOTS = max(sum(len(comp) for comp in program_terms(s)) for s in System)
#: Bits of the ``STRIDE`` register.
STRIDE_WIDTH = 16
#: Bits of a step-shift register.
SHIFT_WIDTH = STEP_SHIFT_MAX.bit_length()


class Reg(py_enum.IntEnum):
    """Register addresses (``reg_addr``); every register is written as 32 bits."""
    SYSTEM = 0              # SYSTEM_CODES
    COEF0 = 1               # COEF0 + slot, slots 0 .. N_SLOTS-1, two's complement COEF
    H1 = COEF0 + N_SLOTS    # STEP h
    H2 = H1 + 1             # STEP h/2
    H6 = H1 + 2             # STEP h/6
    STRIDE = H1 + 3         # RK4 steps between samples (>= 1)
    SAMPLES = H1 + 4        # T (2 .. max_T)
    FEATURES = H1 + 5       # codes per request K (1 .. max_features)
    SHIFT0 = H1 + 6         # SHIFT0 + t: step shift of sample t, t < STEP_SHIFT_SLOTS


REG_ADDR_WIDTH = (Reg.SHIFT0 + STEP_SHIFT_SLOTS - 1).bit_length()


def shift_registers(max_T: int) -> int:
    """Step-shift registers of an encoder elaborated for ``max_T`` samples."""
    return min(positive_int("max_T", max_T), STEP_SHIFT_SLOTS)


class Error(py_enum.IntFlag):
    """Sticky error bits of ``error``."""
    STRIDE = 1          # refill with stride 0
    SAMPLES = 2         # refill with T < 2 or T > max_T
    SYSTEM = 4          # refill with an unknown system
    FEATURES = 8        # codes arrived while n_features is 0 or > max_features
    NO_TABLE = 16       # codes arrived while no valid table was loaded
    BUSY_WRITE = 32     # a register write or refill while a refill ran (ignored)


ERROR_WIDTH = 6


def encoder_registers(config: EncoderConfig, *, n_features: int = 1) -> dict:
    """The register writes (``{address: unsigned 32-bit value}``) that set ``config``.

    Coefficients come from :meth:`EncoderConfig.coef_program` and the steps from
    :meth:`EncoderConfig.step_constants` -- the very integers the golden model uses.
    """
    if not isinstance(config, EncoderConfig):
        raise TypeError(f"config must be an EncoderConfig, not {config!r}")
    n_features = positive_int("n_features", n_features)
    regs = {int(Reg.SYSTEM): SYSTEM_CODES[config.system]}
    slots = [0] * N_SLOTS
    terms = program_terms(config.system)
    for c, comp in enumerate(config.coef_program()):
        for j, (coef, term) in enumerate(comp):
            assert term == terms[c][j]
            slots[slot_base(config.system, c) + j] = coef & ((1 << 32) - 1)
    for i, v in enumerate(slots):
        regs[Reg.COEF0 + i] = v
    h1, h2, h6 = config.step_constants()
    regs.update({int(Reg.H1): h1, int(Reg.H2): h2, int(Reg.H6): h6,
                 int(Reg.STRIDE): config.stride, int(Reg.SAMPLES): config.samples,
                 int(Reg.FEATURES): n_features})
    for t, s in enumerate(config.step_shifts[:STEP_SHIFT_SLOTS]):
        regs[Reg.SHIFT0 + t] = s
    return regs


def table_writes(config: EncoderConfig, codes):
    """The ``tw_*`` writes that load the golden table of ``config`` for ``codes`` into a
    :class:`~dynalign.hw.encoder.server.TableServer`: ``(code, index, sample, sat)`` with
    ``index = 3 t + c`` and ``sample`` the golden SAMPLE integer of component ``c`` at
    sample ``t`` (``FixedEncoder(config).table``), ``sat`` the code's saturation bit."""
    gold = FixedEncoder(config)
    out = []
    for code in codes:
        row = int(code) - CODE.min_int
        sat = int(gold.table_saturation[row] > 0)
        for t in range(config.samples):
            for c in range(3):
                out.append((int(code), 3 * t + c, int(gold.table[row, t, c]), sat))
    return out
