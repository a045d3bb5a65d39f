"""A tiny compute core, so that the command engine can be tested on its own."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import Out

from dynalign.hw.validate import positive_int
from dynalign.hw.wire import (
    HEADER_AT,
    LAYER_HEADER,
    LAYERS_OFFSET,
    RESULT_FIXED,
    brief_len,
    result_len,
)

from .core import CoreSignature

__all__ = ["StubCore"]

#: The stub's results record: the fixed part, then layer 1's spikes and saturations
#: (one layer, no output counts).
_RECORD = data.StructLayout({"cls": 8, "flags": 8, "n_layers": 8, "n_out": 8, "cycles": 32,
                             "spikes": 32, "saturations": 32})
assert RESULT_FIXED.format.lstrip("<") == "BBBBI"
assert _RECORD.size == 8 * result_len(1, 0) and _RECORD.size == 128


class StubCore(wiring.Component):
    """Gateware twin of :func:`dynalign.sw.device_model.stub_result`: ``acc = sum_j code_j * w_j``
    (int32, wrapping) over the ``K`` features, ``w_j`` the int8 weights of neuron 0 of
    layer 1; results record: class ``acc & 0xFF``, flags 0, one layer, ``n_out`` 0,
    cycles ``K + 2`` (its low byte), layer 1's spikes ``acc``, saturations 0.

    On ``start`` it reads K and layer 1's ``n_out`` from the image header
    (:data:`dynalign.hw.wire.HEADER_AT`), then one weight and one feature per two
    cycles; ``load`` needs nothing (``ready`` whenever idle).

    Parameters (keyword-only)
    -------------------------
    store_addr_width, feat_addr_width, table_addr_width : int
        Those of the :class:`dynalign.hw.engine.CommandEngine`.

    Ports
    -----
    bus : Out(CoreSignature)
    """

    def __init__(self, *, store_addr_width: int, feat_addr_width: int,
                 table_addr_width: int = 1, lanes: int = 1):
        self.lanes = positive_int("lanes", lanes)
        super().__init__({"bus": Out(CoreSignature(store_addr_width=store_addr_width,
                                                   feat_addr_width=feat_addr_width,
                                                   table_addr_width=table_addr_width,
                                                   lanes=lanes))})

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        k = Signal(8)
        n_out = Signal(16)
        j = Signal(8)
        acc = Signal(32)
        rec = Signal(_RECORD)
        m.d.comb += [rec.cls.eq(acc[:8]), rec.n_layers.eq(1), rec.cycles.eq((k + 2)[:8]),
                     rec.spikes.eq(acc),
                     bus.res_len.eq(result_len(1, 0)), bus.brief_len.eq(brief_len(1)),
                     bus.res_data.eq(rec.as_value().word_select(bus.res_addr[:4], 8))]
        lanes = self.lanes
        lb = (lanes - 1).bit_length()
        assert lanes == 1 << lb, "lanes is a power of two"

        def byte(a):
            """The store word of byte ``a`` (a constant) is on store_data: byte ``a``."""
            return bus.store_data.word_select(a % lanes, 8)
        # layer 1's bias, then its weight words (from the next multiple of lanes); weight
        # j of neuron 0 is lane 0 of word w0 + j
        head = LAYERS_OFFSET + LAYER_HEADER.size
        w0 = Signal(16)
        m.d.comb += w0.eq((head + 2 * n_out + lanes - 1) >> lb)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += bus.ready.eq(1)
                with m.If(bus.start):
                    m.d.sync += [acc.eq(0), j.eq(0)]
                    m.next = "K"
            with m.State("K"):
                m.d.comb += bus.store_addr.eq(HEADER_AT["k"] >> lb)
                m.next = "K2"
            with m.State("K2"):
                m.d.comb += bus.store_addr.eq(HEADER_AT["sizes"] >> lb)
                m.d.sync += k.eq(byte(HEADER_AT["k"]))
                m.next = "N0"
            with m.State("N0"):
                m.d.comb += bus.store_addr.eq((HEADER_AT["sizes"] + 1) >> lb)
                m.d.sync += n_out[:8].eq(byte(HEADER_AT["sizes"]))
                m.next = "N1"
            with m.State("N1"):
                m.d.sync += n_out[8:].eq(byte(HEADER_AT["sizes"] + 1))
                m.next = "LOOP"
            with m.State("LOOP"):
                with m.If(j == k):
                    m.next = "DONE"
                with m.Else():
                    m.d.comb += [bus.store_addr.eq(w0 + j), bus.feat_addr.eq(j)]
                    m.next = "MAC"
            with m.State("MAC"):
                m.d.sync += [acc.eq(acc + bus.store_data[:8].as_signed() *
                                    bus.feat_data.as_signed()), j.eq(j + 1)]
                m.next = "LOOP"
            with m.State("DONE"):
                m.d.comb += bus.done.eq(1)
                m.next = "IDLE"
        return m
