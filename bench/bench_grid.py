"""The paper's grid on the hardware: does the choice of step against interpolation matter?

The paper integrates at dt = 0.01 and resamples each trajectory at T points evenly
spaced over [0, tmax] by linear interpolation between integration steps.  The hardware
cannot interpolate for free, so it integrates at :func:`dynalign.hw.systems.grid_step`
(the step nearest 0.01 on which every sample falls) and takes the samples on steps.  For
every system (the paper's parameters; Chen with the textbook ones, the paper's Chen
escapes) over the grid tmax in {2, 4, 8, 16, 32}, T in {3, 5, 10, 20}, over all 256
feature codes, against a fine reference (RK4 at ~0.001, every sample on a step):

* ``err_grid``: float RK4 at the grid step (the hardware's choice, in float);
* ``err_grid_fixed``: the bit-exact fixed-point model at the grid step (what the
  hardware computes);
* ``err_interp``: float RK4 at 0.01 with linear interpolation (the paper's protocol);
* ``grid_vs_interp``: the two protocols against each other.

Each is the largest absolute difference over codes, samples and components divided by
the reference's RMS over the same (chaos amplifies any difference on the long windows:
there both protocols are as far from the reference as from each other).
Prints one JSON object.

    python bench/bench_grid.py [--windows 2,4,8] [--systems lorenz,chua]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, codes_to_values, ref_encode_float
from dynalign.hw.formats import CODE, SAMPLE
from dynalign.hw.systems import (
    CHEN_TEXTBOOK,
    PAPER_SAMPLES,
    PAPER_WINDOWS,
    EncoderConfig,
    System,
    grid_step,
)

_LCM = math.lcm(*(t - 1 for t in PAPER_SAMPLES if t > 1))      # 684


def _variants(names):
    out = []
    for s in System:
        if names and s.value not in names:
            continue
        out.append((s.value if s is not System.CHEN else "chen-textbook", s.value,
                    dict(CHEN_TEXTBOOK) if s is System.CHEN else {}))
    return out


def _rel(a, ref):
    rms = float(np.sqrt(np.mean(ref ** 2)))
    return float(np.nanmax(np.abs(a - ref)) / rms)


def window(system, params, tmax, values):
    # fine reference: every sample of every T on a step
    k = max(1, round(tmax / (0.001 * _LCM)))
    fine = ref_encode_float(values, EncoderConfig(system=system, tmax=tmax,
                                                  dt=tmax / (_LCM * k), samples=_LCM + 1,
                                                  **params))
    # the paper's protocol: RK4 at 0.01 over every step, then linear interpolation
    n = round(tmax / 0.01)
    dense = ref_encode_float(values, EncoderConfig(system=system, tmax=tmax, dt=0.01,
                                                   samples=n + 1, **params))
    rows = {}
    for T in (t for t in PAPER_SAMPLES if t > 1):
        ref = fine[:, ::_LCM // (T - 1)]
        ts = np.linspace(0.0, tmax, T)
        pos = ts / 0.01
        i0 = np.clip(np.floor(pos).astype(int), 0, n - 1)
        frac = (pos - i0)[None, :, None]
        interp = dense[:, i0] * (1 - frac) + dense[:, i0 + 1] * frac
        dt = grid_step(tmax, T)
        cfg = EncoderConfig(system=system, tmax=tmax, dt=dt, samples=T, **params)
        on_grid = ref_encode_float(values, cfg)
        enc = FixedEncoder(cfg)
        fixed = SAMPLE.to_real(enc.table)
        rows[T] = {"dt": dt, "dt_vs_0.01": dt / 0.01 - 1, "n_steps": cfg.n_steps,
                   "err_grid": _rel(on_grid, ref), "err_grid_fixed": _rel(fixed, ref),
                   "err_interp": _rel(interp, ref), "grid_vs_interp": _rel(on_grid, interp),
                   "saturated_codes": int((enc.table_saturation > 0).sum())}
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--windows", default=",".join(f"{w:g}" for w in PAPER_WINDOWS))
    ap.add_argument("--systems", default="")
    args = ap.parse_args(argv)
    windows = [float(w) for w in args.windows.split(",")]
    names = {s for s in args.systems.split(",") if s}
    values = codes_to_values(np.arange(CODE.min_int, CODE.max_int + 1))
    out = {"reference": f"RK4, step tmax / ({_LCM} k) ~ 0.001", "codes": len(values),
           "systems": {}}
    t0 = time.perf_counter()
    for label, system, params in _variants(names):
        out["systems"][label] = {f"{w:g}": window(system, params, w, values)
                                 for w in windows}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
