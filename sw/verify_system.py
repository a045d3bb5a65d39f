"""``dynalign verify system RUN [--switch RUN2] --samples N --json``: end to end.

Uploads RUN's weight image through the simulated UART (the host driver, :mod:`dynalign.sw.driver`,
over the cocotb bridge of ``sim/tb_top.py``) into the Verilated top level
(:class:`dynalign.hw.top.DynalignTop`), classifies N test samples (their feature codes from the
run's own feature transform and data split), and compares every result record with the
golden model (:func:`dynalign.sw.protocol.golden_results`: golden encoder on the uploaded integers,
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
from pathlib import Path

import numpy as np

__all__ = ["register", "verify_system", "compare_results", "system_limits", "run_codes",
           "device_image"]


def _strip(res):
    return res._replace(cycles=0)


def compare_results(got_hex: str, image, codes):
    """``(equal, got, expected)`` for one RESULTS payload against the golden model."""
    from dynalign.sw.protocol import Results, golden_results
    got = Results.unpack(bytes.fromhex(got_hex))
    exp = golden_results(image, codes)
    return _strip(got) == _strip(exp), got, exp


def system_limits(images, *, lanes: int, max_payload: int = 256, table: bool = False):
    """The smallest limits that hold every image (device images, parsed); ``table``: a
    core that serves the image's trajectory table (the iCEBreaker's)."""
    from dynalign.hw.top import lif_limits
    n_layers = max(im.header.n_layers for im in images)
    sizes = [max([im.header.sizes[i] for im in images if i < im.header.n_layers], default=1)
             for i in range(n_layers)]
    return lif_limits(max_features=max(im.header.n_features for im in images),
                      max_samples=max(im.header.samples for im in images),
                      max_sizes=tuple(sizes), lanes=lanes, max_payload=max_payload,
                      table=table)


def device_image(run) -> bytes:
    """The device image of a run directory or of a weight-image file (checked: magic,
    version, size and CRC; a bad file raises a clear error)."""
    from dynalign.sw.evaluate import load_run
    from dynalign.sw.image import WeightImage
    path = Path(run)
    if path.is_file():
        return WeightImage.load(path).payload()
    if not path.is_dir():
        raise FileNotFoundError(f"no such run directory or weight image: {path}")
    return load_run(path)[1].payload()


def run_codes(run_dir, *, split: str = "test"):
    """``(image_bytes, codes, labels)`` of a run directory (or a bare device image: no
    codes, no labels)."""
    from dynalign.sw.evaluate import load_run
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return device_image(run_dir), None, None
    info, image, transform = load_run(run_dir)
    from dynalign.sw.data import load_dataset
    d = info["data"]
    ds = load_dataset(d["dataset"], data_dir=d.get("data_dir"), path=d.get("data_path"),
                      seed=d["seed"], test_fraction=d["test_fraction"],
                      val_fraction=d["val_fraction"], limit=d.get("limit"))
    x, y = {"test": (ds.x_test, ds.y_test), "val": (ds.x_val, ds.y_val)}[split]
    return image.payload(), transform.codes(x), y


def verify_system(images: list[bytes], codes: list, *, samples: int, lanes: int = 4,
                  divisor: int = 8, code_format=None, build_root=None,
                  table: bool = False) -> dict:
    """Run the upload / classify schedule on the Verilated top and compare with golden.

    ``images``: one or two device images; ``codes``: per image an (M, K) int array.
    ``table``: simulate the core that serves an uploaded table (no integrator; the
    driver sends each image with its table block).
    """
    from dynalign.hw.formats import CODE
    from dynalign.hw.top import DynalignTop
    from dynalign.sim.tb_top_run import run_top_job
    from dynalign.sw.protocol import parse_image

    if not 1 <= len(images) <= 2:
        raise ValueError("give one image, or two with a switch")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples must be a positive integer, not {samples!r}")
    parsed = [parse_image(im) for im in images]
    limits = system_limits(parsed, lanes=lanes, table=table)
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
    out = run_top_job(top, ops, build_root=build_root, tag="verify", quiet_cycles=4000,
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
            from dynalign.sw.protocol import parse_image
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
