"""The per-step input scale on the training side (issue 18): ``TrainOptions.input_scale``
"step" chooses one shift per sample index from the training split, the run's image carries
them, and the golden model on that image is what the run reported."""

import dataclasses
import json

import numpy as np
import pytest
from cli_run import one_line, run

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import ACT, CODE, round_shift
from dynalign.hw.lif.ref import ref_network
from dynalign.hw.systems import EncoderConfig
from dynalign.sw import cli
from dynalign.sw.data import load_dataset
from dynalign.sw.qat import activation_table, choose_in_shift
from dynalign.sw.rundir import RunDir
from dynalign.sw.sweep import Setting, SweepOptions, _want
from dynalign.sw.train import TrainOptions, choose_step_shifts, prepare_data

TINY = ["--features", "4", "--layers", "16", "--epochs", "2", "--ann-epochs", "2",
        "--limit", "300", "--no-progress"]
EXPANSIVE = EncoderConfig(delta=-1.5)


def _npz(tmp_path, name, x, y):
    path = tmp_path / name
    np.savez(path, x=x, y=y)
    return str(path)


def _opts(path, **kw):
    return TrainOptions(dataset="npz", data_path=path, features=3, layers=(8,), epochs=2,
                        ann_epochs=2, progress=False, input_scale="step", **kw)


@pytest.fixture(scope="module")
def data():
    """Rows and labels of an npz dataset; every row is unique, so :func:`_rows` finds a
    split's rows by matching."""
    rng = np.random.default_rng(5)
    y = np.arange(200) % 4
    x = rng.normal(size=(200, 6)) + y[:, None]
    return x, y


def _rows(x, part):
    """Indices in ``x`` of the rows of ``part`` (a split the loader returned)."""
    return np.array([int(np.flatnonzero((x == r).all(axis=1))[0]) for r in part])


def test_choose_step_shifts_per_sample_index():
    """Each s_t is the smallest shift with round_shift(peak_t, s_t) <= 32767 (ACT),
    worked by hand: 100 -> 0; 40000 -> 1 (20000); 70000 -> 2 (35000 at 1 is too big);
    2**20 -> 6 (32768 at 5 is one over); 2**31 - 1 -> 17 (32768 at 16); a lone
    -32768 -> 1 (its magnitude 32768 is one over the positive limit)."""
    peaks = [100, -40000, 70000, 2 ** 20, -(2 ** 31 - 1), -32768]
    samples = np.zeros((3, len(peaks), 3), dtype=np.int64)
    samples[1, :, 0] = -7                       # small values beside each peak
    for t, peak in enumerate(peaks):
        samples[t % 3, t, t % 3] = peak
    assert choose_step_shifts(samples) == (0, 1, 2, 6, 17, 1)
    # percentile 50 follows the bulk (|-7| and zeros) at every step, not the peaks
    assert choose_step_shifts(samples, percentile=50) == (0,) * len(peaks)
    with pytest.raises(ValueError, match=r"samples must be \(\.\.\., T, 3\)"):
        choose_step_shifts(np.zeros((4, 5)))


def test_step_shifts_come_from_the_training_split_only(tmp_path, data):
    """Percentile 90, so that the shifts follow the bulk of the samples (at 100 they
    follow the clipped extreme codes, which any split reaches)."""
    x, y = data
    path = _npz(tmp_path, "a.npz", x, y)
    prep = prepare_data(_opts(path, in_shift_percentile=90.0), EXPANSIVE)
    shifts = prep.encoder.step_shifts
    assert prep.in_shift == 0 and prep.encoder.has_step_shifts
    assert shifts[0] < shifts[-1]               # the expanding trajectory: later, larger
    ds = load_dataset("npz", path=path, seed=0)
    test_rows, train_rows = _rows(x, ds.x_test), _rows(x, ds.x_train)
    # the test split's rows changed (far outside the training range): the shifts stay
    x2 = x.copy()
    x2[test_rows] = 40.0 * x2[test_rows] + 100.0
    prep2 = prepare_data(_opts(_npz(tmp_path, "b.npz", x2, y), in_shift_percentile=90.0),
                         EXPANSIVE)
    assert not np.array_equal(prep2.codes["test"], prep.codes["test"])
    assert prep2.encoder.step_shifts == shifts
    # the training rows changed (pulled to a quarter of their spread under the same
    # feature transform): smaller codes, smaller samples, smaller shifts
    x3 = x.copy()
    mean = x[train_rows].mean(axis=0)
    x3[train_rows] = mean + (x3[train_rows] - mean) / 4.0
    prep3 = prepare_data(_opts(_npz(tmp_path, "c.npz", x3, y), in_shift_percentile=90.0),
                         EXPANSIVE, transform=prep.transform)
    assert np.array_equal(prep3.codes["test"], prep.codes["test"])
    moved = prep3.encoder.step_shifts
    assert moved != shifts and all(a <= b for a, b in zip(moved, shifts))


def test_step_tables_are_the_shifted_encoders(tmp_path, data):
    """act/float tables come from the shifted encoder's table with in_shift 0, and equal
    sat_ACT(round_shift(unshifted sample_t, s_t))."""
    x, y = data
    prep = prepare_data(_opts(_npz(tmp_path, "a.npz", x, y)), EXPANSIVE)
    table = FixedEncoder(prep.encoder).table
    assert np.array_equal(prep.act_table.numpy(), activation_table(table, 0))
    assert np.array_equal(prep.float_table.numpy(), table.astype(np.float64))
    base = FixedEncoder(EXPANSIVE).table
    want = np.stack([ACT.saturate(round_shift(base[:, t], s))[0]
                     for t, s in enumerate(prep.encoder.step_shifts)], axis=1)
    assert np.array_equal(prep.act_table.numpy(), want)
    assert prep.encoder.p == EXPANSIVE.p


def test_single_scale_is_unchanged(tmp_path, data):
    """"single" (the default) keeps the caller's encoder and one in_shift from the
    training samples; the sweep's cache key of a default sweep is what it was."""
    x, y = data
    path = _npz(tmp_path, "a.npz", x, y)
    opts = dataclasses.replace(_opts(path), input_scale="single")
    assert TrainOptions().input_scale == "single"
    prep = prepare_data(opts, EXPANSIVE)
    assert prep.encoder is EXPANSIVE and not prep.encoder.has_step_shifts
    table = FixedEncoder(EXPANSIVE).table
    shift = choose_in_shift(table[prep.codes["train"] - CODE.min_int])
    assert prep.in_shift == shift > 0
    assert np.array_equal(prep.act_table.numpy(), activation_table(table, shift))
    assert "input_scale" not in _want(Setting("mixed", 2.0, 0), SweepOptions())["options"]
    want = _want(Setting("mixed", 2.0, 0), SweepOptions(input_scale="step"))
    assert want["options"]["input_scale"] == "step"


@pytest.fixture(scope="module")
def step_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "step"
    code = cli.main(["train", "--out", str(out), "--delta", "-1.5", "--input-scale", "step",
                     *TINY, "--json"])
    assert code == 0
    return out


def test_trained_image_carries_the_shifts_and_reproduces_the_run(step_run):
    m = json.loads((step_run / "metrics.json").read_text())
    shifts = tuple(m["step_shifts"])
    assert any(shifts) and m["in_shift"] == 0 and m["encoder"]["step_shifts"] == list(shifts)
    assert m["options"]["input_scale"] == "step"
    info, image, transform = RunDir(step_run).load()   # parsed from model.dlw
    assert image.encoder.step_shifts == shifts and image.network.in_shift == 0
    x, y = RunDir(step_run).split("test")
    codes = transform.codes(x)
    samples, _ = FixedEncoder(image.encoder).encode(codes)
    golden = ref_network(samples, image.network)
    assert float((golden.cls == y).mean()) == m["test"]["golden_accuracy"]
    assert float(golden.spikes.sum(axis=1).mean()) == m["test"]["spikes_per_inference"]
    assert m["test"]["torch_golden_agreement"] == 1.0 and m["test"]["torch_golden_exact"]
    # the check can fail: the same network on the encoder without its shifts differs
    plain, _ = FixedEncoder(EncoderConfig(delta=-1.5)).encode(codes)
    wrong = ref_network(plain, image.network)
    assert not np.array_equal(wrong.spikes, golden.spikes)


def test_train_cli_prints_the_shifts(capsys, tmp_path):
    code, out, err = run(capsys, "train", "--out", tmp_path / "r", "--delta", "2",
                         "--input-scale", "step", *TINY, "--no-eval")
    assert code == 0, err
    assert "input scale: per step, shifts [" in out and "(in_shift 0)" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--input-scale", "step", "--in-shift", "3"],
     "--in-shift cannot be combined with --input-scale step"),
    (["sweep", "--protocol", "paper", "--input-scale", "step"],
     "--input-scale step is a hardware-protocol option"),
])
def test_cli_rejects_bad_combinations(capsys, tmp_path, argv, message):
    code, _, err = run(capsys, *argv, "--out", tmp_path / "r")
    assert code == 2 and message in one_line(err)


@pytest.mark.parametrize("cmd", ["train", "sweep"])
def test_cli_rejects_an_unknown_scale(capsys, tmp_path, cmd):
    with pytest.raises(SystemExit) as exc:
        cli.main([cmd, "--out", str(tmp_path / "r"), "--input-scale", "frame"])
    assert exc.value.code == 2
    assert "invalid choice: 'frame'" in capsys.readouterr().err


def test_options_validation():
    with pytest.raises(ValueError, match="input_scale must be one of 'single', 'step', "
                                         "not 'frame'"):
        TrainOptions(input_scale="frame").validate()
    with pytest.raises(ValueError, match="in_shift=3 cannot be combined with input_scale "
                                         "'step'"):
        TrainOptions(input_scale="step", in_shift=3).validate()
    with pytest.raises(ValueError, match="input_scale must be one of"):
        SweepOptions(input_scale="frame").validate()


def test_sweep_records_the_chosen_shifts(tmp_path, capsys):
    out = tmp_path / "sweep"
    code = cli.main(["sweep", "--deltas=-1.5", "--seeds", "1", "--limit", "240", "--layers",
                     "12", "--features", "4", "--epochs", "2", "--patience", "2",
                     "--baselines=", "--no-lorenz", "--workers", "1", "--input-scale",
                     "step", "--out", str(out), "--json"])
    assert code == 0
    summ = json.loads((out / "sweep.json").read_text())
    res = summ["results"][0]
    assert res["options"]["input_scale"] == "step" and res["in_shift"] == 0
    assert any(res["step_shifts"]) and res["torch_golden_agreement"] == 1.0
    _, image, _ = RunDir(out / "settings" / "mixed_d-1.5_s0" / "run").load()
    assert list(image.encoder.step_shifts) == res["step_shifts"]
    assert summ["table"][0]["step_shifts"] == [res["step_shifts"]]
    from dynalign.sw.results import shifts_table
    text = shifts_table(summ)
    assert "| mixed | -1.5 | " + ",".join(map(str, res["step_shifts"])) + " |" in text
