"""Figures of the encoder: trajectories of the mixed oscillator for several deltas."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, ref_encode_float, values_to_codes
from dynalign.hw.formats import SAMPLE
from dynalign.hw.systems import EncoderConfig

__all__ = ["plot_trajectories"]


def plot_trajectories(deltas, values, *, tmax=8.0, dt=0.01, steps=5, out="trajectories.png"):
    """Write the figure; returns its path."""
    # matplotlib is imported here, not at the top: it costs ~0.5 s of start-up
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=np.float64)
    codes = values_to_codes(values)
    n_steps = round(tmax / dt)
    fig, axes = plt.subplots(len(deltas), 3, figsize=(13, 3.0 * len(deltas)), squeeze=False)
    for row, delta in zip(axes, deltas):
        cfg = EncoderConfig(delta=delta, tmax=tmax, dt=dt, samples=steps)
        dense = EncoderConfig(delta=delta, tmax=tmax, dt=dt, samples=n_steps + 1)
        fl = ref_encode_float(values, dense)                       # (V, n+1, 3)
        fx = SAMPLE.to_real(FixedEncoder(cfg).encode(codes[None, :])[0][0])
        fx = fx.reshape(steps, len(values), 3)
        t = np.arange(n_steps + 1) * dt
        ts = np.array(cfg.sample_steps) * dt
        for i, v in enumerate(values):
            color = f"C{i}"
            row[0].plot(t, fl[i, :, 0], color=color, lw=1, label=f"v={v:+g}")
            row[0].plot(ts, fx[:, i, 0], "o", color=color, ms=4)
            row[1].plot(t, fl[i, :, 2], color=color, lw=1)
            row[1].plot(ts, fx[:, i, 2], "o", color=color, ms=4)
            row[2].plot(fl[i, :, 0], fl[i, :, 2], color=color, lw=0.8)
        mode = "expansive" if delta < 0 else ("critical" if delta == 0 else "dissipative")
        row[0].set_ylabel(f"delta={delta:g}\n({mode}, sum {-2 * delta + 0.0:+g})")
        row[0].set_title("x(t)")
        row[1].set_title("z(t)")
        row[2].set_title("phase (x, z)")
        if abs(fl[:, :, 2]).max() > 1e3:
            row[1].set_yscale("symlog")
            row[2].set_yscale("symlog")
        row[0].legend(fontsize=7, loc="upper right")
    axes[-1][0].set_xlabel("t")
    axes[-1][1].set_xlabel("t")
    axes[-1][2].set_xlabel("x")
    fig.suptitle("mixed oscillator: float64 (lines) and fixed-point samples (markers)")
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
