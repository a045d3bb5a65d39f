"""Address map of :class:`dynalign.hw.lif.rtl.LIFNetwork`: the ``cfg`` write space and the
``rd_addr`` read-back space.  Plain integers, shared by the gateware
(:mod:`dynalign.hw.lif.config`, :mod:`dynalign.hw.lif.readback`) and the host side
(:func:`dynalign.hw.lif.rtl.config_writes`, the accelerator's loader).

``cfg`` writes (``CFG_ADDR_WIDTH``-bit address, ``CFG_DATA_WIDTH``-bit data):

* region ``addr[22:24]`` = ``REGION_REG``: global registers at ``0 .. 3``
  (:data:`GLOBAL_REGS`), the fields of layer ``l`` at ``LAYER_REG_BASE + 8 l + f``
  (:data:`REG_FIELDS`);
* ``REGION_BIAS``: the bias of state slot ``addr[:22]`` (slot = ``gbase * lanes + i``);
* ``REGION_WEIGHT``: weight word ``addr[:22] >> log2(lanes)``, lane ``addr % lanes``.

Read-back (``RD_ADDR_WIDTH`` bits): ``RD_CLS``, ``RD_CYCLES``, the per-layer counters at
:func:`rd_stat_addr`; with bit 15 set a per-neuron value of slot ``addr[:14]``: its spike
count (:func:`rd_count_addr`, bit 14 clear) or its membrane (:func:`rd_vmem_addr`, bit
14 set, sign-extended to 32 bits).
"""

from __future__ import annotations

__all__ = ["CFG_ADDR_WIDTH", "CFG_DATA_WIDTH", "REGION_REG", "REGION_BIAS", "REGION_WEIGHT",
           "REGION_SHIFT", "GLOBAL_REGS", "REG_FIELDS", "FLAG_RESET_ZERO", "FLAG_PACKED",
           "LAYER_REG_BASE", "LAYER_REG_STRIDE",
           "RD_ADDR_WIDTH", "RD_DATA_WIDTH", "RD_CLS", "RD_CYCLES", "RD_STAT_BASE",
           "RD_STATS", "RD_SLOT_BITS", "RD_COUNT_BASE", "RD_VMEM_BASE",
           "rd_stat_addr", "rd_count_addr", "rd_vmem_addr"]

CFG_ADDR_WIDTH = 24
CFG_DATA_WIDTH = 32
#: cfg address regions (addr[22:24]): registers, biases, weights.
REGION_REG, REGION_BIAS, REGION_WEIGHT = 0, 1, 2
REGION_SHIFT = 22
#: global registers (region 0, addr 0..3) and per-layer fields (0x80 + 8 l + field).
GLOBAL_REGS = ("n_layers", "steps", "channels", "in_shift")
#: ``flags``: bit 0 (:data:`FLAG_RESET_ZERO`) the layer's reset mode -- 0 subtracts theta
#: after a spike, 1 sets the membrane to 0 (bit 0 of the image's layer flags,
#: :data:`dynalign.hw.wire.LAYER_FLAG_RESET_ZERO`); bit 1 (:data:`FLAG_PACKED`) the
#: layer's weights are 4-bit, two to a byte of an external weight word (``wbase`` is
#: then a *logical* word address: twice the store word's; an engine elaborated without
#: ``packed_weights`` ignores the bit).
REG_FIELDS = ("n_in", "n_out", "groups", "wbase", "gbase", "beta", "theta", "flags")
FLAG_RESET_ZERO, FLAG_PACKED = 0x1, 0x2
LAYER_REG_BASE = 0x80
LAYER_REG_STRIDE = 8

RD_ADDR_WIDTH = 16
RD_DATA_WIDTH = 32
RD_CLS, RD_CYCLES = 0, 1
#: per-layer counters: RD_STAT_BASE + 4 l + RD_STATS.index(what)
RD_STAT_BASE = 0x10
RD_STATS = ("spikes", "synops", "saturations")
#: per-neuron values: bit 15 set, bit 14 selects the membrane, the slot in bits 0..13
RD_SLOT_BITS = 14
RD_COUNT_BASE, RD_VMEM_BASE = 0x8000, 0xC000


def rd_stat_addr(layer: int, what: str) -> int:
    """Read-back address of counter ``what`` (spikes/synops/saturations) of ``layer``."""
    return RD_STAT_BASE + 4 * layer + RD_STATS.index(what)


def rd_count_addr(slot: int) -> int:
    """Read-back address of the spike count of state slot ``slot``."""
    return RD_COUNT_BASE + slot


def rd_vmem_addr(slot: int) -> int:
    """Read-back address of the membrane of state slot ``slot``."""
    return RD_VMEM_BASE + slot
