"""NIR (the Neuromorphic Intermediate Representation, the ``nir`` package) graphs of
dynalign networks: export, the checks of an imported graph, and its quantisation.

The graph
---------
A dynalign network is the chain ``Input -> (Affine -> LIF) x L -> Output``.  NIR has no
dynamical-encoder primitive, so the graph's input is the *encoder output*: per time step
the ``3K`` channels ``f0x f0y f0z f1x ...`` in real units (the SAMPLE integer / 2**12,
the trajectory's x, y, z); the encoder parameters and its trajectory table travel in a
file beside the graph (:mod:`dynalign.sw.nirflow`).  The graph is run once per time step,
``T`` steps per inference, membranes starting at 0.

Each LIF node's parameters are chosen so that NIR's LIF equation
``tau dv/dt = (v_leak - v) + r I``, integrated by forward Euler at the recorded ``dt``,
is dynalign's float model:  ``v <- (1 - dt/tau) v + (dt r / tau) I`` with
``tau = dt / (1 - beta)``, ``r = tau / dt`` (input gain 1), ``v_leak = 0``; a spike
when ``v`` reaches ``v_threshold``.  ``dt`` defaults to :data:`NIR_DT` = 1e-4, the value
snnTorch's exporter and importer assume (its importer rebuilds ``beta = 1 - 1e-4/tau``
whatever ``dt`` a graph was made with).

Reset: NIR's LIF resets *to* ``v_reset``.  A zero-reset layer exports exactly
(``v_reset = 0``).  A layer that subtracts the threshold has no NIR form: its LIF node
carries ``metadata["dynalign_reset"] = "subtract"`` and the export warns
(:class:`SubtractResetWarning`); a NIR tool that ignores the metadata resets to zero.

Metadata: the graph's ``metadata["dynalign"]`` is a JSON object (the input convention,
``dt``, the formats, ``in_shift``, each layer's integers and reset mode, the encoder);
every Affine node carries its golden integers (``dynalign_weight`` int8,
``dynalign_bias`` int16) and every LIF node ``dynalign_beta`` (Q1.8), ``dynalign_theta``
and ``dynalign_reset``, so an exported graph imports back to exactly its run.

Import
------
:func:`parse_graph` accepts feed-forward chains of Affine / Linear and LIF / IF nodes
(with Input, Output, Flatten) and returns the float network (:class:`FloatNet`); it
refuses, each with one line naming the node and the limit (:class:`NIRError`):
convolutions, CubaLIF, delays and every other node type, subgraphs and recurrent
edges, per-neuron time constants (the device has one leak per layer), a leak
``beta = 1 - dt/tau`` outside 0..1, a reset other than to zero (or the subtract
metadata) and layers not in Affine -> LIF order.  Folded exactly into the weights:
per-neuron thresholds and input gains (a neuron's membrane is rescaled) and ``v_leak``
(a constant input, so a bias).  IF nodes (``v' = r I``) integrate ``r I`` per step
with no leak, the convention of snnTorch's and Sinabs' importers.

:func:`quantise` turns it into the device formats, per layer: layer-1 ``in_shift``
from the calibration samples (the smallest that clamps none), then for each layer the
largest scale ``s`` (membrane LSBs per float unit) for which the weights fit WEIGHT, the
biases BIAS and the threshold MEM with headroom, halved while more than 0.1 % of the
layer's membrane updates on the calibration samples saturate.  ``W = round(s W_f / u)``
(``u = 2**(12 - in_shift)`` activation LSBs per real input unit on layer 1, 1 after),
``bias = round(s b_f)``, ``theta = round(s v_threshold)``, ``beta = round(256 beta_f)``.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field

import nir
import numpy as np
import torch

from dynalign.hw.formats import BETA, BIAS, MEM, SAMPLE, WEIGHT, formats_dict
from dynalign.hw.lif.ref import (
    RESET_SUBTRACT,
    RESET_ZERO,
    LIFLayerParams,
    LIFNetworkParams,
    ref_network,
)

from .qat import LIFNet, choose_in_shift

__all__ = ["NIR_DT", "NIRError", "SubtractResetWarning", "FloatLayer", "FloatNet",
           "float_net_from_lifnet", "float_forward", "lexicographic_class", "build_graph",
           "parse_graph", "read_graph", "integers_of_graph", "quantise", "lifnet_from_float",
           "SUPPORTED"]

#: The dt snnTorch's NIR exporter writes and its importer assumes.
NIR_DT = 1e-4
#: Node types an imported graph may hold.
SUPPORTED = ("Input", "Output", "Flatten", "Affine", "Linear", "LIF", "IF")
#: A layer may saturate at most this fraction of its membrane updates on calibration data.
SATURATION_BUDGET = 1e-3
#: theta at most this fraction of MEM.max_int (room to integrate above the threshold).
THETA_HEADROOM = 1 / 16
_BETA_ONE = 1 << BETA.frac


class NIRError(ValueError):
    """A graph that dynalign cannot run (one line: the node and the limit)."""


class SubtractResetWarning(UserWarning):
    """An exported layer subtracts the threshold: NIR's LIF cannot say so."""


@dataclass
class FloatLayer:
    """One float layer in graph units: ``v <- beta v + weight @ x + bias``; a spike when
    ``v >= threshold``; then ``reset``.  ``names``: the (Affine, LIF) node names."""

    weight: np.ndarray
    bias: np.ndarray
    beta: float
    threshold: float
    reset: str = RESET_ZERO
    names: tuple = ("", "")

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


@dataclass
class FloatNet:
    """A float network whose input is the encoder output in real units."""

    layers: list
    dt: float = NIR_DT
    integers: LIFNetworkParams | None = None    # the golden integers a graph carried
    meta: dict = field(default_factory=dict)

    @property
    def topology(self) -> list[int]:
        return [self.layers[0].n_in] + [ly.n_out for ly in self.layers]


# --------------------------------------------------------------------------------------
# dynalign's float model <-> graph units
# --------------------------------------------------------------------------------------

@torch.no_grad()
def float_net_from_lifnet(net: LIFNet) -> FloatNet:
    """The float model of a trained :class:`LIFNet` in graph units (input = real encoder
    samples): layer 1's weights carry the ``2**(12 - in_shift)`` of its input scale."""
    layers = []
    for l in range(net.n_layers):
        w = net.q_weight(l, integer=False).double().numpy()
        if l == 0:
            w = w * float(2.0 ** (SAMPLE.frac - net.in_shift))
        layers.append(FloatLayer(
            weight=w, bias=net.q_bias(l, integer=False).double().numpy().copy(),
            beta=float(net.q_beta(l, integer=False)) / _BETA_ONE,
            threshold=float(net.q_theta(l, integer=False)), reset=net.resets[l],
            names=(f"affine{l + 1}", f"lif{l + 1}")))
    return FloatNet(layers=layers)


def float_forward(fnet: FloatNet, x) -> dict:
    """Run ``fnet`` on ``x`` (N, T, C) real encoder samples: ``{"counts", "v_final",
    "cls", "spikes"}`` (class: dynalign's rule, argmax of (count, v_final))."""
    x = np.asarray(x, dtype=np.float64)
    n, steps, _ = x.shape
    v = [np.zeros((n, ly.n_out)) for ly in fnet.layers]
    counts = [np.zeros((n, ly.n_out), np.int64) for ly in fnet.layers]
    for t in range(steps):
        inp = x[:, t]
        for k, ly in enumerate(fnet.layers):
            u = ly.beta * v[k] + inp @ ly.weight.T + ly.bias
            s = u >= ly.threshold
            v[k] = np.where(s, 0.0, u) if ly.reset == RESET_ZERO else u - ly.threshold * s
            counts[k] += s
            inp = s.astype(np.float64)
    out, vf = counts[-1], v[-1]
    return {"counts": out, "v_final": vf, "cls": lexicographic_class(out, vf),
            "spikes": np.stack([c.sum(axis=1) for c in counts], axis=1)}


def lexicographic_class(counts, v_final) -> np.ndarray:
    """dynalign's readout on float membranes: argmax of (count, v_final), ties to the
    lowest index."""
    counts = np.asarray(counts)
    top = counts == counts.max(axis=1, keepdims=True)
    return np.argmax(np.where(top, np.asarray(v_final, np.float64), -np.inf), axis=1)


# --------------------------------------------------------------------------------------
# export
# --------------------------------------------------------------------------------------

def build_graph(fnet: FloatNet, *, network: LIFNetworkParams | None = None,
                dt: float = NIR_DT, meta: dict | None = None) -> nir.NIRGraph:
    """The NIR graph of ``fnet`` (see the module doc); ``network``: the golden integers
    to record in the node metadata.  Warns (:class:`SubtractResetWarning`) once per
    export that has subtract-reset layers."""
    if not dt > 0:
        raise ValueError(f"dt must be positive, not {dt!r}")
    nodes = {"input": nir.Input(input_type=np.array([fnet.layers[0].n_in]))}
    edges, prev = [], "input"
    subtract = []
    for k, ly in enumerate(fnet.layers):
        a_name, l_name = f"affine{k + 1}", f"lif{k + 1}"
        a_meta, l_meta = {}, {"dynalign_reset": ly.reset}
        if network is not None:
            il = network.layers[k]
            a_meta = {"dynalign_weight": il.weight.astype(np.int8),
                      "dynalign_bias": il.bias.astype(np.int16)}
            l_meta.update(dynalign_beta=int(il.beta), dynalign_theta=int(il.theta))
        beta = min(max(ly.beta, 0.0), 1.0 - 1e-12)
        tau = np.full(ly.n_out, dt / (1.0 - beta))
        nodes[a_name] = nir.Affine(weight=ly.weight.astype(np.float64),
                                   bias=ly.bias.astype(np.float64), metadata=a_meta)
        nodes[l_name] = nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(ly.n_out),
                                v_threshold=np.full(ly.n_out, float(ly.threshold)),
                                v_reset=np.zeros(ly.n_out), metadata=l_meta)
        edges += [(prev, a_name), (a_name, l_name)]
        prev = l_name
        if ly.reset == RESET_SUBTRACT:
            subtract.append(l_name)
    nodes["output"] = nir.Output(output_type=np.array([fnet.layers[-1].n_out]))
    edges.append((prev, "output"))
    if subtract:
        warnings.warn(SubtractResetWarning(
            f"layers {', '.join(subtract)} subtract the threshold on a spike; NIR's LIF "
            f"resets to v_reset = 0, so the graph records 'subtract' in their metadata "
            f"and a tool that ignores it runs them with a zero reset"), stacklevel=2)
    info = dict(meta or {})
    info.update({"input": "encoder output per time step: 3K channels f0x f0y f0z f1x ... "
                          "in real units (SAMPLE integer / 2**12); T steps per inference, "
                          "membranes from 0",
                 "dt": dt, "formats": formats_dict(),
                 "reset": [ly.reset for ly in fnet.layers],
                 "exact_in_nir": not subtract,
                 "readout": "argmax over output neurons of (spike count, final membrane)"})
    if network is not None:
        info.update({"in_shift": network.in_shift,
                     "integers": "layer 1: W_int = round(127 w); the device computes "
                                 "v = sat_MEM(round_shift(beta v, 8) + W_int a + bias) with "
                                 "a = sat_ACT(round_shift(sample, in_shift)); theta, beta "
                                 "(Q1.8) per LIF node"})
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"dynalign": json.dumps(info, sort_keys=True)})


# --------------------------------------------------------------------------------------
# import: checks
# --------------------------------------------------------------------------------------

def read_graph(path) -> nir.NIRGraph:
    """``nir.read`` with a one-line error for a file that is not a NIR graph.  NIR's own
    type inference is skipped (it refuses some valid graphs); :func:`parse_graph` checks
    every width it relies on."""
    try:
        return nir.read(str(path), type_check=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such NIR file: {path}") from None
    except Exception as exc:          # h5py / nir raise many kinds; one line for the user
        raise NIRError(f"{path}: not a readable NIR graph ({type(exc).__name__}: "
                       f"{exc})") from None


def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    return str(value)


def _graph_meta(graph) -> dict:
    raw = (graph.metadata or {}).get("dynalign")
    if raw is None:
        return {}
    try:
        return json.loads(_text(raw))
    except json.JSONDecodeError:
        return {}


def _chain(graph) -> list[str]:
    """The node names from the Input to the Output, checked to be one chain."""
    nodes, edges = graph.nodes, [tuple(e) for e in graph.edges]
    for name, node in nodes.items():
        if isinstance(node, nir.NIRGraph):
            raise NIRError(f"node {name!r}: a subgraph (e.g. a recurrent layer) is not "
                           f"supported; dynalign runs feed-forward chains")
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise NIRError(f"node {name!r}: {kind} is not supported (dynalign imports "
                           f"{', '.join(SUPPORTED)})")
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input)]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"the graph needs exactly one Input and one Output node, not "
                       f"{len(inputs)} and {len(outputs)}")
    succ = {}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise NIRError(f"edge {a!r} -> {b!r} names a node the graph does not hold")
        if a == b:
            raise NIRError(f"node {a!r}: recurrent edge {a!r} -> {b!r} (dynalign runs "
                           f"feed-forward chains)")
        if a in succ:
            raise NIRError(f"node {a!r} feeds both {succ[a]!r} and {b!r}; dynalign runs "
                           f"one chain")
        succ[a] = b
    order, seen = [inputs[0]], {inputs[0]}
    while order[-1] != outputs[0]:
        nxt = succ.get(order[-1])
        if nxt is None:
            raise NIRError(f"node {order[-1]!r} has no successor: the chain does not reach "
                           f"the Output")
        if nxt in seen:
            raise NIRError(f"node {nxt!r}: recurrent edge {order[-1]!r} -> {nxt!r} "
                           f"(dynalign runs feed-forward chains)")
        order.append(nxt)
        seen.add(nxt)
    rest = sorted(set(nodes) - seen)
    if rest:
        raise NIRError(f"node {rest[0]!r} is not on the chain from the Input to the Output")
    return order


def _per_layer(name, what, values, *, rtol=1e-6) -> float:
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if not np.all(np.isfinite(arr)):
        raise NIRError(f"node {name!r}: {what} is not finite")
    if arr.size and np.ptp(arr) > rtol * max(1.0, float(np.max(np.abs(arr)))):
        raise NIRError(f"node {name!r}: per-neuron {what} ({len(np.unique(arr))} distinct "
                       f"values, {arr.min():.6g} .. {arr.max():.6g}); the device has one "
                       f"per layer")
    return float(arr.flat[0])


def _vec(values, n) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    return np.broadcast_to(arr.reshape(-1) if arr.size > 1 else arr.reshape(()),
                           (n,)).astype(np.float64)


def _neuron(name, node, n_out, dt, reset_override):
    """``(beta, gain (n,), leak bias (n,), thresholds (n,), reset)`` of a LIF or IF."""
    if isinstance(node, nir.LIF):
        tau = _per_layer(name, "time constant tau", node.tau)
        if not tau > 0:
            raise NIRError(f"node {name!r}: tau = {tau:.6g} must be positive")
        beta = 1.0 - dt / tau
        if not 0.0 <= beta <= 1.0:
            raise NIRError(f"node {name!r}: leak beta = 1 - dt/tau = {beta:.6g} (tau "
                           f"{tau:.6g}, dt {dt:.6g}) is outside the device's range 0..1")
        gain = dt * _vec(node.r, n_out) / tau
        leak_bias = (dt / tau) * _vec(node.v_leak, n_out)
    else:                                             # IF: v += r I per step, no leak
        beta, gain, leak_bias = 1.0, _vec(node.r, n_out), np.zeros(n_out)
    thr = _vec(node.v_threshold, n_out)
    if not np.all(thr > 0):
        raise NIRError(f"node {name!r}: v_threshold must be positive, not "
                       f"{float(thr.min()):.6g}")
    meta = getattr(node, "metadata", None) or {}
    reset = reset_override or (RESET_SUBTRACT if _text(meta.get("dynalign_reset", ""))
                               == RESET_SUBTRACT else RESET_ZERO)
    v_reset = _vec(node.v_reset if node.v_reset is not None else 0.0, n_out)
    if reset == RESET_ZERO and np.any(v_reset != 0):
        raise NIRError(f"node {name!r}: v_reset = {float(v_reset[v_reset != 0][0]):.6g}; "
                       f"the device resets to 0 or subtracts the threshold")
    if not np.all(np.isfinite(gain)) or np.any(gain <= 0):
        raise NIRError(f"node {name!r}: input gain dt r / tau must be positive and finite")
    return beta, gain, leak_bias, thr, reset


def parse_graph(graph, *, dt: float | None = None, reset: str | None = None) -> FloatNet:
    """The float network of a NIR graph (see the module doc for what is accepted).
    ``dt``: the Euler step (default: the graph's dynalign metadata, else
    :data:`NIR_DT`); ``reset``: force every layer's reset mode (e.g. ``"subtract"`` for
    an snnTorch network trained with its default reset, which its exporter does not
    record)."""
    meta = _graph_meta(graph)
    dt = float(dt if dt is not None else meta.get("dt", NIR_DT))
    if not dt > 0:
        raise NIRError(f"dt must be positive, not {dt!r}")
    order = _chain(graph)
    layers, pending, width = [], None, None
    inp = graph.nodes[order[0]]
    shape = inp.input_type.get("input") if isinstance(inp.input_type, dict) else None
    if shape is not None:
        width = int(np.prod(np.asarray(shape)))
    for name in order[1:-1]:
        node = graph.nodes[name]
        if isinstance(node, nir.Flatten):
            if pending is not None:
                raise NIRError(f"node {name!r}: a Flatten between {pending[0]!r} and its "
                               f"LIF node")
            continue
        if isinstance(node, (nir.Affine, nir.Linear)):
            if pending is not None:
                raise NIRError(f"node {name!r}: {type(node).__name__} follows "
                               f"{pending[0]!r} without a LIF or IF node between them")
            w = np.asarray(node.weight, dtype=np.float64)
            if w.ndim != 2:
                raise NIRError(f"node {name!r}: weight of shape {w.shape}, not (n_out, n_in)")
            n_in = width if width is not None else w.shape[1]
            if w.shape[1] != n_in:
                raise NIRError(f"node {name!r}: {w.shape[1]} inputs, but {n_in} arrive")
            b = np.asarray(node.bias, np.float64).reshape(-1) \
                if isinstance(node, nir.Affine) else np.zeros(w.shape[0])
            pending = (name, node, w, _vec(b, w.shape[0]))
            continue
        # LIF or IF
        if pending is None:
            raise NIRError(f"node {name!r}: {type(node).__name__} must follow an Affine or "
                           f"Linear node")
        a_name, a_node, w, b = pending
        beta, gain, leak_bias, thr, mode = _neuron(name, node, w.shape[0], dt, reset)
        ref = float(thr.max())
        scale = (ref / thr)[:, None]              # rescale each membrane to one threshold
        layers.append(FloatLayer(weight=w * gain[:, None] * scale,
                                 bias=(b * gain + leak_bias) * scale[:, 0],
                                 beta=beta, threshold=ref, reset=mode, names=(a_name, name)))
        width, pending = w.shape[0], None
    if pending is not None:
        raise NIRError(f"node {pending[0]!r}: the last Affine/Linear node needs a LIF or "
                       f"IF node after it (the device reads out spike counts)")
    if not layers:
        raise NIRError("the graph holds no Affine -> LIF layer")
    return FloatNet(layers=layers, dt=dt, integers=integers_of_graph(graph, order, layers),
                    meta=meta)


def integers_of_graph(graph, order, layers) -> LIFNetworkParams | None:
    """The golden integers a dynalign export recorded in the node metadata (``None`` when
    any is missing)."""
    meta = _graph_meta(graph)
    if "in_shift" not in meta:
        return None
    out = []
    for ly in layers:
        am = graph.nodes[ly.names[0]].metadata or {}
        lm = graph.nodes[ly.names[1]].metadata or {}
        if not all(k in am for k in ("dynalign_weight", "dynalign_bias")) or \
                not all(k in lm for k in ("dynalign_beta", "dynalign_theta")):
            return None
        try:
            out.append(LIFLayerParams(
                weight=np.asarray(am["dynalign_weight"]).astype(np.int64),
                bias=np.asarray(am["dynalign_bias"]).astype(np.int64),
                beta=int(np.asarray(lm["dynalign_beta"])),
                theta=int(np.asarray(lm["dynalign_theta"])), reset=ly.reset))
        except (TypeError, ValueError) as exc:
            raise NIRError(f"node {ly.names[0]!r}: dynalign integers in its metadata are "
                           f"invalid ({exc})") from None
    return LIFNetworkParams(in_shift=int(meta["in_shift"]), layers=tuple(out))


# --------------------------------------------------------------------------------------
# import: quantisation
# --------------------------------------------------------------------------------------

def lifnet_from_float(fnet: FloatNet, *, in_shift: int, scales) -> LIFNet:
    """A :class:`LIFNet` whose float model is ``fnet`` with layer ``l``'s membrane in
    units of ``1 / scales[l]`` (its integer forward is then the quantised network)."""
    net = LIFNet(sizes=fnet.topology, in_shift=in_shift,
                 reset=[ly.reset for ly in fnet.layers])
    u0 = 2.0 ** (SAMPLE.frac - in_shift)
    with torch.no_grad():
        for l, (ly, s) in enumerate(zip(fnet.layers, scales)):
            w = ly.weight / u0 if l == 0 else ly.weight
            theta = max(s * ly.threshold, 1.0)
            net.w[l].copy_(torch.as_tensor(s * w / 127.0))
            net.unit[l] = float(max(1.0, math.floor(theta + 0.5)))
            net.b[l].copy_(torch.as_tensor(s * ly.bias / float(net.unit[l])))
            beta = min(max(ly.beta, 0.0), 1.0)
            net.beta_p[l] = 40.0 if beta >= 1.0 else -40.0 if beta <= 0.0 else \
                math.log(beta / (1.0 - beta))
            net.log_theta[l] = math.log(theta)
    return net


def _max_scale(ly: FloatLayer, w) -> float:
    limits = [WEIGHT.max_int / max(float(np.abs(w).max()), 1e-30),
              BIAS.max_int / max(float(np.abs(ly.bias).max()), 1e-30),
              THETA_HEADROOM * MEM.max_int / ly.threshold]
    return min(limits)


def quantise(fnet: FloatNet, calib_samples, *, in_shift: int | None = None) -> tuple:
    """``(LIFNet, scales, in_shift)``: the per-layer quantisation of ``fnet`` calibrated
    on ``calib_samples`` (N, T, C) SAMPLE integers (see the module doc)."""
    calib = np.asarray(calib_samples, dtype=np.int64)
    if calib.ndim != 3 or calib.shape[2] != fnet.layers[0].n_in:
        raise NIRError(f"node {fnet.layers[0].names[0]!r}: {fnet.layers[0].n_in} inputs, "
                       f"the calibration samples have {calib.shape[-1]} channels")
    if in_shift is None:
        in_shift = choose_in_shift(calib)
    u0 = 2.0 ** (SAMPLE.frac - in_shift)
    scales = []
    for l, ly in enumerate(fnet.layers):
        w = ly.weight / u0 if l == 0 else ly.weight
        s = _max_scale(ly, w)
        if s * ly.threshold < 1.0:
            raise NIRError(f"node {ly.names[1]!r}: threshold {ly.threshold:.6g} is too small "
                           f"against its weights (max |w| {float(np.abs(w).max()):.6g}) for "
                           f"{WEIGHT.width}-bit weights")
        for _ in range(12):
            net = lifnet_from_float(fnet, in_shift=in_shift, scales=scales + [s])
            ints = net.integer_params()
            golden = ref_network(calib, LIFNetworkParams(in_shift=in_shift, layers=tuple(
                LIFLayerParams(**p) for p in ints["layers"])))
            updates = calib.shape[0] * calib.shape[1] * ly.n_out
            if golden.saturations[:, l].sum() <= SATURATION_BUDGET * updates:
                break
            s /= 2.0
        scales.append(s)
    return lifnet_from_float(fnet, in_shift=in_shift, scales=scales), scales, in_shift
