"""Datasets for training and evaluation: sklearn digits, MNIST IDX files, plain ``.npz``.

Every loader returns images flattened to ``x`` float64 ``(N, D)`` and labels ``y`` int64
``(N,)`` in ``0 .. n_classes-1``; :func:`load_dataset` then makes fixed, seeded,
stratified splits:

* **test** -- ``test_fraction`` of the samples (default 0.2), never seen in training;
* **train** and **val** -- the rest, of which ``val_fraction`` (default 0.15) is held
  out for early stopping and model selection.

Where a directory holds a full IDX pair set (``train-*`` and ``t10k-*``), the official
train/test split is used and only the validation part is drawn from train.  Where it
holds only the official ``t10k`` files (as ``../shared/data/mnist/`` does), those
10,000 images are split 8,000 train / 2,000 test, stratified, with the split seed
recorded in :attr:`Dataset.meta`.

IDX format (http://yann.lecun.com/exdb/mnist/): a big-endian header ``0x00 0x00 TYPE
NDIM`` followed by ``NDIM`` big-endian uint32 sizes and the data.  Only unsigned-byte
data (TYPE 0x08) is read; images must have NDIM 3, labels NDIM 1, and the file size
must equal header + product of the sizes.  Files may be gzipped (detected by content).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import sklearn.datasets

from dynalign.hw.validate import check_int

__all__ = ["Dataset", "DataError", "read_idx", "load_idx_pair", "load_mnist_dir",
           "load_npz", "load_digits", "split_arrays", "load_dataset", "default_mnist_dir",
           "DATASETS"]

#: Names accepted by :func:`load_dataset`.
DATASETS = ("digits", "mnist", "npz")

IDX_UBYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


class DataError(ValueError):
    """A dataset file is missing, malformed or inconsistent."""


@dataclass
class Dataset:
    """Seeded splits of one dataset (features not yet reduced)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    meta: dict = field(default_factory=dict)
    #: the source's units: a row as the source gives it is ``x * input_divisor``
    #: (digits 0..16: 16; MNIST bytes 0..255: 255; an .npz: 1, its own units)
    input_divisor: float = 1.0
    input_units: str = ""

    def sizes(self) -> dict:
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def default_mnist_dir() -> Path:
    """``../shared/data/mnist`` relative to the project root (where the t10k files lie)."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


# --------------------------------------------------------------------------------------
# IDX
# --------------------------------------------------------------------------------------

def _read_bytes(path) -> bytes:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    return raw


def read_idx(path, *, ndim: int | None = None) -> np.ndarray:
    """Read one IDX file of unsigned bytes (gzipped or not) into a uint8 array.

    Raises :class:`DataError` for a wrong magic number, an unexpected number of
    dimensions, or a file whose size differs from what its header announces.
    """
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != IDX_UBYTE:
        raise DataError(f"{path}: bad IDX magic 0x{raw[:4].hex()} (expected 0x000008NN, "
                        "unsigned-byte data)")
    nd = raw[3]
    if ndim is not None and nd != ndim:
        raise DataError(f"{path}: IDX magic 0x{raw[:4].hex()} announces {nd} dimension(s), "
                        f"expected {ndim} (magic 0x{0x800 + ndim:08x})")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd))
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(f"{path}: size {len(raw)} bytes does not match its header "
                        f"(dims {dims} -> {expected} bytes)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def load_idx_pair(images, labels, *, n_classes: int = 10):
    """An images file (IDX, 3 dims) and a labels file (IDX, 1 dim) -> ``(x, y)``."""
    img = read_idx(images, ndim=3)
    lab = read_idx(labels, ndim=1)
    if img.shape[0] != lab.shape[0]:
        raise DataError(f"{images} holds {img.shape[0]} images but {labels} holds "
                        f"{lab.shape[0]} labels")
    y = lab.astype(np.int64)
    _check_labels(y, n_classes, what=str(labels))
    x = img.reshape(img.shape[0], -1).astype(np.float64) / 255.0
    return x, y


def _find(data_dir: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        for cand in (name, name.replace("-idx", ".idx")):
            p = data_dir / cand
            if p.is_file():
                return p
    return None


def load_mnist_dir(data_dir):
    """A directory of MNIST-style IDX files.

    Returns ``{"test": (x, y)}`` when only ``t10k-*`` files are present, and
    ``{"train": (x, y), "test": (x, y)}`` when ``train-*`` files are present too.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {data_dir}")
    out = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        imgs = _find(data_dir, f"{prefix}-images-idx3-ubyte")
        labs = _find(data_dir, f"{prefix}-labels-idx1-ubyte")
        if imgs is None and labs is None:
            continue
        if imgs is None or labs is None:
            missing = f"{prefix}-images-idx3-ubyte" if imgs is None else \
                f"{prefix}-labels-idx1-ubyte"
            raise FileNotFoundError(f"{data_dir}: {missing}[.gz] is missing")
        out[split] = load_idx_pair(imgs, labs)
    if "test" not in out:
        raise FileNotFoundError(f"{data_dir}: no t10k-images-idx3-ubyte[.gz] / "
                                "t10k-labels-idx1-ubyte[.gz] pair")
    return out


# --------------------------------------------------------------------------------------
# npz, digits
# --------------------------------------------------------------------------------------

def _check_labels(y, n_classes: int | None, *, what: str):
    if y.size and y.min() < 0:
        raise DataError(f"{what}: label {int(y.min())} out of range (labels must be >= 0)")
    if n_classes is not None and y.size and y.max() >= n_classes:
        raise DataError(f"{what}: label {int(y.max())} out of range 0..{n_classes - 1}")


def load_npz(path, *, n_classes: int | None = None):
    """A ``.npz`` with ``x`` (N, ...) numbers and ``y`` (N,) integer labels."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in ("x", "y") if k not in z.files]
            if missing:
                raise DataError(f"{path}: missing array(s) {missing} (has {z.files})")
            x, y = z["x"], z["y"]
    except (OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if x.ndim < 2:
        raise DataError(f"{path}: x must have shape (N, ...), not {x.shape}")
    if y.ndim != 1:
        raise DataError(f"{path}: y must have shape (N,), not {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{path}: x holds {x.shape[0]} samples but y holds {y.shape[0]} labels")
    if x.dtype.kind not in "biuf":
        raise DataError(f"{path}: x must be numeric, not {x.dtype}")
    x = x.reshape(x.shape[0], -1).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{path}: x holds non-finite values")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise DataError(f"{path}: labels must be integers")
    elif y.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be integers, not {y.dtype}")
    y = y.astype(np.int64)
    _check_labels(y, n_classes, what=str(path))
    return x, y


def load_digits():
    """scikit-learn's 8x8 handwritten digits (1,797 images), pixels scaled to [0, 1]."""
    d = sklearn.datasets.load_digits()
    return d.data.astype(np.float64) / 16.0, d.target.astype(np.int64)


# --------------------------------------------------------------------------------------
# splits
# --------------------------------------------------------------------------------------

def _largest_remainder_split(y, n_held: int, rng):
    """Stratified split holding exactly ``n_held`` samples (largest-remainder rounding)."""
    classes, counts = np.unique(y, return_counts=True)
    quota = counts * n_held / y.size
    take = np.floor(quota).astype(int)
    rest = n_held - take.sum()
    order = np.argsort(-(quota - take), kind="stable")
    take[order[:rest]] += 1
    keep, held = [], []
    for c, n in zip(classes, take):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        held.append(idx[:n])
        keep.append(idx[n:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def split_arrays(x, y, *, seed: int, test_fraction: float | None = 0.2,
                 val_fraction: float = 0.15, n_test: int | None = None):
    """Stratified, seeded ``(train, val, test)`` index arrays over ``y``.

    ``n_test`` (exact count) overrides ``test_fraction``; ``test_fraction=None`` and
    ``n_test=None`` means no test part (an external test split is used).
    """
    check_int("seed", seed, lo=0)
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), not {val_fraction!r}")
    rng = np.random.default_rng(seed)
    if n_test is not None:
        if not 0 < n_test < len(y):
            raise ValueError(f"n_test must be in 1..{len(y) - 1}, not {n_test!r}")
        rest, test = _largest_remainder_split(y, n_test, rng)
    elif test_fraction is not None:
        if not 0.0 < test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction!r}")
        rest, test = _largest_remainder_split(y, int(round(test_fraction * len(y))), rng)
    else:
        rest, test = np.arange(len(y)), np.arange(0)
    tr, va = _largest_remainder_split(y[rest], int(round(val_fraction * len(rest))), rng)
    return rest[tr], rest[va], test


def load_dataset(name: str = "digits", *, data_dir=None, path=None, seed: int = 0,
                 test_fraction: float = 0.2, val_fraction: float = 0.15,
                 limit: int | None = None) -> Dataset:
    """Load ``name`` (``digits``, ``mnist`` or ``npz``) and split it.

    ``mnist`` reads ``data_dir`` (default :func:`default_mnist_dir`); ``npz`` reads
    ``path``.  ``limit`` keeps a stratified subset of that many samples first (tests).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    meta = {"dataset": name, "seed": seed, "test_fraction": test_fraction,
            "val_fraction": val_fraction}
    external_test = None
    divisor, units = 1.0, "the .npz's own units"
    if name == "digits":
        x, y = load_digits()
        n_classes = 10
        divisor, units = 16.0, "scikit-learn digits pixels, 0..16"
    elif name == "mnist":
        d = Path(data_dir) if data_dir is not None else default_mnist_dir()
        parts = load_mnist_dir(d)
        meta["data_dir"] = d.name
        n_classes = 10
        divisor, units = 255.0, "MNIST pixel bytes, 0..255"
        if "train" in parts:
            x, y = parts["train"]
            external_test = parts["test"]
            meta["split"] = "official train/test"
        else:
            x, y = parts["test"]
            meta["split"] = "t10k only: stratified 8000 train / 2000 test"
    else:
        if path is None:
            raise ValueError("dataset 'npz' needs a path (--data PATH.npz)")
        x, y = load_npz(path)
        meta["path"] = Path(path).name
        n_classes = int(y.max()) + 1
    if limit is not None:
        if not isinstance(limit, int) or limit < 20:
            raise ValueError(f"limit must be an integer >= 20, not {limit!r}")
        if limit < len(y):
            keep, _ = _largest_remainder_split(y, len(y) - limit, np.random.default_rng(seed))
            x, y = x[keep], y[keep]
            meta["limit"] = limit
    if external_test is not None:
        tr, va, _ = split_arrays(x, y, seed=seed, test_fraction=None, val_fraction=val_fraction)
        xt, yt = external_test
    else:
        tr, va, te = split_arrays(x, y, seed=seed, test_fraction=test_fraction,
                                  val_fraction=val_fraction)
        xt, yt = x[te], y[te]
    return Dataset(name=name, x_train=x[tr], y_train=y[tr], x_val=x[va], y_val=y[va],
                   x_test=xt, y_test=yt, n_classes=n_classes, meta=meta,
                   input_divisor=divisor, input_units=units)
