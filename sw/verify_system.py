"""``dynalign verify system RUN [--switch RUN2] --samples N|all --json``: end to end.

Uploads RUN's weight image through the simulated UART (the host driver, :mod:`dynalign.sw.driver`,
over the cocotb bridge of ``sim/tb_top.py``) into the Verilated top level
(:class:`dynalign.hw.top.DynalignTop`), classifies N test samples (their feature codes from the
run's own feature transform and data split), and compares every result record with the
golden model (:func:`dynalign.hw.wire.golden_results`: golden encoder on the uploaded integers,
golden LIF network) with ``==`` on every field: class, flags, the device's ``cycles``
(against the whole-device cycle model, :func:`dynalign.hw.core.cycles.ref_device_cycles`,
for the simulated lanes and core), spikes and saturations per layer and every output
spike count.  With ``--switch RUN2`` the same bitstream is switched at run time: upload
A, run; upload B, run; upload A again, run the first samples again.  ``--samples all``
runs every sample of the test split (of each model).

Prints ``{"compared", "mismatches", "cycles_per_inference", "uart_bytes",
"mode_switches"}`` (plus per-model cycles).  ``cycles_per_inference`` is the device's
own count from ``RUN`` to the class (encoder lookup + network).

Simulation speed: the UART runs at ``--divisor`` clock cycles per bit (default
:data:`~dynalign.hw.uart.MIN_DIVISOR`, the fastest the UART takes; a board uses clock /
baud, e.g. 104 at 12 MHz and 115200 baud).  Only the link's bit time changes; the
protocol, the results and their ``cycles`` (counted from ``RUN``) do not depend on it.
The report gives the simulated cycles, the simulation's wall time and its cycles per
second.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from dynalign.constraints.boards import limits_for_images
from dynalign.hw.formats import CODE
from dynalign.hw.top import DynalignTop
from dynalign.hw.uart import MIN_DIVISOR
from dynalign.hw.validate import positive_int
from dynalign.hw.wire import Limits, Results, golden_records, golden_results, parse_image

from .rundir import run_codes
from .sim_link import run_ops

__all__ = ["register", "verify_system", "compare_results", "mismatch_message"]


def compare_results(got_hex: str, image, codes, *, limits: Limits):
    """``(equal, got, expected)`` for one RESULTS payload against the golden model of a
    device with ``limits`` (its lanes and core: the expected ``cycles``), every field
    compared with ``==``."""
    got = Results.unpack(bytes.fromhex(got_hex))
    exp = golden_results(image, codes, limits=limits)
    return got == exp, got, exp


def mismatch_message(got: Results, exp: Results) -> str:
    """The fields in which a device's record differs from the golden one, each with
    both values (``cycles 1234 on the device, 1233 from the model``)."""
    parts = [f"{name} {g} on the device, {e} from the model"
             for name, g, e in zip(Results._fields, got, exp) if g != e]
    return "; ".join(parts) or "equal"


def predicted_cycles(image, codes, limits: Limits) -> np.ndarray:
    """The model's ``cycles`` for every row of ``codes`` (M, K) on a device with
    ``limits`` (no simulation): what ``verify system`` holds the RTL to."""
    return np.asarray([r.cycles for r in golden_records(image, codes, limits=limits)],
                      dtype=np.int64)


def verify_system(images: list[bytes], codes: list, *, samples: int | None, lanes: int = 4,
                  divisor: int = MIN_DIVISOR, code_format=None, build_root=None,
                  table: bool = False, top=None) -> dict:
    """Run the upload / classify schedule on the Verilated top and compare with golden.

    ``images``: one or two device images; ``codes``: per image an (M, K) int array;
    ``samples``: rows per model (``None``: every row, the whole split).  ``table``:
    simulate the core that serves an uploaded table (no integrator; the driver sends
    each image with its table block).  ``top``: the :class:`DynalignTop` to simulate
    (default: one built for the images; a test plants a fault in its own).

    Every record is compared with ``==`` to :func:`dynalign.hw.wire.golden_results` of a
    device with the top's limits, ``cycles`` included; ``first_mismatch`` names the
    model, the sample and both values of every field that differs.
    """
    if not 1 <= len(images) <= 2:
        raise ValueError("give one image, or two with a switch")
    if len(codes) != len(images):
        raise ValueError(f"{len(codes)} code arrays for {len(images)} images")
    codes = [np.asarray(c) for c in codes]
    counts = [len(c) if samples is None else positive_int("samples", samples)
              for c in codes]
    parsed = [parse_image(im) for im in images]
    if top is None:
        limits = limits_for_images(parsed, lanes=lanes, table=table)
        top = DynalignTop(limits=limits, divisor=divisor, core="lif",
                          code_format=code_format or CODE)
    limits = top.limits
    schedule = [(0, list(range(counts[0])))]
    if len(images) == 2:
        schedule += [(1, list(range(counts[1]))), (0, list(range(min(counts[0], 5))))]
    ops, checks = [{"op": "identify"}], []
    for which, idxs in schedule:
        ops.append({"op": "upload", "image": images[which].hex()})
        for i in idxs:
            row = i % len(codes[which])            # more samples than rows: wrap around
            c = codes[which][row]
            ops.append({"op": "classify", "codes": [int(v) for v in c]})
            checks.append((len(ops) - 1, which, row, c))
    # a RUN right after an upload waits for the encoder's table refill (37 M cycles for
    # 256 codes x 800 RK4 steps; none with table=True): allow 4000 x 50000 = 2e8 quiet
    # cycles per reply
    t0 = time.perf_counter()
    out = run_ops(top, ops, build_root=build_root, tag="verify", quiet_cycles=4000,
                  quiet_limit=50000)
    wall = time.perf_counter() - t0
    # the golden records of every sample run, per model at once (the whole split)
    used = [sorted({i for _, w, i, _ in checks if w == which}) for which in range(len(images))]
    expected = [dict(zip(idx, golden_records(parsed[w], codes[w][idx], limits=limits)))
                if idx else {} for w, idx in enumerate(used)]
    mismatches, first, cycles, model_cycles = 0, None, {0: [], 1: []}, {0: [], 1: []}
    for op_i, which, i, c in checks:
        res = out["ops"][op_i]
        where = {"model": "AB"[which], "sample": i}
        if "results" not in res:
            mismatches += 1
            first = first or {**where, "error": res.get("error"),
                              "message": f"model {'AB'[which]} sample {i}: no results "
                                         f"({res.get('error')})"}
            continue
        got, exp = Results.unpack(bytes.fromhex(res["results"])), expected[which][i]
        ok = got == exp
        cycles[which].append(got.cycles)
        model_cycles[which].append(exp.cycles)
        if not ok:
            mismatches += 1
            first = first or {**where, "codes": [int(v) for v in c],
                              "got": got._asdict(), "expected": exp._asdict(),
                              "message": f"model {'AB'[which]} sample {i}: "
                                         + mismatch_message(got, exp)}
    for op in out["ops"]:
        if op["op"] == "upload" and "bank" not in op:
            mismatches += 1
            first = first or {"upload_error": op.get("error"),
                              "message": f"upload failed ({op.get('error')})"}
    all_cycles = cycles[0] + cycles[1]

    def mean(v):
        return float(np.mean(v)) if v else None

    report = {"compared": len(checks), "mismatches": mismatches,
              "cycles_per_inference": mean(all_cycles),
              "uart_bytes": out["bytes_sent"] + out["bytes_received"],
              "mode_switches": len(schedule) - 1,
              "cycles_per_inference_by_model": [mean(cycles[w])
                                                for w in range(len(images))],
              "model_cycles_per_inference_by_model": [mean(model_cycles[w])
                                                      for w in range(len(images))],
              "sim_cycles": out["sim_cycles"], "wall_s": round(wall, 2),
              "sim_wall_s": round(out["sim_wall_s"], 2),
              "sim_cycles_per_s": round(out["sim_cycles"] / max(out["sim_wall_s"], 1e-9)),
              "divisor": top.divisor, "lanes": limits.lanes, "table": limits.table,
              "topology": [[3 * p.header.n_features, *p.header.sizes] for p in parsed]}
    if first is not None:
        report["first_mismatch"] = first
    return report


def register(sub):
    p = sub.add_parser("system", help="upload RUN through the simulated UART into the "
                                      "Verilated top level and compare with golden")
    p.add_argument("run", help="run directory (dynalign train --out) or a weight image")
    p.add_argument("--switch", metavar="RUN2", help="second model: switch A -> B -> A")
    p.add_argument("--samples", type=_samples, default=20,
                   help="test samples per model, or 'all': the whole test split")
    p.add_argument("--lanes", type=int, default=4, help="LIF lanes of the simulated top")
    p.add_argument("--divisor", type=int, default=MIN_DIVISOR,
                   help=f"UART clock cycles per bit in simulation (default {MIN_DIVISOR}, "
                        "the fastest)")
    p.add_argument("--seed", type=int, default=0, help="random codes when RUN has no data")
    p.add_argument("--table", action="store_true",
                   help="simulate the core that serves an uploaded trajectory table (the "
                        "iCEBreaker's: no on-chip integrator)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _samples(text: str):
    """``--samples``: a positive count, or ``all`` (``None``)."""
    if text == "all":
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer or 'all', not {text!r}")
    return n


def _main(args) -> int:
    rng = np.random.default_rng(args.seed)
    images, codes = [], []
    for run in [args.run] + ([args.switch] if args.switch else []):
        img, c, _ = run_codes(run)
        if c is None:
            if args.samples is None:
                raise ValueError(f"{run} is a bare weight image: it has no test split, so "
                                 "--samples all has nothing to run; give a count")
            k = parse_image(img).header.n_features
            c = rng.integers(-128, 128, size=(args.samples, k))
        images.append(img)
        codes.append(c)
    report = verify_system(images, codes, samples=args.samples, lanes=args.lanes,
                           divisor=args.divisor, table=args.table)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    if report["mismatches"]:
        print(f"mismatch: {report['first_mismatch']['message']}", file=sys.stderr)
    return 1 if report["mismatches"] else 0
