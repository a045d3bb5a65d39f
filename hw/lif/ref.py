"""Golden LIF network: bit-exact integer model (vectorised over samples) and a scalar twin.

The contract (every format from :mod:`dynalign.hw.formats`; ``sat_F`` clamps to ``F``):

Per inference every membrane starts at 0.  For ``t = 0 .. T-1`` and, inside a step, for
the layers ``l = 1 .. L`` in order (a spike of layer ``l-1`` at step ``t`` reaches layer
``l`` in the same step)::

    layer 1:   a[t, j] = sat_ACT(round_shift(sample[t, j], in_shift))
               I[i]    = sum_j W[i, j] * a[t, j]                    (exact, wide)
    layer l>1: I[i]    = sum_{j : s_{l-1}[t, j] = 1} W[i, j]        (exact)
    all:       v[i]    = sat_MEM(round_shift(beta * v[i], 8) + I[i] + bias[i])
               s_l[t, i] = v[i] >= theta
               v[i]    = v[i] - theta * s_l[t, i]     (reset "subtract", the default)
               v[i]    = 0 if s_l[t, i] else v[i]      (reset "zero", as NIR and snnTorch's
                                                        reset_mechanism="zero" define it)

``round_shift(a, n) = (a + 2**(n-1)) >> n`` (arithmetic shift; ``a`` when ``n == 0``).
The ``sat_MEM`` is the only saturation that is counted (one event per clamped neuron
update); ``sat_ACT`` on the layer-1 input is deliberate and not counted.  After the
subtraction ``v >= 0`` whenever a spike happened, so the reset never leaves ``MEM``.
The reset mode is per layer (:data:`RESETS`); both modes leave the schedule, the
counters and the cycle count as they are.

Outputs per inference: per-neuron spike counts of every layer; the class, which is the
argmax over output neurons of the pair ``(counts[i], v_final[i])`` compared
lexicographically (``v_final``: output membranes after step ``T-1``), ties going to the
lowest index; per layer the total spikes, the synaptic operations (layer 1:
``sum_t nnz(a[t, :]) * n_out``, zero activations are skipped; layer ``l > 1``:
``sum_t (spikes of layer l-1 at t) * n_out``) and the saturation count.  The vectorised
model also returns the active-input counts per step and layer and every layer's spike
trains ``s_l[t, i]`` (what :mod:`dynalign.hw.lif.cycles` needs to predict the RTL's cycles).

Exactness of the fast model: the matrix products run in float64 BLAS, exact while every
partial sum stays below ``2**53``; :data:`FLOAT_EXACT_INPUTS` (from the formats) bounds
the fan-in for which that holds and :class:`LIFLayerParams` refuses wider layers.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from ..formats import (
    ACT,
    BETA,
    BIAS,
    COUNT,
    IN_SHIFT_MAX,
    MEM,
    SAMPLE,
    WEIGHT,
    WEIGHT4,
    round_shift,
    weight_format,
)
from ..validate import check_int

__all__ = ["LIFLayerParams", "LIFNetworkParams", "NetworkResult", "ref_network",
           "ref_network_scalar", "random_network", "random_samples", "check_samples",
           "argmax_class", "LEAK_SHIFT", "BETA_MAX", "FLOAT_EXACT_INPUTS",
           "RESETS", "RESET_SUBTRACT", "RESET_ZERO"]

#: ``beta * v`` is rounded back to membrane units by this shift (BETA is Q1.8).
LEAK_SHIFT = BETA.frac
#: beta in 0 .. 256 (1.0 is ``1 << LEAK_SHIFT``).
BETA_MAX = 1 << LEAK_SHIFT

#: Reset modes of a layer: subtract the threshold after a spike (the default), or set the
#: membrane to zero.
RESET_SUBTRACT = "subtract"
RESET_ZERO = "zero"
RESETS = (RESET_SUBTRACT, RESET_ZERO)

#: Largest fan-in whose float64 dot products are exact: each |product| is below
#: ``2**(ACT.width - 1 + WEIGHT.width - 1)`` and every partial sum must stay below 2**53.
FLOAT_EXACT_INPUTS = 1 << (53 - (ACT.width - 1) - (WEIGHT.width - 1) - 1)
assert FLOAT_EXACT_INPUTS >= 1 << 16, "formats too wide for the float64 fast path"


def _int_array(value, *, what: str, ndim: int, fmt) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be an integer array, not dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{what} must have {ndim} dimension(s), not shape {arr.shape}")
    if 0 in arr.shape:
        raise ValueError(f"{what} must not be empty, got shape {arr.shape}")
    if not fmt.contains(arr):
        bad = arr[(arr < fmt.min_int) | (arr > fmt.max_int)]
        raise ValueError(f"{what} values {bad.ravel()[:4].tolist()} outside {fmt} "
                         f"[{fmt.min_int}, {fmt.max_int}]")
    arr = arr.astype(np.int64)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class LIFLayerParams:
    """One LIF layer: ``weight`` (n_out, n_in) in WEIGHT, ``bias`` (n_out,) in BIAS,
    ``beta`` in 0..256 (Q1.8 leak), ``theta`` in 1..MEM.max_int (threshold), the
    ``reset`` mode after a spike (:data:`RESETS`: ``"subtract"`` theta, the default, or
    ``"zero"``) and ``weight_bits``, the width the weights are stored at
    (:data:`~dynalign.hw.formats.WEIGHT_BITS`: 8, or 4 -- then every weight is in
    :data:`~dynalign.hw.formats.WEIGHT4`, -8..7, and the device image packs two to a
    byte).  The arithmetic is the same at either width: a weight is an integer."""

    weight: np.ndarray
    bias: np.ndarray
    beta: int
    theta: int
    reset: str = RESET_SUBTRACT
    weight_bits: int = WEIGHT.width

    def __post_init__(self):
        w = _int_array(self.weight, what="weight", ndim=2,
                       fmt=weight_format(self.weight_bits))
        b = _int_array(self.bias, what="bias", ndim=1, fmt=BIAS)
        if b.shape[0] != w.shape[0]:
            raise ValueError(f"bias has {b.shape[0]} entries but weight has {w.shape[0]} "
                             f"rows (n_out)")
        if w.shape[1] > FLOAT_EXACT_INPUTS:
            raise ValueError(f"fan-in {w.shape[1]} exceeds {FLOAT_EXACT_INPUTS}, the "
                             f"largest the exact float64 path supports")
        object.__setattr__(self, "weight", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "beta", check_int("beta", self.beta, lo=0, hi=BETA_MAX))
        object.__setattr__(self, "theta", check_int("theta", self.theta, lo=1,
                                                    hi=MEM.max_int))
        if self.reset not in RESETS:
            raise ValueError(f"reset must be one of {', '.join(RESETS)}, not {self.reset!r}")

    @property
    def zero_reset(self) -> bool:
        return self.reset == RESET_ZERO

    @property
    def packed(self) -> bool:
        """The weights are 4-bit (two to a byte in the device image)."""
        return self.weight_bits != WEIGHT.width

    @property
    def n_in(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weight.shape[0])


@dataclass(frozen=True)
class LIFNetworkParams:
    """A network: the layer-1 input shift (0..IN_SHIFT_MAX) and its layers, in order."""

    in_shift: int
    layers: tuple[LIFLayerParams, ...]

    def __post_init__(self):
        object.__setattr__(self, "in_shift", check_int("in_shift", self.in_shift, lo=0,
                                                       hi=IN_SHIFT_MAX))
        if isinstance(self.layers, LIFLayerParams) or not isinstance(self.layers,
                                                                     (list, tuple)):
            raise TypeError(f"layers must be a sequence of LIFLayerParams, not "
                            f"{type(self.layers).__name__}")
        layers = tuple(self.layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        for k, layer in enumerate(layers):
            if not isinstance(layer, LIFLayerParams):
                raise TypeError(f"layer {k + 1} must be LIFLayerParams, not "
                                f"{type(layer).__name__}")
            if k and layer.n_in != layers[k - 1].n_out:
                raise ValueError(f"layer {k + 1} has {layer.n_in} inputs but layer {k} has "
                                 f"{layers[k - 1].n_out} neurons")
        object.__setattr__(self, "layers", layers)

    @property
    def topology(self) -> list[int]:
        """``[n_in, n_1, ..., n_out]``."""
        return [self.layers[0].n_in] + [layer.n_out for layer in self.layers]


@dataclass
class NetworkResult:
    """Outputs of :func:`ref_network` for N samples (int64 arrays)."""

    cls: np.ndarray                 # (N,)
    out_counts: np.ndarray          # (N, n_out)
    layer_counts: list = field(default_factory=list)   # L arrays (N, n_l)
    spikes: np.ndarray = None       # (N, L)
    synops: np.ndarray = None       # (N, L)
    saturations: np.ndarray = None  # (N, L)
    v_final: np.ndarray = None      # (N, n_out)
    active: np.ndarray = None       # (N, T, L) active (non-zero) inputs of layer l at t
    spike_trains: list = field(default_factory=list)   # L bool arrays (N, T, n_l)

    def sample(self, n: int) -> dict:
        """Sample ``n`` as plain Python ints and lists (the shape the scalar twin returns)."""
        return {"cls": int(self.cls[n]), "out_counts": self.out_counts[n].tolist(),
                "layer_counts": [c[n].tolist() for c in self.layer_counts],
                "spikes": self.spikes[n].tolist(), "synops": self.synops[n].tolist(),
                "saturations": self.saturations[n].tolist(),
                "v_final": self.v_final[n].tolist(), "active": self.active[n].tolist()}


def check_samples(samples, net: LIFNetworkParams) -> np.ndarray:
    """Validate encoder samples: integers in SAMPLE, shape (N, T, C), C = layer-1 fan-in,
    1 <= T <= COUNT.max_int (so no spike counter can wrap)."""
    arr = np.asarray(samples)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"samples must be an integer array, not dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"samples must have shape (N, T, C), not {arr.shape}")
    n_in = net.layers[0].n_in
    if arr.shape[2] != n_in:
        raise ValueError(f"samples have {arr.shape[2]} channels but layer 1 has {n_in} inputs")
    if not 1 <= arr.shape[1] <= COUNT.max_int:
        raise ValueError(f"T must be in 1..{COUNT.max_int}, not {arr.shape[1]}")
    if arr.size and not SAMPLE.contains(arr):
        bad = arr[(arr < SAMPLE.min_int) | (arr > SAMPLE.max_int)]
        raise ValueError(f"samples {bad.ravel()[:4].tolist()} outside {SAMPLE}")
    return arr.astype(np.int64)


def argmax_class(counts, v_final) -> np.ndarray:
    """Lexicographic argmax of ``(counts, v_final)`` along the last axis, ties -> lowest
    index.  ``counts`` in COUNT and ``v_final`` in MEM pack into one int64 key."""
    key = (np.asarray(counts, np.int64) << MEM.width) + (np.asarray(v_final, np.int64)
                                                         - MEM.min_int)
    return np.argmax(key, axis=-1).astype(np.int64)


def _matmul_exact(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x @ w.T`` for int64 operands whose products and sums are below 2**53 (checked by
    the layer validation): float64 BLAS, then back to int64 -- exact."""
    return np.rint(x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.int64)


def ref_network(samples, net: LIFNetworkParams) -> NetworkResult:
    """The golden network on ``samples`` (N, T, C) SAMPLE integers; see the module doc."""
    if not isinstance(net, LIFNetworkParams):
        raise TypeError(f"net must be LIFNetworkParams, not {type(net).__name__}")
    x = check_samples(samples, net)
    n, steps, _ = x.shape
    act, _ = ACT.saturate(round_shift(x, net.in_shift))
    L = len(net.layers)
    v = [np.zeros((n, layer.n_out), np.int64) for layer in net.layers]
    counts = [np.zeros((n, layer.n_out), np.int64) for layer in net.layers]
    synops = np.zeros((n, L), np.int64)
    sats = np.zeros((n, L), np.int64)
    active = np.zeros((n, steps, L), np.int64)
    trains = [np.zeros((n, steps, layer.n_out), bool) for layer in net.layers]
    for t in range(steps):
        inp = act[:, t, :]
        for k, layer in enumerate(net.layers):
            active[:, t, k] = np.count_nonzero(inp, axis=1)
            synops[:, k] += active[:, t, k] * layer.n_out
            cur = _matmul_exact(inp, layer.weight)
            u = round_shift(layer.beta * v[k], LEAK_SHIFT) + cur + layer.bias
            u, mask = MEM.saturate_mask(u)
            sats[:, k] += mask.sum(axis=1)
            s = u >= layer.theta
            v[k] = np.where(s, 0, u) if layer.zero_reset else u - layer.theta * s
            counts[k] += s
            trains[k][:, t] = s
            inp = s.astype(np.int64)
    spikes = np.stack([c.sum(axis=1) for c in counts], axis=1)
    return NetworkResult(cls=argmax_class(counts[-1], v[-1]), out_counts=counts[-1],
                         layer_counts=counts, spikes=spikes, synops=synops,
                         saturations=sats, v_final=v[-1], active=active,
                         spike_trains=trains)


def ref_network_scalar(sample_TxC, net: LIFNetworkParams) -> dict:
    """Deliberately naive twin of :func:`ref_network` for one sample (T, C): Python ints,
    explicit loops, the equations written out.  Returns :meth:`NetworkResult.sample`'s
    dict."""
    x = check_samples(np.asarray(sample_TxC)[None], net)[0]
    steps = x.shape[0]
    L = len(net.layers)
    v = [[0] * layer.n_out for layer in net.layers]
    counts = [[0] * layer.n_out for layer in net.layers]
    synops, sats = [0] * L, [0] * L
    active = [[0] * L for _ in range(steps)]
    for t in range(steps):
        # layer-1 activations: round, then clamp to ACT
        inp = []
        for j in range(x.shape[1]):
            a = int(x[t, j])
            if net.in_shift:
                a = (a + (1 << (net.in_shift - 1))) >> net.in_shift
            a = min(max(a, ACT.min_int), ACT.max_int)
            inp.append(a)
        for k, layer in enumerate(net.layers):
            w, bias = layer.weight.tolist(), layer.bias.tolist()
            active[t][k] = sum(1 for a in inp if a != 0)
            synops[k] += active[t][k] * layer.n_out
            out = []
            for i in range(layer.n_out):
                current = 0
                for j, a in enumerate(inp):
                    if a != 0:
                        current += w[i][j] * a
                leak = (layer.beta * v[k][i] + (1 << (LEAK_SHIFT - 1))) >> LEAK_SHIFT
                u = leak + current + bias[i]
                if u > MEM.max_int:
                    u, sats[k] = MEM.max_int, sats[k] + 1
                elif u < MEM.min_int:
                    u, sats[k] = MEM.min_int, sats[k] + 1
                spike = 1 if u >= layer.theta else 0
                if spike and layer.reset == RESET_ZERO:
                    v[k][i] = 0
                elif spike:
                    v[k][i] = u - layer.theta
                else:
                    v[k][i] = u
                counts[k][i] += spike
                out.append(spike)
            inp = out
    best = 0
    for i in range(1, net.layers[-1].n_out):
        if (counts[-1][i], v[-1][i]) > (counts[-1][best], v[-1][best]):
            best = i
    return {"cls": best, "out_counts": counts[-1], "layer_counts": counts,
            "spikes": [sum(c) for c in counts], "synops": synops, "saturations": sats,
            "v_final": v[-1], "active": active}


# --------------------------------------------------------------------------------------
# random networks and samples (tests, verification, benchmarks)
# --------------------------------------------------------------------------------------

def random_samples(rng: np.random.Generator, n: int, steps: int, channels: int, *,
                   scale: float = 2.0, extreme: float = 0.0) -> np.ndarray:
    """Random SAMPLE integers (N, T, C): normal with standard deviation ``scale`` (real
    units, SAMPLE.frac fraction bits); a fraction ``extreme`` of entries is drawn
    uniformly over the whole SAMPLE range (saturates ACT) and some are exactly zero."""
    x = rng.normal(0.0, scale * 2 ** SAMPLE.frac, size=(n, steps, channels))
    x = np.clip(np.rint(x), SAMPLE.min_int, SAMPLE.max_int).astype(np.int64)
    if extreme > 0:
        pick = rng.random(x.shape) < extreme
        x[pick] = rng.integers(SAMPLE.min_int, SAMPLE.max_int, size=int(pick.sum()),
                               endpoint=True)
    x[rng.random(x.shape) < 0.05] = 0
    return x


def _rate(net_layers, in_shift, samples, upto: int) -> float:
    net = LIFNetworkParams(in_shift=in_shift, layers=tuple(net_layers[:upto + 1]))
    res = ref_network(samples, net)
    return float(res.spikes[:, upto].mean()) / (net.layers[upto].n_out * samples.shape[1])


def random_network(rng: np.random.Generator, topology, *, in_shift: int | None = None,
                   rate: float | None = None, calib=None, extreme: bool = False,
                   beta=None, weight_bits: int = WEIGHT.width,
                   reset=RESET_SUBTRACT, packed=()) -> LIFNetworkParams:
    """A valid random network of ``topology`` ``[n_in, n_1, ..., n_out]``.

    * ``extreme``: weights drawn from the two ends of WEIGHT, big biases and tiny
      thresholds, so that membranes saturate (exercises ``sat_MEM``);
    * ``rate``: each layer's threshold is bisected, layer by layer, until its mean spike
      rate (spikes / (neurons x T)) on ``calib`` samples (default: 64 random samples,
      T=5) is closest to ``rate``;
    * ``weight_bits``: draw weights from a narrower signed range (a narrower RTL);
    * ``reset``: every layer's reset mode (:data:`RESETS`), a sequence of one mode per
      layer, or ``"mixed"`` (each layer's drawn at random);
    * ``packed``: the indices (0-based) of the layers with 4-bit weights (drawn from
      :data:`~dynalign.hw.formats.WEIGHT4`), or ``"all"``.
    """
    topology = [int(t) for t in topology]
    if len(topology) < 2 or min(topology) < 1:
        raise ValueError(f"topology needs an input size and at least one layer of "
                         f"positive sizes, not {topology}")
    check_int("weight_bits", weight_bits, lo=1, hi=WEIGHT.width)
    if rate is not None and not 0.0 < rate < 1.0:
        raise ValueError(f"rate must be in (0, 1), not {rate}")
    wmax = (1 << (weight_bits - 1)) - 1
    wmin = -(1 << (weight_bits - 1))
    if in_shift is None:
        in_shift = int(rng.integers(0, 8)) if not extreme else int(rng.integers(0, 3))
    n_layers = len(topology) - 1
    if isinstance(reset, str) and reset == "mixed":
        resets = [RESETS[int(rng.integers(0, len(RESETS)))] for _ in range(n_layers)]
    elif isinstance(reset, str):
        resets = [reset] * n_layers
    else:
        resets = list(reset)
        if len(resets) != n_layers:
            raise ValueError(f"reset lists {len(resets)} modes for {n_layers} layers")
    narrow = set(range(n_layers)) if packed == "all" else {int(k) for k in packed}
    if not narrow <= set(range(n_layers)):
        raise ValueError(f"packed names layers {sorted(narrow)}; the network has layers "
                         f"0..{n_layers - 1}")
    layers = []
    wide = (wmin, wmax)
    for k, (n_in, n_out) in enumerate(zip(topology[:-1], topology[1:])):
        bits = WEIGHT4.width if k in narrow else WEIGHT.width
        wmin, wmax = (WEIGHT4.min_int, WEIGHT4.max_int) if k in narrow else wide
        if extreme:
            w = np.where(rng.random((n_out, n_in)) < 0.5, wmin, wmax)
            w[rng.random(w.shape) < 0.2] = 0
            b = rng.choice([BIAS.min_int, BIAS.max_int, 0], size=n_out)
            theta = int(rng.choice([1, 2, MEM.max_int, int(rng.integers(1, 1 << 12))]))
        else:
            w = rng.integers(wmin, wmax, size=(n_out, n_in), endpoint=True)
            b = rng.integers(-64, 64, size=n_out, endpoint=True)
            scale = max(1, abs(wmax)) * math.sqrt(n_in) * (256 if k == 0 else 1)
            theta = int(np.clip(scale * rng.uniform(0.05, 0.5), 1, MEM.max_int))
        bt = int(rng.integers(0, BETA_MAX, endpoint=True)) if beta is None else int(beta)
        layers.append(LIFLayerParams(weight=w, bias=b, beta=bt, theta=theta,
                                     reset=resets[k], weight_bits=bits))
    if rate is not None:
        if calib is None:
            calib = random_samples(rng, 64, 5, topology[0])
        calib = np.asarray(calib, np.int64)
        for k in range(len(layers)):
            lo, hi = 1, MEM.max_int          # rate(theta) is non-increasing in theta
            while hi - lo > 1:
                mid = (lo + hi) // 2
                layers[k] = _replace_theta(layers[k], mid)
                if _rate(layers, in_shift, calib, k) > rate:
                    lo = mid
                else:
                    hi = mid
            best = min((lo, hi), key=lambda th: abs(
                _rate(layers[:k] + [_replace_theta(layers[k], th)], in_shift, calib, k)
                - rate))
            layers[k] = _replace_theta(layers[k], best)
    return LIFNetworkParams(in_shift=in_shift, layers=tuple(layers))


def _replace_theta(layer: LIFLayerParams, theta: int) -> LIFLayerParams:
    return dataclasses.replace(layer, theta=theta)
