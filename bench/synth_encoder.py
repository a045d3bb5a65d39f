"""Synthesis of the TrajectoryEncoder for iCEBreaker (UP5K) and ULX3S (ECP5-85F): JSON.

    python bench/synth_encoder.py [--boards icebreaker ulx3s] [--max-T 5]
        [--max-features 64] [--lanes 1]

Prints one JSON object per board (``dynalign.hw.synth.build``: Fmax, LUTs, FFs, DSPs, BRAMs ...).
"""

import argparse
import json

from dynalign.constraints.boards import BOARDS
from dynalign.hw.encoder.encoder import TrajectoryEncoder
from dynalign.hw.synth import build


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--boards", nargs="+", default=list(BOARDS), choices=list(BOARDS))
    p.add_argument("--max-T", type=int, default=5)
    p.add_argument("--max-features", type=int, default=64)
    p.add_argument("--lanes", type=int, default=1)
    args = p.parse_args(argv)
    for board in args.boards:
        dut = TrajectoryEncoder(max_T=args.max_T, max_features=args.max_features,
                                lanes=args.lanes)
        res = build(dut, board=board, name="encoder")
        res["design"] = {"max_T": args.max_T, "max_features": args.max_features,
                         "lanes": args.lanes}
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
