"""Shared pieces of the NIR tests: tiny digits runs (8 features, 24-32-10, a few
epochs, the dissipative mode whose trajectories stay small) and graph builders."""

from __future__ import annotations

import numpy as np

from dynalign.hw.systems import MODE_PRESETS, EncoderConfig
from dynalign.sw.train import TrainOptions, train_run

#: A tiny run: quick, and accurate enough that a planted fault shows.
TINY = dict(dataset="digits", features=8, layers=(32,), epochs=8, ann_epochs=3,
            progress=False)


def tiny_run(path, *, reset="zero", epochs=8, seed=0):
    opts = TrainOptions(**{**TINY, "epochs": epochs, "reset": reset, "seed": seed})
    return train_run(path, encoder=EncoderConfig(delta=MODE_PRESETS["dissipative"]),
                     opts=opts)


def lexicographic(counts, v_final) -> np.ndarray:
    """dynalign's class rule on any counts and membranes (numpy)."""
    counts = np.asarray(counts)
    top = counts == counts.max(axis=1, keepdims=True)
    return np.argmax(np.where(top, np.asarray(v_final, np.float64), -np.inf), axis=1)
