"""The single-port RAM (hw/ram.py) and the validation helper (hw/validate.py)."""

import random

import pytest
from amaranth.back import rtlil
from amaranth.sim import Simulator

from dynalign.hw.ram import SinglePortRAM, has_spram
from dynalign.hw.validate import check_choice, check_int, positive_int


class _Part:
    """The one attribute of a platform the RAM looks at."""

    def __init__(self, device):
        self.device = device


@pytest.mark.parametrize("device, spram", [
    ("iCE40UP5K", True), ("iCE40UP3K", True), ("iCE40HX8K", False), ("iCE40LP1K", False),
    ("LFE5U-85F", False), (None, False)])
def test_spram_only_on_ultraplus_parts(device, spram):
    assert has_spram(None if device is None else _Part(device)) is spram


def test_ultraplus_elaborates_spram_blocks_and_hx_does_not():
    ram = SinglePortRAM(width=40, depth=1024, granularity=8)
    text = rtlil.convert(ram, platform=_Part("iCE40UP5K"), ports=None)
    assert text.count("SB_SPRAM256KA") == 3          # 40 bits -> three 16-bit blocks
    ram = SinglePortRAM(width=40, depth=1024, granularity=8)
    assert "SB_SPRAM256KA" not in rtlil.convert(ram, platform=_Part("iCE40HX8K"), ports=None)


def test_spram_limits_are_stated():
    with pytest.raises(ValueError, match="exceeds one SPRAM"):
        rtlil.convert(SinglePortRAM(width=16, depth=1 << 15), platform=_Part("iCE40UP5K"),
                      ports=None)
    with pytest.raises(ValueError, match="granularity must be a multiple of 4"):
        rtlil.convert(SinglePortRAM(width=6, depth=16, granularity=2),
                      platform=_Part("iCE40UP5K"), ports=None)


@pytest.mark.parametrize("kw, exc, msg", [
    (dict(width=0, depth=4), ValueError, "width must be a positive integer"),
    (dict(width=8, depth=True), TypeError, "depth must be a positive integer"),
    (dict(width=8, depth=4, granularity=3), ValueError, "granularity 3 must divide width 8"),
])
def test_parameters_are_checked(kw, exc, msg):
    with pytest.raises(exc, match=msg):
        SinglePortRAM(**kw)


def test_granule_writes_reads_and_hold_against_a_list_model():
    """Random granule writes and reads (r_en toggling) against a Python list: the read
    data is the word at the address one cycle earlier, and holds while r_en is low."""
    width, gran, depth = 16, 4, 32
    dut = SinglePortRAM(width=width, depth=depth, granularity=gran)
    rng = random.Random(7)
    model = [0] * depth
    ops = []
    for _ in range(400):
        if rng.random() < 0.4:
            ops.append(("w", rng.randrange(depth), rng.getrandbits(width),
                        rng.getrandbits(width // gran) or 1))
        else:
            ops.append(("r", rng.randrange(depth), rng.random() < 0.7))

    async def bench(ctx):
        held = None
        for op in ops:
            if op[0] == "w":
                _, a, d, en = op
                ctx.set(dut.addr, a)
                ctx.set(dut.w_data, d)
                ctx.set(dut.w_en, en)
                ctx.set(dut.r_en, 0)
                await ctx.tick()
                ctx.set(dut.w_en, 0)
                for g in range(width // gran):
                    if en >> g & 1:
                        mask = ((1 << gran) - 1) << (g * gran)
                        model[a] = (model[a] & ~mask) | (d & mask)
                if held is not None:
                    assert ctx.get(dut.r_data) == held
            else:
                _, a, en = op
                ctx.set(dut.addr, a)
                ctx.set(dut.r_en, en)
                await ctx.tick()
                if en:
                    held = model[a]
                if held is not None:
                    assert ctx.get(dut.r_data) == held, (a, en)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run_until(1e-6 * (len(ops) + 10))


def test_validation_wording():
    assert check_int("lanes", 8, lo=1, hi=64) == 8
    with pytest.raises(ValueError, match=r"^lanes must be in 1\.\.64, not 0$"):
        check_int("lanes", 0, lo=1, hi=64)
    with pytest.raises(ValueError, match=r"^limit must be at least 20, not 3$"):
        check_int("limit", 3, lo=20)
    with pytest.raises(TypeError, match=r"^lanes must be an integer, not True$"):
        check_int("lanes", True, lo=1)
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer, not 0$"):
        positive_int("epochs", 0)
    with pytest.raises(TypeError, match=r"^epochs must be a positive integer, not 2\.0$"):
        positive_int("epochs", 2.0)
    with pytest.raises(ValueError, match=r"^kind must be one of 'a', 'b', not 'x'$"):
        check_choice("kind", "x", ("a", "b"))
