"""One path from a raw row to codes: the run's feature transform owns the dataset
loader's scaling (digits /16), so rows straight from the source classify as the
training split does; rows outside the training range and clipped codes are counted;
a row of the wrong width is one clear error."""

import argparse
import json

import numpy as np
import pytest
from sklearn.datasets import load_digits

from dynalign.sw import cli
from dynalign.sw.commands import run as run_cmd
from dynalign.sw.data import load_dataset
from dynalign.sw.device_model import DeviceModel, golden_core
from dynalign.sw.driver import ModelTransport
from dynalign.sw.features import FeatureTransform
from dynalign.sw.rundir import RunDir, run_codes

TINY = ["--features", "4", "--layers", "16", "--epochs", "2", "--ann-epochs", "2",
        "--limit", "300", "--no-progress"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw") / "run"
    assert cli.main(["train", "--out", str(out), *TINY]) == 0
    return out


def test_transform_owns_the_loader_scaling():
    ds = load_dataset("digits")
    tf = FeatureTransform.fit(ds.x_train, k=5, input_divisor=ds.input_divisor,
                              input_units=ds.input_units)
    raw = ds.x_test * 16                     # what scikit-learn's digits give
    np.testing.assert_array_equal(tf.raw_codes(raw), tf.codes(ds.x_test))
    assert tf.input_range == (0.0, 16.0)
    rep = tf.input_report(raw)
    assert rep["rows_outside_training_range"] == 0 and rep["units"].endswith("0..16")
    rep = tf.input_report(raw * 2)           # twice too bright: counted
    assert rep["rows_outside_training_range"] > 0 and rep["clipped_codes"] > 0
    back = FeatureTransform.from_bytes(tf.to_bytes())
    assert (back.input_divisor, back.input_units, back.input_range) == \
        (16.0, ds.input_units, (0.0, 16.0))
    assert back.digest() == tf.digest()
    # a transform in its rows' own units keeps the digest it always had
    one = FeatureTransform.fit(ds.x_train, k=5)
    assert one.digest() != tf.digest() and one.input_divisor == 1.0
    with pytest.raises(ValueError, match=r"^each input row must have 64 values "
                                         r"\(scikit-learn digits pixels, 0..16\), not 63$"):
        tf.raw_codes(raw[:, :63])


def test_raw_digits_rows_classify_as_the_test_split(digits_run, tmp_path, capsys):
    """The issue's case: rows taken straight from scikit-learn's digits, over the link."""
    image, codes, _ = run_codes(digits_run)
    ds = RunDir(digits_run).dataset()
    d = load_digits()
    # the raw rows of the run's test split, found in the source by content
    index = {row.tobytes(): i for i, row in enumerate(d.data)}
    raw = np.stack([d.data[index[(r * 16).tobytes()]] for r in ds.x_test[:6]])
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=raw)
    from dynalign.hw.wire import Limits
    limits = Limits(max_features=4, max_samples=5, max_sizes=(16, 10))
    tr = ModelTransport(DeviceModel(limits=limits, core=golden_core(limits)))
    from dynalign.sw.commands import upload as upload_cmd
    assert upload_cmd._main(argparse.Namespace(run=str(digits_run), port="fake",
                                               baud=115200, json=True, timeout=1.0,
                                               retries=0), transport=tr) == 0
    capsys.readouterr()
    args = argparse.Namespace(port="fake", baud=115200, json=True, input=str(rows),
                              run=str(digits_run), timeout=1.0, retries=0, brief=False)
    assert run_cmd._main(args, transport=tr) == 0
    out = capsys.readouterr()
    got = [r["class"] for r in json.loads(out.out)]
    from dynalign.hw.wire import golden_records, parse_image
    want = [r.cls for r in golden_records(parse_image(image), codes[:6])]
    assert got == want and out.err == ""
    # twice too bright: classified, and the rows outside the training range are counted
    np.savez(rows, x=raw * 2)
    assert run_cmd._main(args, transport=tr) == 0
    err = capsys.readouterr().err
    assert err.startswith("dynalign run: note: ") and "outside the training range 0..16" in err


def test_wrong_width_is_one_line_before_the_port(digits_run, tmp_path, capsys):
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=np.zeros((3, 63)))
    code = cli.main(["run", "--port", str(tmp_path / "ttyNOPE"), "--input", str(rows),
                     "--run", str(digits_run)])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == ("dynalign run: error: each input row must have 64 values (scikit-learn "
                   "digits pixels, 0..16), not 63")
