"""``dynalign encode``: run feature values through the float and the fixed-point encoder."""

from __future__ import annotations

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, ref_encode_float, values_to_codes
from dynalign.hw.formats import CODE, SAMPLE, formats_dict

from ..cli import print_json
from ..params import add_system_args, config_from_args, parse_floats


def register(sub):
    p = sub.add_parser("encode", help="encode feature values into trajectories",
                       description="Encode feature values with the float64 reference and the "
                                   "bit-exact fixed-point model; values are first quantised "
                                   f"to {CODE}.")
    add_system_args(p)
    p.add_argument("--values", required=True,
                   help="comma-separated feature values, e.g. --values=0.3,-0.7 "
                        f"(range [{CODE.min_real:g}, {CODE.max_real:g}])")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def encode_values(values, config) -> dict:
    codes = values_to_codes(np.asarray(values))
    samples, sat = FixedEncoder(config).encode(codes[None, :])
    k = len(values)
    fixed = SAMPLE.to_real(samples[0]).reshape(config.samples, k, 3).transpose(1, 0, 2)
    return {
        "config": config.describe(),
        "values": list(values),
        "codes": codes.tolist(),
        "float": ref_encode_float(np.asarray(values, dtype=np.float64), config).tolist(),
        "fixed": fixed.tolist(),
        "fixed_int": samples[0].reshape(config.samples, k, 3).transpose(1, 0, 2).tolist(),
        "saturated": (sat[0] > 0).tolist(),
        "saturation_events": sat[0].tolist(),
        "format": formats_dict(),
    }


def _sum_text(v) -> str:
    return "not constant" if v is None else f"{v:+g}"


def run(args) -> int:
    config = config_from_args(args)
    values = parse_floats(args.values, what="--values")
    out = encode_values(values, config)
    if args.json:
        print_json(out)
        return 0
    print(f"{config.system.value}: {dict(config.params)}  tmax={config.tmax:g} "
          f"dt={config.dt:g} T={config.samples}  Lyapunov sum "
          f"{_sum_text(config.lyapunov_sum)}")
    for v, code, fl, fx, sat in zip(values, out["codes"], out["float"], out["fixed"],
                                    out["saturated"]):
        print(f"v={v:+g} (code {code}){'  SATURATED' if sat else ''}")
        for t, (a, b) in enumerate(zip(fl, fx)):
            step = t * config.stride
            print(f"  step {step:5d}  float [{a[0]:+.6g} {a[1]:+.6g} {a[2]:+.6g}]  "
                  f"fixed [{b[0]:+.6g} {b[1]:+.6g} {b[2]:+.6g}]")
    return 0
