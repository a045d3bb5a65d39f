"""UART 8N1: Amaranth simulation of the receiver and transmitter against a bit-level
line model, with back-to-back bytes, random stalls, framing errors and glitches."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator
from simbound import until

from dynalign.hw.uart import MIN_DIVISOR, UARTRx, UARTTx, baud_divisor


def line_bits(byte, *, stop=1):
    """The 10 line levels of one 8N1 frame."""
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


async def drive_line(ctx, pin, frames, *, cycles_per_bit, idle=0):
    """Drive ``frames`` (lists of levels) on ``pin``, ``cycles_per_bit`` per level
    (may be fractional: the cell boundaries are rounded like a real skewed clock)."""
    t = 0.0
    for frame in frames:
        for level in frame:
            ctx.set(pin, level)
            t_end = t + cycles_per_bit
            await ctx.tick().repeat(round(t_end) - round(t))
            t = t_end
        ctx.set(pin, 1)
        if idle:
            await ctx.tick().repeat(idle)


def run_rx(divisor, frames, *, cycles_per_bit=None, ready_prob=1.0, seed=0, tail=None):
    dut = UARTRx(divisor=divisor)
    got, errors, overruns = [], [0], [0]
    cycles_per_bit = divisor if cycles_per_bit is None else cycles_per_bit
    rng = random.Random(seed)
    n_cycles = int(sum(map(len, frames)) * cycles_per_bit) + (tail or 8 * divisor)

    async def line(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        await drive_line(ctx, dut.rx, frames, cycles_per_bit=cycles_per_bit)

    async def sink(ctx):
        for _ in range(n_cycles):
            ctx.set(dut.o.ready, rng.random() < ready_prob)
            await ctx.delay(1e-9)
            _, _, valid, ready, data, ferr, ovr = await ctx.tick().sample(
                dut.o.valid, dut.o.ready, dut.o.payload, dut.framing_error, dut.overrun)
            if valid and ready:
                got.append(data)
            errors[0] += ferr
            overruns[0] += ovr

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(line)
    sim.add_testbench(sink)
    sim.run()
    return got, errors[0], overruns[0]


def run_tx(divisor, data, *, valid_prob=1.0, seed=0):
    """Send ``data`` through UARTTx with random idle cycles; decode the line by
    sampling each bit at its middle; returns (bytes, stop_levels, gaps)."""
    dut = UARTTx(divisor=divisor)
    rng = random.Random(seed)
    levels = []
    done = [False]

    async def source(ctx):
        for byte in data:
            while rng.random() >= valid_prob:
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, byte)
            await until(ctx, dut.i.ready, limit=20 * divisor, what="UARTTx i.ready")
            ctx.set(dut.i.valid, 0)
        await ctx.tick().repeat(12 * divisor)
        done[0] = True

    async def monitor(ctx):
        while not done[0]:
            levels.append(ctx.get(dut.tx))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(monitor)
    sim.run()
    out, stops, i = [], [], 0
    while i < len(levels):
        if levels[i] == 0:
            mid = [levels[i + divisor // 2 + k * divisor] for k in range(10)]
            assert mid[0] == 0
            out.append(sum(b << k for k, b in enumerate(mid[1:9])))
            stops.append(mid[9])
            i += 10 * divisor
        else:
            i += 1
    return out, stops, levels


@pytest.mark.parametrize("divisor", [4, 5, 16])
def test_rx_back_to_back(divisor):
    data = [0x00, 0xFF, 0x55, 0xAA, 0x01, 0x80, 0xA5, 0x3C]
    got, errors, overruns = run_rx(divisor, [line_bits(b) for b in data])
    assert got == data
    assert errors == 0 and overruns == 0


def test_rx_tolerates_clock_skew():
    data = list(range(0, 256, 37))
    for skew in (0.985, 1.015):
        got, errors, _ = run_rx(16, [line_bits(b) for b in data], cycles_per_bit=16 * skew)
        assert got == data, skew
        assert errors == 0


def test_rx_framing_error_drops_byte_and_recovers():
    frames = [line_bits(0x12), line_bits(0x34, stop=0), [1] * 3, line_bits(0x56)]
    got, errors, _ = run_rx(8, frames)
    assert got == [0x12, 0x56]
    assert errors == 1


def test_rx_break_gives_one_error_not_zero_bytes():
    frames = [[0] * 30, [1, 1], line_bits(0x77)]
    got, errors, _ = run_rx(8, frames)
    assert got == [0x77]
    assert errors == 1


def test_rx_glitch_is_not_a_start_bit():
    # a low pulse shorter than half a bit is ignored; the frame after it is received
    divisor = 16
    levels = [0, 0, 0] + [1] * 20 + [lv for lv in line_bits(0x5A) for _ in range(divisor)]
    got, errors, _ = run_rx(divisor, [levels], cycles_per_bit=1, tail=4 * divisor)
    assert got == [0x5A] and errors == 0


def test_rx_overrun_when_sink_stalls():
    data = [1, 2, 3]
    got, errors, overruns = run_rx(4, [line_bits(b) for b in data], ready_prob=0.0)
    assert got == [] and overruns == 2 and errors == 0


def test_rx_random_backpressure_within_a_byte_time():
    data = [random.Random(1).randrange(256) for _ in range(20)]
    got, errors, overruns = run_rx(8, [line_bits(b) for b in data], ready_prob=0.3, seed=3)
    assert got == data and overruns == 0 and errors == 0


@pytest.mark.parametrize("divisor,valid_prob", [(4, 1.0), (7, 0.5), (16, 0.2)])
def test_tx(divisor, valid_prob):
    data = [random.Random(divisor).randrange(256) for _ in range(12)] + [0x00, 0xFF]
    got, stops, _ = run_tx(divisor, data, valid_prob=valid_prob, seed=divisor)
    assert got == data
    assert all(stops)


def test_tx_back_to_back_has_no_gap():
    _, _, levels = run_tx(4, [0xFF, 0xFF])
    first = levels.index(0)
    # start, 8 ones, stop = 10 bits; the second start bit follows at once
    assert levels[first + 40: first + 44] == [0, 0, 0, 0]
    assert levels[first + 4: first + 40] == [1] * 36


def test_tx_to_rx_loopback():
    divisor = 6
    data = [random.Random(9).randrange(256) for _ in range(16)]
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor=divisor)
    m.submodules.rx = rx = UARTRx(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def source(ctx):
        for byte in data:
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, byte)
            await until(ctx, tx.i.ready, limit=20 * divisor, what="UARTTx i.ready")
        ctx.set(tx.i.valid, 0)

    async def sink(ctx):
        ctx.set(rx.o.ready, 1)
        while len(got) < len(data):
            _, _, valid, payload = await ctx.tick().sample(rx.o.valid, rx.o.payload)
            if valid:
                got.append(payload)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run_until(1e-6 * divisor * 10 * (len(data) + 4))
    assert got == data


def test_checker_catches_a_one_bit_error():
    data = [0x12, 0x34]
    got, _, _ = run_rx(4, [line_bits(b) for b in data])
    wrong = list(data)
    wrong[1] ^= 0x08
    assert got != wrong


def test_divisor_validation():
    with pytest.raises(TypeError, match="divisor must be an integer, not 4.0"):
        UARTRx(divisor=4.0)
    with pytest.raises(ValueError, match=f"divisor must be at least {MIN_DIVISOR}"):
        UARTTx(divisor=3)
    with pytest.raises(TypeError, match="positional"):
        UARTTx(4)     # keyword-only


def test_baud_divisor():
    assert baud_divisor(clk_freq=12e6, baud=115200) == 104
    assert baud_divisor(clk_freq=25e6, baud=1_000_000) == 25
    with pytest.raises(ValueError, match="too fast"):
        baud_divisor(clk_freq=12e6, baud=4_000_000)
    with pytest.raises(ValueError, match="off by"):
        baud_divisor(clk_freq=12e6, baud=2_000_000 * 1.1)
    with pytest.raises(ValueError, match="baud must be positive"):
        baud_divisor(clk_freq=12e6, baud=0)
    with pytest.raises(TypeError, match="clk_freq must be a real number"):
        baud_divisor(clk_freq="12e6", baud=9600)
