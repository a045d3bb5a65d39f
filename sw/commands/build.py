"""``dynalign build --board {icebreaker,ulx3s} [RUN] --json``: the accelerator bitstream.

Builds :class:`dynalign.constraints.boards.BoardTop` (the UART host link, command engine, encoder
and LIF network) with the YoWASP tools and prints::

    {"board", "bitstream", "fmax_mhz", "clock_mhz", "luts", "luts_total", "ffs", "dsps",
     "brams", "meets_timing"}

``fmax_mhz`` and utilisation come from nextpnr's report (:func:`dynalign.hw.synth.parse_nextpnr`);
``clock_mhz`` is the clock the board runs the design at (the oscillator, or the PLL
output where the board has one: the iCEBreaker's 24 MHz from its 12 MHz oscillator);
``meets_timing`` is ``fmax_mhz >= clock_mhz``.  The network size defaults to what the
board holds (:func:`dynalign.constraints.boards.default_limits`); with RUN it is the run's
topology (K, T and layer sizes), so exactly that model and smaller ones fit.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

__all__ = ["register", "build", "limits_for_run"]


def limits_for_run(run, *, lanes: int, max_payload: int = 256, table: bool = False):
    from dynalign.sw.protocol import parse_image
    from dynalign.sw.verify_system import device_image, system_limits
    return system_limits([parse_image(device_image(run))], lanes=lanes,
                         max_payload=max_payload, table=table)


def build(*, board: str, run=None, baud: int = 115200, build_dir=None,
          do_build: bool = True, name: str = "dynalign", lanes: int | None = None,
          core: str = "lif"):
    """Build (or, with ``do_build=False``, only plan) the bitstream for ``board``.

    Returns the report dict, or the Amaranth ``BuildPlan`` when ``do_build`` is False.
    """
    from dynalign.constraints.boards import BOARDS, BoardTop, default_limits, platform_for
    from dynalign.hw.synth import YOSYS_AFTER_READ, parse_nextpnr, yowasp_environment
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r} (choose from {', '.join(BOARDS)})")
    spec = BOARDS[board]
    lanes = spec.lanes if lanes is None else lanes
    limits = limits_for_run(run, lanes=lanes, table=spec.table) if run is not None \
        else default_limits(board)
    if run is None and lanes != spec.lanes:
        from dynalign.hw.top import lif_limits
        limits = lif_limits(max_features=limits.max_features,
                            max_samples=limits.max_samples, max_sizes=limits.max_sizes,
                            lanes=lanes, max_payload=limits.max_payload, table=spec.table)
    top = BoardTop(board=board, limits=limits, baud=baud, core=core)
    platform = platform_for(board)
    build_dir = Path(build_dir or Path("build") / "bitstream" / board)
    opts = {"synth_opts": spec.synth_opts, "script_after_read": YOSYS_AFTER_READ,
            "nextpnr_opts": f"--report {name}.report.json --timing-allow-fail"}
    if not do_build:
        return platform.build(top, name=name, build_dir=str(build_dir), do_build=False,
                              do_program=False, **opts)
    yowasp_environment()
    bitstream = build_dir / f"{name}.{spec.bitstream_ext}"
    bitstream.unlink(missing_ok=True)
    t0 = time.monotonic()
    error = None
    try:
        platform.build(top, name=name, build_dir=str(build_dir), do_program=False, **opts)
    except subprocess.CalledProcessError:
        # e.g. the design does not fit: report the utilisation nextpnr printed
        log = build_dir / f"{name}.tim"
        text = log.read_text() if log.exists() else ""
        errors = [ln for ln in text.splitlines() if ln.startswith("ERROR")]
        error = errors[0] if errors else "the build failed (see the build directory)"
    rep = parse_nextpnr(build_dir, name, board)
    clock_mhz = round(top.clk_freq / 1e6, 3)
    fmax = rep.get("fmax_mhz")
    return {"board": board, "bitstream": str(bitstream) if bitstream.exists() else None,
            "fmax_mhz": fmax, "clock_mhz": clock_mhz, "luts": rep.get("luts"),
            "luts_total": rep.get("luts_total"), "ffs": rep.get("ffs"),
            "dsps": rep.get("dsps"), "brams": rep.get("brams"),
            "meets_timing": bool(error is None and fmax is not None and fmax >= clock_mhz),
            "sprams": rep.get("sprams"), "baud": baud, "divisor": top.top.divisor,
            "topology_max": [3 * limits.max_features, *limits.max_sizes],
            "lanes": limits.lanes, "bank_bytes": limits.bank_bytes,
            "core": core, "table": limits.table, "error": error,
            "seconds": round(time.monotonic() - t0, 1)}


def register(sub):
    p = sub.add_parser("build", help="build the accelerator bitstream for a board",
                       description=__doc__)
    p.add_argument("run", nargs="?", help="run directory or weight image: size the "
                                          "network for this model (default: board default)")
    p.add_argument("--board", required=True, choices=["icebreaker", "ulx3s"])
    p.add_argument("--baud", type=int, default=115200, help="UART baud (default 115200)")
    p.add_argument("--lanes", type=int, help="LIF lanes (default: the board's)")
    p.add_argument("--out", help="build directory (default build/bitstream/BOARD)")
    p.add_argument("--core", choices=["lif", "stub"], default="lif",
                   help="stub: the host link alone, to measure its share")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=_main)


def _main(args) -> int:
    rep = build(board=args.board, run=args.run, baud=args.baud, build_dir=args.out,
                lanes=args.lanes, core=args.core)
    if args.json:
        print(json.dumps(rep))
    else:
        for k, v in rep.items():
            print(f"{k}: {v}")
    return 0 if rep["bitstream"] else 1
