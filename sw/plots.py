"""Figures of the encoder: trajectories of the mixed oscillator for several deltas."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, ref_encode_float, values_to_codes
from dynalign.hw.formats import SAMPLE
from dynalign.hw.systems import EncoderConfig

__all__ = ["plot_trajectories", "plot_systems"]


def plot_trajectories(deltas, values, *, tmax=8.0, dt=0.01, steps=5, out="trajectories.png"):
    """The mixed oscillator at each delta (one row each); returns the figure's path."""
    rows = []
    for delta in deltas:
        mode = "expansive" if delta < 0 else ("critical" if delta == 0 else "dissipative")
        rows.append((f"delta={delta:g}\n({mode}, sum {-2 * delta + 0.0:+g})",
                     EncoderConfig(delta=delta, tmax=tmax, dt=dt, samples=steps)))
    return plot_systems(rows, values, out=out,
                        title="mixed oscillator: float64 (lines) and fixed-point samples "
                              "(markers)")


def plot_systems(rows, values, *, out="trajectories.png", title=None):
    """One row per ``(label, EncoderConfig)``: x(t), z(t) and the (x, z) phase portrait of
    each feature value, the float64 trajectory as a line (every RK4 step), the
    fixed-point samples as markers (a saturated trajectory is marked in the legend);
    returns the figure's path."""
    # matplotlib is imported here, not at the top: it costs ~0.5 s of start-up
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.asarray(values, dtype=np.float64)
    codes = values_to_codes(values)
    fig, axes = plt.subplots(len(rows), 3, figsize=(13, 3.0 * len(rows)), squeeze=False)
    for row, (label, cfg) in zip(axes, rows):
        steps, n_steps, dt = cfg.samples, cfg.n_steps, cfg.dt
        dense = EncoderConfig(system=cfg.system, tmax=cfg.tmax, dt=dt, samples=n_steps + 1,
                              **cfg.p)
        with np.errstate(over="ignore", invalid="ignore"):
            fl = ref_encode_float(values, dense)                   # (V, n+1, 3)
            # an escaping float trajectory is drawn up to the fixed format's range
            fl[~(np.abs(fl) <= SAMPLE.max_real)] = np.nan
        enc, sat = FixedEncoder(cfg).encode(codes[None, :])
        fx = SAMPLE.to_real(enc[0]).reshape(steps, len(values), 3)
        t = np.arange(n_steps + 1) * dt
        ts = np.array(cfg.sample_steps) * dt
        for i, v in enumerate(values):
            color = f"C{i}"
            tag = " (saturates)" if sat[0, i] else ""
            row[0].plot(t, fl[i, :, 0], color=color, lw=1, label=f"v={v:+g}{tag}")
            row[0].plot(ts, fx[:, i, 0], "o", color=color, ms=4)
            row[1].plot(t, fl[i, :, 2], color=color, lw=1)
            row[1].plot(ts, fx[:, i, 2], "o", color=color, ms=4)
            row[2].plot(fl[i, :, 0], fl[i, :, 2], color=color, lw=0.8)
        row[0].set_ylabel(label)
        row[0].set_title("x(t)")
        row[1].set_title("z(t)")
        row[2].set_title("phase (x, z)")
        finite = fl[np.isfinite(fl)]
        if finite.size and abs(finite).max() > 1e3:
            for ax in row:
                ax.set_yscale("symlog")
        row[0].legend(fontsize=7, loc="upper right")
    axes[-1][0].set_xlabel("t")
    axes[-1][1].set_xlabel("t")
    axes[-1][2].set_xlabel("x")
    fig.suptitle(title or "float64 (lines) and fixed-point samples (markers), RK4")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / (3.0 * len(rows))))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
