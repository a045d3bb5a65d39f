"""Dataset loaders: digits, MNIST IDX (good and bad files), npz, seeded splits."""

import gzip
import struct

import numpy as np
import pytest

from dynalign.sw.data import (
    DataError,
    default_mnist_dir,
    load_dataset,
    load_idx_pair,
    load_mnist_dir,
    load_npz,
    read_idx,
    split_arrays,
)


def idx_bytes(arr: np.ndarray, *, magic_type=0x08) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, magic_type, arr.ndim]) + b"".join(struct.pack(">I", d)
                                                          for d in arr.shape)
    return head + arr.tobytes()


def write_pair(d, prefix="t10k", n=30, *, gz=False, rng=None, labels=None):
    rng = rng or np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(n, 4, 4), dtype=np.uint8)
    labs = np.arange(n, dtype=np.uint8) % 10 if labels is None else labels
    for name, arr in ((f"{prefix}-images-idx3-ubyte", imgs), (f"{prefix}-labels-idx1-ubyte", labs)):
        data = idx_bytes(arr)
        if gz:
            (d / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / name).write_bytes(data)
    return imgs, labs


# -- IDX ---------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_pair_round_trip(tmp_path, gz):
    imgs, labs = write_pair(tmp_path, gz=gz)
    suffix = ".gz" if gz else ""
    x, y = load_idx_pair(tmp_path / f"t10k-images-idx3-ubyte{suffix}",
                         tmp_path / f"t10k-labels-idx1-ubyte{suffix}")
    assert x.shape == (30, 16) and x.dtype == np.float64
    np.testing.assert_array_equal(x, imgs.reshape(30, -1) / 255.0)
    np.testing.assert_array_equal(y, labs)


def test_idx_wrong_magic(tmp_path):
    p = tmp_path / "bad"
    p.write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 2) + b"\x00" * 8)
    with pytest.raises(DataError, match="bad IDX magic 0x00000d01"):
        read_idx(p)
    p.write_bytes(b"PK\x03\x04" + b"\x00" * 10)
    with pytest.raises(DataError, match="bad IDX magic"):
        read_idx(p)


def test_idx_wrong_dimensions(tmp_path):
    p = tmp_path / "labels-as-images"
    p.write_bytes(idx_bytes(np.zeros(5)))
    with pytest.raises(DataError, match="announces 1 dimension"):
        read_idx(p, ndim=3)


def test_idx_size_mismatch(tmp_path):
    p = tmp_path / "short"
    p.write_bytes(idx_bytes(np.zeros((3, 4, 4)))[:-1])
    with pytest.raises(DataError, match="does not match its header"):
        read_idx(p)
    p.write_bytes(idx_bytes(np.zeros((3, 4, 4))) + b"\x00")
    with pytest.raises(DataError, match="does not match its header"):
        read_idx(p)


def test_idx_too_short_and_corrupt_gzip(tmp_path):
    p = tmp_path / "tiny"
    p.write_bytes(b"\x00\x00")
    with pytest.raises(DataError, match="too short"):
        read_idx(p)
    p.write_bytes(gzip.compress(idx_bytes(np.zeros(4)))[:-6])
    with pytest.raises(DataError, match="corrupt gzip"):
        read_idx(p)


def test_idx_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_idx(tmp_path / "nothing")


def test_idx_mismatched_counts(tmp_path):
    write_pair(tmp_path, n=30)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(29)))
    with pytest.raises(DataError, match="30 images but .* 29 labels"):
        load_mnist_dir(tmp_path)


def test_idx_labels_out_of_range(tmp_path):
    write_pair(tmp_path, n=12, labels=np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3]))
    with pytest.raises(DataError, match="label 10 out of range 0..9"):
        load_mnist_dir(tmp_path)


def test_mnist_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST directory not found"):
        load_mnist_dir(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no t10k-images"):
        load_mnist_dir(tmp_path)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 2, 2))))
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.* is missing"):
        load_mnist_dir(tmp_path)


def test_mnist_dir_official_split(tmp_path):
    write_pair(tmp_path, "train", n=200, gz=True)
    write_pair(tmp_path, "t10k", n=40, gz=True)
    ds = load_dataset("mnist", data_dir=tmp_path, seed=3)
    assert ds.meta["split"] == "official train/test"
    assert len(ds.y_test) == 40
    assert len(ds.y_train) + len(ds.y_val) == 200
    assert len(ds.y_val) == 30


def test_mnist_t10k_only_split(tmp_path):
    write_pair(tmp_path, "t10k", n=100)
    ds = load_dataset("mnist", data_dir=tmp_path, seed=1)
    assert len(ds.y_test) == 20 and len(ds.y_train) + len(ds.y_val) == 80
    assert "t10k only" in ds.meta["split"]


# -- npz ---------------------------------------------------------------------------------

def test_npz_good(tmp_path):
    p = tmp_path / "d.npz"
    x = np.random.default_rng(0).normal(size=(50, 3, 2))
    y = np.arange(50) % 5
    np.savez(p, x=x, y=y)
    xl, yl = load_npz(p)
    assert xl.shape == (50, 6)
    ds = load_dataset("npz", path=p)
    assert ds.n_classes == 5 and sum(ds.sizes().values()) == 50


@pytest.mark.parametrize("arrays, match", [
    ({"x": np.zeros((4, 2))}, r"missing array\(s\) \['y'\]"),
    ({"x": np.zeros((4, 2)), "y": np.zeros(3, int)}, "x holds 4 samples but y holds 3"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1, -1, 2])}, "label -1 out of range"),
    ({"x": np.zeros((4, 2)), "y": np.array([0, 1.5, 1, 2])}, "labels must be integers"),
    ({"x": np.zeros(4), "y": np.zeros(4, int)}, r"x must have shape \(N, ...\)"),
    ({"x": np.full((4, 2), np.nan), "y": np.zeros(4, int)}, "non-finite"),
    ({"x": np.zeros((4, 2)), "y": np.zeros((4, 1), int)}, r"y must have shape \(N,\)"),
])
def test_npz_bad(tmp_path, arrays, match):
    p = tmp_path / "bad.npz"
    np.savez(p, **arrays)
    with pytest.raises(DataError, match=match):
        load_npz(p)


def test_npz_labels_out_of_range_with_n_classes(tmp_path):
    p = tmp_path / "d.npz"
    np.savez(p, x=np.zeros((4, 2)), y=np.array([0, 1, 2, 7]))
    with pytest.raises(DataError, match="label 7 out of range 0..4"):
        load_npz(p, n_classes=5)


def test_npz_missing_and_not_npz(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_npz(tmp_path / "absent.npz")
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(p)


# -- splits ------------------------------------------------------------------------------

def test_digits_splits_are_seeded_stratified_and_disjoint():
    a = load_dataset("digits", seed=0)
    b = load_dataset("digits", seed=0)
    c = load_dataset("digits", seed=1)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert a.sizes() == {"train": 1222, "val": 216, "test": 359}
    # stratified: every class in every split, in proportion
    for y in (a.y_train, a.y_val, a.y_test):
        frac = np.bincount(y, minlength=10) / len(y)
        assert np.all(np.abs(frac - 0.1) < 0.02)
    # disjoint: no test image appears in train or val
    train_rows = {r.tobytes() for r in np.concatenate([a.x_train, a.x_val])}
    dup = sum(r.tobytes() in train_rows for r in a.x_test)
    assert dup <= 1     # digits holds one duplicated image pair at most


def test_split_arguments_checked():
    y = np.arange(100) % 10
    with pytest.raises(ValueError, match="seed must be at least 0"):
        split_arrays(y, y, seed=-1)
    with pytest.raises(ValueError, match="val_fraction must be in"):
        split_arrays(y, y, seed=0, val_fraction=1.5)
    with pytest.raises(ValueError, match="test_fraction must be in"):
        split_arrays(y, y, seed=0, test_fraction=0.0)
    with pytest.raises(ValueError, match="n_test must be in"):
        split_arrays(y, y, seed=0, n_test=100)
    tr, va, te = split_arrays(y, y, seed=0, n_test=25)
    assert len(te) == 25 and len(set(tr) | set(va) | set(te)) == 100


def test_load_dataset_errors():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        load_dataset("cifar")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("npz")
    with pytest.raises(ValueError, match="limit must be an integer >= 20"):
        load_dataset("digits", limit=5)


# -- the shared official MNIST test split -------------------------------------------------

MNIST = default_mnist_dir()


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(),
                    reason=f"shared MNIST files not present at {MNIST}")
def test_shared_mnist_8000_2000_split():
    ds = load_dataset("mnist", seed=0)
    assert len(ds.y_test) == 2000
    assert len(ds.y_train) + len(ds.y_val) == 8000
    assert ds.x_train.shape[1] == 784
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    counts = np.bincount(ds.y_test, minlength=10)
    full = np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test]), minlength=10)
    assert full.sum() == 10000
    np.testing.assert_allclose(counts / 2000, full / 10000, atol=0.001)
