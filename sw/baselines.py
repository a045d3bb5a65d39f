"""Baseline input codings, for the comparison the paper's first figure makes.

Each coding turns feature codes (N, K) (:data:`CODE`, v = code / 64) into layer-1 input
samples (N, T, C) in :data:`SAMPLE` integers -- the same type the trajectory encoder
produces -- so the same LIF network, trainer and golden model run on them unchanged:

* ``dynamical`` -- the trajectory encoder (``dynalign.hw.encoder.ref.FixedEncoder``), C = 3K;
* ``direct``    -- direct current: the static feature every step,
  ``sample[t, k] = code[k] << (SAMPLE.frac - CODE.frac)``, C = K;
* ``rate``      -- Bernoulli rate coding on two channels per feature (positive and
  negative part): channel fires 1.0 (``1 << SAMPLE.frac``) at step t with probability
  ``|v| / 2``; seeded, so a sample's spike train is reproducible, C = 2K;
* ``latency``   -- time-to-first-spike on the same two channels: one spike of 1.0 at
  step ``floor((1 - |v| / 2) * (T - 1) + 0.5)``, none for v = 0, C = 2K.
"""

from __future__ import annotations

import numpy as np

from dynalign.hw.encoder.ref import FixedEncoder, check_codes
from dynalign.hw.formats import CODE, SAMPLE
from dynalign.hw.systems import EncoderConfig

__all__ = ["CODINGS", "encode_inputs", "n_channels"]

CODINGS = ("dynamical", "direct", "rate", "latency")
_ONE = 1 << SAMPLE.frac
_VMAX = -CODE.min_real            # 2.0: |v| / _VMAX is in [0, 1]


def n_channels(coding: str, k: int) -> int:
    """Layer-1 inputs C for K features under ``coding``."""
    return {"dynamical": 3 * k, "direct": k, "rate": 2 * k, "latency": 2 * k}[
        _check(coding)]


def _check(coding: str) -> str:
    if coding not in CODINGS:
        raise ValueError(f"unknown coding {coding!r} (choose from {', '.join(CODINGS)})")
    return coding


def _two_channel(codes):
    v = codes.astype(np.float64) / (1 << CODE.frac)
    return np.concatenate([np.clip(v, 0, None), np.clip(-v, 0, None)], axis=1) / _VMAX


def encode_inputs(codes, coding: str, *, config: EncoderConfig | None = None,
                  samples: int = 5, seed: int = 0, encoder: FixedEncoder | None = None):
    """Codes (N, K) -> SAMPLE ints (N, T, C).  ``dynamical`` needs ``config`` (or a
    prepared ``encoder``) and takes T from it; the others take T from ``samples``."""
    codes = check_codes(codes)
    if codes.ndim != 2:
        raise ValueError(f"codes must have shape (N, K), not {codes.shape}")
    _check(coding)
    if coding == "dynamical":
        if encoder is None:
            if config is None:
                raise ValueError("the dynamical coding needs an EncoderConfig")
            encoder = FixedEncoder(config)
        return encoder.encode(codes)[0]
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"samples (T) must be a positive integer, not {samples!r}")
    n, k = codes.shape
    if coding == "direct":
        x = codes << (SAMPLE.frac - CODE.frac)
        return np.repeat(x[:, None, :], samples, axis=1)
    p = _two_channel(codes)                                   # (N, 2K) in [0, 1]
    if coding == "rate":
        rng = np.random.default_rng(seed)
        fire = rng.random((n, samples, 2 * k)) < p[:, None, :]
        return fire.astype(np.int64) * _ONE
    out = np.zeros((n, samples, 2 * k), dtype=np.int64)       # latency
    step = np.floor((1.0 - p) * (samples - 1) + 0.5).astype(np.int64)
    rows, cols = np.nonzero(p > 0)
    out[rows, step[rows, cols], cols] = _ONE
    return out
