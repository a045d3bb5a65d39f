"""Board builds: the build plan for both boards always (no tools run); real bitstreams
with the YoWASP tools behind --runslow."""

import json

import pytest

from dynalign.constraints.boards import BoardTop, default_limits
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
    assert BoardTop(board="ulx3s", baud=1_000_000).top.divisor == 25
    with pytest.raises(ValueError, match="no iCE40 PLL setting makes exactly"):
        BoardTop(board="icebreaker", clock_mhz=24.1)
    with pytest.raises(ValueError, match="only built for the iCEBreaker"):
        BoardTop(board="ulx3s", clock_mhz=50)
    assert BoardTop(board="ulx3s", baud=1_000_000).top.divisor == 25
    with pytest.raises(ValueError, match="unknown board 'arty'"):
        default_limits("arty")
    with pytest.raises(ValueError, match="not a rate the icebreaker board makes"):
        BoardTop(board="icebreaker", baud=2_500_000)


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
