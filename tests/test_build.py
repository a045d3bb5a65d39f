"""Board builds: the build plan for both boards always (no tools run); real bitstreams
with the YoWASP tools behind --runslow."""

import json

import pytest

from dynalign.constraints.boards import BoardTop, default_limits, ecp5_pll
from dynalign.sw.commands.build import build


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_build_plan(board, tmp_path):
    plan = build(board=board, do_build=False, build_dir=tmp_path)
    files = plan.files if hasattr(plan, "files") else {}
    assert any(name.endswith(".il") or name.endswith(".v") for name in files)
    script = "".join(v if isinstance(v, str) else v.decode(errors="ignore")
                     for k, v in files.items() if k.endswith((".sh", ".bat", ".ys")))
    assert ("nextpnr-ice40" in script) if board == "icebreaker" else ("nextpnr-ecp5" in script)


def test_board_defaults():
    ice = default_limits("icebreaker")
    assert ice.max_features == 16 and ice.max_sizes == (128, 10) and ice.table
    assert not default_limits("ulx3s").table
    top = BoardTop(board="icebreaker")
    assert top.clk_freq == 24e6 and top.pll == {"DIVR": 0, "DIVF": 63, "DIVQ": 5,
                                                "FILTER_RANGE": 1}     # icepll -o 24
    assert top.top.divisor == 208            # 24 MHz / 115200
    assert BoardTop(board="icebreaker", clock_mhz=None).top.divisor == 104   # 12 MHz
    ulx = BoardTop(board="ulx3s", baud=2_000_000)
    assert ulx.clk_freq == 50e6 and ulx.top.divisor == 25
    # CLKOP 25 * 1 / 1 fed back, VCO 25 * 16 = 400 MHz, CLKOS 400 / 8 = 50 MHz
    assert {k: ulx.pll[k] for k in ("CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "CLKOS_DIV")} \
        == {"CLKI_DIV": 1, "CLKFB_DIV": 1, "CLKOP_DIV": 16, "CLKOS_DIV": 8}
    assert BoardTop(board="ulx3s", clock_mhz=None, baud=1_000_000).top.divisor == 25
    with pytest.raises(ValueError, match="no iCE40 PLL setting makes exactly"):
        BoardTop(board="icebreaker", clock_mhz=24.1)
    with pytest.raises(ValueError, match="an ECP5 PLL makes 3.125..400 MHz"):
        BoardTop(board="ulx3s", clock_mhz=500)
    with pytest.raises(ValueError, match="unknown board 'arty'"):
        default_limits("arty")
    with pytest.raises(ValueError, match="not a rate the icebreaker board makes"):
        BoardTop(board="icebreaker", baud=2_500_000)


@pytest.mark.parametrize("f_out", [24.0, 48.0, 12.0, 30.0, 100.0])
def test_ecp5_pll_settings_hold_their_ranges(f_out):
    """Each setting, recomputed from its dividers: the output exact, the phase detector
    3.125..400 MHz, CLKOP 3.125..400, the VCO 400..800, every divider in range."""
    p = ecp5_pll(f_in_mhz=25.0, f_out_mhz=f_out)
    pfd = 25.0 / p["CLKI_DIV"]
    clkop = pfd * p["CLKFB_DIV"]
    vco = clkop * p["CLKOP_DIV"]
    assert vco / p["CLKOS_DIV"] == pytest.approx(f_out, abs=1e-9)
    assert 3.125 <= pfd <= 400 and 3.125 <= clkop <= 400 and 400 <= vco <= 800
    assert 1 <= p["CLKI_DIV"] <= 128 and 1 <= p["CLKFB_DIV"] <= 80
    assert 1 <= p["CLKOP_DIV"] <= 128 and 1 <= p["CLKOS_DIV"] <= 128


def test_ecp5_pll_refuses():
    with pytest.raises(ValueError, match="no ECP5 PLL setting makes exactly 24.01 MHz"):
        ecp5_pll(f_in_mhz=25.0, f_out_mhz=24.01)
    with pytest.raises(ValueError, match="an ECP5 PLL makes 3.125..400 MHz, not 1.0"):
        ecp5_pll(f_in_mhz=25.0, f_out_mhz=1.0)


@pytest.mark.slow
@pytest.mark.build
@pytest.mark.parametrize("board", ["icebreaker", "ulx3s"])
def test_real_build(board, tmp_path):
    rep = build(board=board, build_dir=tmp_path)
    assert rep["bitstream"] and rep["luts"] > 0 and rep["meets_timing"], rep.get("error")
    json.dumps(rep)


@pytest.mark.slow
@pytest.mark.build
def test_build_that_does_not_fit_reports_why(tmp_path):
    """A design too large for the board (four lanes on the UP5K): no bitstream, nextpnr's
    reason in ``error``."""
    rep = build(board="icebreaker", build_dir=tmp_path, lanes=4)
    assert rep["bitstream"] is None and not rep["meets_timing"]
    assert "ICESTORM_LC" in rep["error"]        # out of logic cells, in either wording
