"""bench/synth_breakdown.py: Yosys hierarchical statistics -> per-block counts."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "synth_breakdown", Path(__file__).parents[1] / "bench" / "synth_breakdown.py")
sb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sb)

STAT = """
=== dynalign ===
        1   SB_IO
=== dynalign.top.core ===
      100   SB_LUT4
       20   SB_DFFE
        5   SB_DFF
        1   SB_RAM40_4K
=== dynalign.top.core.enc.integ ===
      300   SB_LUT4
        3   SB_MAC16
=== dynalign.top.core.enc.integ.mul ===
       50   SB_LUT4
=== dynalign.top.core.lif ===
      400   SB_LUT4
        1   SB_SPRAM256KA
=== design hierarchy ===
     9999   SB_LUT4
"""


def test_parse_and_group():
    per = sb.parse_stat(STAT, "icebreaker")
    assert per["top.top.core"]["ffs"] == 25 and per["top.top.core"]["brams"] == 1
    assert "design hierarchy" not in per and all(v["luts"] < 9999 for v in per.values())
    blocks = sb.group(per)
    assert blocks["encoder: RK4 integrator (table refill)"]["luts"] == 350
    assert blocks["encoder: RK4 integrator (table refill)"]["dsps"] == 3
    assert blocks["LIF network"]["sprams"] == 1
    assert blocks["core: loader, read-back, results"]["luts"] == 100
    assert sum(b["luts"] for b in blocks.values()) == 850
