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

With a board, the latency of one inference on that board's bitstream: its lanes and core
(the iCEBreaker's table core, the ULX3S's integrating encoder), the whole-device cycle
model (:func:`dynalign.hw.core.cycles.ref_device_cycles`: ``RUN`` to class, the code feed,
the encoder's lookups, the LIF steps and the class scan; exact against the Verilated top)
and the board's clock: ``device_cycles_per_inference`` (mean), ``device_cycles_max`` and
``latency_us`` / ``latency_us_max`` = cycles / clock.  A model the board's bitstream does
not hold is refused in one line (``ValueError``), as ``build`` and ``upload`` refuse it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dynalign.constraints.boards import board_clock_hz, board_spec, default_limits
from dynalign.hw.core.cycles import ref_device_cycles
from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import CODE
from dynalign.hw.lif.cycles import ref_cycles
from dynalign.hw.lif.ref import ref_network
from dynalign.hw.wire import parse_image

from .fit import fit_problem
from .image import network_to_dict
from .nbmetrics import neurobench_metrics
from .qat import (
    MLP,
    LIFNet,
    activation_table,
    gather_inputs,
    integer_forward,
    torch_threads,
)
from .rundir import RunDir

__all__ = ["evaluate_run", "compare_torch_golden"]


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
                 threads: int | None = 1, lanes: int | None = None,
                 neurobench: bool = False, board: str | None = None) -> dict:
    """Score ``run_dir`` on a split (default: the test split of its own dataset and
    seed; ``dataset`` / ``data_dir`` / ``data_path`` point it at other data of the same
    input size).  With ``lanes``, also ``lif_cycles_per_inference``: the mean of the LIF
    network's cycle counter at that lane count (exact cycle model,
    :func:`dynalign.hw.lif.cycles.ref_cycles`).  With ``neurobench``, also
    ``neurobench``: NeuroBench's metrics of the golden network
    (:func:`dynalign.sw.nbmetrics.neurobench_metrics`) beside dynalign's own counts.
    With ``board``, also the latency on that board's bitstream (see the module
    docstring); ``lanes`` then defaults to the board's."""
    if split not in ("test", "val", "train"):
        raise ValueError(f"split must be test, val or train, not {split!r}")
    if board is not None:
        spec = board_spec(board)
        lanes = spec.lanes if lanes is None else lanes
    with torch_threads(threads):
        return _evaluate_run(Path(run_dir), dataset=dataset, data_dir=data_dir,
                             data_path=data_path, device=device, split=split, lanes=lanes,
                             neurobench=neurobench, board=board)


def _evaluate_run(run_dir, *, dataset, data_dir, data_path, device, split, lanes,
                  neurobench=False, board=None) -> dict:
    run = RunDir(run_dir)
    info, image, transform = run.load()
    if board is not None:
        header = parse_image(image.payload()).header
        problem = fit_problem(header, default_limits(board, lanes=lanes),
                              where=f"the {board} board", board=board)
        if problem:
            raise ValueError(problem)
    name = dataset or info["data"]["dataset"]
    x, y = run.split(split, name=dataset, data_dir=data_dir, path=data_path)
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

    fm = torch.load(run.file(RunDir.FLOAT_MODEL), weights_only=True)
    net = LIFNet(sizes=fm["sizes"], in_shift=fm["in_shift"], readout=fm["readout"],
                 reset=fm.get("reset", "subtract"), weight_bits=fm.get("weight_bits", 8))
    net.load_state_dict(fm["state"])
    net.eval()
    ftable = torch.as_tensor(enc.table, dtype=torch.float64) / float(1 << fm["in_shift"])
    with torch.no_grad():
        fout = net(gather_inputs(ftable, torch.as_tensor(codes)), integer=False)
    float_acc = float((fout.classes.numpy() == y).mean())

    ann_acc = None
    ann_path = run.file(RunDir.ANN)
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
        cycles = {"lanes": lanes, "lif_cycles_per_inference":
                  float(ref_cycles(golden, image.network, lanes=lanes).mean())}
    if board is not None:
        dev_cycles = ref_device_cycles(golden, n_features=codes.shape[1], lanes=lanes,
                                       table=board_spec(board).table)
        mhz = board_clock_hz(board) / 1e6
        cycles.update(board=board, clock_mhz=mhz,
                      device_cycles_per_inference=float(dev_cycles.mean()),
                      device_cycles_max=int(dev_cycles.max()),
                      latency_us=float(dev_cycles.mean()) / mhz,
                      latency_us_max=int(dev_cycles.max()) / mhz)
    if neurobench:
        cycles["neurobench"] = _neurobench(image, golden, xin.cpu(), y)
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


def _neurobench(image, golden, activations, labels) -> dict:
    """NeuroBench's figures and dynalign's own, side by side (see
    :mod:`dynalign.sw.nbmetrics` for how they count)."""
    nb = neurobench_metrics(image.network, activations, labels)
    steps = activations.shape[1]
    neurons = sum(layer.n_out for layer in image.network.layers)
    own_sparsity = 1.0 - float(golden.spikes.sum(axis=1).mean()) / (neurons * steps)
    return {**nb,
            "device_image_bytes": len(image.payload()),
            "dynalign_activation_sparsity": own_sparsity,
            "dynalign_synops_per_inference": float(golden.synops.sum(axis=1).mean()),
            # NeuroBench averages float32 batch means: compare as a count of samples
            "accuracy_equals_golden": round(nb["ClassificationAccuracy"] * len(labels))
            == int((golden.cls == labels).sum())}
