"""Feature transform: standardise, reduce to K features, quantise to :data:`CODE`.

Fitted on the training split only and saved with the model, so new inputs are encoded
identically at evaluation and on the board::

    z    = (x - mean) / std                    (std of a constant column is taken as 1)
    f    = z @ components.T                    (PCA: the top-K right singular vectors of
                                                the centred training z; each component's
                                                sign fixed so its largest entry is > 0)
    v    = f * scale                           (per feature; see below)
    code = clip(floor(v * 2**CODE.frac + 0.5), CODE.min_int, CODE.max_int)

``scale[k] = target / percentile(|f_k(train)|, percentile)``: the ``percentile``-th
percentile of the training magnitudes lands on ``target`` (default 99.5 -> 1.9, inside
CODE's [-2, 1.984]); larger values clip (the clipped fraction is reported).  The scale
is fixed at fit time -- never per batch or per sample.

Raw rows.  The transform also owns the step from a row as its source gives it (digits
pixels 0..16, MNIST bytes 0..255, an ``.npz`` in its own units) to the rows above:
``x = x_raw / input_divisor`` (the dataset loader's scaling, recorded at fit time with
the units' name and the range of the raw training rows).  :meth:`raw_codes` takes raw
rows; :meth:`input_report` counts the rows with a value outside the training range and
the codes that clip; a row of the wrong width is one error naming the width and units.

Stored as a ``.npz`` (arrays) whose SHA-256 the weight image records
(:meth:`FeatureTransform.digest`), so an image names exactly the transform it needs.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np

from dynalign.hw.formats import CODE
from dynalign.hw.validate import positive_int

__all__ = ["FeatureTransform", "TRANSFORM_VERSION"]

TRANSFORM_VERSION = 1


class FeatureTransform:
    """A fitted standardise + PCA + code quantiser (all float64 arrays)."""

    def __init__(self, *, mean, std, components, scale, method="pca", percentile=99.5,
                 target=1.9, input_divisor=1.0, input_units="", input_range=None):
        self.mean = np.asarray(mean, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)
        self.components = np.asarray(components, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.method = str(method)
        self.percentile = float(percentile)
        self.target = float(target)
        self.input_divisor = float(input_divisor)
        self.input_units = str(input_units)
        self.input_range = None if input_range is None else tuple(float(v)
                                                                  for v in input_range)
        if not self.input_divisor > 0:
            raise ValueError(f"input_divisor must be positive, not {input_divisor!r}")
        d = self.mean.shape
        if self.mean.ndim != 1 or self.std.shape != d:
            raise ValueError("mean and std must be 1-D arrays of the same length")
        if self.components.ndim != 2 or self.components.shape[1] != d[0]:
            raise ValueError(f"components must have shape (K, {d[0]}), "
                             f"not {self.components.shape}")
        if self.scale.shape != (self.components.shape[0],):
            raise ValueError("scale must hold one value per feature")
        if np.any(self.std <= 0) or np.any(self.scale <= 0):
            raise ValueError("std and scale must be positive")

    # -- fitting ----------------------------------------------------------------------
    @classmethod
    def fit(cls, x_train, *, k: int, method: str = "pca", percentile: float = 99.5,
            target: float = 1.9, input_divisor: float = 1.0,
            input_units: str = "") -> FeatureTransform:
        """Fit on ``x_train`` (N, D) only (``x_train * input_divisor``: the raw rows, in
        ``input_units``)."""
        positive_int("k (features)", k)
        if method != "pca":
            raise ValueError(f"unknown feature method {method!r} (available: pca)")
        if not 0 < percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], not {percentile!r}")
        if not 0 < target < CODE.max_real:
            raise ValueError(f"target must be in (0, {CODE.max_real}), not {target!r}")
        x = np.asarray(x_train, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(f"x_train must have shape (N, D), not {x.shape}")
        n, d = x.shape
        if k > min(n, d):
            raise ValueError(f"k={k} features needs at least {k} samples and {k} input "
                             f"dimensions (have {n} x {d})")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[std < 1e-12] = 1.0
        z = (x - mean) / std
        _, _, vt = np.linalg.svd(z - z.mean(axis=0), full_matrices=False)
        comp = vt[:k]
        flip = np.sign(comp[np.arange(k), np.argmax(np.abs(comp), axis=1)])
        comp = comp * flip[:, None]
        f = z @ comp.T
        mag = np.percentile(np.abs(f), percentile, axis=0)
        mag[mag < 1e-12] = 1.0
        raw = (float(x.min()) * input_divisor, float(x.max()) * input_divisor)
        return cls(mean=mean, std=std, components=comp, scale=target / mag, method=method,
                   percentile=percentile, target=target, input_divisor=input_divisor,
                   input_units=input_units, input_range=raw)

    @property
    def n_features(self) -> int:
        return self.components.shape[0]

    @property
    def n_inputs(self) -> int:
        return self.mean.shape[0]

    # -- applying ---------------------------------------------------------------------
    def _width(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 1 and x.size == self.n_inputs:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            got = x.shape[-1] if x.ndim else 0
            units = f" ({self.input_units})" if self.input_units else ""
            raise ValueError(f"each input row must have {self.n_inputs} values{units}, "
                             f"not {got}" + ("" if x.ndim <= 2 else
                                             f" (the input has shape {x.shape})"))
        return x

    def features(self, x) -> np.ndarray:
        """Real features ``v`` (N, K), before quantisation (already scaled)."""
        x = self._width(x)
        return ((x - self.mean) / self.std) @ self.components.T * self.scale

    def codes(self, x) -> np.ndarray:
        """Feature codes, int64 (N, K), in :data:`CODE` (clipped)."""
        v = self.features(x)
        q = np.floor(v * (1 << CODE.frac) + 0.5)
        return np.clip(q, CODE.min_int, CODE.max_int).astype(np.int64)

    def rows(self, x_raw) -> np.ndarray:
        """Raw rows (source units) -> the rows the transform was fitted on:
        ``x_raw / input_divisor`` (width checked)."""
        return self._width(x_raw) / self.input_divisor

    def raw_codes(self, x_raw) -> np.ndarray:
        """Feature codes of raw rows (as the source gives them): ``codes(rows(x_raw))``."""
        return self.codes(self.rows(x_raw))

    def input_report(self, x_raw) -> dict:
        """``{"rows", "rows_outside_training_range", "training_range", "units",
        "clipped_codes", "codes"}`` of raw rows: a row is outside when any of its values
        lies outside the range of the raw training rows; a code clips when it falls
        outside :data:`CODE`."""
        x = self._width(x_raw)
        out = 0
        if self.input_range is not None:
            lo, hi = self.input_range
            out = int(np.sum(np.any((x < lo) | (x > hi), axis=1)))
        q = np.floor(self.features(x / self.input_divisor) * (1 << CODE.frac) + 0.5)
        return {"rows": int(x.shape[0]), "rows_outside_training_range": out,
                "training_range": list(self.input_range) if self.input_range else None,
                "units": self.input_units,
                "clipped_codes": int(np.sum((q < CODE.min_int) | (q > CODE.max_int))),
                "codes": int(q.size)}

    def clip_fraction(self, x) -> float:
        q = np.floor(self.features(x) * (1 << CODE.frac) + 0.5)
        return float(np.mean((q < CODE.min_int) | (q > CODE.max_int)))

    # -- persistence ------------------------------------------------------------------
    def _arrays(self) -> dict:
        return {"version": np.int64(TRANSFORM_VERSION), "mean": self.mean, "std": self.std,
                "components": self.components, "scale": self.scale,
                "input_divisor": np.float64(self.input_divisor),
                "meta": np.frombuffer(json.dumps(self.describe()).encode(), dtype=np.uint8)}

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, **self._arrays())
        return buf.getvalue()

    def digest(self) -> str:
        """SHA-256 (hex) of the arrays that define the transform (not of a file)."""
        h = hashlib.sha256()
        for name in ("mean", "std", "components", "scale"):
            a = np.ascontiguousarray(getattr(self, name), dtype="<f8")
            h.update(name.encode())
            h.update(str(a.shape).encode())
            h.update(a.tobytes())
        if self.input_divisor != 1.0:       # a transform of the source's own units: as before
            h.update(b"input_divisor" + np.float64(self.input_divisor).tobytes())
        return h.hexdigest()

    def save(self, path) -> Path:
        path = Path(path)
        path.write_bytes(self.to_bytes())
        return path

    @classmethod
    def load(cls, path) -> FeatureTransform:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such feature transform: {path}")
        return cls.from_bytes(path.read_bytes(), name=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, name: str = "feature transform") -> FeatureTransform:
        """Inverse of :meth:`to_bytes` (``name`` appears in the errors)."""
        path = name
        try:
            with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: not a feature transform .npz ({exc})") from None
        missing = {"version", "mean", "std", "components", "scale", "meta"} - set(arrays)
        if missing:
            raise ValueError(f"{path}: not a feature transform (missing {sorted(missing)})")
        if int(arrays["version"]) != TRANSFORM_VERSION:
            raise ValueError(f"{path}: feature transform version {int(arrays['version'])}, "
                             f"expected {TRANSFORM_VERSION}")
        meta = json.loads(arrays["meta"].tobytes().decode())
        return cls(mean=arrays["mean"], std=arrays["std"], components=arrays["components"],
                   scale=arrays["scale"], method=meta["method"],
                   percentile=meta["percentile"], target=meta["target"],
                   input_divisor=float(arrays.get("input_divisor", 1.0)),
                   input_units=meta.get("input_units", ""),
                   input_range=meta.get("input_range"))

    def describe(self) -> dict:
        return {"version": TRANSFORM_VERSION, "method": self.method,
                "n_inputs": self.n_inputs, "n_features": self.n_features,
                "percentile": self.percentile, "target": self.target,
                "code_format": CODE.describe(), "input_divisor": self.input_divisor,
                "input_units": self.input_units,
                "input_range": list(self.input_range) if self.input_range else None}
