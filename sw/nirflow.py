"""``dynalign export RUN --nir OUT.nir`` and ``dynalign import IN.nir --out RUN``: runs as
NIR graphs and NIR graphs as runs (the graph itself: :mod:`dynalign.sw.nir_io`).

The front end beside a graph
----------------------------
A graph's input is the encoder output, so an export writes, beside ``OUT.nir``, the file
``OUT.encoder.npz`` (:data:`SIDECAR_SUFFIX`) that says how to produce it::

    encoder      JSON: the encoder parameters (EncoderConfig.describe(): system, delta ...,
                 tmax, dt, samples T)
    table        int64 (256, T, 3): the golden trajectory of every feature code (SAMPLE
                 integers, Q20.12), row = code + 128
    table_real   float64 (256, T, 3): the same / 2**12 -- the graph's input values
    saturated    bool (256,): the code's trajectory saturated in the fixed-point encoder
    transform    uint8: the feature transform (``transform.npz`` bytes: standardise,
                 PCA to K, scale to 8-bit codes)
    data         JSON: how to reload the run's dataset and splits
    in_shift     the run's layer-1 input shift
    readme       these rules in words

To feed the graph one input row ``x``: ``codes = transform.codes(x)`` (K codes), then
for step ``t`` the channels ``table_real[codes[k] + 128, t, c]`` in the order k = 0..K-1,
c = x, y, z.

Import
------
The front end of an import (features, encoder, data) comes from ``--calib RUN`` (a
dynalign run whose features and encoder produced the graph's input: its train split
calibrates, its test split scores) or, without it, from the ``.encoder.npz`` beside the
graph.  A graph that carries dynalign's integers (an export) imports to exactly those
integers; any other graph is quantised per layer on the calibration samples
(:func:`dynalign.sw.nir_io.quantise`), optionally fine-tuned with the quantisation-aware
trainer (``finetune`` epochs).  The RUN written is an ordinary run directory:
``model.dlw``, ``manifest.json``, ``readmemh/``, ``transform.npz``, ``float_model.pt``
(the graph's float network), ``run.json`` and ``metrics.json`` with the import report
(float vs golden accuracy, the fraction of samples with the same class) and the test
evaluation.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import nir
import numpy as np
import torch

from dynalign.constraints.boards import BOARDS, default_limits
from dynalign.hw.encoder.ref import FixedEncoder
from dynalign.hw.formats import SAMPLE, WEIGHT
from dynalign.hw.lif.ref import ref_network
from dynalign.hw.systems import EncoderConfig

from .data import load_dataset
from .evaluate import evaluate_run
from .features import FeatureTransform
from .fit import describe_widths, planned_header
from .image import WeightImage, encoder_from_dict, network_from_dict
from .nir_io import (
    NIR_DT,
    FloatNet,
    NIRError,
    build_graph,
    float_forward,
    float_net_from_lifnet,
    lifnet_from_float,
    parse_graph,
    quantise,
    read_graph,
)
from .qat import LIFNet, activation_table, gather_inputs, torch_threads
from .rundir import RunDir
from .train import TrainOptions, fit_lif

__all__ = ["FrontEnd", "SIDECAR_SUFFIX", "sidecar_path", "export_run", "import_graph",
           "check_board"]

SIDECAR_SUFFIX = ".encoder.npz"

_README = ("dynalign front end of a NIR graph: input row x -> codes = transform.codes(x) "
           "(K int8 codes) -> per time step t the 3K graph inputs table_real[codes[k] + 128, "
           "t, c] for k = 0..K-1, c = x, y, z (the golden fixed-point encoder's trajectory "
           "samples / 2**12); run the graph T times, membranes from 0; class = argmax of "
           "(output spike count, final membrane)")


def sidecar_path(nir_path) -> Path:
    """``OUT.nir`` -> ``OUT.encoder.npz``."""
    p = Path(nir_path)
    stem = p.stem if p.suffix == ".nir" else p.name
    return p.with_name(stem + SIDECAR_SUFFIX)


@dataclass
class FrontEnd:
    """What turns a dataset row into a graph's input: features, encoder, the data."""

    encoder: EncoderConfig
    transform: FeatureTransform
    data: dict
    in_shift: int | None = None
    source: str = ""

    @classmethod
    def from_run(cls, path) -> FrontEnd:
        run = RunDir(path)
        info, image, transform = run.load()
        return cls(encoder=image.encoder, transform=transform, data=info["data"],
                   in_shift=image.network.in_shift, source=f"run {path}")

    @classmethod
    def from_sidecar(cls, path) -> FrontEnd:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            encoder = encoder_from_dict(json.loads(str(arrays["encoder"])))
            transform = FeatureTransform.from_bytes(arrays["transform"].tobytes(),
                                                    name=str(path))
            data = json.loads(str(arrays["data"]))
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise NIRError(f"{path}: not a dynalign front end ({exc})") from None
        return cls(encoder=encoder, transform=transform, data=data,
                   in_shift=int(arrays["in_shift"]), source=f"front end {path}")

    def save_sidecar(self, path) -> Path:
        fe = FixedEncoder(self.encoder)
        np.savez(path, encoder=np.array(json.dumps(self.encoder.describe(), sort_keys=True)),
                 table=fe.table.astype(np.int64),
                 table_real=fe.table.astype(np.float64) / float(1 << SAMPLE.frac),
                 saturated=np.asarray(fe.table_saturation) > 0,
                 transform=np.frombuffer(self.transform.to_bytes(), dtype=np.uint8),
                 data=np.array(json.dumps(self.data, sort_keys=True)),
                 in_shift=np.int64(self.in_shift if self.in_shift is not None else -1),
                 readme=np.array(_README))
        return Path(path)

    @property
    def n_features(self) -> int:
        return self.transform.n_features

    def dataset(self):
        d = self.data
        return load_dataset(d["dataset"], data_dir=d.get("data_dir"), path=d.get("data_path"),
                            seed=d["seed"], test_fraction=d["test_fraction"],
                            val_fraction=d["val_fraction"], limit=d.get("limit"))

    def encode(self, x) -> tuple[np.ndarray, np.ndarray]:
        """``(codes (N, K), samples (N, T, 3K) SAMPLE ints)`` of dataset rows ``x``."""
        codes = self.transform.codes(x)
        samples, _ = FixedEncoder(self.encoder).encode(codes)
        return codes, samples


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------

def _float_model(run: RunDir) -> LIFNet:
    fm = torch.load(run.file(RunDir.FLOAT_MODEL), weights_only=True)
    net = LIFNet(sizes=fm["sizes"], in_shift=fm["in_shift"], readout=fm["readout"],
                 reset=fm.get("reset", "subtract"), weight_bits=fm.get("weight_bits", 8))
    net.load_state_dict(fm["state"])
    return net.eval()


def export_run(run_dir, out, *, dt: float = NIR_DT) -> dict:
    """Write RUN's float network as the NIR graph ``out`` and its front end beside it;
    returns what was written."""
    run = RunDir(run_dir)
    info, image, transform = run.load()
    net = _float_model(run)
    fnet = float_net_from_lifnet(net)
    out = Path(out)
    side = sidecar_path(out)
    graph = build_graph(fnet, network=image.network, dt=dt, meta={
        "encoder": image.encoder.describe(), "n_features": image.n_features,
        "front_end": side.name, "source_run": str(run_dir)})
    out.parent.mkdir(parents=True, exist_ok=True)
    nir.write(str(out), graph)
    FrontEnd(encoder=image.encoder, transform=transform, data=info["data"],
             in_shift=image.network.in_shift).save_sidecar(side)
    return {"nir": str(out), "front_end": str(side), "dt": dt,
            "topology": image.topology, "reset": [ly.reset for ly in fnet.layers],
            "exact_in_nir": all(ly.reset == "zero" for ly in fnet.layers),
            "nodes": list(graph.nodes)}


# --------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------

def check_board(fnet: FloatNet, board: str, *, n_features: int, samples: int) -> None:
    """One :class:`NIRError` line when the network does not fit ``board``'s default
    network size (the size its bitstream is built for)."""
    if board not in BOARDS:
        raise NIRError(f"unknown board {board!r} (one of {', '.join(sorted(BOARDS))})")
    lim = default_limits(board)
    first = fnet.layers[0].names[0]
    if n_features > lim.max_features:
        raise NIRError(f"node {first!r}: {3 * n_features} inputs (K={n_features} features); "
                       f"the {board} holds at most K={lim.max_features} "
                       f"({3 * lim.max_features} inputs)")
    if len(fnet.layers) > lim.max_layers:
        raise NIRError(f"node {fnet.layers[lim.max_layers].names[1]!r}: layer "
                       f"{lim.max_layers + 1}; the {board} holds at most {lim.max_layers} "
                       f"layers")
    for k, ly in enumerate(fnet.layers):
        if ly.n_out > lim.max_sizes[k]:
            raise NIRError(f"node {ly.names[1]!r}: {ly.n_out} neurons in layer {k + 1}; the "
                           f"{board} holds at most {lim.max_sizes[k]}")
    if samples > lim.max_samples:
        raise NIRError(f"{samples} time steps; the {board} runs at most {lim.max_samples}")
    # the weights at their widths (a graph's own integers keep theirs; a quantised import
    # has 8-bit weights) must fit a bank, which a board may size for 4-bit hidden layers
    bits = [ly.weight_bits for ly in fnet.integers.layers] if fnet.integers is not None \
        else [WEIGHT.width] * len(fnet.layers)
    header = planned_header(lim, features=n_features, samples=samples, weight_bits=bits,
                            sizes=[ly.n_out for ly in fnet.layers])
    if header.model_len() > lim.bank_bytes:
        raise NIRError(f"the network's {header.model_len():,} bytes of model "
                       f"({describe_widths(bits)}) "
                       f"exceed the {board}'s model bank of {lim.bank_bytes:,} bytes")


def _scales_for_integers(fnet: FloatNet, network) -> list[float]:
    return [ly.theta / fl.threshold for ly, fl in zip(network.layers, fnet.layers)]


def import_graph(nir_path, out_dir, *, calib=None, board: str | None = None,
                 finetune: int = 0, reset: str | None = None, dt: float | None = None,
                 requantise: bool = False, seed: int = 0, threads: int | None = 1) -> dict:
    """Import the NIR graph ``nir_path`` into the run directory ``out_dir`` (see the
    module doc); returns the import report (also in ``metrics.json``)."""
    t0 = time.perf_counter()
    nir_path = Path(nir_path)
    graph = read_graph(nir_path)
    fnet = parse_graph(graph, dt=dt, reset=reset)
    if calib is not None:
        fe = FrontEnd.from_run(calib)
    elif sidecar_path(nir_path).is_file():
        fe = FrontEnd.from_sidecar(sidecar_path(nir_path))
    else:
        raise NIRError(f"no front end for {nir_path}: give --calib RUN (a dynalign run whose "
                       f"features and encoder produce the graph's input) or keep "
                       f"{sidecar_path(nir_path).name} beside the graph")
    k = fe.n_features
    first = fnet.layers[0]
    if first.n_in != 3 * k:
        raise NIRError(f"node {first.names[0]!r}: {first.n_in} inputs, but the front end "
                       f"({fe.source}) gives 3 x {k} = {3 * k} encoder channels")
    if board is not None:
        check_board(fnet, board, n_features=k, samples=fe.encoder.samples)
    ds = fe.dataset()
    if fnet.layers[-1].n_out < ds.n_classes:
        raise NIRError(f"node {fnet.layers[-1].names[1]!r}: {fnet.layers[-1].n_out} output "
                       f"neurons for {ds.n_classes} classes")
    with torch_threads(threads):
        return _import(nir_path, Path(out_dir), fnet, fe, ds, finetune=finetune,
                       requantise=requantise, seed=seed, board=board, t0=t0)


def _import(nir_path, out_dir, fnet, fe, ds, *, finetune, requantise, seed, board, t0):
    codes, samples, labels = {}, {}, {}
    for split in ("train", "val", "test"):
        codes[split], samples[split] = fe.encode(getattr(ds, f"x_{split}"))
        labels[split] = getattr(ds, f"y_{split}")
    exact = fnet.integers is not None and not requantise
    if exact:
        network = fnet.integers
        model = lifnet_from_float(fnet, in_shift=network.in_shift,
                                  scales=_scales_for_integers(fnet, network))
        scales, in_shift, how = _scales_for_integers(fnet, network), network.in_shift, \
            "the integers recorded in the graph"
    else:
        model, scales, in_shift = quantise(fnet, samples["train"])
        how = "per-layer scales calibrated on the front end's train split"
    history = {}
    if finetune and not exact:
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        act = torch.as_tensor(activation_table(FixedEncoder(fe.encoder).table, in_shift),
                              dtype=torch.float64)
        x_tr = gather_inputs(act, torch.as_tensor(codes["train"]))
        x_va = gather_inputs(act, torch.as_tensor(codes["val"]))
        opts = TrainOptions(epochs=finetune, patience=finetune, progress=False,
                            code_noise=0.0, dropout=0.0, lr=1e-3)
        history = fit_lif(model, x_tr, torch.as_tensor(labels["train"]), x_va,
                          torch.as_tensor(labels["val"]), opts, gen=gen)
        how += f", then {finetune} epochs of quantisation-aware fine-tuning"
    if not exact:
        network = network_from_dict(model.integer_params())

    # float graph vs golden integers on the test split
    real = samples["test"].astype(np.float64) / float(1 << SAMPLE.frac)
    flt = float_forward(fnet, real)
    gold = ref_network(samples["test"], network)
    y = labels["test"]
    report = {
        "nir": str(nir_path), "front_end": fe.source, "board": board,
        "topology": network.topology, "dt": fnet.dt,
        "reset": [ly.reset for ly in network.layers], "in_shift": in_shift,
        "quantisation": how, "scales": [float(s) for s in scales],
        "integers": [{"layer": i + 1, "beta": ly.beta, "theta": ly.theta,
                      "weight_max": int(np.abs(ly.weight).max()),
                      "bias_max": int(np.abs(ly.bias).max())}
                     for i, ly in enumerate(network.layers)],
        "float_accuracy": float((flt["cls"] == y).mean()),
        "golden_accuracy": float((gold.cls == y).mean()),
        "float_golden_agreement": float((flt["cls"] == gold.cls).mean()),
        "float_spikes_per_inference": float(flt["spikes"].sum(axis=1).mean()),
        "golden_spikes_per_inference": float(gold.spikes.sum(axis=1).mean()),
        "saturations_per_inference": float(gold.saturations.sum(axis=1).mean()),
        "test_samples": int(len(y)),
        "finetune_epochs": int(finetune if not exact else 0),
    }

    run = RunDir.create(out_dir)
    image = WeightImage(network=network, encoder=fe.encoder, n_features=fe.n_features,
                        transform_sha256=fe.transform.digest(), transform_file=RunDir.TRANSFORM,
                        labels=list(range(ds.n_classes)),
                        extra={"dataset": ds.meta, "imported_from": str(nir_path),
                               "quantisation": how})
    run.write_model(image, fe.transform)
    torch.save({"sizes": model.sizes, "in_shift": model.in_shift, "readout": model.readout,
                "reset": list(model.resets), "state": model.state_dict()},
               run.file(RunDir.FLOAT_MODEL))
    options = {"import": {"nir": str(nir_path), "front_end": fe.source, "board": board,
                          "finetune": finetune, "requantise": requantise, "seed": seed}}
    run.write_info(data=fe.data, options=options, history=history)
    report["import_seconds"] = time.perf_counter() - t0
    metrics = {"import": report, "test": evaluate_run(out_dir)}
    run.write_json(RunDir.METRICS, metrics)
    return report
