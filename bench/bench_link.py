"""Host-link throughput in device time, on the virtual board (JSON).

For each baud and each way to classify: ``dynalign sim-board``'s top level of the board
(sized for the runs, its line queues, the UART at the board clock's divisor for that
baud) behind a pseudo-terminal; the host driver over pyserial uploads RUN and classifies
``--samples`` test samples, ``classify``: one by one (``FEATURES`` / ``RUN`` /
``RESULTS``: three round trips), ``stream``: pipelined ``STREAM`` requests
(:meth:`dynalign.sw.driver.Device.stream`, as many in flight as the receive queue
holds; the whole results record back), ``brief``: the same with ``CLASSIFY`` requests
(the brief record back: class, flags, cycles, spikes per layer).  The bridge counts
the cycles of every busy span, from its first request byte on the line to its last
reply byte (link and device time at the board clock; the host's
own time between spans -- USB latency, Python -- is not in it; a pipelined stream is one
span).  Reported per baud and way:

* ``link_cycles_per_inference``: those cycles over the classification, per inference;
* ``compute_cycles_per_inference``: the device's own ``cycles`` (RUN to class), the
  compute-bound rate's period;
* ``inferences_per_s`` (at the board clock) and ``fraction_of_compute_bound`` =
  compute / link cycles (the issue's target: >= 0.9 at 3 Mbaud);
* ``bytes_per_inference`` on the wire, both ways.

Usage: ``python bench/bench_link.py RUN [RUN2] [--board icebreaker]
[--bauds 3000000,115200] [--ways brief,stream,classify] [--samples 20]``.  At 115,200 baud
an upload of the iCEBreaker's image (its trajectory table block is 15.6 KB) takes
~2,000 cycles a byte: minutes of simulation.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from dynalign.constraints.boards import BOARDS, limits_for_images
from dynalign.hw.wire import parse_image
from dynalign.sim.virtual_board import board_top, serve, wait_port
from dynalign.sw.driver import Device, SerialTransport, run_sync
from dynalign.sw.rundir import run_codes


def measure(board: str, run, *, baud: int, samples: int, way: str) -> dict:
    image, codes, _ = run_codes(run)
    spec = BOARDS[board]
    limits = limits_for_images([parse_image(image)], lanes=spec.lanes, table=spec.table)
    vb = board_top(board=board, limits=limits, baud=baud)
    tmp = Path(tempfile.mkdtemp(prefix="bench-link-"))
    info = tmp / "port.json"
    done = {}
    th = threading.Thread(target=lambda: done.update(serve(vb, info=info, idle_exit_s=3)),
                          daemon=True)
    th.start()
    state = wait_port(info, timeout=900)
    tr = SerialTransport(state["port"], timeout=0.25)
    # (a core that integrates its table after an upload makes the first run wait for it:
    # tens of millions of simulated cycles, minutes here)
    dev = Device(tr, quiet_limit=400 if limits.table else 4000)

    def counters():
        # read as it is: after a slow last reply the board may already have closed its
        # port (host silent for idle_exit_s), its counters final
        return json.loads(info.read_text())["counters"]

    async def go():
        await dev.identify()
        t0 = time.perf_counter()
        await dev.upload(image)
        up_s = time.perf_counter() - t0
        rows = [[int(v) for v in row] for row in codes[:samples]]
        # one inference first: a core that integrates its table after the upload is busy
        # until the table is built (its first run waits), and that is no link time
        await dev.classify(rows[0])
        time.sleep(0.3)
        c0, b0 = counters(), dev.bytes_sent + dev.bytes_received
        if way in ("stream", "brief"):
            got = await dev.stream(rows, brief=way == "brief")
        else:
            got = [await dev.classify(row) for row in rows]
        time.sleep(0.3)
        return up_s, c0, counters(), dev.bytes_sent + dev.bytes_received - b0, got

    try:
        up_s, c0, c1, nbytes, got = run_sync(go())
    finally:
        tr.close()
        th.join(timeout=60)
    n = len(got)
    link = (c1["request_cycles"] - c0["request_cycles"]) / n
    compute = float(np.mean([r.cycles for r in got]))
    return {"run": str(run), "way": way, "board": board, "baud": baud,
            "divisor": vb.divisor, "queue": vb.top.limits.queue,
            "clock_mhz": vb.clk_freq / 1e6, "samples": n,
            "spans_per_inference": (c1["requests"] - c0["requests"]) / n,
            "bytes_per_inference": nbytes / n,
            "link_cycles_per_inference": link, "compute_cycles_per_inference": compute,
            "inferences_per_s": vb.clk_freq / link,
            "compute_bound_inferences_per_s": vb.clk_freq / compute,
            "fraction_of_compute_bound": compute / link, "upload_wall_s": round(up_s, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="one run or more (e.g. both modes)")
    p.add_argument("--board", default="icebreaker", choices=sorted(BOARDS))
    p.add_argument("--bauds", default="3000000,115200")
    p.add_argument("--ways", default="brief,stream,classify")
    p.add_argument("--samples", type=int, default=20)
    args = p.parse_args(argv)
    rows = [measure(args.board, run, baud=int(b), samples=args.samples, way=way)
            for run in args.runs for b in args.bauds.split(",")
            for way in args.ways.split(",")]
    json.dump({"bench": "link", "results": rows}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
