"""Boards: the accelerator on the iCEBreaker (iCE40 UP5K) and the ULX3S (ECP5-85F).

Pins live in Python (amaranth-boards): both platforms define a ``uart`` resource on the
board's USB-serial bridge (iCEBreaker: the FT2232H's second channel, pins 6 (RX) and 9
(TX); ULX3S: the FT231X, pins M1 (RX) and L4 (TX)), so nothing has to be added for the
link.  The clock is the board's oscillator (iCEBreaker 12 MHz, ULX3S 25 MHz), whose
period constraint amaranth-boards already emits; :class:`BoardTop` may tighten it
(``clock_mhz``) to ask nextpnr for more margin than the oscillator needs.

``default_limits(board)`` is the network size the board holds by default: on the UP5K
the LIF weights and the encoder's trajectory table go to the SPRAMs, the model store
(two banks) to block RAM; on the ECP5-85F everything is block RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Module
from amaranth.lib import io

__all__ = ["BOARDS", "BoardSpec", "BoardTop", "default_limits", "platform_for"]


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform


def _ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform


@dataclass(frozen=True)
class BoardSpec:
    platform: object            # factory -> platform class
    bitstream_ext: str
    weight_ram: str
    lanes: int
    max_features: int
    max_samples: int
    max_sizes: tuple
    synth_opts: str = ""


BOARDS = {
    # digits default: 7 features x 3 = 21 encoder channels, 128 hidden, 10 classes
    "icebreaker": BoardSpec(platform=_icebreaker, bitstream_ext="bin", weight_ram="spram",
                            lanes=2, max_features=7, max_samples=5, max_sizes=(128, 10),
                            synth_opts="-dsp"),
    # two hidden layers of 256 and up to 32 features (96-256-256-10: the digits/MNIST
    # training recipe, sw.train): 165/208 block RAMs with the two-bank model store,
    # 50.7 MHz.  The paper's 21-500-500-500-10 needs 515 KB of weights -- more than the
    # 85F's block RAM holds twice (active + shadow bank) at 8 bits.
    "ulx3s": BoardSpec(platform=_ulx3s, bitstream_ext="bit", weight_ram="memory",
                       lanes=8, max_features=32, max_samples=5, max_sizes=(256, 256, 10)),
}


def _check_board(board):
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r} (choose from {', '.join(BOARDS)})")
    return BOARDS[board]


def platform_for(board: str):
    return _check_board(board).platform()()


def default_limits(board: str, *, max_payload: int = 256):
    from hw.top import lif_limits
    spec = _check_board(board)
    return lif_limits(max_features=spec.max_features, max_samples=spec.max_samples,
                      max_sizes=spec.max_sizes, lanes=spec.lanes, max_payload=max_payload)


class BoardTop(Elaboratable):
    """:class:`hw.top.DynalignTop` on a board's USB-serial UART.

    Parameters (keyword-only)
    -------------------------
    board : "icebreaker" or "ulx3s"
    limits : Limits (default :func:`default_limits`)
    baud : int   link speed (default 115200; 1000000 works on both boards' bridges)
    core : "lif" (the accelerator) or "stub" (the host link with the stub core)
    """

    def __init__(self, *, board: str, limits=None, baud: int = 115200, core: str = "lif"):
        from hw.top import DynalignTop
        from hw.uart import baud_divisor
        spec = _check_board(board)
        self.board = board
        self.platform_cls = spec.platform()
        clk = self.platform_cls().default_clk_frequency
        self.clk_freq = clk
        self.baud = baud
        self.limits = limits or default_limits(board)
        if core == "stub":          # the host link alone (its share of the resources)
            from dataclasses import replace
            self.limits = replace(self.limits, core=0)
        self.top = DynalignTop(limits=self.limits, divisor=baud_divisor(clk_freq=clk,
                                                                        baud=baud),
                               weight_ram=spec.weight_ram, core=core)

    def elaborate(self, platform):
        m = Module()
        # the sync domain straight from the oscillator pin (its period constraint comes
        # with the resource), instead of the platform's implicit (deprecated) request
        m.domains.sync = ClockDomain("sync")
        clk = platform.request(platform.default_clk, dir="-")
        m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
        m.d.comb += ClockSignal("sync").eq(clk_buf.i)
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")     # ULX3S adds rts, dtr (unused)
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        return m
