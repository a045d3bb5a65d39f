"""Boards: the accelerator on the iCEBreaker (iCE40 UP5K) and the ULX3S (ECP5-85F).

Pins live in Python (amaranth-boards): both platforms define a ``uart`` resource on the
board's USB-serial bridge (iCEBreaker: the FT2232H's second channel, pins 6 (RX) and 9
(TX); ULX3S: the FT231X, pins M1 (RX) and L4 (TX)), so nothing has to be added for the
link.  The design clock comes from the board's oscillator (iCEBreaker 12 MHz, ULX3S
25 MHz) through a PLL: 24 MHz on the iCEBreaker, so that the UART makes 3 Mbaud (the
FTDI bridges' fastest rate) exactly, with 8 clocks a bit; 50 MHz on the ULX3S (its
accelerator meets 51.7 MHz), where 2 Mbaud is exact (25 clocks a bit) and 3 Mbaud 2 %
slow (17 clocks).

``default_limits(board)`` is the network size the board holds by default: on the UP5K
the model store (two banks, two resident models; the LIF network reads its weights
there) and the encoder's trajectory table (two banks, uploaded with the image: no
integrator) go to three of the four SPRAMs, and a PLL makes the 24 MHz clock from the
12 MHz oscillator; on the ECP5-85F everything is block RAM and an ECP5 PLL makes the
50 MHz clock from the 25 MHz oscillator.  ``BoardSpec.weight_ram`` is where a LIF
network built alone keeps its weights (the accelerator keeps them in the store).
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
from dynalign.hw.formats import weight_bits_per_layer
from dynalign.hw.top import DynalignTop, lif_limits
from dynalign.hw.uart import MAX_BAUD_ERROR, MIN_DIVISOR, baud_divisor
from dynalign.hw.validate import check_int, check_real
from dynalign.hw.wire import Limits, packed_mask

__all__ = ["BOARDS", "BoardSpec", "BoardTop", "board_spec", "default_limits",
           "limits_for_images", "platform_for", "ice40_pll", "ecp5_pll", "board_clock_hz",
           "BaudRate", "STANDARD_BAUDS", "bridge_baud", "baud_rates", "board_bauds",
           "default_baud", "check_baud", "baud_table"]


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
    #                              the iCEBreaker's 128: five requests of 16 features)
    packed: bool = False         # the bitstream takes layers of 4-bit weights (Limits.packed)
    weight_bits: int | tuple = 8  # the widths per layer (hidden layers, then the output)
    #                              a bank is sized for at max_sizes, and what `dynalign
    #                              train --board` trains; 8-bit models that fit still fit


BOARDS = {
    # digits default: 16 features x 3 = 48 encoder channels, 128 hidden, 10 classes
    # (golden 0.942 on digits); no integrator (the image carries the trajectory table),
    # one lane, a 24 MHz PLL clock.  Yosys's ``-dff`` lets ABC optimise across the
    # flip-flops (sequential sweeping; behaviour from the initial state is kept): with
    # image version 3 the default flow packed 5,283 of 5,280 LCs (5,269 before it), with
    # ``-dff`` 5,188 at 28.9 MHz; with ``CLASSIFY`` 5,207 at 28.3 MHz (``make demo``:
    # 73 LCs left)
    "icebreaker": BoardSpec(platform=ICEBreakerPlatform, bitstream_ext="bin",
                            cells={"luts": "ICESTORM_LC", "dsps": "ICESTORM_DSP",
                                   "brams": "ICESTORM_RAM", "sprams": "ICESTORM_SPRAM"},
                            weight_ram="spram",
                            lanes=1, max_features=16, max_samples=5, max_sizes=(128, 10),
                            synth_opts="-dsp -dff", table=True, clock_mhz=24.0, queue=128),
    # up to 32 features and two hidden layers of 512, the hidden layers' weights 4-bit
    # (96-512-512-10 at 4,4,8: MNIST 0.9555, above an MLP on the same features): a bank
    # holds that model (166,080 bytes), or an 8-bit one of up to that size (the 8-bit
    # 96-256-256-10, 95,424 bytes).  204/208 block RAMs with the two-bank store, 51.7
    # MHz against the 50 MHz constraint (41.3 MHz before the accumulator's product moved
    # into its sum stage and the store's write port got a register: the path was block
    # RAM -> bank mux -> multiplier, then the write enable's fan-out to every block RAM).
    # A 50 MHz PLL clock: 2 Mbaud exact, 3 Mbaud 2 % slow (48 MHz would make 3 Mbaud
    # exact, below the 50 MHz target).  The paper's 21-500-500-500-10 needs 258 KB a
    # bank even at 4 bits -- more than the 85F's block RAM holds twice (active + idle).
    # 8 lanes: at 16 the LIF's wide, shallow bias and state memories take 214 DP16KD, at
    # 32 the store's 256-bit words 242 (of 208; README, "Accuracy against latency").
    "ulx3s": BoardSpec(platform=ULX3S_85F_Platform, bitstream_ext="bit",
                       cells={"luts": "TRELLIS_COMB", "ffs": "TRELLIS_FF",
                              "dsps": "MULT18X18D", "brams": "DP16KD"},
                       weight_ram="memory",
                       lanes=8, max_features=32, max_samples=5, max_sizes=(512, 512, 10),
                       weight_bits=(4, 4, 8),
                       clock_mhz=50.0, packed=True),
}


def board_spec(board: str) -> BoardSpec:
    """The registry entry of ``board``; ``ValueError`` naming the boards otherwise."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r} (choose from {', '.join(BOARDS)})")
    return BOARDS[board]


def platform_for(board: str):
    """A platform instance of ``board``."""
    return board_spec(board).platform()


def board_clock_hz(board: str) -> float:
    """The design clock of ``board`` in Hz: its PLL output (``BoardSpec.clock_mhz``), or
    the oscillator (as :class:`BoardTop` clocks it by default)."""
    spec = board_spec(board)
    if spec.clock_mhz is not None:
        return spec.clock_mhz * 1e6
    return float(spec.platform().default_clk_frequency)


# -- baud rates: what the board's clock and its FTDI USB UART agree on ---------------

#: The rates a host asks a serial port for (the usual termios/Windows list from 9600 up,
#: and the FTDI chips' exact fast rates), fastest first.
STANDARD_BAUDS = (3_000_000, 2_000_000, 1_500_000, 1_000_000, 921_600, 500_000, 460_800,
                  230_400, 115_200, 57_600, 38_400, 19_200, 9_600)

#: The FTDI bridges' baud clock (FT2232H on the iCEBreaker, FT231X on the ULX3S; both
#: generate the line rate from 3 MHz): ``rate = 3 MHz / d`` with ``d`` = 1 (3 Mbaud),
#: 1.5 (2 Mbaud) or ``n + k/8`` for ``n >= 2``, ``k = 0..7`` (FTDI AN232B-05).
BRIDGE_CLOCK_HZ = 3_000_000


def bridge_baud(baud: int) -> float:
    """The rate the FTDI bridge really makes when the host asks for ``baud``: ``3 MHz /
    d`` for the documented divisor ``d`` (1, 1.5, or ``n + k/8``, ``n >= 2``) nearest to
    it (e.g. 115,200 -> 3 MHz / 26 = 115,384.6)."""
    check_real("baud", baud, positive=True)
    d = BRIDGE_CLOCK_HZ / baud
    candidates = (1.0, 1.5, max(2.0, min(round(d * 8) / 8, 16383.875)))
    best = min(candidates, key=lambda c: abs(BRIDGE_CLOCK_HZ / c - baud))
    return BRIDGE_CLOCK_HZ / best


@dataclass(frozen=True)
class BaudRate:
    """One rate the board's UART and the FTDI bridge agree on.

    ``divisor = round(clock / baud)`` clock cycles per bit (what the bitstream's UART
    uses, :func:`dynalign.hw.uart.baud_divisor`); ``board_hz = clock / divisor``;
    ``bridge_hz`` = :func:`bridge_baud`; ``error = |board_hz - bridge_hz| / bridge_hz``,
    below :data:`dynalign.hw.uart.MAX_BAUD_ERROR`."""
    baud: int
    divisor: int
    board_hz: float
    bridge_hz: float
    error: float


def baud_rates(clk_freq: float) -> tuple[BaudRate, ...]:
    """The :data:`STANDARD_BAUDS` a design clocked at ``clk_freq`` Hz makes with an FTDI
    bridge: the divisor is at least :data:`dynalign.hw.uart.MIN_DIVISOR`, and both the
    UART's rate against the nominal baud and against the bridge's real rate are off by
    less than :data:`dynalign.hw.uart.MAX_BAUD_ERROR` (the receiver's tolerance)."""
    check_real("clk_freq", clk_freq, positive=True)
    out = []
    for baud in STANDARD_BAUDS:
        divisor = round(clk_freq / baud)
        if divisor < MIN_DIVISOR:
            continue
        board_hz, bridge_hz = clk_freq / divisor, bridge_baud(baud)
        error = abs(board_hz - bridge_hz) / bridge_hz
        if error < MAX_BAUD_ERROR and abs(board_hz - baud) / baud < MAX_BAUD_ERROR:
            out.append(BaudRate(baud=baud, divisor=divisor, board_hz=board_hz,
                                bridge_hz=bridge_hz, error=error))
    return tuple(out)


def board_bauds(board: str) -> tuple[BaudRate, ...]:
    """:func:`baud_rates` at ``board``'s design clock (:func:`board_clock_hz`)."""
    return baud_rates(board_clock_hz(board))


def default_baud(board: str) -> int:
    """The fastest rate ``board`` makes exactly (zero error against its bridge):
    3,000,000 on the iCEBreaker (24 MHz / 8), 2,000,000 on the ULX3S (50 MHz / 25)."""
    return max(r.baud for r in board_bauds(board) if r.error == 0)


def _rate_list(rates) -> str:
    return ", ".join(f"{r.baud:,}" for r in rates)


def check_baud(baud, *, board: str | None = None, clk_freq: float | None = None) -> int:
    """``baud`` when ``board``'s clock (or ``clk_freq``) and its FTDI bridge make it
    (:func:`baud_rates`); otherwise ``ValueError``, one line listing the rates that
    work.  With neither ``board`` nor ``clk_freq`` (a host that does not say which board
    it talks to): a rate some board makes."""
    check_int("baud", baud, lo=1)
    if board is None and clk_freq is None:
        if any(baud in {r.baud for r in board_bauds(b)} for b in BOARDS):
            return baud
        per = "; ".join(f"{b}: {_rate_list(board_bauds(b))}" for b in BOARDS)
        raise ValueError(f"baud {baud:,} is not a rate any board makes with its USB UART "
                         f"(within {100 * MAX_BAUD_ERROR:g} %): {per}")
    clk = board_clock_hz(board) if clk_freq is None else clk_freq
    rates = baud_rates(clk)
    if baud in {r.baud for r in rates}:
        return baud
    who = f"the {board} board" if board else "the board"
    raise ValueError(f"baud {baud:,} is not a rate {who} makes: its {clk / 1e6:g} MHz clock "
                     f"and its FTDI USB UART agree within {100 * MAX_BAUD_ERROR:g} % only at "
                     f"{_rate_list(rates)} baud")


def baud_table(boards=None) -> list[dict]:
    """Rows of the baud table (``dynalign build --list-bauds``): per board and rate the
    clock, divisor, the board's and the bridge's real rate and their error."""
    rows = []
    for b in boards or BOARDS:
        clk = board_clock_hz(b)
        for r in board_bauds(b):
            rows.append({"board": b, "clock_mhz": clk / 1e6, "baud": r.baud,
                         "divisor": r.divisor, "board_hz": round(r.board_hz, 1),
                         "bridge_hz": round(r.bridge_hz, 1),
                         "error_pct": round(100 * r.error, 3),
                         "default": r.baud == default_baud(b)})
    return rows


def board_store_ram(board: str, limits: Limits) -> str:
    """Where ``board``'s bitstream keeps its model store, for a simulation of it
    (``DynalignTop(store_ram=...)``): what ``store_ram="auto"`` chooses on the board's
    platform (:func:`dynalign.hw.engine.banks.use_spram`), spelt out, since a simulation
    has no platform."""
    spram = use_spram("auto", limits.bank_bytes, board_spec(board).platform(), limits.lanes)
    return "spram" if spram else "memory"


def default_limits(board: str, *, max_payload: int = 256, lanes: int | None = None) -> Limits:
    """The network size ``board`` holds by default (at ``lanes``, default the board's):
    its ``max_sizes``, a bank sized for them at the board's ``weight_bits``."""
    spec = board_spec(board)
    limits = lif_limits(max_features=spec.max_features, max_samples=spec.max_samples,
                        max_sizes=spec.max_sizes,
                        lanes=spec.lanes if lanes is None else lanes,
                        max_payload=max_payload, table=spec.table, queue=spec.queue,
                        packed=spec.packed)
    mask = packed_mask(weight_bits_per_layer(spec.weight_bits, len(spec.max_sizes)))
    if not mask:
        return limits
    return replace(limits, bank_bytes=limits.largest_image(mask))


def limits_for_images(images, *, lanes: int, max_payload: int = 256,
                      table: bool = False, queue: int = 0) -> Limits:
    """The smallest limits that hold every image (parsed device images,
    :class:`dynalign.hw.wire.DeviceImage`); ``table``: a core that serves the image's
    trajectory table (the iCEBreaker's).  A core that takes 4-bit layers if any image
    has one; then a bank holds the largest image of these sizes at the weight widths of
    any of the images (4-bit layers take half the store: that is what they are for)."""
    n_layers = max(im.header.n_layers for im in images)
    sizes = [max([im.header.sizes[i] for im in images if i < im.header.n_layers], default=1)
             for i in range(n_layers)]
    limits = lif_limits(max_features=max(im.header.n_features for im in images),
                        max_samples=max(im.header.samples for im in images),
                        max_sizes=tuple(sizes), lanes=lanes, max_payload=max_payload,
                        table=table, queue=queue,
                        packed=any(im.header.packed for im in images))
    if not limits.packed:
        return limits
    return replace(limits, bank_bytes=max(limits.largest_image(im.header.packed)
                                          for im in images))


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



#: EHXPLLL ranges (Lattice FPGA-TN-02200, as nextpnr-ecp5's ``ecppll`` applies them):
#: phase detector input 3.125..400 MHz, VCO 400..800 MHz, outputs 3.125..400 MHz.
_ECP5_PFD, _ECP5_VCO, _ECP5_OUT = (3.125, 400.0), (400.0, 800.0), (3.125, 400.0)


def ecp5_pll(*, f_in_mhz: float, f_out_mhz: float) -> dict:
    """Parameters of an ECP5 ``EHXPLLL`` with CLKOP feedback whose output makes exactly
    ``f_out``: ``CLKOP = f_in * CLKFB_DIV / CLKI_DIV``, ``VCO = CLKOP * CLKOP_DIV``,
    ``CLKOS = VCO / CLKOS_DIV`` (the design clock; CLKOP closes the loop).  All within
    the datasheet's ranges (:data:`_ECP5_PFD`, :data:`_ECP5_VCO`, :data:`_ECP5_OUT`);
    the first setting found in the order CLKI_DIV, CLKFB_DIV, CLKOP_DIV, CLKOS_DIV, so
    the same inputs always give the same setting.  25 -> 24 MHz: CLKI_DIV 1, CLKFB_DIV
    1 (CLKOP 25 MHz), CLKOP_DIV 24 (VCO 600 MHz), CLKOS_DIV 25 (24 MHz on CLKOP
    itself would need CLKI_DIV 25: a 1 MHz phase detector input, below its range).
    Raises ``ValueError`` when no setting is exact (to 1 kHz)."""
    for name, v in (("f_in_mhz", f_in_mhz), ("f_out_mhz", f_out_mhz)):
        check_real(name, v, positive=True)
    if not _ECP5_OUT[0] <= f_out_mhz <= _ECP5_OUT[1]:
        raise ValueError(f"an ECP5 PLL makes {_ECP5_OUT[0]:g}..{_ECP5_OUT[1]:g} MHz, "
                         f"not {f_out_mhz!r}")
    for clki in range(1, 129):
        pfd = f_in_mhz / clki
        if not _ECP5_PFD[0] <= pfd <= _ECP5_PFD[1]:
            continue
        for clkfb in range(1, 81):
            clkop = pfd * clkfb
            if not _ECP5_OUT[0] <= clkop <= _ECP5_OUT[1]:
                continue
            for op_div in range(1, 129):
                vco = clkop * op_div
                if not _ECP5_VCO[0] <= vco <= _ECP5_VCO[1]:
                    continue
                os_div = round(vco / f_out_mhz)
                if 1 <= os_div <= 128 and abs(vco / os_div - f_out_mhz) < 1e-3:
                    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": op_div,
                            "CLKOS_DIV": os_div, "CLKOP_MHZ": clkop, "VCO_MHZ": vco}
    raise ValueError(f"no ECP5 PLL setting makes exactly {f_out_mhz} MHz from "
                     f"{f_in_mhz} MHz")


class BoardTop(Elaboratable):
    """:class:`dynalign.hw.top.DynalignTop` on a board's USB-serial UART.

    Parameters (keyword-only)
    -------------------------
    board : "icebreaker" or "ulx3s"
    limits : Limits (default :func:`default_limits`; its ``queue`` is the board's)
    baud : int
        link speed (default 115200), one of the rates the design clock and the FTDI
        bridge agree on (:func:`baud_rates`; ``ValueError`` listing them otherwise)
    core : "lif" (the accelerator) or "stub" (the host link with the stub core)
    clock_mhz : float or None
        The design clock: a PLL (:func:`ice40_pll` on the iCEBreaker, :func:`ecp5_pll`
        on the ULX3S) makes it from the oscillator (default: the board's ``clock_mhz``;
        ``None`` or the oscillator's frequency: the oscillator itself).  The UART
        divisor follows it.
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
            make = ice40_pll if board == "icebreaker" else ecp5_pll
            self.pll = make(f_in_mhz=osc / 1e6, f_out_mhz=clock_mhz)
        clk = clock_mhz * 1e6 if self.pll else osc
        self.clk_freq = clk
        self.baud = check_baud(baud, board=board, clk_freq=clk)
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
        elif self.board != "icebreaker":
            # the ECP5's EHXPLLL: the oscillator through its input buffer, CLKOP fed
            # back, the design clock on CLKOS (nextpnr-ecp5 derives its constraint from
            # the dividers); reset held until lock, as on the iCE40
            m.submodules.clk_buf = clk_buf = io.Buffer("i", clk)
            pll_clk, fb, lock = Signal(), Signal(), Signal()
            p = self.pll
            m.submodules.pll = Instance(
                "EHXPLLL", p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED",
                p_STDBY_ENABLE="DISABLED", p_DPHASE_SOURCE="DISABLED",
                p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
                p_CLKI_DIV=p["CLKI_DIV"], p_CLKFB_DIV=p["CLKFB_DIV"],
                p_FEEDBK_PATH="CLKOP",
                p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=p["CLKOP_DIV"],
                p_CLKOP_CPHASE=p["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
                p_CLKOS_ENABLE="ENABLED", p_CLKOS_DIV=p["CLKOS_DIV"],
                p_CLKOS_CPHASE=p["CLKOS_DIV"] - 1, p_CLKOS_FPHASE=0,
                a_FREQUENCY_PIN_CLKI=f"{self.platform_cls().default_clk_frequency / 1e6:g}",
                a_FREQUENCY_PIN_CLKOP=f"{p['CLKOP_MHZ']:g}",
                a_FREQUENCY_PIN_CLKOS=f"{self.clk_freq / 1e6:g}",
                i_CLKI=clk_buf.i, i_CLKFB=fb, o_CLKOP=fb, o_CLKOS=pll_clk,
                i_RST=0, i_STDBY=0, i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=0,
                i_PHASESTEP=0, i_PHASELOADREG=0, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_LOCK=lock)
            m.d.comb += ClockSignal("sync").eq(pll_clk)
            m.submodules.rst_sync = ResetSynchronizer(~lock, domain="sync")
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
