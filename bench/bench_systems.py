"""Every input system over the paper's windows: peaks, saturation, fixed-vs-float error,
Lyapunov spectrum (JSON on stdout).

For each system (defaults: the paper's; Chen also with the textbook parameters) and each
window ``tmax`` in {2, 4, 8, 16, 32} (dt = 0.01, the samples every 0.01 so that the peak
is over every integration step): the float64 peak ``|x|, |y|, |z|`` over all
2**CODE.width feature codes, the fixed-point model's peak (SAMPLE), how many codes
saturated somewhere, and the largest error of the fixed model against the float
reference over the codes that did not saturate (absolute, and relative to the
trajectory's peak).  Then the Lyapunov spectrum by QR (from v = 1 over t in [0, 32],
transient 8; the Chen of the paper's code escapes, so over [0, 0.1]) beside the
divergence: the constant trace where it is constant, else the trace averaged along the
same trajectory.

    python bench/bench_systems.py [--windows 2,4,8] [--systems chen,chua]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, codes_to_values, ref_encode_float
from dynalign.hw.formats import CODE, SAMPLE
from dynalign.hw.systems import (
    CHEN_TEXTBOOK,
    EncoderConfig,
    System,
    lyapunov_spectrum,
    lyapunov_sum_theory,
    mean_divergence,
)


def _variants(names):
    out = []
    for s in System:
        if names and s.value not in names:
            continue
        out.append((s.value, s.value, {}))
        if s is System.CHEN:
            out.append(("chen-textbook", s.value, dict(CHEN_TEXTBOOK)))
    return out


def window_row(system, params, tmax):
    cfg = EncoderConfig(system=system, tmax=float(tmax), dt=0.01,
                        samples=round(tmax / 0.01) + 1, **params)
    enc = FixedEncoder(cfg)
    fixed = SAMPLE.to_real(enc.table)
    sat = enc.table_saturation > 0
    with np.errstate(over="ignore", invalid="ignore"):
        fl = ref_encode_float(codes_to_values(enc.all_codes), cfg)
    finite = np.isfinite(fl).all(axis=(1, 2))
    fl_peak = np.abs(np.where(np.isfinite(fl), fl, np.inf)).max(axis=(0, 1))
    ok = ~sat & finite
    row = {"tmax": tmax, "float_peak_xyz": [float(v) for v in fl_peak],
           "float_escapes_codes": int((~finite).sum()),
           "fixed_peak_xyz": [float(v) for v in np.abs(fixed).max(axis=(0, 1))],
           "saturated_codes": int(sat.sum()), "codes": int(sat.size),
           "format_max": SAMPLE.max_real}
    if ok.any():
        err = np.abs(fixed[ok] - fl[ok])
        peak = np.abs(fl[ok]).max(axis=(1, 2), keepdims=True).clip(1e-12)
        row["max_abs_error"] = float(err.max())
        row["max_rel_error"] = float((err / peak).max())
    return row


def lyapunov_row(system, params):
    p = EncoderConfig(system=system, **params).p
    escapes = system == "chen" and p["c"] - p["a"] - p["b"] > 0
    kw = {"t_total": 0.1, "transient": 0.0, "dt": 0.001} if escapes else \
        {"t_total": 32.0, "transient": 8.0, "dt": 0.01}
    t0 = time.perf_counter()
    exps = lyapunov_spectrum(system, p, **kw)
    theory = lyapunov_sum_theory(system, p)
    div = theory if theory is not None else mean_divergence(system, p, **kw)
    return {"window": kw, "exponents": [float(e) for e in exps], "sum": float(exps.sum()),
            "divergence_constant": theory, "divergence_along_trajectory": float(div),
            "seconds": round(time.perf_counter() - t0, 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", default="2,4,8,16,32")
    ap.add_argument("--systems", default="")
    ap.add_argument("--no-lyapunov", action="store_true")
    args = ap.parse_args(argv)
    windows = [int(w) for w in args.windows.split(",")]
    names = {s for s in args.systems.split(",") if s}
    out = {"code_format": str(CODE), "sample_format": str(SAMPLE), "dt": 0.01,
           "integrator": "RK4 for every system", "systems": {}}
    for label, system, params in _variants(names):
        entry = {"params": EncoderConfig(system=system, **params).p,
                 "windows": [window_row(system, params, t) for t in windows]}
        if not args.no_lyapunov:
            entry["lyapunov"] = lyapunov_row(system, params)
        out["systems"][label] = entry
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
