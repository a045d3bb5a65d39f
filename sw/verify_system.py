"""``dynalign verify system RUN [--switch RUN2] --samples N|all --json``: end to end.

Uploads RUN's weight image through the simulated UART (the host driver, :mod:`dynalign.sw.driver`,
over the cocotb bridge of ``sim/tb_top.py``) into the Verilated top level
(:class:`dynalign.hw.top.DynalignTop`), classifies N test samples (their feature codes from the
run's own feature transform and data split), and compares every result record with the
golden model (:func:`dynalign.hw.wire.golden_results`: golden encoder on the uploaded integers,
golden LIF network) with ``==`` on every field: class, flags, the device's ``cycles``
(against the whole-device cycle model, :func:`dynalign.hw.core.cycles.ref_device_cycles`,
for the simulated lanes and core), spikes and saturations per layer and every output
spike count.  With ``--switch RUN2`` the same bitstream holds both models and is switched
at run time with ``SELECT``: upload A (bank 0), run; upload B (bank 1), run; then
``SELECT`` A, B, A, each running the first samples again (no re-upload); then an upload
into the idle bank (B's) is interrupted half-way -- A keeps serving while it is open and
after its aborted commit (``INCOMPLETE``), and a ``SELECT`` of the aborted bank is refused
(``BANK_INVALID``).  ``--samples all`` runs every sample of the test split (of each
model).  ``--board icebreaker|ulx3s`` simulates that board's bitstream configuration (its
limits, core, lanes and store), so that the cycle counts are the board's.

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

from dynalign.constraints.boards import (
    BOARDS,
    board_store_ram,
    default_limits,
    limits_for_images,
)
from dynalign.hw.formats import CODE
from dynalign.hw.top import DynalignTop
from dynalign.hw.uart import MIN_DIVISOR
from dynalign.hw.validate import positive_int
from dynalign.hw.wire import (
    ERROR,
    Err,
    Limits,
    Results,
    encode_frame,
    golden_records,
    golden_results,
    image_for,
    image_requests,
    parse_image,
)

from .fit import fit_problem
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
             for name, g, e in zip(type(got)._fields, got, exp) if g != e]
    return "; ".join(parts) or "equal"


def predicted_cycles(image, codes, limits: Limits) -> np.ndarray:
    """The model's ``cycles`` for every row of ``codes`` (M, K) on a device with
    ``limits`` (no simulation): what ``verify system`` holds the RTL to."""
    return np.asarray([r.cycles for r in golden_records(image, codes, limits=limits)],
                      dtype=np.int64)


def board_top(board: str, images, *, divisor: int = MIN_DIVISOR) -> DynalignTop:
    """The :class:`DynalignTop` of ``board``'s bitstream (its default limits, core, lanes
    and model store; the UART at ``divisor``), after checking that every image fits it
    (``ValueError`` if not: :func:`dynalign.sw.fit.fit_problem`'s one line in the user's
    terms -- features, neurons, weights, the board's limit and the nearest size that fits
    -- the line ``build``, ``upload`` and ``check`` give)."""
    limits = default_limits(board)
    for im in images:
        # the size in the user's terms, as build / upload / check say it
        problem = fit_problem(parse_image(im).header, limits, where=f"the {board} board",
                              board=board)
        if problem:
            raise ValueError(problem)
    return DynalignTop(limits=limits, divisor=divisor, core="lif",
                       store_ram=board_store_ram(board, limits))


def verify_system(images: list[bytes], codes: list, *, samples: int | None, lanes: int = 4,
                  divisor: int = MIN_DIVISOR, code_format=None, build_root=None,
                  table: bool = False, top=None, board: str | None = None) -> dict:
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
    if top is None and board is not None:
        top = board_top(board, images, divisor=divisor)
    if top is None:
        limits = limits_for_images(parsed, lanes=lanes, table=table)
        top = DynalignTop(limits=limits, divisor=divisor, core="lif",
                          code_format=code_format or CODE)
    limits = top.limits
    # (which model, how it comes: "upload" into its bank / "select" it, the samples)
    schedule = [(0, "upload", list(range(counts[0])))]
    if len(images) == 2:
        again = [list(range(min(counts[w], 5))) for w in (0, 1)]
        schedule += [(1, "upload", list(range(counts[1]))), (0, "select", again[0]),
                     (1, "select", again[1]), (0, "select", again[0])]
    ops, checks, expect_err = [{"op": "identify"}], [], {}

    def classify(which, idxs):
        for i in idxs:
            row = i % len(codes[which])            # more samples than rows: wrap around
            c = codes[which][row]
            ops.append({"op": "classify", "codes": [int(v) for v in c]})
            checks.append((len(ops) - 1, which, row, c))
    for which, how, idxs in schedule:
        if how == "upload":
            ops.append({"op": "upload", "image": images[which].hex(), "bank": which})
        else:
            ops.append({"op": "select", "bank": which})
        classify(which, idxs)
    if len(images) == 2:
        # an upload into the idle bank (1), interrupted: A (bank 0) serves throughout
        reqs = image_requests(image_for(images[1], limits), max_payload=limits.max_payload,
                              bank=1)
        half = reqs[:max(2, len(reqs) // 2)]
        for i, (cmd, payload) in enumerate(half):
            ops.append({"op": "raw", "hex": encode_frame(cmd, payload, seq=i & 0xFF).hex()})
        classify(0, again[0][:2])
        ops.append({"op": "raw", "hex": encode_frame(*reqs[-1], seq=0xEE).hex()})
        expect_err[len(ops) - 1] = "INCOMPLETE"
        ops.append({"op": "select", "bank": 1})
        expect_err[len(ops) - 1] = "BANK_INVALID"
        classify(0, again[0][:2])
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
    for n, op in enumerate(out["ops"]):
        if n in expect_err:             # a refusal the schedule asked for
            reply = op.get("reply") or {}
            got = op.get("error") or (_error_name(reply) if reply else None)
            if got != expect_err[n]:
                mismatches += 1
                first = first or {"message": f"step {n}: expected {expect_err[n]}, the "
                                             f"device answered {got}"}
        elif op["op"] in ("upload", "select") and "bank" not in op:
            mismatches += 1
            first = first or {"upload_error": op.get("error"),
                              "message": f"{op['op']} failed ({op.get('error')})"}
        elif op["op"] == "raw" and (op.get("reply") or {}).get("cmd") == 0xFF:
            mismatches += 1
            first = first or {"message": f"step {n}: the interrupted upload was refused "
                                         f"early ({op['reply']})"}
    all_cycles = cycles[0] + cycles[1]

    def mean(v):
        return float(np.mean(v)) if v else None

    report = {"compared": len(checks), "mismatches": mismatches,
              "cycles_per_inference": mean(all_cycles),
              "uart_bytes": out["bytes_sent"] + out["bytes_received"],
              "mode_switches": len(schedule) - 1,
              "select_switches": sum(1 for _, how, _ in schedule if how == "select"),
              "interrupted_uploads": 1 if len(images) == 2 else 0,
              "board": board,
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


def _error_name(reply: dict) -> str | None:
    """The error name of a raw op's reply frame (``None`` unless an error reply)."""
    if reply.get("cmd") != ERROR:
        return None
    code = int(reply["payload"][:2], 16)
    try:
        return Err(code).name
    except ValueError:
        return str(code)


def register(sub):
    p = sub.add_parser("system", help="upload RUN through the simulated UART into the "
                                      "Verilated top level and compare with golden")
    p.add_argument("run", help="run directory (dynalign train --out) or a weight image")
    p.add_argument("--switch", metavar="RUN2",
                   help="second model: both resident, SELECT A -> B -> A, and an upload "
                        "into the idle bank interrupted")
    p.add_argument("--board", choices=sorted(BOARDS),
                   help="simulate that board's bitstream (limits, core, lanes, store): "
                        "the board's cycle counts")
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
                           divisor=args.divisor, table=args.table, board=args.board)
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    if report["mismatches"]:
        print(f"mismatch: {report['first_mismatch']['message']}", file=sys.stderr)
    return 1 if report["mismatches"] else 0
