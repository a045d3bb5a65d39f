"""The main job on the built-in digits data: ``make demo`` / ``python -m sw.demo``.

Stage 1 (always): reduce scikit-learn digits to K features (fit on the training part),
quantise to feature codes, encode them with the bit-exact golden encoder in the
expansive and the dissipative mode, print each mode's Lyapunov sum, the trajectories'
magnitude and saturation, and write trajectory plots.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hw.encoder.ref import FixedEncoder, codes_to_values
from hw.formats import CODE, SAMPLE
from hw.systems import MODE_PRESETS, EncoderConfig, lyapunov_spectrum


def digit_codes(k: int, seed: int = 0):
    """Digits -> standardise + PCA (fit on a seeded 80% train part) -> codes in CODE."""
    from sklearn.datasets import load_digits
    from sklearn.decomposition import PCA
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(xtr)
    pca = PCA(n_components=k, random_state=seed).fit(scaler.transform(xtr))
    ftr = pca.transform(scaler.transform(xtr))
    scale = np.percentile(np.abs(ftr), 99.5) / (CODE.max_real * 0.95)
    f = pca.transform(scaler.transform(xte)) / scale
    codes = np.clip(np.floor(f * 2 ** CODE.frac + 0.5), CODE.min_int, CODE.max_int)
    return codes.astype(np.int64), yte


def stage_encode(out: Path, k: int) -> dict:
    codes, labels = digit_codes(k)
    report = {"features": k, "test_images": int(codes.shape[0]), "modes": {}}
    print(f"digits: {codes.shape[0]} test images -> {k} features -> codes in {CODE}")
    for mode in ("expansive", "dissipative"):
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
    from .commands.plot import plot_trajectories
    vals = codes_to_values(codes[:3, 0])
    png = plot_trajectories([MODE_PRESETS["expansive"], 0.0, MODE_PRESETS["dissipative"]],
                            vals, out=out / "trajectories.png")
    print(f"  wrote {png} (first feature of three test digits, labels {labels[:3].tolist()})")
    report["plot"] = str(png)
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sw.demo", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    ap.add_argument("--features", type=int, default=7, help="K features (default 7)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"encode": stage_encode(out, args.features)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(f"report: {out / 'report.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
