"""Golden encoder throughput: 10,000 samples x 7 features, mixed oscillator, T=5.

Prints one JSON object.  Three figures per delta, as medians over ``--repeats`` runs:

* ``baseline_samples_per_s`` -- the straightforward per-feature float RK4 loop of the
  paper's code (Python loop over samples and features, numpy per step), measured on a
  subset and scaled: it is the reference point of the 100x goal;
* ``float_batched_samples_per_s`` -- float64 RK4 vectorised over the whole batch
  (``ref_encode_float``), the way a torch implementation steps a batch;
* ``golden_cold_samples_per_s`` -- the bit-exact model from scratch: builds the
  trajectory table (all 256 codes) and encodes the whole batch;
* ``golden_warm_samples_per_s`` -- the table already built (one per parameter set, as
  in training and in the hardware): encode only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, ref_encode_float
from dynalign.hw.formats import CODE
from dynalign.hw.systems import EncoderConfig, derivative_float


def baseline_loop(values, config):
    """Per-sample, per-feature float RK4, as in the paper's code."""
    p, h = config.p, config.dt
    out = np.empty(values.shape + (config.samples, 3))
    for n in range(values.shape[0]):
        for k in range(values.shape[1]):
            v = values[n, k]
            s = np.array([v, 0.2 * v, -v])
            for i in range(config.n_steps + 1):
                if i % config.stride == 0:
                    out[n, k, i // config.stride] = s
                if i == config.n_steps:
                    break
                k1 = np.array(derivative_float(config.system, p, *s))
                k2 = np.array(derivative_float(config.system, p, *(s + h / 2 * k1)))
                k3 = np.array(derivative_float(config.system, p, *(s + h / 2 * k2)))
                k4 = np.array(derivative_float(config.system, p, *(s + h * k3)))
                s = s + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return out


def timed(fn, repeats, *args):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=7)
    ap.add_argument("--baseline-samples", type=int, default=3,
                    help="samples the slow baseline loop runs (scaled to per second)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    codes = rng.integers(CODE.min_int, CODE.max_int + 1, size=(args.samples, args.features))
    results = {"samples": args.samples, "features": args.features, "T": 5, "tmax": 8.0,
               "dt": 0.01, "repeats": args.repeats, "by_delta": {}}
    for delta in (-1.5, 2.0):
        cfg = EncoderConfig(delta=delta)
        sub = CODE.to_real(codes[:args.baseline_samples])
        t_base = timed(baseline_loop, max(1, args.repeats // 2), sub, cfg)
        base_rate = args.baseline_samples / t_base
        allv = CODE.to_real(codes)
        t_float = timed(ref_encode_float, max(1, args.repeats // 2), allv, cfg)
        t_cold = timed(lambda c: FixedEncoder(c).encode(codes), args.repeats, cfg)
        enc = FixedEncoder(cfg)
        enc.encode(codes[:1])
        t_warm = timed(enc.encode, args.repeats, codes)
        results["by_delta"][str(delta)] = {
            "baseline_samples_per_s": base_rate,
            "float_batched_samples_per_s": args.samples / t_float,
            "golden_cold_samples_per_s": args.samples / t_cold,
            "golden_warm_samples_per_s": args.samples / t_warm,
            "table_build_s": t_cold - t_warm,
            "speedup_cold": (args.samples / t_cold) / base_rate,
            "speedup_warm": (args.samples / t_warm) / base_rate,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
