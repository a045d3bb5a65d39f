"""``evaluate_run``: score a trained RUN/ directory on its test split.

Everything is recomputed from the files in RUN/ (nothing is taken from training-time
memory):

* the feature transform (``transform.npz``; its SHA-256 must match the image's);
* the golden encoder (:class:`dynalign.hw.encoder.ref.FixedEncoder`) on the image's encoder
  parameters, and the golden network (:func:`dynalign.hw.lif.ref.ref_network`) on the image's
  integers -- ``golden_accuracy`` is what the hardware computes;
* the torch integer forward (:func:`dynalign.sw.qat.integer_forward`) on the same integers:
  ``torch_golden_agreement`` is the fraction of test samples with the same class, and
  ``torch_golden_exact`` says whether every count, membrane, spike, SynOp and saturation
  total matched too (both must hold: 1.0 / true);
* the float network (``float_model.pt``, :class:`dynalign.sw.qat.LIFNet` with ``integer=False``)
  -> ``float_accuracy``; the MLP baseline (``ann.pt``) -> ``ann_accuracy``.

Spikes and SynOps are per inference (means over the test samples) from the golden
model; ``per_layer_spikes`` / ``per_layer_synops`` list them by layer.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import CODE
from dynalign.hw.lif.ref import ref_network

from .data import load_dataset
from .features import FeatureTransform
from .image import WeightImage, network_to_dict
from .qat import (
    MLP,
    LIFNet,
    activation_table,
    gather_inputs,
    integer_forward,
    torch_threads,
)

__all__ = ["evaluate_run", "load_run", "compare_torch_golden", "RunFiles"]


class RunFiles:
    """Names of the files a run directory holds."""

    IMAGE = "model.dlw"
    MANIFEST = "manifest.json"
    TRANSFORM = "transform.npz"
    FLOAT_MODEL = "float_model.pt"
    ANN = "ann.pt"
    RUN = "run.json"
    METRICS = "metrics.json"
    CURVE = "training_curve.png"
    READMEMH = "readmemh"


def load_run(run_dir):
    """``(run_info, image, transform)`` of a run directory, checked for consistency."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    info_path = run_dir / RunFiles.RUN
    if not info_path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a dynalign run (no {RunFiles.RUN})")
    info = json.loads(info_path.read_text())
    image = WeightImage.load(run_dir / RunFiles.IMAGE)
    transform = FeatureTransform.load(run_dir / image.transform_file)
    if transform.digest() != image.transform_sha256:
        raise ValueError(f"{run_dir / image.transform_file} is not the feature transform "
                         f"the image was trained with (SHA-256 differs)")
    return info, image, transform


def compare_torch_golden(torch_out, golden) -> dict:
    """Sample-by-sample comparison (``==``) of the torch integer forward and the golden
    result: ``{"agreement": class agreement fraction, "exact": all fields equal,
    "mismatches": indices of samples differing in any field}``."""
    t_cls = torch_out.classes.cpu().numpy().astype(np.int64)
    t_counts = torch_out.counts.detach().cpu().numpy().astype(np.int64)
    t_v = torch_out.v_final.detach().cpu().numpy().astype(np.int64)
    same = (t_cls == golden.cls)
    same_all = same & np.all(t_counts == golden.out_counts, axis=1) \
        & np.all(t_v == golden.v_final, axis=1)
    for k in range(len(golden.layer_counts)):
        same_all &= np.all(torch_out.neuron_counts[k].cpu().numpy().astype(np.int64)
                           == golden.layer_counts[k], axis=1)
        same_all &= torch_out.synops[k].cpu().numpy().astype(np.int64) == golden.synops[:, k]
        same_all &= torch_out.saturations[k].cpu().numpy().astype(np.int64) \
            == golden.saturations[:, k]
    return {"agreement": float(same.mean()) if same.size else 1.0,
            "exact": bool(same_all.all()),
            "mismatches": np.flatnonzero(~same_all).tolist()}


def evaluate_run(run_dir, *, dataset: str | None = None, data_dir=None, data_path=None,
                 device: str | None = None, split: str = "test",
                 threads: int | None = 1, lanes: int | None = None) -> dict:
    """Score ``run_dir`` on a split (default: the test split of its own dataset and
    seed; ``dataset`` / ``data_dir`` / ``data_path`` point it at other data of the same
    input size).  With ``lanes``, also ``lif_cycles_per_inference``: the mean of the LIF
    network's cycle counter at that lane count (exact cycle model,
    :func:`dynalign.hw.lif.cycles.ref_cycles`)."""
    if split not in ("test", "val", "train"):
        raise ValueError(f"split must be test, val or train, not {split!r}")
    with torch_threads(threads):
        return _evaluate_run(Path(run_dir), dataset=dataset, data_dir=data_dir,
                             data_path=data_path, device=device, split=split, lanes=lanes)


def _evaluate_run(run_dir, *, dataset, data_dir, data_path, device, split, lanes) -> dict:
    run_dir = Path(run_dir)
    info, image, transform = load_run(run_dir)
    d = info["data"]
    name = dataset or d["dataset"]
    same = name == d["dataset"]
    ds = load_dataset(name, data_dir=data_dir or (d.get("data_dir") if same else None),
                      path=data_path or (d.get("data_path") if same else None),
                      seed=d["seed"], test_fraction=d["test_fraction"],
                      val_fraction=d["val_fraction"], limit=d.get("limit") if same else None)
    x, y = {"test": (ds.x_test, ds.y_test), "val": (ds.x_val, ds.y_val),
            "train": (ds.x_train, ds.y_train)}[split]
    if x.shape[1] != transform.n_inputs:
        raise ValueError(f"dataset {name!r} has {x.shape[1]} inputs per sample; the model's "
                         f"feature transform expects {transform.n_inputs}")
    codes = transform.codes(x)
    enc = FixedEncoder(image.encoder)
    samples, enc_sat = enc.encode(codes)
    golden = ref_network(samples, image.network)

    dev = torch.device(device) if device else torch.device("cpu")
    act = torch.as_tensor(activation_table(enc.table, image.network.in_shift),
                          dtype=torch.float64, device=dev)
    xin = gather_inputs(act, torch.as_tensor(codes, device=dev))
    tout = integer_forward(network_to_dict(image.network), xin)
    cmp = compare_torch_golden(tout, golden)

    fm = torch.load(run_dir / RunFiles.FLOAT_MODEL, weights_only=True)
    net = LIFNet(sizes=fm["sizes"], in_shift=fm["in_shift"], readout=fm["readout"])
    net.load_state_dict(fm["state"])
    net.eval()
    ftable = torch.as_tensor(enc.table, dtype=torch.float64) / float(1 << fm["in_shift"])
    with torch.no_grad():
        fout = net(gather_inputs(ftable, torch.as_tensor(codes)), integer=False)
    float_acc = float((fout.classes.numpy() == y).mean())

    ann_acc = None
    ann_path = run_dir / RunFiles.ANN
    if ann_path.is_file():
        a = torch.load(ann_path, weights_only=True)
        mlp = MLP(a["sizes"])
        mlp.load_state_dict(a["state"])
        mlp.eval()
        with torch.no_grad():
            pred = mlp(torch.as_tensor(codes / float(1 << CODE.frac), dtype=torch.float32))
        ann_acc = float((pred.argmax(1).numpy() == y).mean())

    p = image.encoder.p
    n = len(y)
    cycles = {}
    if lanes is not None:
        from dynalign.hw.lif.cycles import ref_cycles
        cycles = {"lanes": lanes, "lif_cycles_per_inference":
                  float(ref_cycles(golden, image.network, lanes=lanes).mean())}
    return {
        "float_accuracy": float_acc,
        "golden_accuracy": float((golden.cls == y).mean()),
        "torch_golden_agreement": cmp["agreement"],
        "torch_golden_exact": cmp["exact"],
        "spikes_per_inference": float(golden.spikes.sum(axis=1).mean()),
        "synops_per_inference": float(golden.synops.sum(axis=1).mean()),
        "per_layer_spikes": golden.spikes.mean(axis=0).tolist(),
        "per_layer_synops": golden.synops.mean(axis=0).tolist(),
        "saturations_per_inference": float(golden.saturations.sum(axis=1).mean()),
        "encoder_saturation_events": int(enc_sat.sum()),
        "ann_accuracy": ann_acc,
        "test_samples": n,
        "split": split,
        "dataset": name,
        "system": image.encoder.system.value,
        "delta": p.get("delta"),
        "lyapunov_sum": image.encoder.lyapunov_sum,
        "topology": image.topology,
        "in_shift": image.network.in_shift,
        **cycles,
    }
