"""Boards: the accelerator on the iCEBreaker (iCE40 UP5K) and the ULX3S (ECP5-85F).

Pins live in Python (amaranth-boards): both platforms define a ``uart`` resource on the
board's USB-serial bridge (iCEBreaker: the FT2232H's second channel, pins 6 (RX) and 9
(TX); ULX3S: the FT231X, pins M1 (RX) and L4 (TX)), so nothing has to be added for the
link.  The clock is the board's oscillator (iCEBreaker 12 MHz, ULX3S 25 MHz), whose
period constraint amaranth-boards already emits; :class:`BoardTop` may tighten it
(``clock_mhz``) to ask nextpnr for more margin than the oscillator needs.

``default_limits(board)`` is the network size the board holds by default: on the UP5K
the model store (two banks, two resident models; the LIF network reads its weights
there) and the encoder's trajectory table (two banks, uploaded with the image: no
integrator) go to three of the four SPRAMs, and a PLL makes the 24 MHz clock from the
12 MHz oscillator; on the ECP5-85F everything is block RAM and the 25 MHz oscillator
clocks the design.  ``BoardSpec.weight_ram`` is where a LIF network built alone keeps its
weights (the accelerator keeps them in the store).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from amaranth.hdl import (
    ClockDomain,
    ClockSignal,
    Elaboratable,
    Instance,
    Module,
    Signal,
)
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer
from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from dynalign.hw.engine.banks import use_spram
from dynalign.hw.top import DynalignTop, lif_limits
from dynalign.hw.uart import baud_divisor
from dynalign.hw.validate import check_real
from dynalign.hw.wire import Limits

__all__ = ["BOARDS", "BoardSpec", "BoardTop", "board_spec", "default_limits",
           "limits_for_images", "platform_for", "ice40_pll"]


@dataclass(frozen=True)
class BoardSpec:
    """One board: its platform, how it is built and what it holds by default.

    ``cells`` maps the report's names (``luts``, ``ffs``, ``dsps``, ``brams``,
    ``sprams``) to the cell types nextpnr counts them as; ``synth_opts`` are Yosys's
    (``-dsp`` lets it map multipliers onto SB_MAC16 tiles, which it does not by default).
    """
    platform: type              # amaranth-boards platform class
    bitstream_ext: str
    cells: dict
    weight_ram: str
    lanes: int
    max_features: int
    max_samples: int
    max_sizes: tuple
    synth_opts: str = ""
    table: bool = False          # the core serves the image's table (no integrator)
    clock_mhz: float | None = None      # PLL output; None: the oscillator itself
    queue: int = 256             # bytes of the link's receive / transmit queue (streaming;
    #                              the iCEBreaker's 64: two requests of its 16 features)


BOARDS = {
    # digits default: 16 features x 3 = 48 encoder channels, 128 hidden, 10 classes
    # (golden 0.942 on digits); no integrator (the image carries the trajectory table),
    # one lane, a 24 MHz PLL clock: 5,023 of 5,280 LCs, 28.3 MHz
    "icebreaker": BoardSpec(platform=ICEBreakerPlatform, bitstream_ext="bin",
                            cells={"luts": "ICESTORM_LC", "dsps": "ICESTORM_DSP",
                                   "brams": "ICESTORM_RAM", "sprams": "ICESTORM_SPRAM"},
                            weight_ram="spram",
                            lanes=1, max_features=16, max_samples=5, max_sizes=(128, 10),
                            synth_opts="-dsp", table=True, clock_mhz=24.0, queue=64),
    # two hidden layers of 256 and up to 32 features (96-256-256-10: the digits/MNIST
    # training recipe, sw.train): 165/208 block RAMs with the two-bank model store,
    # 50.7 MHz.  The paper's 21-500-500-500-10 needs 515 KB of weights -- more than the
    # 85F's block RAM holds twice (active + shadow bank) at 8 bits.
    "ulx3s": BoardSpec(platform=ULX3S_85F_Platform, bitstream_ext="bit",
                       cells={"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF",
                              "dsps": "MULT18X18D", "brams": "DP16KD"},
                       weight_ram="memory",
                       lanes=8, max_features=32, max_samples=5, max_sizes=(256, 256, 10)),
}


def board_spec(board: str) -> BoardSpec:
    """The registry entry of ``board``; ``ValueError`` naming the boards otherwise."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r} (choose from {', '.join(BOARDS)})")
    return BOARDS[board]


def platform_for(board: str):
    """A platform instance of ``board``."""
    return board_spec(board).platform()


def board_store_ram(board: str, limits: Limits) -> str:
    """Where ``board``'s bitstream keeps its model store, for a simulation of it
    (``DynalignTop(store_ram=...)``): what ``store_ram="auto"`` chooses on the board's
    platform (:func:`dynalign.hw.engine.banks.use_spram`), spelt out, since a simulation
    has no platform."""
    spram = use_spram("auto", limits.bank_bytes, board_spec(board).platform(), limits.lanes)
    return "spram" if spram else "memory"


def default_limits(board: str, *, max_payload: int = 256, lanes: int | None = None) -> Limits:
    """The network size ``board`` holds by default (at ``lanes``, default the board's)."""
    spec = board_spec(board)
    return lif_limits(max_features=spec.max_features, max_samples=spec.max_samples,
                      max_sizes=spec.max_sizes, lanes=spec.lanes if lanes is None else lanes,
                      max_payload=max_payload, table=spec.table, queue=spec.queue)


def limits_for_images(images, *, lanes: int, max_payload: int = 256,
                      table: bool = False, queue: int = 0) -> Limits:
    """The smallest limits that hold every image (parsed device images,
    :class:`dynalign.hw.wire.DeviceImage`); ``table``: a core that serves the image's
    trajectory table (the iCEBreaker's)."""
    n_layers = max(im.header.n_layers for im in images)
    sizes = [max([im.header.sizes[i] for im in images if i < im.header.n_layers], default=1)
             for i in range(n_layers)]
    return lif_limits(max_features=max(im.header.n_features for im in images),
                      max_samples=max(im.header.samples for im in images),
                      max_sizes=tuple(sizes), lanes=lanes, max_payload=max_payload,
                      table=table, queue=queue)


def ice40_pll(*, f_in_mhz: float, f_out_mhz: float) -> dict:
    """Parameters of an iCE40 ``SB_PLL40_*`` in SIMPLE feedback that make exactly
    ``f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)``, within the datasheet's
    ranges (PFD ``f_in / (DIVR + 1)`` 10..133 MHz, VCO 533..1066 MHz, output 16..275
    MHz); ``FILTER_RANGE`` from the PFD frequency as ``icepll`` picks it.  Raises
    ``ValueError`` when no setting is exact (to 1 kHz)."""
    for name, v in (("f_in_mhz", f_in_mhz), ("f_out_mhz", f_out_mhz)):
        check_real(name, v, positive=True)
    if not 16 <= f_out_mhz <= 275:
        raise ValueError(f"an iCE40 PLL makes 16..275 MHz, not {f_out_mhz!r}")
    for divr in range(16):
        pfd = f_in_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divq in range(1, 7):
            divf = round(f_out_mhz * (1 << divq) / pfd) - 1
            vco = pfd * (divf + 1)
            if 0 <= divf < 128 and 533 <= vco <= 1066 and \
                    abs(vco / (1 << divq) - f_out_mhz) < 1e-3:
                rng = next(i for i, lim in enumerate((17, 26, 44, 66, 101), 1) if pfd < lim) \
                    if pfd < 101 else 6
                return {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": rng}
    raise ValueError(f"no iCE40 PLL setting makes exactly {f_out_mhz} MHz from "
                     f"{f_in_mhz} MHz")


class BoardTop(Elaboratable):
    """:class:`dynalign.hw.top.DynalignTop` on a board's USB-serial UART.

    Parameters (keyword-only)
    -------------------------
    board : "icebreaker" or "ulx3s"
    limits : Limits (default :func:`default_limits`; its ``queue`` is the board's)
    baud : int   link speed (default 115200; 1000000 works on both boards' bridges)
    core : "lif" (the accelerator) or "stub" (the host link with the stub core)
    clock_mhz : float or None
        The design clock: an iCE40 PLL (:func:`ice40_pll`) makes it from the oscillator
        (default: the board's ``clock_mhz``; ``None`` or the oscillator's frequency:
        the oscillator itself).  The UART divisor follows it.
    """

    def __init__(self, *, board: str, limits=None, baud: int = 115200, core: str = "lif",
                 clock_mhz: float | None = ...):
        spec = board_spec(board)
        self.board = board
        self.platform_cls = spec.platform
        osc = self.platform_cls().default_clk_frequency
        if clock_mhz is ...:
            clock_mhz = spec.clock_mhz
        self.pll = None
        if clock_mhz is not None and abs(clock_mhz * 1e6 - osc) > 1:
            if board != "icebreaker":
                raise ValueError(f"a PLL clock is only built for the iCEBreaker, not "
                                 f"{board!r}")
            self.pll = ice40_pll(f_in_mhz=osc / 1e6, f_out_mhz=clock_mhz)
        clk = clock_mhz * 1e6 if self.pll else osc
        self.clk_freq = clk
        self.baud = baud
        # the board's link has its queues whatever the network's size
        self.limits = replace(limits or default_limits(board), queue=spec.queue)
        if core == "stub":          # the host link alone (its share of the resources)
            self.limits = replace(self.limits, core=0)
        self.top = DynalignTop(limits=self.limits,
                               divisor=baud_divisor(clk_freq=round(clk), baud=baud),
                               core=core)

    def elaborate(self, platform):
        m = Module()
        # the sync domain straight from the oscillator pin (its period constraint comes
        # with the resource), instead of the platform's implicit (deprecated) request
        m.domains.sync = ClockDomain("sync")
        clk = platform.request(platform.default_clk, dir="-")
        if self.pll is None:
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
            m.d.comb += ClockSignal("sync").eq(clk_buf.i)
        else:
            # the oscillator pad drives the PLL directly (SB_PLL40_PAD: the iCEBreaker's
            # 12 MHz input is the UP5K's PLL pad); the sync domain runs from its global
            # output (nextpnr derives its period constraint from the oscillator's and
            # the divider settings).  Reset is held until the PLL locks.
            pll_clk, lock = Signal(), Signal()
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE",
                **{f"p_{k}": v for k, v in self.pll.items()},
                i_PACKAGEPIN=clk.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=pll_clk, o_LOCK=lock)
            m.d.comb += ClockSignal("sync").eq(pll_clk)
            # reset asserted while unlocked, released synchronously to the new clock
            m.submodules.rst_sync = ResetSynchronizer(~lock, domain="sync")
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")     # ULX3S adds rts, dtr (unused)
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        return m
