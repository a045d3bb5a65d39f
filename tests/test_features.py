"""Feature transform: fitted on train only, fixed code scale, saved and reloaded exactly."""

import numpy as np
import pytest

from dynalign.hw.formats import CODE
from dynalign.sw.data import load_dataset
from dynalign.sw.features import FeatureTransform


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def test_fit_uses_training_rows_only(digits):
    tf = FeatureTransform.fit(digits.x_train, k=8)
    np.testing.assert_allclose(tf.mean, digits.x_train.mean(axis=0))
    # refitting with the test rows appended changes the statistics: the fit sees only
    # what it is given, and train_run gives it the train part
    tf_all = FeatureTransform.fit(np.concatenate([digits.x_train, digits.x_test]), k=8)
    assert not np.allclose(tf.mean, tf_all.mean)


def test_train_run_fits_on_train_split(digits):
    from dynalign.hw.systems import EncoderConfig
    from dynalign.sw.train import TrainOptions, prepare_data
    prep = prepare_data(TrainOptions(features=4), EncoderConfig(delta=2.0))
    np.testing.assert_allclose(prep.transform.mean, prep.dataset.x_train.mean(axis=0))
    assert prep.transform.n_features == 4


def test_codes_scale_and_range(digits):
    tf = FeatureTransform.fit(digits.x_train, k=16, percentile=99.5, target=1.9)
    v = tf.features(digits.x_train)
    np.testing.assert_allclose(np.percentile(np.abs(v), 99.5, axis=0), 1.9)
    codes = tf.codes(digits.x_test)
    assert codes.dtype == np.int64 and codes.shape == (len(digits.y_test), 16)
    assert CODE.contains(codes)
    assert tf.clip_fraction(digits.x_train) < 0.01
    # codes = floor(v * 64 + 0.5), clipped
    np.testing.assert_array_equal(
        codes, np.clip(np.floor(tf.features(digits.x_test) * 64 + 0.5), -128, 127))


def test_scale_is_fixed_not_per_batch(digits):
    tf = FeatureTransform.fit(digits.x_train, k=6)
    whole = tf.codes(digits.x_test)
    one = np.concatenate([tf.codes(digits.x_test[i:i + 1]) for i in range(10)])
    np.testing.assert_array_equal(whole[:10], one)


def test_save_load_round_trip(tmp_path, digits):
    tf = FeatureTransform.fit(digits.x_train, k=7)
    p = tf.save(tmp_path / "t.npz")
    back = FeatureTransform.load(p)
    assert back.digest() == tf.digest()
    np.testing.assert_array_equal(back.codes(digits.x_test), tf.codes(digits.x_test))
    assert back.describe() == tf.describe()


def test_digest_changes_with_any_array(digits):
    tf = FeatureTransform.fit(digits.x_train, k=5)
    other = FeatureTransform(mean=tf.mean, std=tf.std, components=tf.components,
                             scale=tf.scale * (1 + 1e-12))
    assert other.digest() != tf.digest()


def test_load_errors(tmp_path, digits):
    with pytest.raises(FileNotFoundError, match="no such feature transform"):
        FeatureTransform.load(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"nope")
    with pytest.raises(ValueError, match="not a feature transform .npz"):
        FeatureTransform.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="missing"):
        FeatureTransform.load(other)
    tf = FeatureTransform.fit(digits.x_train, k=3)
    arrays = tf._arrays()
    arrays["version"] = np.int64(99)
    bad = tmp_path / "v99.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match="version 99, expected 1"):
        FeatureTransform.load(bad)


def test_fit_arguments_checked(digits):
    x = digits.x_train
    with pytest.raises(ValueError, match="k \\(features\\) must be a positive integer"):
        FeatureTransform.fit(x, k=0)
    with pytest.raises(ValueError, match="unknown feature method 'umap'"):
        FeatureTransform.fit(x, k=3, method="umap")
    with pytest.raises(ValueError, match="needs at least 100 samples and 100 input"):
        FeatureTransform.fit(x, k=100)
    with pytest.raises(ValueError, match="target must be in"):
        FeatureTransform.fit(x, k=3, target=2.5)
    with pytest.raises(ValueError, match="percentile must be in"):
        FeatureTransform.fit(x, k=3, percentile=0)
    tf = FeatureTransform.fit(x, k=3)
    with pytest.raises(ValueError, match=r"each input row must have 64 values, not 10"):
        tf.codes(np.zeros((2, 10)))
