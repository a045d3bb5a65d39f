"""Latency per inference of the accelerator, per mode, from simulated cycle counts.

For each board configuration (LIF lanes, core and clock of the iCEBreaker / ULX3S builds) the
expansive and the dissipative digits models are uploaded through the simulated UART
into the Verilated top level (``dynalign verify system`` with a switch) and classify
``--samples`` test samples each.  Prints JSON: per board and mode the mean device cycles
from RUN to the class (encoder lookup + LIF network), the latency at the board clock,
and the UART time of one inference's frames at 115200 baud (FEATURES, RUN, RESULTS and
their replies), which dominates on a real board.

    .venv/bin/python bench/bench_system.py EXPANSIVE_RUN DISSIPATIVE_RUN [--samples 20]
"""

from __future__ import annotations

import argparse
import json

from dynalign.constraints.boards import BOARDS, platform_for
from dynalign.hw.wire import (
    FRAME_HEADER_LEN,
    FRAME_TRAILER_LEN,
    RESULT_SUMMARY_LEN,
    parse_image,
    result_len,
)
from dynalign.sw.rundir import run_codes
from dynalign.sw.verify_system import verify_system


def uart_seconds(image, baud=115200):
    h = parse_image(image).header
    frame = FRAME_HEADER_LEN + FRAME_TRAILER_LEN
    results = result_len(h.n_layers, h.sizes[-1])
    nbytes = (frame + h.n_features) + frame + (frame) + (frame + RESULT_SUMMARY_LEN) \
        + frame + (frame + results)
    return nbytes * 10 / baud


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("expansive")
    ap.add_argument("dissipative")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--boards", default="icebreaker,ulx3s")
    args = ap.parse_args(argv)
    (ia, ca, _), (ib, cb, _) = run_codes(args.expansive), run_codes(args.dissipative)
    out = {"samples": args.samples, "boards": {}}
    for board in args.boards.split(","):
        spec = BOARDS[board]
        clk = spec.clock_mhz * 1e6 if spec.clock_mhz \
            else platform_for(board).default_clk_frequency
        rep = verify_system([ia, ib], [ca, cb], samples=args.samples, lanes=spec.lanes,
                            table=spec.table)
        cyc = rep["cycles_per_inference_by_model"]
        out["boards"][board] = {
            "lanes": spec.lanes, "clock_mhz": clk / 1e6, "mismatches": rep["mismatches"],
            "compared": rep["compared"],
            "expansive": {"cycles": cyc[0], "latency_us": cyc[0] / clk * 1e6,
                          "uart_ms_115200": 1e3 * uart_seconds(ia)},
            "dissipative": {"cycles": cyc[1], "latency_us": cyc[1] / clk * 1e6,
                            "uart_ms_115200": 1e3 * uart_seconds(ib)}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
