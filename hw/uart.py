"""UART (8N1) transmitter and receiver with stream interfaces.

Line format: idle high; one start bit (low), eight data bits LSB first, one stop bit
(high).  One bit lasts ``divisor`` clock cycles, ``divisor = round(clk_freq / baud)``
(:func:`baud_divisor` computes and checks it; the bit-rate error must stay under 2 %,
so that the 10th bit of a frame is still sampled inside its cell).

Receiver: the ``rx`` pin passes through a 2-flop synchroniser.  A falling edge while
idle starts a frame; the line is sampled ``divisor // 2`` cycles later (middle of the
start bit; still high means a glitch and the receiver returns to idle), then every
``divisor`` cycles for the eight data bits and the stop bit.  A low stop bit is a
*framing error*: the byte is dropped, ``framing_error`` pulses for one cycle, and the
receiver waits for the line to go high again (so a break does not produce a stream of
zero bytes).  A received byte is held in a one-byte output register; if it has not
been taken (``o.ready``) when the next byte completes, the new byte is dropped and
``overrun`` pulses.

Transmitter: takes a byte from ``i`` when idle and shifts out start, data, stop; a
byte offered while the previous is still being sent waits (``i.ready`` low), so
back-to-back bytes leave with no idle time between stop and next start bit.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

from .validate import check_int, check_real

__all__ = ["UARTTx", "UARTRx", "baud_divisor", "MIN_DIVISOR", "MAX_BAUD_ERROR"]

#: Smallest bit period in clock cycles that mid-bit sampling supports.
MIN_DIVISOR = 4
#: The largest relative bit-rate error the receiver tolerates (below it, not equal):
#: 9.5 bit times of drift to the stop bit's sample point stay well inside the bit.
MAX_BAUD_ERROR = 0.02


def _check_divisor(divisor) -> int:
    check_int("divisor", divisor)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be at least {MIN_DIVISOR} clock cycles per bit, "
                         f"not {divisor!r}")
    return divisor


def baud_divisor(*, clk_freq, baud) -> int:
    """Clock cycles per bit, ``round(clk_freq / baud)``; raises ``ValueError`` if the
    divisor is below :data:`MIN_DIVISOR` or the bit rate is off by 2 % or more."""
    for name, value in (("clk_freq", clk_freq), ("baud", baud)):
        check_real(name, value, positive=True)
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud {baud!r} is too fast for a {clk_freq!r} Hz clock: "
                         f"{clk_freq / baud:.2f} cycles per bit, need at least {MIN_DIVISOR}")
    error = abs(clk_freq / divisor - baud) / baud
    if error >= MAX_BAUD_ERROR:
        raise ValueError(f"baud {baud!r} from a {clk_freq!r} Hz clock is off by "
                         f"{100 * error:.1f} % (divisor {divisor}); need below 2 %")
    return divisor


class UARTTx(wiring.Component):
    """8N1 transmitter.

    Parameters
    ----------
    divisor : int (keyword-only)
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Ports
    -----
    i : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The serial line (idle high).
    busy : Out(1)
        A frame is being shifted out.
    """

    def __init__(self, *, divisor):
        self._divisor = _check_divisor(divisor)
        super().__init__({
            "i": In(stream.Signature(8)),
            "tx": Out(1, init=1),
            "busy": Out(1),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self._divisor))
        shreg = Signal(10)                   # stop, data[7:0], start; LSB leaves first
        bits = Signal(range(11))

        last = Signal()             # the final cycle of the stop bit
        m.d.comb += [
            self.busy.eq(bits != 0),
            last.eq((bits == 1) & (timer == 0)),
            self.i.ready.eq((bits == 0) | last),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [
                shreg.eq(Cat(Const(0, 1), self.i.payload, Const(1, 1))),
                bits.eq(10),
                timer.eq(self._divisor - 1),
                self.tx.eq(0),
            ]
        with m.Elif(bits == 0):
            m.d.sync += self.tx.eq(1)
        with m.Elif(timer == 0):
            m.d.sync += [
                timer.eq(self._divisor - 1),
                bits.eq(bits - 1),
                shreg.eq(shreg >> 1),
                # the next level: data bits, then the stop bit, then idle high
                self.tx.eq(Mux(bits == 1, 1, shreg[1])),
            ]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


class UARTRx(wiring.Component):
    """8N1 receiver with mid-bit sampling and framing-error detection.

    Parameters
    ----------
    divisor : int (keyword-only)
        Clock cycles per bit, at least :data:`MIN_DIVISOR`.

    Ports
    -----
    rx : In(1)
        The serial line (asynchronous; synchronised inside).
    o : Out(stream.Signature(8))
        Received bytes.
    framing_error : Out(1)
        One-cycle pulse: a stop bit was sampled low (the byte is dropped).
    overrun : Out(1)
        One-cycle pulse: a byte completed while the previous one was still not taken.
    busy : Out(1)
        A frame is being received.
    """

    def __init__(self, *, divisor):
        self._divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "o": Out(stream.Signature(8)),
            "framing_error": Out(1),
            "overrun": Out(1),
            "busy": Out(1),
        })

    @property
    def divisor(self) -> int:
        return self._divisor

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(self._divisor))
        shreg = Signal(8)
        bit = Signal(range(9))

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self._divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"                 # glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self._divisor - 1), bit.eq(0)]
                        m.next = "DATA"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("DATA"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._divisor - 1),
                                 shreg.eq(Cat(shreg[1:], rx)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("STOP"):
                m.d.comb += self.busy.eq(1)
                with m.If(timer == 0):
                    with m.If(rx):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                with m.Else():
                    m.d.sync += timer.eq(timer - 1)
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m
