"""The paper's protocol (dynalign.sw.paper) on tiny settings: its normalisation, its spike
counts, UMAP fitted on training data only, and the sweep on Ray against the process pool."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dynalign.hw.systems import EncoderConfig
from dynalign.sw.data import Dataset
from dynalign.sw.paper import (
    PaperNet,
    PaperOptions,
    evaluate,
    loss_function,
    paper_encode,
    train_epoch,
    umap_features,
)


def _rk4_scalar(v, *, a, b, g, w, d, h, n):
    """The paper's mixed oscillator, written out as its code does (scalar RK4 loop)."""
    x, y, z = v, 0.2 * v, -v
    out = [(x, y, z)]

    def f(x, y, z):
        return y, -a * x - b * x ** 3 - d * y + g * z, -w * x - d * z + g * x * y

    for _ in range(n):
        k1 = f(x, y, z)
        k2 = f(x + h / 2 * k1[0], y + h / 2 * k1[1], z + h / 2 * k1[2])
        k3 = f(x + h / 2 * k2[0], y + h / 2 * k2[1], z + h / 2 * k2[2])
        k4 = f(x + h * k3[0], y + h * k3[1], z + h * k3[2])
        x, y, z = (s + h / 6 * (p + 2 * q + 2 * r + t)
                   for s, p, q, r, t in zip((x, y, z), k1, k2, k3, k4))
        out.append((x, y, z))
    return np.array(out)


def test_encoder_divides_each_batch_by_its_own_max():
    """Each encode batch is scaled by its own max |v|, then RK4 from (v, 0.2v, -v); the
    T samples are the trajectory's np.interp over [0, 1], as the paper resamples."""
    cfg = EncoderConfig(delta=0.6, tmax=2.0, samples=5)
    feats = np.array([[0.5, -2.0], [1.0, 0.25], [4.0, -1.0]])
    got = paper_encode(feats, cfg, encode_batch=2)
    assert got.shape == (3, 5, 6)
    p = cfg.p
    for row, scale in ((0, 2.0), (1, 2.0), (2, 4.0)):      # batches [0, 1] and [2]
        for k in range(2):
            traj = _rk4_scalar(feats[row, k] / scale, a=p["alpha"], b=p["beta"],
                               g=p["gamma"], w=p["omega"], d=p["delta"], h=cfg.dt,
                               n=cfg.n_steps)
            grid = np.linspace(0, 1, len(traj))
            want = np.stack([np.interp(np.linspace(0, 1, 5), grid, traj[:, c])
                             for c in range(3)], axis=1)
            np.testing.assert_allclose(got[row, :, 3 * k:3 * k + 3], want, rtol=1e-12,
                                       atol=1e-12)
    # a row's code depends on its batch-mates (the paper's normalisation), not on others
    other = feats.copy()
    other[1, 1] = 8.0
    moved = paper_encode(other, cfg, encode_batch=2)
    assert not np.allclose(moved[0], got[0])
    np.testing.assert_array_equal(moved[2], got[2])


def test_encoder_rejects_bad_input():
    cfg = EncoderConfig(samples=5)
    with pytest.raises(ValueError, match="2-D array"):
        paper_encode(np.zeros(3), cfg, encode_batch=4)
    with pytest.raises(ValueError, match="encode_batch"):
        paper_encode(np.zeros((2, 2)), cfg, encode_batch=0)


def _tiny_dataset(seed=0, n=90, d=12):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, d)) + y[:, None]
    return Dataset(name="tiny", x_train=x[:60], y_train=y[:60], x_val=x[60:75],
                   y_val=y[60:75], x_test=x[75:], y_test=y[75:], n_classes=3)


def test_umap_is_fitted_on_the_training_split_only():
    """Changing the test rows leaves the training and validation features as they were
    (a reducer fitted on train + test, as the paper's code does, would move them);
    changing one training row moves them, so the check can tell."""
    opts = PaperOptions(features=3, umap_neighbors=10)
    ds = _tiny_dataset()
    base = umap_features(ds, opts)
    assert {k: v.shape for k, v in base.items()} == {"train": (60, 3), "val": (15, 3),
                                                     "test": (15, 3)}
    ds_test = _tiny_dataset()
    ds_test.x_test = ds_test.x_test[::-1] * 3.0 + 5.0
    moved_test = umap_features(ds_test, opts)
    np.testing.assert_array_equal(moved_test["train"], base["train"])
    np.testing.assert_array_equal(moved_test["val"], base["val"])
    ds_train = _tiny_dataset()
    ds_train.x_train[0] += 10.0
    moved_train = umap_features(ds_train, opts)
    assert not np.array_equal(moved_train["val"], base["val"])


def test_umap_cache_returns_the_same_features(tmp_path):
    opts = PaperOptions(features=2, umap_neighbors=10)
    ds = _tiny_dataset(seed=1)
    first = umap_features(ds, opts, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("umap_*.npz"))) == 1
    again = umap_features(ds, opts, cache_dir=tmp_path)
    for s in first:
        np.testing.assert_array_equal(first[s], again[s])


def _hook_counter(net):
    """Spikes of every Leaky layer, counted by forward hooks (independent of the code
    that sums the recorded spikes)."""
    box = {"n": 0.0}

    def hook(_module, _inputs, output):
        box["n"] += float(output[0].detach().sum())

    handles = [lif.register_forward_hook(hook) for lif in net.lif]
    return box, handles


@pytest.mark.parametrize("loss", ["membrane", "spikes"])
def test_spike_counts_both_ways(loss):
    """The paper's count (all spikes of all layers over a training epoch) and the count
    per inference agree with forward hooks on the neurons."""
    torch.manual_seed(0)
    x = torch.rand(40, 5, 6) * 3.0
    y = torch.arange(40) % 3
    net = PaperNet(sizes=[6, 16, 3], beta=0.9)
    box, handles = _hook_counter(net)
    optim = torch.optim.Adam(net.parameters(), lr=1e-3)
    epoch = train_epoch(net, optim, loss_function(loss), x, y, batch_size=16,
                        gen=torch.Generator().manual_seed(0))
    assert epoch > 0 and epoch == box["n"]
    box["n"] = 0.0
    acc, per_layer = evaluate(net, x, y, batch=7)
    assert per_layer.sum() == box["n"]
    for h in handles:
        h.remove()
    with torch.no_grad():
        counts = net(x)[-1].sum(dim=0)
    assert acc == int((counts.argmax(dim=1) == y).sum()) / len(y)


def test_options_are_validated():
    for bad, match in (({"lr": 0.0}, "lr"), ({"beta": 1.0}, "beta"),
                       ({"layers": ()}, "layers"), ({"dataset": "cifar"}, "dataset"),
                       ({"loss": "mse"}, "loss"),
                       ({"steps": 3, "tmax": 0.05}, "T=3"), ({"encode_batch": 0},
                                                              "encode_batch")):
        with pytest.raises((ValueError, TypeError), match=match):
            PaperOptions(**bad).validate()


def test_run_paper_tiny(tmp_path):
    """The whole protocol on a small digits subset: it learns, stops on validation and
    reports the test-set stopping rule beside it."""
    from dynalign.sw.sweep import Setting, run_setting

    opts = PaperOptions(dataset="digits", limit=300, layers=(32,), epochs=4, patience=2,
                        lr=3e-3)
    setting = Setting("paper", 0.0, 0)
    r = run_setting(setting, opts, tmp_path)
    assert (tmp_path / "umap").is_dir() and "reused" not in r
    again = run_setting(setting, opts, tmp_path)
    assert again["reused"] and again["test_accuracy"] == r["test_accuracy"]
    assert r["epochs_run"] <= 4 and 0 <= r["best_epoch"] < r["epochs_run"]
    assert r["test_accuracy_test_stopping"] >= r["test_accuracy"]
    best = r["history"][r["best_epoch"]]
    assert best["val_accuracy"] == max(h["val_accuracy"] for h in r["history"])
    assert r["spikes_per_training_epoch"] == best["spikes_per_training_epoch"]
    assert r["spikes_per_inference"] == pytest.approx(sum(r["per_layer_spikes"]))
    assert r["synops_per_inference"] == pytest.approx(r["per_layer_spikes"][0] * 10)
    assert 0.0 <= r["test_accuracy"] <= 1.0
    assert r["setting"] == {"kind": "paper", "delta": 0.0, "seed": 0}


def test_sweep_on_ray_equals_the_process_pool(tmp_path):
    """The same settings on a local Ray instance and in two local processes: the same
    numbers (timings aside) and the same files; a second run reuses every setting.  The
    settings are light ones (the direct-current baseline on a digits subset) -- the
    executor, not the model, is under test here."""
    pytest.importorskip("ray")
    from dynalign.sw.sweep import SweepOptions, make_settings, run_sweep

    opts = SweepOptions(limit=120, layers=(8,), epochs=2, patience=2, features=3)
    settings = make_settings([0.0], 2, lorenz=False, baselines=["direct"])
    settings = [s for s in settings if s.kind == "direct"]
    pool = run_sweep(settings, opts, tmp_path / "pool", workers=2, progress=False)
    ray_ = run_sweep(settings, opts, tmp_path / "ray", workers=2, progress=False, ray="auto")

    def strip(r):
        return {k: v for k, v in r.items()
                if k not in ("train_seconds", "setting_seconds", "reused")}

    assert [strip(r) for r in ray_] == [strip(r) for r in pool]
    for s in settings:
        for name in ("result.json", "active.npz"):
            assert (tmp_path / "ray" / "settings" / s.key / name).is_file()
    again = run_sweep(settings, opts, tmp_path / "ray", workers=2, progress=False, ray="auto")
    assert all(r.get("reused") for r in again)
    assert [strip(r) for r in again] == [strip(r) for r in pool]


def _paper_summary(spikes, accs, deltas=(-1.5, 0.0, 2.0)):
    rows, results = [], []
    for d, s, a in zip(deltas, spikes, accs):
        row = {"delta": d, "seeds": 1, "lyapunov_sum": -2 * d}
        for f, v in (("test_accuracy", a), ("test_accuracy_test_stopping", a),
                     ("val_accuracy", a), ("spikes_per_inference", s),
                     ("spikes_per_training_epoch", 1000 * s), ("synops_per_inference", 9 * s)):
            row[f], row[f + "_std"] = v, 0.0
        rows.append(row)
        results.append({"setting": {"kind": "paper", "delta": d, "seed": 0},
                        "test_accuracy": a})
    opts = json.loads(json.dumps(PaperOptions().__dict__, default=list))
    return {"protocol": "paper", "options": opts, "table": rows, "results": results,
            "settings": len(rows), "seconds": 60.0}


def test_paper_verdict_applies_the_criterion():
    from dynalign.sw.results import paper_verdict

    yes = paper_verdict("p", _paper_summary((2400, 700, 500), (0.97, 0.95, 0.94)))
    assert "**appears**" in yes and "a ratio of 4.80" in yes
    assert "never left chance" not in yes
    stuck = paper_verdict("p", _paper_summary((2400, 700, 17), (0.97, 0.95, 0.10)))
    assert "**does not appear**" in stuck
    assert "1 of 3 settings never left chance accuracy (delta=2 seed 0)" in stuck
    assert "criterion: at least 2x fewer spikes" in stuck
    assert "no verdict" in paper_verdict("p", _paper_summary((1, 2), (0.5, 0.5),
                                                              deltas=(0.0, 2.0)))


def test_results_page_renders_a_paper_sweep(tmp_path):
    from dynalign.sw.results import write_results_page

    d = tmp_path / "paper"
    d.mkdir()
    (d / "sweep.json").write_text(json.dumps(_paper_summary((2400, 700, 500),
                                                            (0.97, 0.95, 0.94))))
    text = write_results_page([("paper", d, "dynalign sweep --protocol paper ...")],
                              tmp_path / "results.md")
    assert "| -1.5 | 3 | 1 | 0.9700 ± 0.0000 | 0.9700 |" in text
    assert "21-500-500-500-10" in text and "**paper:** spikes per inference" in text
