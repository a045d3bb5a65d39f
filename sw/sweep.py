"""The delta sweep: does the bimodal landscape hold for what the hardware computes?

One network size is trained (quantisation-aware, :func:`dynalign.sw.train.train_run`) and scored
on the *golden* model for every setting:

* ``mixed`` at each delta of the sweep (the paper's mixed oscillator),
* ``lorenz`` (its default parameters),
* the baseline codings of :mod:`dynalign.sw.baselines` -- ``direct`` current, Bernoulli ``rate``,
  ``latency`` -- on the same hidden layers (the paper's first-figure comparison),

each for several seeds (the seed fixes the data split, initialisation and batches).
Per setting: golden / float / ANN accuracy, spikes and synaptic operations per
inference (per layer too), cycles per inference from the RTL cycle model
(:func:`dynalign.hw.lif.cycles.ref_cycles`, held against RTL simulation by the tests), an
energy *estimate* (:mod:`dynalign.sw.energy`, table named there) and the Lyapunov sum.

Settings run in parallel worker processes (one torch thread each).  Every finished
setting is written to ``OUT/settings/<key>/result.json`` and is not recomputed when
the sweep is run again with the same options (resumable).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import ACT, round_shift
from dynalign.hw.lif.cycles import ref_cycles_from_sizes, ref_cycles_from_trains
from dynalign.hw.lif.ref import ref_network
from dynalign.hw.systems import EncoderConfig, System, grid_step
from dynalign.hw.validate import check_choice, positive_int

from .baselines import encode_inputs
from .energy import ENERGY_TABLE, energy_pj
from .image import network_from_dict
from .paper import run_paper
from .plots import plot_trajectories
from .qat import LIFNet, choose_in_shift
from .raypool import run_on_ray
from .rundir import RunDir
from .train import (
    INPUT_SCALES,
    TrainOptions,
    accuracy,
    fit_lif,
    prepare_data,
    seed_everything,
    train_run,
)

__all__ = ["Setting", "SweepOptions", "make_settings", "run_setting", "run_sweep",
           "cached_result", "aggregate", "PROTOCOLS", "write_plots", "DEFAULT_DELTAS", "BASELINES"]

DEFAULT_DELTAS = (-1.5, -1.0, -0.6, -0.3, 0.0, 0.3, 0.6, 1.0, 2.0, 5.0, 10.0)
BASELINES = ("direct", "rate", "latency")
RESULT = "result.json"


@dataclass(frozen=True)
class Setting:
    """One point of the sweep: ``kind`` is mixed, lorenz, a baseline coding, or paper
    (the paper's float protocol on the mixed oscillator)."""

    kind: str
    delta: float | None
    seed: int

    @property
    def key(self) -> str:
        d = "" if self.delta is None else f"_d{self.delta:+g}"
        return f"{self.kind}{d}_s{self.seed}"

    def encoder(self) -> EncoderConfig:
        if self.kind == "mixed":
            return EncoderConfig(delta=0.0 if self.delta is None else self.delta)
        return EncoderConfig(system=self.kind)          # any other input system


@dataclass(frozen=True)
class SweepOptions:
    """What every setting shares (the network and the training budget)."""

    dataset: str = "digits"
    data_dir: str | None = None
    features: int = 7
    layers: tuple = (128,)
    steps: int = 5
    epochs: int = 30
    patience: int = 10
    limit: int | None = None
    lanes: int = 8
    in_shift_percentile: float = 100.0
    tmax: float = 8.0
    #: the dynamical rows' input scale (:data:`dynalign.sw.train.INPUT_SCALES`): one
    #: ``in_shift`` per model, or one shift per sample index in the encoder; the baseline
    #: codings keep their single shift
    input_scale: str = "single"

    def validate(self):
        for name in ("features", "steps", "epochs", "patience", "lanes"):
            v = getattr(self, name)
            positive_int(name, v)
        if not self.layers or any(not isinstance(n, int) or n < 1 for n in self.layers):
            raise ValueError(f"layers must be positive integers, not {self.layers!r}")
        EncoderConfig(tmax=self.tmax, samples=self.steps,      # the window's checks
                      dt=grid_step(self.tmax, self.steps))
        if not 0 < self.in_shift_percentile <= 100:
            raise ValueError("in_shift_percentile must be in (0, 100], "
                             f"not {self.in_shift_percentile!r}")
        check_choice("input_scale", self.input_scale, INPUT_SCALES)


PROTOCOLS = ("hardware", "paper")


def make_settings(deltas, seeds: int, *, lorenz: bool = True, baselines=BASELINES,
                  systems=(), protocol: str = "hardware"):
    """All settings of a sweep, in table order: the mixed oscillator at each delta, Lorenz,
    then one row per other input system in ``systems`` (the paper's parameters), then the
    baselines.  ``protocol="paper"``: one ``paper`` setting (the paper's float protocol,
    :mod:`dynalign.sw.paper`) per delta and seed, nothing else."""
    check_choice("protocol", protocol, PROTOCOLS)
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive integer, not {seeds!r}")
    deltas = [float(d) for d in deltas]
    if not deltas:
        raise ValueError("need at least one delta")
    for d in deltas:
        if not math.isfinite(d):
            raise ValueError(f"delta must be finite, not {d!r}")
        EncoderConfig(delta=d)                          # range check
    bad = [b for b in baselines if b not in BASELINES]
    if bad:
        raise ValueError(f"unknown baseline(s) {bad} (choose from {', '.join(BASELINES)})")
    systems = [System.parse(x) for x in systems]
    bad = [x.value for x in systems if x in (System.MIXED, System.LORENZ)]
    if bad:
        raise ValueError(f"--systems lists the other input systems, not {bad} "
                         "(the mixed oscillator is swept by --deltas, Lorenz always runs)")
    if protocol == "paper":
        return [Setting("paper", d, s) for d in deltas for s in range(seeds)]
    out = [Setting("mixed", d, s) for d in deltas for s in range(seeds)]
    if lorenz:
        out += [Setting("lorenz", None, s) for s in range(seeds)]
    out += [Setting(x.value, None, s) for x in systems for s in range(seeds)]
    out += [Setting(b, None, s) for b in baselines for s in range(seeds)]
    return out


# --------------------------------------------------------------------------------------
# one setting
# --------------------------------------------------------------------------------------

def _train_options(opts: SweepOptions, seed: int):
    return TrainOptions(dataset=opts.dataset, data_dir=opts.data_dir, limit=opts.limit,
                        seed=seed, features=opts.features, layers=tuple(opts.layers),
                        epochs=opts.epochs, patience=opts.patience, progress=False,
                        ann_epochs=100, in_shift_percentile=opts.in_shift_percentile,
                        input_scale=opts.input_scale)


ACTIVE = "active.npz"


def _cycles(out_dir: Path, lanes: int) -> float:
    """Mean cycles per inference from the saved active-input counts and spike trains
    (exact RTL cycle model), so that a refined cycle model applies to finished settings
    without retraining.  A file saved before the spike trains were kept gives the
    model's lower bound from the layer sizes, with a warning."""
    z = np.load(out_dir / ACTIVE)
    n_out = z["n_out"]
    if "trains0" not in z:
        warnings.warn(f"{out_dir / ACTIVE} has no spike trains: cycles are a lower bound; "
                      f"re-run the setting for the exact count", RuntimeWarning,
                      stacklevel=2)
        return float(ref_cycles_from_sizes(z["active"], n_out, lanes=lanes).mean())
    trains = [np.unpackbits(z[f"trains{k}"], axis=-1, count=int(n)).astype(bool)
              for k, n in enumerate(n_out)]
    return float(ref_cycles_from_trains(z["active"], trains, lanes=lanes).mean())


def _golden_summary(samples, net, labels, lanes: int, out_dir: Path) -> dict:
    """Golden-model figures of a test set: accuracy, spikes, SynOps, cycles, energy."""
    res = ref_network(samples, net)
    trains = {f"trains{k}": np.packbits(tr, axis=-1) for k, tr in enumerate(res.spike_trains)}
    np.savez_compressed(out_dir / ACTIVE, active=res.active,
                        n_out=np.array([layer.n_out for layer in net.layers]), **trains)
    synops = res.synops.mean(axis=0)
    return {
        "golden_accuracy": float((res.cls == labels).mean()),
        "spikes_per_inference": float(res.spikes.sum(axis=1).mean()),
        "per_layer_spikes": res.spikes.mean(axis=0).tolist(),
        "synops_per_inference": float(res.synops.sum(axis=1).mean()),
        "per_layer_synops": synops.tolist(),
        "cycles_per_inference": _cycles(out_dir, lanes),
        "lanes": lanes,
        "energy_pj_per_inference": energy_pj(synops),
        "saturations_per_inference": float(res.saturations.sum(axis=1).mean()),
        "test_samples": int(len(labels)),
    }


def _run_dynamical(setting: Setting, opts: SweepOptions, out_dir: Path) -> dict:
    cfg = setting.encoder()
    cfg = EncoderConfig(system=cfg.system, tmax=opts.tmax, samples=opts.steps,
                        dt=grid_step(opts.tmax, opts.steps), **cfg.p)
    topts = _train_options(opts, setting.seed)
    metrics = train_run(out_dir / "run", encoder=cfg, opts=topts)
    _, image, transform = RunDir(out_dir / "run").load()
    prep = prepare_data(topts, image.encoder, transform=transform,
                        in_shift=image.network.in_shift)
    samples, _ = FixedEncoder(image.encoder).encode(prep.codes["test"])
    row = _golden_summary(samples, image.network, prep.labels["test"], opts.lanes, out_dir)
    test = metrics["test"]
    if abs(test["golden_accuracy"] - row["golden_accuracy"]) > 0:
        raise AssertionError("sweep and evaluate_run disagree on the golden accuracy")
    row.update(float_accuracy=test["float_accuracy"], ann_accuracy=test["ann_accuracy"],
               torch_golden_agreement=test["torch_golden_agreement"],
               lyapunov_sum=cfg.lyapunov_sum, in_shift=image.network.in_shift,
               step_shifts=list(image.encoder.step_shifts),
               encoder_saturation_events=metrics["encoder_saturation_events"],
               train_seconds=metrics["train_seconds"], best_epoch=metrics["best_epoch"])
    return row


def _run_baseline(setting: Setting, opts: SweepOptions, out_dir: Path) -> dict:
    topts = _train_options(opts, setting.seed)
    t0 = time.perf_counter()
    gen = seed_everything(setting.seed)
    prep = prepare_data(topts, EncoderConfig(samples=opts.steps))
    x = {split: encode_inputs(prep.codes[split], setting.kind, samples=opts.steps,
                              seed=1000 * setting.seed + i)
         for i, split in enumerate(("train", "val", "test"))}
    in_shift = choose_in_shift(x["train"], percentile=opts.in_shift_percentile)

    def act(split, integer=True):
        if integer:
            a, _ = ACT.saturate(round_shift(x[split], in_shift))
            return torch.as_tensor(a, dtype=torch.float64)
        return torch.as_tensor(x[split], dtype=torch.float64) / float(1 << in_shift)

    y = {s: torch.as_tensor(prep.labels[s]) for s in ("train", "val", "test")}
    sizes = [x["train"].shape[2], *opts.layers, prep.dataset.n_classes]
    model = LIFNet(sizes=sizes, in_shift=in_shift, generator=gen)
    model.init_thresholds_(act("train")[:512])
    hist = fit_lif(model, act("train"), y["train"], act("val"), y["val"], topts, gen=gen)
    net = network_from_dict(model.integer_params())
    row = _golden_summary(x["test"], net, prep.labels["test"], opts.lanes, out_dir)
    row.update(float_accuracy=accuracy(model, act("test", False), y["test"],
                                       integer=False)[0],
               ann_accuracy=None, torch_golden_agreement=None, lyapunov_sum=None,
               in_shift=in_shift, encoder_saturation_events=0,
               train_seconds=time.perf_counter() - t0, best_epoch=hist["best_epoch"])
    return row


def _want(setting: Setting, opts) -> dict:
    options = _jsonable(asdict(opts))
    if isinstance(opts, SweepOptions):
        for name in ("tmax", "input_scale"):    # joined the options later: at their
            if options[name] == getattr(SweepOptions, name):    # default, left out
                del options[name]
    return {"setting": asdict(setting), "options": options}   # keeps finished sweeps reused


def cached_result(setting: Setting, opts, out_root) -> dict | None:
    """The finished result of ``setting`` under ``out_root`` if one was written with the
    same options, else ``None`` (``reused`` is set; nothing is written back)."""
    out_dir = Path(out_root) / "settings" / setting.key
    path = out_dir / RESULT
    if not path.is_file():
        return None
    done = json.loads(path.read_text())
    want = _want(setting, opts)
    if {k: done.get(k) for k in want} != want:
        return None
    if setting.kind != "paper":
        done["cycles_per_inference"] = _cycles(out_dir, opts.lanes)
    done["reused"] = True
    return done


def run_setting(setting: Setting, opts, out_root) -> dict:
    """Train and score one setting; writes and returns its result (cached on disk).
    ``opts`` is a :class:`SweepOptions` (the hardware model) or, for ``paper`` settings,
    a :class:`dynalign.sw.paper.PaperOptions` whose delta and seed the setting sets."""
    done = cached_result(setting, opts, out_root)
    if done is not None:
        return done
    out_dir = Path(out_root) / "settings" / setting.key
    path = out_dir / RESULT
    want = _want(setting, opts)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    if setting.kind == "paper":
        row = run_paper(replace(opts, delta=setting.delta, seed=setting.seed),
                        cache_dir=Path(out_root) / "umap")
        row.pop("options")                              # the setting and ``want`` say it
    elif setting.kind in {x.value for x in System}:
        row = _run_dynamical(setting, opts, out_dir)
    else:
        row = _run_baseline(setting, opts, out_dir)
    result = {**want, **row, "setting_seconds": time.perf_counter() - t0}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)                                   # atomic: a crash leaves no half
    return result


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=list))


def run_sweep(settings, opts, out_root, *, workers: int | None = None,
              progress: bool = True, ray: str | None = None) -> list[dict]:
    """Run every setting (in parallel, resumable) and return their results in order.

    ``ray=None`` runs them in ``workers`` local processes; ``ray="auto"`` (a running
    cluster if there is one, else a local Ray instance of ``workers`` CPUs) or a cluster
    address runs each as a Ray task (:func:`dynalign.sw.raypool.run_on_ray`).  Either
    way a setting is the same function of the same options and seed, so the results are
    the same numbers; finished settings are reused."""
    opts.validate()
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    results: dict[str, dict] = {}
    bar = None
    if progress:
        bar = tqdm(total=len(settings), desc="sweep", unit="setting")
    if ray is not None:
        todo = []
        for s in settings:
            done = cached_result(s, opts, out_root)
            if done is None:
                todo.append(s)
            else:
                results[s.key] = done
                if bar is not None:
                    bar.update(1)
        for s, res in run_on_ray(run_setting, todo, opts, out_root, address=ray,
                                 workers=workers):
            results[s.key] = res
            if bar is not None:
                bar.set_postfix_str(s.key)
                bar.update(1)
    elif workers == 1:
        for s in settings:
            results[s.key] = run_setting(s, opts, out_root)
            if bar is not None:
                bar.update(1)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as ex:
            futs = {ex.submit(run_setting, s, opts, out_root): s for s in settings}
            for fut in as_completed(futs):
                s = futs[fut]
                results[s.key] = fut.result()
                if bar is not None:
                    bar.set_postfix_str(s.key)
                    bar.update(1)
    if bar is not None:
        bar.close()
    return [results[s.key] for s in settings]


# --------------------------------------------------------------------------------------
# aggregation and plots
# --------------------------------------------------------------------------------------

_FIELDS = ("golden_accuracy", "float_accuracy", "ann_accuracy", "spikes_per_inference",
           "synops_per_inference", "cycles_per_inference", "energy_pj_per_inference")


def _mean_std(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(results: list[dict]) -> list[dict]:
    """Mean and standard deviation over seeds, one row per (kind, delta)."""
    groups: dict[tuple, list] = {}
    for r in results:
        s = r["setting"]
        groups.setdefault((s["kind"], s["delta"]), []).append(r)
    rows = []
    for (kind, delta), rs in groups.items():
        row = {"kind": kind, "delta": delta, "seeds": len(rs),
               "lyapunov_sum": rs[0]["lyapunov_sum"]}
        for f in _FIELDS:
            row[f], row[f + "_std"] = _mean_std([r.get(f) for r in rs])
        row["per_layer_spikes"] = np.mean([r["per_layer_spikes"] for r in rs], axis=0).tolist()
        row["in_shifts"] = [r.get("in_shift") for r in rs]
        row["step_shifts"] = [r.get("step_shifts") for r in rs]
        rows.append(row)
    return rows


def headline(rows: list[dict]) -> dict:
    """The paper's two ratios, delta=-1.5 against delta=2, where both were swept."""
    by = {r["delta"]: r for r in rows if r["kind"] == "mixed"}
    if -1.5 not in by or 2.0 not in by:
        return {}
    e, d = by[-1.5], by[2.0]
    return {"spikes_expansive": e["spikes_per_inference"],
            "spikes_dissipative": d["spikes_per_inference"],
            "spike_ratio_expansive_over_dissipative":
                e["spikes_per_inference"] / max(d["spikes_per_inference"], 1e-12),
            "accuracy_expansive": e["golden_accuracy"],
            "accuracy_dissipative": d["golden_accuracy"],
            "paper": {"spike_ratio": 4.8, "accuracy_expansive": 0.939,
                      "accuracy_dissipative": 0.913}}


def write_plots(rows: list[dict], out_dir, *, example=None) -> dict:
    """``landscape.png`` (accuracy and spikes against delta, Lyapunov sum on a second
    axis), ``trajectories.png`` and, given ``example`` (see :func:`raster_data`),
    ``raster.png``.  Returns the paths."""
    import matplotlib  # imported here, not at the top: ~0.5 s of start-up
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    mixed = sorted((r for r in rows if r["kind"] == "mixed"), key=lambda r: r["delta"])
    d = np.array([r["delta"] for r in mixed])
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True)
    for ax, key, label in ((ax1, "golden_accuracy", "golden (hardware) accuracy"),
                           (ax2, "spikes_per_inference", "spikes per inference")):
        m = np.array([r[key] for r in mixed])
        s = np.array([r[key + "_std"] for r in mixed])
        ax.errorbar(d, m, yerr=s, marker="o", capsize=3, color="tab:blue", label=label)
        if key == "golden_accuracy":
            fa = np.array([r["float_accuracy"] for r in mixed])
            ax.plot(d, fa, "s--", color="tab:cyan", ms=4, label="float accuracy")
        for r in rows:
            if r["kind"] != "mixed" and r[key] is not None:
                ax.axhline(r[key], ls=":", lw=1, color={"lorenz": "tab:green",
                           "direct": "tab:gray", "rate": "tab:orange",
                           "latency": "tab:purple"}.get(r["kind"], "tab:brown"),
                           label=r["kind"])
        ax.set_ylabel(label)
        ax.axvline(0.0, color="k", lw=0.5)
        tw = ax.twinx()
        tw.plot(d, [r["lyapunov_sum"] for r in mixed], color="tab:red", lw=1, alpha=0.6)
        tw.set_ylabel("Lyapunov sum (-2 delta)", color="tab:red")
        ax.legend(fontsize=7, loc="best")
    ax2.set_xscale("symlog", linthresh=1.0)
    ax2.set_xlabel("delta (input-system damping)")
    fig.suptitle("dynamical alignment on the golden (hardware) model")
    fig.tight_layout()
    paths = {"landscape": out_dir / "landscape.png"}
    fig.savefig(paths["landscape"], dpi=110)
    plt.close(fig)
    paths["trajectories"] = plot_trajectories([-1.5, 2.0], [0.5, 1.0, -1.5],
                                              out=out_dir / "trajectories.png")
    if example is not None:
        paths["raster"] = plot_raster(example, out_dir / "raster.png")
    return {k: str(v) for k, v in paths.items()}


def raster_data(run_dir, index: int = 0) -> dict:
    """Per-step spikes of every neuron of one test sample of a trained run.

    The golden model returns counts over T; running it on the first ``t`` steps for
    ``t = 1..T`` and differencing the counts gives the spikes of step ``t`` exactly.
    """
    info, image, transform = RunDir(run_dir).load()
    dd = info["data"]
    topts = TrainOptions(dataset=dd["dataset"], data_dir=dd["data_dir"], seed=dd["seed"],
                         limit=dd.get("limit"), features=transform.n_features)
    prep = prepare_data(topts, image.encoder, transform=transform,
                        in_shift=image.network.in_shift)
    samples, _ = FixedEncoder(image.encoder).encode(prep.codes["test"][index:index + 1])
    steps = samples.shape[1]
    prev = None
    trains = []
    for t in range(1, steps + 1):
        res = ref_network(samples[:, :t], image.network)
        cur = [c[0] for c in res.layer_counts]
        trains.append([c - (p if prev is not None else 0)
                       for c, p in zip(cur, prev or [0] * len(cur))])
        prev = cur
    layers = [np.stack([trains[t][k] for t in range(steps)]) for k in range(len(cur))]
    return {"delta": image.encoder.p.get("delta"), "label": int(prep.labels["test"][index]),
            "cls": int(res.cls[0]), "layers": [x.tolist() for x in layers]}


def plot_raster(examples: list[dict], path) -> Path:
    """Spike rasters (neuron index against time step, all layers stacked) side by side."""
    import matplotlib  # imported here, not at the top: ~0.5 s of start-up
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(examples), figsize=(5 * len(examples), 4.5),
                             squeeze=False)
    for ax, ex in zip(axes[0], examples):
        offset = 0
        total = 0
        for k, layer in enumerate(ex["layers"]):
            arr = np.array(layer)                        # (T, n_l)
            t, i = np.nonzero(arr)
            ax.scatter(t, i + offset, s=40, marker="|", color=f"C{k}",
                       label=f"layer {k + 1} ({int(arr.sum())} spikes)")
            offset += arr.shape[1] + 4
            total += int(arr.sum())
        ax.set_title(f"delta={ex['delta']:g}: {total} spikes, label {ex['label']}, "
                     f"class {ex['cls']}", fontsize=9)
        steps = len(ex["layers"][0])
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_xticks(range(steps))
        ax.set_xlabel("time step")
        ax.set_ylabel("neuron (layers stacked)")
        ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def summary(results, rows, opts: SweepOptions, *, seconds: float) -> dict:
    return {"options": _jsonable(asdict(opts)), "energy_table": ENERGY_TABLE,
            "settings": len(results), "seconds": seconds,
            "reused": sum(1 for r in results if r.get("reused")), "table": rows,
            "headline": headline(rows), "results": results}

