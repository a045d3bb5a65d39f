"""NeuroBench metrics of a run (``dynalign eval RUN --neurobench``), computed by the
``neurobench`` package on a torch model whose forward pass is the golden integer model.

:class:`IntegerSNN` holds each layer as an ``nn.Linear`` (the integer weights and biases,
float64: every sum exact) followed by :class:`IntegerLIF` (the layer's leak, threshold,
saturation and reset), run for T steps on the layer-1 activations
``sat_ACT(round_shift(sample, in_shift))``; its class is the hardware's.  NeuroBench's
hooks see every ``Linear`` input and every :class:`IntegerLIF` output per step, so:

* **Footprint** -- bytes of the torch model's parameters and buffers (float64 here: 8
  bytes per weight); beside it ``device_image_bytes``, the device image the board
  stores (int8 weights, int16 biases, the headers).
* **ConnectionSparsity** -- the fraction of zero weights.
* **ActivationSparsity** -- the fraction of zero spiking-layer outputs over neurons x
  steps x samples (dynalign's ``spikes_per_inference / (neurons x T)`` is one minus it).
* **SynapticOperations** -- per sample: ``Effective_MACs``, products with a non-binary
  input (layer 1: the encoder samples), ``Effective_ACs``, accumulations of binary
  inputs (the spikes into layers 2..L), both counting only pairs of a *non-zero input
  and a non-zero weight*; ``Dense``, every input x weight pair.  dynalign's
  ``synops_per_inference`` counts non-zero inputs x fan-out, zero weights included
  (the hardware reads every weight of an active input's row), so it lies between the
  effective and the dense count.  NeuroBench calls a step's input binary when all its
  values are in {-1, 0, 1}; a layer-1 step whose activations all are would count as ACs.
* **ClassificationAccuracy** -- must equal the golden accuracy (checked).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch
from torch import nn

from dynalign.hw.formats import BETA, MEM
from dynalign.hw.lif.ref import LIFNetworkParams

__all__ = ["IntegerLIF", "IntegerSNN", "neurobench_metrics"]


class IntegerLIF(nn.Module):
    """The golden LIF update of one layer on its input current ``I`` (B, n) per call:
    ``v = sat_MEM(round_shift(beta v, 8) + I)`` (the bias is in the Linear), spikes
    ``v >= theta``, then subtract ``theta`` or set to 0.  ``reset_state`` before a
    sample batch."""

    def __init__(self, *, beta: int, theta: int, zero_reset: bool):
        super().__init__()
        self.beta, self.theta, self.zero_reset = int(beta), int(theta), bool(zero_reset)
        self.v = None

    def reset_state(self):
        self.v = None

    def forward(self, current):
        v = torch.zeros_like(current) if self.v is None else self.v
        half = float(1 << (BETA.frac - 1))
        u = torch.floor((self.beta * v + half) / float(1 << BETA.frac)) + current
        u = torch.clamp(u, float(MEM.min_int), float(MEM.max_int))
        s = (u >= self.theta).to(u.dtype)
        self.v = u * (1 - s) if self.zero_reset else u - self.theta * s
        return s


class IntegerSNN(nn.Module):
    """The golden network as torch modules (see the module doc); ``forward(x)`` takes
    layer-1 activations (B, T, C) and returns the classes (B,)."""

    def __init__(self, network: LIFNetworkParams):
        super().__init__()
        self.linears = nn.ModuleList()
        self.neurons = nn.ModuleList()
        for layer in network.layers:
            lin = nn.Linear(layer.n_in, layer.n_out, bias=True, dtype=torch.float64)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(np.array(layer.weight, dtype=np.float64)))
                lin.bias.copy_(torch.tensor(np.array(layer.bias, dtype=np.float64)))
            lin.requires_grad_(False)
            self.linears.append(lin)
            self.neurons.append(IntegerLIF(beta=layer.beta, theta=layer.theta,
                                           zero_reset=layer.zero_reset))

    def forward(self, x):
        for n in self.neurons:
            n.reset_state()
        counts = None
        for t in range(x.shape[1]):
            h = x[:, t]
            for lin, neu in zip(self.linears, self.neurons):
                h = neu(lin(h))
            counts = h if counts is None else counts + h
        vf = self.neurons[-1].v
        top = counts == counts.max(dim=1, keepdim=True).values
        return torch.argmax(torch.where(top, vf, torch.full_like(vf, -np.inf)), dim=1)


def neurobench_metrics(network: LIFNetworkParams, activations, labels, *,
                       batch_size: int = 256) -> dict:
    """NeuroBench's static and workload metrics of ``network`` on ``activations`` (N, T,
    C) layer-1 ACT integers and ``labels`` (N,)."""
    from neurobench.benchmarks import Benchmark  # the optional extra, loaded on use
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import (
        ActivationSparsity,
        ClassificationAccuracy,
        SynapticOperations,
    )
    from neurobench.models import TorchModel

    net = IntegerSNN(network).eval()
    model = TorchModel(net)
    model.add_activation_module(IntegerLIF)
    x = torch.as_tensor(np.asarray(activations), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y),
                                         batch_size=batch_size, shuffle=False)
    bench = Benchmark(model, loader, [], [], [[Footprint, ConnectionSparsity],
                                             [ClassificationAccuracy, ActivationSparsity,
                                              SynapticOperations]])
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        res = bench.run(quiet=True)
    model.cleanup_hooks()
    return {k: (dict(v) if isinstance(v, dict) else float(v)) for k, v in res.items()}
