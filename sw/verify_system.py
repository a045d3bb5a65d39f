"""``dynalign verify system RUN [--switch RUN2] --samples N --json``: end to end.

Uploads RUN's weight image through the simulated UART (the host driver, :mod:`dynalign.sw.driver`,
over the cocotb bridge of ``sim/tb_top.py``) into the Verilated top level
(:class:`dynalign.hw.top.DynalignTop`), classifies N test samples (their feature codes from the
run's own feature transform and data split), and compares every result record with the
golden model (:func:`dynalign.hw.wire.golden_results`: golden encoder on the uploaded integers,
golden LIF network) with ``==`` on class, flags, spikes and saturations per layer and
every output spike count.  With ``--switch RUN2`` the same bitstream is switched at run
time: upload A, run; upload B, run; upload A again, run the first samples again.

Prints ``{"compared", "mismatches", "cycles_per_inference", "uart_bytes",
"mode_switches"}`` (plus per-model cycles).  ``cycles_per_inference`` is the device's
own count from ``RUN`` to the class (encoder lookup + network).

Simulation speed: the UART runs at ``--divisor`` clock cycles per bit (default 8; a board
uses clock / baud, e.g. 104 at 12 MHz and 115200 baud).  Only the link's bit time
changes; the protocol and the results do not depend on it.
"""

from __future__ import annotations

import json

import numpy as np

from dynalign.constraints.boards import limits_for_images
from dynalign.hw.formats import CODE
from dynalign.hw.top import DynalignTop
from dynalign.hw.validate import positive_int
from dynalign.hw.wire import Results, golden_results, parse_image

from .rundir import run_codes
from .sim_link import run_ops

__all__ = ["register", "verify_system", "compare_results"]


def _strip(res):
    return res._replace(cycles=0)


def compare_results(got_hex: str, image, codes):
    """``(equal, got, expected)`` for one RESULTS payload against the golden model."""
    got = Results.unpack(bytes.fromhex(got_hex))
    exp = golden_results(image, codes)
    return _strip(got) == _strip(exp), got, exp


def verify_system(images: list[bytes], codes: list, *, samples: int, lanes: int = 4,
                  divisor: int = 8, code_format=None, build_root=None,
                  table: bool = False) -> dict:
    """Run the upload / classify schedule on the Verilated top and compare with golden.

    ``images``: one or two device images; ``codes``: per image an (M, K) int array.
    ``table``: simulate the core that serves an uploaded table (no integrator; the
    driver sends each image with its table block).
    """
    if not 1 <= len(images) <= 2:
        raise ValueError("give one image, or two with a switch")
    positive_int("samples", samples)
    parsed = [parse_image(im) for im in images]
    limits = limits_for_images(parsed, lanes=lanes, table=table)
    top = DynalignTop(limits=limits, divisor=divisor, core="lif",
                      code_format=code_format or CODE)
    schedule = [(0, list(range(samples)))]
    if len(images) == 2:
        schedule += [(1, list(range(samples))), (0, list(range(min(samples, 5))))]
    ops, checks = [{"op": "identify"}], []
    for which, idxs in schedule:
        ops.append({"op": "upload", "image": images[which].hex()})
        for i in idxs:
            c = np.asarray(codes[which])[i % len(codes[which])]
            ops.append({"op": "classify", "codes": [int(v) for v in c]})
            checks.append((len(ops) - 1, which, c))
    # a RUN right after an upload waits for the encoder's table refill (37 M cycles for
    # 256 codes x 800 RK4 steps; none with table=True): allow 4000 x 50000 = 2e8 quiet
    # cycles per reply
    out = run_ops(top, ops, build_root=build_root, tag="verify", quiet_cycles=4000,
                      quiet_limit=50000)
    mismatches, first, cycles = 0, None, {0: [], 1: []}
    for k, (op_i, which, c) in enumerate(checks):
        res = out["ops"][op_i]
        if "results" not in res:
            mismatches += 1
            first = first or {"sample": k, "model": which, "error": res.get("error")}
            continue
        ok, got, exp = compare_results(res["results"], parsed[which], c)
        cycles[which].append(got.cycles)
        if not ok:
            mismatches += 1
            first = first or {"sample": k, "model": which, "codes": [int(v) for v in c],
                              "got": got._asdict(), "expected": exp._asdict()}
    for op in out["ops"]:
        if op["op"] == "upload" and "bank" not in op:
            mismatches += 1
            first = first or {"upload_error": op.get("error")}
    all_cycles = cycles[0] + cycles[1]
    report = {"compared": len(checks), "mismatches": mismatches,
              "cycles_per_inference": float(np.mean(all_cycles)) if all_cycles else None,
              "uart_bytes": out["bytes_sent"] + out["bytes_received"],
              "mode_switches": len(schedule) - 1,
              "cycles_per_inference_by_model": [float(np.mean(c)) if c else None
                                                for c in (cycles[0], cycles[1][:])
                                                ][:len(images)],
              "sim_cycles": out["sim_cycles"], "divisor": divisor, "lanes": lanes,
              "table": table,
              "topology": [[3 * p.header.n_features, *p.header.sizes] for p in parsed]}
    if first is not None:
        report["first_mismatch"] = first
    return report


def register(sub):
    p = sub.add_parser("system", help="upload RUN through the simulated UART into the "
                                      "Verilated top level and compare with golden")
    p.add_argument("run", help="run directory (dynalign train --out) or a weight image")
    p.add_argument("--switch", metavar="RUN2", help="second model: switch A -> B -> A")
    p.add_argument("--samples", type=int, default=20, help="test samples per model")
    p.add_argument("--lanes", type=int, default=4, help="LIF lanes of the simulated top")
    p.add_argument("--divisor", type=int, default=8,
                   help="UART clock cycles per bit in simulation (default 8)")
    p.add_argument("--seed", type=int, default=0, help="random codes when RUN has no data")
    p.add_argument("--table", action="store_true",
                   help="simulate the core that serves an uploaded trajectory table (the "
                        "iCEBreaker's: no on-chip integrator)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _main(args) -> int:
    rng = np.random.default_rng(args.seed)
    images, codes = [], []
    for run in [args.run] + ([args.switch] if args.switch else []):
        img, c, _ = run_codes(run)
        if c is None:
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
    return 1 if report["mismatches"] else 0
