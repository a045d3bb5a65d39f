"""The main job on the built-in digits data: ``make demo`` / ``python -m dynalign.sw.demo``.

Four stages, each printed as it finishes and gathered in ``OUT/report.json``:

1. **encode** -- digits reduced to K features (fit on the training part), quantised to
   codes, encoded by the bit-exact golden encoder in the expansive and the dissipative
   mode; each mode's Lyapunov sum (QR spectrum and theory), the trajectories' magnitude
   and saturation; a trajectory plot.
2. **train** -- one quantisation-aware LIF network size (by default the largest the
   board holds: :data:`dynalign.constraints.boards.BOARDS`), trained in both modes
   (:func:`dynalign.sw.train.train_run`; the dissipative model, the sparse mode, with a spike
   penalty and a coarser input shift), exported to ``OUT/runs/{expansive,dissipative}`` and
   scored on the test split: golden accuracy (what the hardware computes), float and MLP
   accuracy, torch/golden agreement, spikes and SynOps per inference.
3. **verify** -- both weight images uploaded once through the simulated UART into the
   Verilated top level, one per bank, then switched expansive -> dissipative ->
   expansive with ``SELECT`` (no re-upload), and an upload into the idle bank interrupted
   while the other serves (:func:`dynalign.sw.verify_system.verify_system`); every
   result record compared with ``==`` to
   the golden model, its ``cycles`` to the whole-device cycle model
   (:mod:`dynalign.hw.core.cycles`); device cycles per inference per mode, and the
   model's over the whole test split.
4. **build** -- the bitstream (iCEBreaker by default) sized for the trained topology, with
   the YoWASP tools (:func:`dynalign.hw.synth.build_board`): Fmax, utilisation, and the latency
   per inference of each mode at the board clock.

The exit code is non-zero when verification finds a mismatch or the bitstream does not
build or meet timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from dynalign.constraints.boards import BOARDS, limits_for_images
from dynalign.hw.encoder.ref import FixedEncoder, codes_to_values
from dynalign.hw.formats import CODE, SAMPLE
from dynalign.hw.synth import build_board
from dynalign.hw.systems import MODE_PRESETS, EncoderConfig, lyapunov_spectrum
from dynalign.hw.wire import parse_image

from .data import load_dataset
from .features import FeatureTransform
from .fit import board_network
from .plots import plot_trajectories
from .rundir import limits_for_run, run_codes
from .train import TrainOptions, train_run
from .verify_system import predicted_cycles, verify_system

MODES = ("expansive", "dissipative")
STAGES = ("encode", "train", "verify", "build")


def digit_codes(k: int, seed: int = 0):
    """Digits (:func:`dynalign.sw.data.load_dataset`, the training recipe's seeded split)
    -> the feature pipeline (:class:`dynalign.sw.features.FeatureTransform`, fitted on the
    training split) -> codes of the test split, with their labels."""
    ds = load_dataset("digits", seed=seed)
    transform = FeatureTransform.fit(ds.x_train, k=k, input_divisor=ds.input_divisor,
                                     input_units=ds.input_units)
    return transform.codes(ds.x_test), ds.y_test


def stage_encode(out: Path, k: int) -> dict:
    codes, labels = digit_codes(k)
    report = {"features": k, "test_images": int(codes.shape[0]), "modes": {}}
    print(f"[encode] digits: {codes.shape[0]} test images -> {k} features -> codes in {CODE}")
    for mode in MODES:
        cfg = EncoderConfig(delta=MODE_PRESETS[mode])
        samples, sat = FixedEncoder(cfg).encode(codes)
        exps = lyapunov_spectrum(cfg.system, cfg.p)
        real = np.abs(SAMPLE.to_real(samples))
        row = {"delta": cfg.p["delta"], "lyapunov_sum_theory": cfg.lyapunov_sum,
               "lyapunov_sum_qr": float(exps.sum()), "exponents": exps.tolist(),
               "peak_abs_at_T": [float(real[:, t].max()) for t in range(cfg.samples)],
               "saturated_features": int(np.count_nonzero(sat))}
        report["modes"][mode] = row
        print(f"  {mode:12s} delta={row['delta']:+5.1f}  Lyapunov sum {exps.sum():+.3f} "
              f"(theory {cfg.lyapunov_sum:+.1f})  |sample| peak per step: "
              + " ".join(f"{v:.3g}" for v in row["peak_abs_at_T"])
              + f"  saturated features: {row['saturated_features']}")
    vals = codes_to_values(codes[:3, 0])
    png = plot_trajectories([MODE_PRESETS["expansive"], 0.0, MODE_PRESETS["dissipative"]],
                            vals, out=out / "trajectories.png")
    print(f"  wrote {png} (first feature of three test digits, labels {labels[:3].tolist()})")
    report["plot"] = str(png)
    return report


def stage_train(out: Path, opts, *, dissipative_spike_reg: float = 1.0,
                dissipative_in_shift: int | None = 10) -> dict:
    """Train the same network size in both modes (the dissipative one, the sparse mode,
    with the spike penalty ``dissipative_spike_reg`` and the coarse input shift
    ``dissipative_in_shift``); the test metrics of each."""
    per_mode = {"expansive": opts,
                "dissipative": dataclasses.replace(opts, spike_reg=dissipative_spike_reg,
                                                   in_shift=dissipative_in_shift)}
    report = {}
    for mode in MODES:
        mo = per_mode[mode]
        run_dir = out / "runs" / mode
        print(f"[train] {mode}: {mo.dataset}, {mo.features} features, layers "
              f"{list(mo.layers)}, {mo.epochs} epochs, spike penalty {mo.spike_reg:g}, "
              f"in_shift {'from the data' if mo.in_shift is None else mo.in_shift} "
              f"-> {run_dir}", flush=True)
        m = train_run(run_dir, encoder=EncoderConfig(delta=MODE_PRESETS[mode]), opts=mo)
        t = m["test"]
        report[mode] = {
            "run": str(run_dir), "topology": t["topology"], "delta": t["delta"],
            "lyapunov_sum": t["lyapunov_sum"], "golden_accuracy": t["golden_accuracy"],
            "float_accuracy": t["float_accuracy"], "ann_accuracy": t["ann_accuracy"],
            "torch_golden_agreement": t["torch_golden_agreement"],
            "spikes_per_inference": t["spikes_per_inference"],
            "synops_per_inference": t["synops_per_inference"],
            "test_samples": t["test_samples"], "best_epoch": m["best_epoch"],
            "spike_reg": mo.spike_reg, "in_shift": t["in_shift"],
            "train_seconds": m["train_seconds"]}
        r = report[mode]
        print(f"  golden {r['golden_accuracy']:.4f}  float {r['float_accuracy']:.4f}  "
              f"MLP {r['ann_accuracy']:.4f}  torch/golden agreement "
              f"{r['torch_golden_agreement']:.4f}  spikes/inference "
              f"{r['spikes_per_inference']:.1f}  ({r['train_seconds']:.0f} s)", flush=True)
    e, d = report["expansive"], report["dissipative"]
    report["spike_ratio_dissipative_to_expansive"] = (
        d["spikes_per_inference"] / max(e["spikes_per_inference"], 1e-9))
    return report


def stage_verify(out: Path, samples: int, lanes: int, table: bool = False) -> dict:
    """Upload both images through the simulated UART (switching between them) and hold
    every result against the golden model."""
    images, codes = [], []
    for mode in MODES:
        img, c, _ = run_codes(out / "runs" / mode)
        images.append(img)
        codes.append(c)
    print(f"[verify] Verilated top level: upload expansive (bank 0), run {samples}; "
          f"upload dissipative (bank 1), run {samples}; SELECT expansive, dissipative, "
          f"expansive, run {min(samples, 5)} each; an upload into the idle bank "
          f"interrupted (lanes {lanes}{', table core' if table else ''})", flush=True)
    rep = verify_system(images, codes, samples=samples, lanes=lanes,
                        build_root=out / "sim_build", table=table)
    cyc = dict(zip(MODES, rep["cycles_per_inference_by_model"], strict=True))
    rep["cycles_per_inference_by_mode"] = cyc
    # every simulated record's cycles equalled the whole-device cycle model's
    # (dynalign.hw.core.cycles), so the model gives the latency of the whole test split
    limits = limits_for_images([parse_image(im) for im in images], lanes=lanes, table=table)
    split = {m: float(predicted_cycles(parse_image(im), c, limits).mean())
             for m, im, c in zip(MODES, images, codes, strict=True)}
    rep["model_cycles_test_split_by_mode"] = split
    print(f"  compared {rep['compared']} inferences, mismatches {rep['mismatches']}, "
          f"mode switches {rep['mode_switches']} ({rep['select_switches']} by SELECT), "
          f"UART bytes {rep['uart_bytes']}; "
          "device cycles per inference (each equal to the cycle model's): "
          + ", ".join(f"{m} {c:.0f}" for m, c in cyc.items())
          + "; the cycle model over the whole test split: "
          + ", ".join(f"{m} {c:.0f}" for m, c in split.items()), flush=True)
    return rep


def stage_build(out: Path, board: str, verify: dict | None) -> dict:
    run = out / "runs" / "expansive"
    print(f"[build] {board} bitstream sized for {run} (YoWASP; the first use compiles "
          "the tools, about a minute)", flush=True)
    limits = limits_for_run(run, board=board)
    rep = build_board(board=board, limits=limits, build_dir=out / "bitstream" / board)
    print(f"  {rep['bitstream']}: Fmax {rep['fmax_mhz']} MHz at a {rep['clock_mhz']} MHz "
          f"clock (meets timing: {rep['meets_timing']}), LUTs {rep['luts']}/"
          f"{rep['luts_total']}, FFs {rep['ffs']}, DSPs {rep['dsps']}, BRAMs {rep['brams']}, "
          f"SPRAMs {rep['sprams']}", flush=True)
    if verify is not None and rep["lanes"] == verify["lanes"]:
        rep["latency_us_by_mode"] = {
            m: c / rep["clock_mhz"] for m, c in verify["cycles_per_inference_by_mode"].items()}
        print("  latency per inference at the board clock: "
              + ", ".join(f"{m} {v:.1f} us" for m, v in rep["latency_us_by_mode"].items()))
    return rep


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dynalign.sw.demo",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    defaults = TrainOptions()
    ap.add_argument("--features", type=int,
                    help="K features (default: the most the board holds)")
    ap.add_argument("--layers",
                    help="hidden sizes, comma-separated (default: the board's)")
    ap.add_argument("--dissipative-spike-reg", type=float, default=1.0,
                    help="spike penalty of the dissipative model, the sparse mode "
                         "(default %(default)s; 0: none)")
    ap.add_argument("--dissipative-in-shift", type=int, default=10,
                    help="layer-1 input shift of the dissipative model: coarser input, "
                         "fewer input events and cycles (default %(default)s; -1: chosen "
                         "from the data)")
    ap.add_argument("--epochs", type=int, default=defaults.epochs,
                    help="training epochs per mode (default %(default)s, as dynalign "
                         "train; the best validation epoch is kept)")
    ap.add_argument("--limit", type=int, help="use a stratified subset of the digits")
    ap.add_argument("--samples", type=int, default=10,
                    help="test samples per model in the RTL simulation (default 10)")
    ap.add_argument("--board", default="icebreaker", choices=sorted(BOARDS),
                    help="board to build for (default %(default)s); the network defaults "
                         "to the size it holds")
    ap.add_argument("--stages", default=",".join(STAGES),
                    help="comma list of stages to run (default: all: %(default)s); "
                         "verify and build use the runs of an earlier train")
    args = ap.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    bad = [s for s in stages if s not in STAGES]
    if bad:
        ap.error(f"unknown stage(s) {bad} (choose from {', '.join(STAGES)})")
    spec = BOARDS[args.board]
    net = board_network(args.board)          # what `dynalign train --board` trains
    if args.features is None:
        args.features = net.features
    try:
        layers = tuple(int(v) for v in args.layers.split(",")) if args.layers \
            else net.layers
    except ValueError:
        ap.error(f"--layers must be comma-separated integers, not {args.layers!r}")
    opts = TrainOptions(features=args.features, layers=layers, epochs=args.epochs,
                        weight_bits=net.widths_for(len(layers)),
                        limit=args.limit, progress=False)
    try:
        opts.validate()
    except ValueError as exc:
        ap.error(str(exc))
    if args.samples < 1:
        ap.error(f"--samples must be a positive integer, not {args.samples}")
    if not args.dissipative_spike_reg >= 0:
        ap.error(f"--dissipative-spike-reg must be >= 0, not {args.dissipative_spike_reg}")
    if not -1 <= args.dissipative_in_shift <= 31:
        ap.error(f"--dissipative-in-shift must be in -1..31, not {args.dissipative_in_shift}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if any(s in stages for s in ("verify", "build")) and "train" not in stages:
        missing = [m for m in MODES if not (out / "runs" / m / "model.dlw").exists()]
        if missing:
            ap.error(f"no trained runs under {out / 'runs'} ({', '.join(missing)}): "
                     "run the train stage first")

    t0 = time.perf_counter()
    report, ok = {}, True
    if "encode" in stages:
        report["encode"] = stage_encode(out, args.features)
    if "train" in stages:
        report["train"] = stage_train(
            out, opts, dissipative_spike_reg=args.dissipative_spike_reg,
            dissipative_in_shift=None if args.dissipative_in_shift == -1
            else args.dissipative_in_shift)
    if "verify" in stages:
        report["verify"] = stage_verify(out, args.samples, lanes=spec.lanes, table=spec.table)
        ok &= report["verify"]["mismatches"] == 0
    if "build" in stages:
        report["build"] = stage_build(out, args.board, report.get("verify"))
        ok &= bool(report["build"]["bitstream"]) and report["build"]["meets_timing"]
    report["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {out / 'report.json'} ({report['seconds']:.0f} s)"
          + ("" if ok else "  -- FAILED: see above"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
