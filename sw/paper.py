"""The paper's own protocol, in float: what Chen (arXiv 2508.10064) measured, reproduced
beside the hardware model so that the principle can be told from its measurement.

The pipeline of the paper's code, step by step, with the one fix that is not optional:

1. **Features**: UMAP (``umap-learn``, the ``umap`` install extra) of the raw rows to
   ``features`` (7) dimensions, ``n_neighbors=15, min_dist=0.1``, seeded -- **fitted on
   the training split only** and applied to validation and test (the paper fits on
   train + test);
2. **Encoder**: each feature batch of ``encode_batch`` rows (64) is divided by its own
   ``max |v|`` (the paper's per-batch normalisation: a sample's code depends on the other
   rows of its batch), then every value ``v`` starts the mixed oscillator (or Lorenz) at
   ``(v, 0.2 v, -v)``, float64 RK4 at ``dt`` for ``tmax``; ``T`` samples evenly over the
   window including both ends (the paper resamples with ``np.interp``; with
   ``n_steps % (T - 1) == 0``, as :class:`dynalign.hw.systems.EncoderConfig` demands,
   every sample falls on an integration step and the interpolation is the identity);
3. **Network**: snnTorch ``Leaky`` layers ``3K - layers - classes`` (the paper's
   21-500-500-500-10), ``beta`` initialised at 0.95, **beta and threshold learned** per
   layer, reset by subtraction, fast-sigmoid surrogate (slope 25);
4. **Training**: Adam; cross-entropy of the output membrane at every step, averaged
   over the steps (``loss="membrane"``, the paper repository's training loop; accuracy is
   read from the output spike counts) or of the output spikes of every step
   (``loss="spikes"``, ``snntorch.functional.ce_rate_loss``); ``lr`` 1e-4 and batch 64 as
   the paper repository's configuration sets them; up to ``epochs`` epochs with early stopping
   after ``patience`` epochs without a better **validation** accuracy (the paper stops
   on the test set: :func:`run_paper` also reports the test accuracy that rule would
   have picked, ``test_accuracy_test_stopping``, so the difference is measured);
5. **Spikes**, counted both ways: the paper's (every spike of every layer summed over one
   training epoch, ``spikes_per_training_epoch``, at the selected epoch) and per
   inference on the test split (all layers, and per layer), with synaptic operations per
   inference (each spike of layer ``l`` reaches the ``n_{l+1}`` neurons of the next
   layer; layer 1's real-valued input is counted apart as dense MACs).

Every random choice is seeded by ``seed``: the data split, UMAP, initialisation and batch
order.  UMAP features are cached per (dataset, seed, features) under ``cache_dir`` so that a
sweep over deltas fits UMAP once per seed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from dynalign.hw.encoder.ref import ref_encode_float
from dynalign.hw.systems import EncoderConfig
from dynalign.hw.validate import check_choice, check_int, check_real, positive_int

from .data import load_dataset

__all__ = ["PaperOptions", "umap_features", "paper_encode", "PaperNet", "train_epoch",
           "evaluate", "run_paper", "aggregate_paper", "paper_table", "PAPER_LAYERS",
           "PAPER_REPORTED"]

#: The paper's network: 21 inputs (7 features x 3), three hidden layers of 500, 10 classes.
PAPER_LAYERS = (500, 500, 500)

#: What the paper reports for the mixed oscillator on MNIST (its figure 5 and text):
#: accuracy and the spike ratio between the expansive and the dissipative mode.
PAPER_REPORTED = {"accuracy_expansive": 0.939, "accuracy_dissipative": 0.913,
                  "spike_ratio_dissipative_fewer": 4.8}


@dataclass(frozen=True)
class PaperOptions:
    """One run of the paper's protocol (all keyword arguments, validated)."""

    dataset: str = "digits"
    data_dir: str | None = None
    limit: int | None = None
    seed: int = 0
    system: str = "mixed"
    delta: float = 0.0
    features: int = 7
    layers: tuple = PAPER_LAYERS
    steps: int = 5
    tmax: float = 8.0
    dt: float = 0.01
    encode_batch: int = 64
    lr: float = 1e-4
    batch_size: int = 64
    epochs: int = 100
    patience: int = 15
    beta: float = 0.95
    loss: str = "membrane"
    umap_neighbors: int = 15
    umap_min_dist: float = 0.1

    def validate(self) -> None:
        check_choice("dataset", self.dataset, ("digits", "mnist"))
        check_choice("system", self.system, ("mixed", "lorenz"))
        check_choice("loss", self.loss, LOSSES)
        check_int("seed", self.seed, lo=0)
        for name in ("features", "steps", "encode_batch", "batch_size", "epochs",
                     "patience"):
            positive_int(name, getattr(self, name))
        check_int("umap_neighbors", self.umap_neighbors, lo=2)
        if not self.layers or any(not isinstance(n, int) or isinstance(n, bool) or n < 1
                                  for n in self.layers):
            raise ValueError(f"layers must be positive integers, not {self.layers!r}")
        check_real("lr", self.lr, positive=True)
        if not 0.0 < check_real("beta", self.beta) < 1.0:
            raise ValueError(f"beta must be in (0, 1), not {self.beta!r}")
        if check_real("umap_min_dist", self.umap_min_dist) < 0:
            raise ValueError(f"umap_min_dist must be >= 0, not {self.umap_min_dist!r}")
        self.encoder()                                  # delta, tmax, dt, steps checks

    def encoder(self) -> EncoderConfig:
        if self.system == "lorenz":
            return EncoderConfig(system="lorenz", tmax=self.tmax, dt=self.dt,
                                 samples=self.steps)
        return EncoderConfig(delta=self.delta, tmax=self.tmax, dt=self.dt,
                             samples=self.steps)


# --------------------------------------------------------------------------------------
# 1. features: UMAP fitted on the training split only
# --------------------------------------------------------------------------------------

def _fit_umap(x_train, *, n_components: int, seed: int, neighbors: int, min_dist: float):
    try:
        with warnings.catch_warnings():
            # umap-learn warns at import that TensorFlow (its ParametricUMAP) is missing:
            # not used here
            warnings.simplefilter("ignore", ImportWarning)
            import umap  # the optional 'umap' extra: imported here, the module loads without it
    except ImportError:
        raise RuntimeError("the paper's protocol needs UMAP: pip install 'dynalign[umap]' "
                           "(make setup installs it)") from None

    n = len(x_train)
    reducer = umap.UMAP(n_components=n_components, n_neighbors=min(neighbors, n - 1),
                        min_dist=min_dist, random_state=seed, n_jobs=1)
    reducer.fit(np.asarray(x_train, dtype=np.float64))
    return reducer


def umap_features(ds, opts: PaperOptions, *, cache_dir=None) -> dict:
    """``{split: (N, K) float64}``: UMAP fitted on ``ds.x_train`` alone and applied to
    the validation and test rows.  With ``cache_dir`` the result is kept in a file named
    by a hash of the training rows and the UMAP settings (atomic write)."""
    key = hashlib.sha256()
    key.update(np.ascontiguousarray(ds.x_train, dtype=np.float64).tobytes())
    key.update(json.dumps([opts.features, opts.seed, opts.umap_neighbors,
                           opts.umap_min_dist]).encode())
    for part in (ds.x_val, ds.x_test):
        key.update(np.ascontiguousarray(part, dtype=np.float64).tobytes())
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"umap_{key.hexdigest()[:20]}.npz"
        if path.is_file():
            with np.load(path) as z:
                return {s: z[s] for s in ("train", "val", "test")}
    reducer = _fit_umap(ds.x_train, n_components=opts.features, seed=opts.seed,
                        neighbors=opts.umap_neighbors, min_dist=opts.umap_min_dist)
    out = {"train": np.asarray(reducer.embedding_, dtype=np.float64),
           "val": np.asarray(reducer.transform(ds.x_val), dtype=np.float64),
           "test": np.asarray(reducer.transform(ds.x_test), dtype=np.float64)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + f".{time.monotonic_ns()}.tmp.npz")
        np.savez(tmp, **out)
        tmp.replace(path)
    return out


# --------------------------------------------------------------------------------------
# 2. the paper's encoder: per-batch max normalisation, float RK4
# --------------------------------------------------------------------------------------

def paper_encode(features, config: EncoderConfig, *, encode_batch: int) -> np.ndarray:
    """``(N, K)`` features -> ``(N, T, 3K)`` float64 trajectories, columns
    ``f0x f0y f0z f1x ...``.  Rows are taken ``encode_batch`` at a time and each batch is
    divided by its own ``max |v|`` (left as it is when that is 0), as the paper's
    ``mixed_oscillator_encode`` does; then :func:`ref_encode_float` integrates."""
    positive_int("encode_batch", encode_batch)
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"features must be a 2-D array (samples, features), not shape "
                         f"{f.shape}")
    norm = np.empty_like(f)
    for i in range(0, len(f), encode_batch):
        part = f[i:i + encode_batch]
        m = float(np.max(np.abs(part))) if part.size else 0.0
        norm[i:i + encode_batch] = part / m if m > 0 else part
    traj = ref_encode_float(norm, config)              # (N, K, T, 3)
    n, k, t, _ = traj.shape
    return np.ascontiguousarray(traj.transpose(0, 2, 1, 3).reshape(n, t, 3 * k))


# --------------------------------------------------------------------------------------
# 3. the network
# --------------------------------------------------------------------------------------

class PaperNet(torch.nn.Module):
    """``Linear -> snntorch.Leaky`` per layer; ``forward(x)`` with ``x`` of shape
    ``(B, T, n_in)`` returns the spikes of every layer, each ``(T, B, n_l)``; the output
    layer's membrane of every step, ``(T, B, classes)``, is kept in ``self.out_mem``."""

    def __init__(self, *, sizes, beta: float):
        super().__init__()
        import snntorch as snn  # the 'nir' extra carries snntorch
        from snntorch import surrogate

        grad = surrogate.fast_sigmoid(slope=25)
        self.fc = torch.nn.ModuleList(torch.nn.Linear(a, b)
                                      for a, b in zip(sizes[:-1], sizes[1:]))
        self.lif = torch.nn.ModuleList(
            snn.Leaky(beta=beta, spike_grad=grad, learn_beta=True, learn_threshold=True)
            for _ in sizes[1:])

    def forward(self, x):
        mems = [lif.init_leaky() for lif in self.lif]
        recs = [[] for _ in self.lif]
        out_mem = []
        for t in range(x.shape[1]):
            cur = x[:, t, :]
            for k, (fc, lif) in enumerate(zip(self.fc, self.lif)):
                cur, mems[k] = lif(fc(cur), mems[k])
                recs[k].append(cur)
            out_mem.append(mems[-1])
        self.out_mem = torch.stack(out_mem)
        return [torch.stack(r) for r in recs]


def evaluate(net, x, y, batch: int = 1024):
    """Accuracy (argmax of output spike counts, lowest index on ties) and per-layer
    spike totals over ``x``."""
    correct, spikes = 0, None
    with torch.no_grad():
        for i in range(0, len(x), batch):
            recs = net(x[i:i + batch])
            counts = recs[-1].sum(dim=0)
            correct += int((counts.argmax(dim=1) == y[i:i + batch]).sum())
            s = torch.stack([r.sum() for r in recs]).double()
            spikes = s if spikes is None else spikes + s
    return correct / len(x), spikes.numpy()


# --------------------------------------------------------------------------------------
# 4-5. training, early stopping, both spike counts
# --------------------------------------------------------------------------------------

LOSSES = ("membrane", "spikes")


def loss_function(name: str):
    """``membrane``: cross-entropy of the output layer's membrane at every step, averaged
    over the steps (the paper repository's training loop, snnTorch's tutorial loss);
    ``spikes``: cross-entropy of the output spikes of every step
    (``snntorch.functional.ce_rate_loss``).  Either takes ``(net, spike records, y)``."""
    check_choice("loss", name, LOSSES)
    if name == "spikes":
        from snntorch import functional as SF

        ce_rate = SF.ce_rate_loss()
        return lambda net, recs, y: ce_rate(recs[-1], y)
    ce = torch.nn.CrossEntropyLoss()
    return lambda net, recs, y: torch.stack([ce(m, y) for m in net.out_mem]).mean()


def train_epoch(net, optim, loss_fn, x, y, *, batch_size: int, gen) -> float:
    """One epoch of Adam over ``x`` in a seeded random order (``loss_fn`` from
    :func:`loss_function`); returns the paper's spike count: every spike of every layer
    emitted during the epoch's forward passes."""
    net.train()
    spikes = 0.0
    perm = torch.randperm(len(y), generator=gen)
    for i in range(0, len(perm), batch_size):
        idx = perm[i:i + batch_size]
        recs = net(x[idx])
        loss = loss_fn(net, recs, y[idx])
        optim.zero_grad()
        loss.backward()
        optim.step()
        spikes += float(sum(r.detach().sum() for r in recs))
    net.eval()
    return spikes


def run_paper(opts: PaperOptions, *, cache_dir=None, progress: bool = False) -> dict:
    """Train and score one setting of the paper's protocol; returns the figures."""
    opts.validate()
    t0 = time.perf_counter()
    torch.manual_seed(opts.seed)
    gen = torch.Generator().manual_seed(opts.seed)
    ds = load_dataset(opts.dataset, data_dir=opts.data_dir, seed=opts.seed,
                      limit=opts.limit)
    feats = umap_features(ds, opts, cache_dir=cache_dir)
    cfg = opts.encoder()
    x = {s: torch.as_tensor(paper_encode(feats[s], cfg, encode_batch=opts.encode_batch),
                            dtype=torch.float32) for s in feats}
    y = {"train": ds.y_train, "val": ds.y_val, "test": ds.y_test}
    y = {s: torch.as_tensor(v, dtype=torch.long) for s, v in y.items()}
    sizes = [x["train"].shape[2], *opts.layers, ds.n_classes]
    net = PaperNet(sizes=sizes, beta=opts.beta)
    optim = torch.optim.Adam(net.parameters(), lr=opts.lr)
    loss_fn = loss_function(opts.loss)
    history = []
    best = {"val": -1.0}
    test_best = {"test": -1.0}
    stale = 0
    for epoch in range(opts.epochs):
        epoch_spikes = train_epoch(net, optim, loss_fn, x["train"], y["train"],
                                   batch_size=opts.batch_size, gen=gen)
        val_acc, _ = evaluate(net, x["val"], y["val"])
        test_acc, test_spikes = evaluate(net, x["test"], y["test"])
        history.append({"epoch": epoch, "val_accuracy": val_acc, "test_accuracy": test_acc,
                         "spikes_per_training_epoch": epoch_spikes})
        if progress:
            print(f"epoch {epoch}: val {val_acc:.4f} test {test_acc:.4f} "
                  f"spikes/epoch {epoch_spikes:.0f}", flush=True)
        if test_acc > test_best["test"]:
            test_best = {"test": test_acc, "epoch": epoch}
        if val_acc > best["val"]:
            best = {"val": val_acc, "test": test_acc, "epoch": epoch,
                    "epoch_spikes": epoch_spikes, "test_spikes": test_spikes,
                    "state": copy.deepcopy(net.state_dict())}
            stale = 0
        else:
            stale += 1
            if stale >= opts.patience:
                break
    net.load_state_dict(best["state"])
    n_test = len(y["test"])
    per_layer = best["test_spikes"] / n_test
    synops = [float(per_layer[k] * sizes[k + 2]) for k in range(len(per_layer) - 1)]
    betas = [float(torch.clamp(lif.beta.detach(), 0, 1).mean()) for lif in net.lif]
    thresholds = [float(lif.threshold.detach().mean()) for lif in net.lif]
    return {
        "options": json.loads(json.dumps(asdict(opts), default=list)),
        "lyapunov_sum": cfg.lyapunov_sum,
        "val_accuracy": best["val"],
        "test_accuracy": best["test"],
        "best_epoch": best["epoch"],
        "test_accuracy_test_stopping": test_best["test"],
        "test_stopping_epoch": test_best["epoch"],
        "epochs_run": len(history),
        "spikes_per_training_epoch": best["epoch_spikes"],
        "spikes_per_inference": float(per_layer.sum()),
        "per_layer_spikes": per_layer.tolist(),
        "synops_per_inference": float(sum(synops)),
        "per_layer_synops": synops,
        "dense_macs_per_inference": int(opts.steps * sizes[0] * sizes[1]),
        "learned_beta": betas,
        "learned_threshold": thresholds,
        "train_samples": int(len(y["train"])),
        "test_samples": int(n_test),
        "history": history,
        "seconds": time.perf_counter() - t0,
    }


# --------------------------------------------------------------------------------------
# a sweep's table
# --------------------------------------------------------------------------------------

_PAPER_FIELDS = ("test_accuracy", "test_accuracy_test_stopping", "val_accuracy",
                 "spikes_per_inference", "spikes_per_training_epoch", "synops_per_inference")


def aggregate_paper(results: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds of each delta's paper-protocol results."""
    groups: dict[float, list] = {}
    for r in results:
        groups.setdefault(r["setting"]["delta"], []).append(r)
    rows = []
    for delta, rs in sorted(groups.items()):
        row = {"delta": delta, "seeds": len(rs), "lyapunov_sum": rs[0]["lyapunov_sum"]}
        for f in _PAPER_FIELDS:
            v = np.array([r[f] for r in rs], dtype=np.float64)
            row[f] = float(v.mean())
            row[f + "_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        rows.append(row)
    return rows


def paper_table(rows: list[dict]) -> str:
    """A markdown table of :func:`aggregate_paper` rows."""
    head = ("| delta | Lyapunov sum | seeds | test acc (val stop) | test acc (test stop) "
            "| spikes / inference | spikes / training epoch | SynOps / inference |\n"
            "|---:|---:|---:|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['delta']:g} | {r['lyapunov_sum']:g} | {r['seeds']} "
            f"| {r['test_accuracy']:.4f} ± {r['test_accuracy_std']:.4f} "
            f"| {r['test_accuracy_test_stopping']:.4f} "
            f"| {r['spikes_per_inference']:.1f} ± {r['spikes_per_inference_std']:.1f} "
            f"| {r['spikes_per_training_epoch']:.0f} "
            f"| {r['synops_per_inference']:.0f} |")
    return "\n".join(lines)
