"""LIF network synthesis: resources and Fmax on iCEBreaker (iCE40 UP5K) and ULX3S-85F.

Builds :class:`hw.lif.rtl.LIFNetwork` sized for a topology with the YoWASP tools through
:func:`hw.synth.build` (every port registered at the boundary, nothing optimised away)
and prints JSON per design: board, topology, lanes, weight width, weight RAM, LUTs, FFs,
DSPs, block RAMs, SPRAMs and Fmax from nextpnr.

* iCEBreaker: 48-128-128-10 (16 features x 3 channels), 8-bit weights in SPRAM
  (24 K weights do not fit the UP5K's 120 kbit of EBR), lanes 2 and 4 (lanes 1 would
  need two weights per 16-bit SPRAM word: not done).
* ULX3S-85F: the paper's 21-500-500-500-10 with 5-bit weights (518,500 weights; at 8 or
  6 bits they exceed the 208 DP16KD blocks once the state memory is counted), lanes 8.
"""

import argparse
import json
import sys

from hw.lif.rtl import LIFNetwork, NetworkLayout
from hw.synth import build

DESIGNS = {
    "ice40_l2": ("icebreaker", [48, 128, 128, 10], 2, 8, "spram"),
    "ice40_l4": ("icebreaker", [48, 128, 128, 10], 4, 8, "spram"),
    "ecp5_paper": ("ulx3s", [21, 500, 500, 500, 10], 8, 5, "memory"),
}


def make_dut(topology, lanes, weight_width, weight_ram):
    lay = NetworkLayout(topology, lanes=lanes)
    return LIFNetwork(lanes=lanes, max_layers=len(topology) - 1,
                      max_neurons=max(topology[1:]), max_inputs=topology[0],
                      weight_words=lay.weight_words, group_words=lay.group_words,
                      weight_width=weight_width, weight_ram=weight_ram)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("designs", nargs="*", metavar="DESIGN",
                   help=f"designs to build: {', '.join(DESIGNS)} (default: all)")
    args = p.parse_args()
    bad = [d for d in args.designs if d not in DESIGNS]
    if bad:
        p.error(f"unknown design(s) {bad} (choose from {', '.join(DESIGNS)})")
    out = []
    for key in args.designs or list(DESIGNS):
        board, topo, lanes, ww, ram = DESIGNS[key]
        dut = make_dut(topo, lanes, ww, ram)
        try:
            rep = build(dut, board=board, name=f"lif_{key}")
        except Exception as exc:               # noqa: BLE001 -- report, go on
            rep = {"board": board, "error": f"{type(exc).__name__}: {exc}"[:400]}
        rep.update({"design": key, "topology": topo, "lanes": lanes, "weight_width": ww,
                    "weight_ram": ram})
        out.append(rep)
        print(json.dumps(rep), file=sys.stderr)
    print(json.dumps({"designs": out}, indent=1))


if __name__ == "__main__":
    main()
