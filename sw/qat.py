"""Quantisation-aware LIF network in torch: the golden integer arithmetic, trainable.

The integer forward (:meth:`LIFNet.forward` with ``integer=True``) computes exactly the
golden LIF network (:func:`dynalign.hw.lif.ref.ref_network`, the project's LIF contract), on
float64 tensors that hold integers.  Every intermediate is an integer below 2**53, so
float64 add, multiply and matmul are exact whatever the summation order, and the
result equals the numpy golden model bit for bit (the tests hold the two with ``==``).

Per inference, membranes start at 0; for t = 0..T-1 and layers l = 1..L::

    a[t, j] = sat_ACT(round_shift(sample[t, j], in_shift))        (precomputed, a gather)
    I_1     = W_1 @ a[t]                 I_l = W_l @ s_{l-1}[t]   (exact)
    v       = sat_MEM(round_shift(beta_l * v, 8) + I_l + bias_l)
    s_l[t]  = (v >= theta_l);            v = v - theta_l * s_l[t]     (reset "subtract")
                                         v = v * (1 - s_l[t])        (reset "zero")

(the reset mode is per layer, :data:`dynalign.hw.lif.ref.RESETS`), with
``round_shift(x, n) = floor((x + 2**(n-1)) / 2**n)`` (= ``(x + 2**(n-1)) >> n``).

Trainable parameters and how they become the exported integers (all straight-through:
the forward uses the integer, the backward the derivative of the real expression):

* ``W_l = clamp(floor(s_l w_l + 0.5), F_l)``, with ``F_l`` the layer's weight format
  (``weight_bits`` 8: WEIGHT, -128..127; 4: WEIGHT4, -8..7), ``s_l = F_l.max_int`` (127
  or 7) and ``w_l`` kept in ``[F_l.min_int / s_l, 1]`` by projection after each
  optimiser step;
* ``bias_l = clamp(floor(U_l b_l + 0.5), BIAS)``, ``U_l`` the layer's initial threshold
  (a fixed unit, so ``b_l`` is a fraction of the threshold);
* ``beta_l = clamp(floor(256 sigmoid(p_l) + 0.5), 0, 256)`` (BETA, Q1.8);
* ``theta_l = clamp(floor(exp(q_l) + 0.5), 1, MEM.max_int)`` (THRESH, log-parametrised
  so Adam's steps are relative).

``round_shift(beta v, 8)`` passes ``beta v / 256`` backwards; ``sat_MEM`` is a clamp
(zero gradient where it clamps: saturation is rare and counted); the spike's gradient
is a fast-sigmoid surrogate on ``u = (v - theta) / theta``:
``ds/du = 1 / (1 + slope |u|)**2`` (theta detached in the normalisation).

The float network (``integer=False``) is the same network in real arithmetic: the
latent real weights ``s_l w``, ``U b``, ``256 sigmoid(p)``, ``exp(q)``, the input
``sample / 2**in_shift`` and ``v = beta v + I + bias`` and the same reset, with no rounding
and no saturation.  It gives ``float_accuracy``.

Readout (both): ``counts = sum_t s_L[t]``; class = argmax of ``(counts, v_final)``
compared lexicographically, ties to the lowest index.  The training score is
``counts + 0.45 tanh(v_final / theta_L)``, which orders classes the same way whenever
no two classes share both count and membrane (see :func:`readout_score`).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dynalign.hw.formats import (
    ACT,
    BETA,
    BIAS,
    CODE,
    IN_SHIFT_MAX,
    MEM,
    WEIGHT,
    round_shift,
    weight_bits_per_layer,
    weight_format,
)
from dynalign.hw.lif.ref import RESET_SUBTRACT, RESET_ZERO, RESETS

__all__ = ["LIFNet", "choose_in_shift", "activation_table", "gather_inputs",
           "readout_class", "readout_score", "NetOutput", "MLP", "pick_device",
           "run_layers", "integer_forward", "torch_threads"]

_BETA_ONE = 1 << BETA.frac          # 256: beta is Q1.8

#: Output decoding the loss trains (the class rule is the same for both).
READOUTS = ("counts", "membrane")


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` intra-op torch threads (``None``: unchanged), then
    restore.  One thread is fastest for these small matrices on a busy machine."""
    old = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else CUDA when present, else CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --------------------------------------------------------------------------------------
# encoder -> layer-1 activations
# --------------------------------------------------------------------------------------

def choose_in_shift(samples, *, percentile: float = 100.0) -> int:
    """The smallest shift ``s`` in ``0..IN_SHIFT_MAX`` for which the ``percentile``-th
    percentile of ``|samples|`` (SAMPLE ints from the training data) survives
    ``sat_ACT(round_shift(., s))`` unclamped.  With 100 nothing saturates."""
    samples = np.asarray(samples, dtype=np.int64)
    if samples.size == 0:
        raise ValueError("cannot choose in_shift from an empty sample set")
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], not {percentile!r}")
    top = int(np.ceil(np.percentile(np.abs(samples), percentile)))
    for s in range(IN_SHIFT_MAX + 1):
        if round_shift(top, s) <= ACT.max_int and round_shift(-top, s) >= ACT.min_int:
            return s
    raise ValueError(f"samples up to {top} do not fit {ACT} with any in_shift")


def activation_table(table, in_shift: int) -> np.ndarray:
    """Apply ``sat_ACT(round_shift(., in_shift))`` to an encoder trajectory table
    ``(codes, T, 3)``: layer-1 inputs become a gather by code."""
    if not isinstance(in_shift, int) or not 0 <= in_shift <= IN_SHIFT_MAX:
        raise ValueError(f"in_shift must be an integer in 0..{IN_SHIFT_MAX}, not {in_shift!r}")
    out, _ = ACT.saturate(round_shift(np.asarray(table, dtype=np.int64), in_shift))
    return out


def gather_inputs(table: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """``table`` (2**CODE.width, T, 3) and ``codes`` (N, K) -> (N, T, 3K), columns
    ``f0x f0y f0z f1x ...`` exactly as :meth:`FixedEncoder.encode` lays them out."""
    idx = (codes - CODE.min_int).long()
    g = table[idx]                                    # (N, K, T, 3)
    n, k, t, _ = g.shape
    return g.permute(0, 2, 1, 3).reshape(n, t, 3 * k)


# --------------------------------------------------------------------------------------
# straight-through pieces
# --------------------------------------------------------------------------------------

class _RoundSTE(torch.autograd.Function):
    """floor(x + 0.5) forwards, identity backwards."""

    @staticmethod
    def forward(ctx, x):
        return torch.floor(x + 0.5)

    @staticmethod
    def backward(ctx, g):
        return g


class _RoundShift(torch.autograd.Function):
    """``floor((x + 2**(n-1)) / 2**n)`` forwards (exact for integer x), ``g / 2**n``
    backwards."""

    @staticmethod
    def forward(ctx, x, n: int):
        ctx.n = n
        return torch.floor((x + float(1 << (n - 1))) / float(1 << n))

    @staticmethod
    def backward(ctx, g):
        return g / float(1 << ctx.n), None


class _Spike(torch.autograd.Function):
    """Heaviside ``u >= 0`` forwards; fast-sigmoid surrogate backwards."""

    @staticmethod
    def forward(ctx, u, unit, slope: float):
        ctx.save_for_backward(u, unit)
        ctx.slope = slope
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, g):
        u, unit = ctx.saved_tensors
        un = u / unit
        return g / unit / (1.0 + ctx.slope * un.abs()) ** 2, None, None


def _ste_round(x):
    return _RoundSTE.apply(x)


def _clamp(x, fmt_min, fmt_max):
    return torch.clamp(x, float(fmt_min), float(fmt_max))


# --------------------------------------------------------------------------------------
# the network
# --------------------------------------------------------------------------------------

@dataclass
class NetOutput:
    """What one forward pass returns (tensors over the batch)."""

    counts: torch.Tensor          # (B, n_out) output spike counts (differentiable)
    v_final: torch.Tensor         # (B, n_out) output membranes after step T-1
    theta_out: torch.Tensor       # () output layer threshold
    layer_spikes: list            # per layer (B,) total spikes (differentiable)
    neuron_counts: list           # per layer (B, n_l) spike counts (detached)
    synops: list                  # per layer (B,) synaptic operations (detached)
    saturations: list             # per layer (B,) clamped membrane updates (detached)

    @property
    def classes(self) -> torch.Tensor:
        return readout_class(self.counts.detach(), self.v_final.detach())


def readout_class(counts: torch.Tensor, v_final: torch.Tensor) -> torch.Tensor:
    """argmax over the pair (count, v_final) lexicographically, ties -> lowest index.

    Integer inputs: ``key = count * 2**25 + (v_final - MEM.min_int)`` is exact in float64
    and orders pairs lexicographically (``v_final - MEM.min_int`` is in 0..2**24-1);
    ``torch.argmax`` returns the first maximal index.  For the float network the same
    key with real ``v_final`` clipped to MEM's range gives the same rule.
    """
    vf = torch.clamp(v_final, float(MEM.min_int), float(MEM.max_int)) - float(MEM.min_int)
    key = counts * float(1 << (MEM.width + 1)) + vf
    return torch.argmax(key, dim=1)


def readout_score(out: NetOutput, *, readout: str = "counts", unit=None) -> torch.Tensor:
    """Differentiable class score.

    * ``counts``: ``counts + 0.45 tanh(v_final / theta_L)`` -- orders the classes as the
      lexicographic (count, v_final) rule does (the tanh term stays inside (-0.5, 0.5));
    * ``membrane``: ``v_final / unit`` -- the output layer's threshold is pinned at
      MEM.max_int so it does not spike, all counts are 0 and the hardware's rule
      reduces to argmax v_final: a leaky-integrator readout of the last hidden layer.
    """
    if readout == "membrane":
        return out.v_final / unit
    return out.counts + 0.45 * torch.tanh(out.v_final / out.theta_out.detach())


class LIFNet(nn.Module):
    """An ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` LIF network (see module doc).

    ``in_shift`` is fixed (chosen from the training data before training); ``reset`` is
    every layer's reset mode (:data:`~dynalign.hw.lif.ref.RESETS`) or one per layer;
    ``weight_bits`` every layer's weight width (:data:`~dynalign.hw.formats.WEIGHT_BITS`:
    8 or 4) or one per layer.
    """

    def __init__(self, *, sizes, in_shift: int, beta_init: float = 0.9,
                 slope: float = 5.0, weight_init: float = 0.5, readout: str = "counts",
                 reset=RESET_SUBTRACT, weight_bits=WEIGHT.width, generator=None):
        super().__init__()
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, not {readout!r}")
        self.readout = readout
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must list >= 2 positive layer widths, not {sizes!r}")
        if not isinstance(in_shift, int) or not 0 <= in_shift <= IN_SHIFT_MAX:
            raise ValueError(f"in_shift must be an integer in 0..{IN_SHIFT_MAX}, "
                             f"not {in_shift!r}")
        if not 0.0 < beta_init < 1.0:
            raise ValueError(f"beta_init must be in (0, 1), not {beta_init!r}")
        self.sizes = sizes
        self.in_shift = in_shift
        n_layers = len(sizes) - 1
        resets = [reset] * n_layers if isinstance(reset, str) else list(reset)
        if len(resets) != n_layers or any(r not in RESETS for r in resets):
            raise ValueError(f"reset must be one of {', '.join(RESETS)} or a list of one "
                             f"per layer ({n_layers}), not {reset!r}")
        self.resets = resets
        self.weight_formats = [weight_format(b)
                               for b in weight_bits_per_layer(weight_bits, n_layers)]
        self.slope = float(slope)
        g = generator
        self.w = nn.ParameterList()
        self.b = nn.ParameterList()
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            w = (torch.rand(n_out, n_in, generator=g, dtype=torch.float64) * 2 - 1) * weight_init
            self.w.append(nn.Parameter(w))
            self.b.append(nn.Parameter(torch.zeros(n_out, dtype=torch.float64)))
        n = len(sizes) - 1
        logit = math.log(beta_init / (1 - beta_init))
        self.beta_p = nn.Parameter(torch.full((n,), logit, dtype=torch.float64))
        self.log_theta = nn.Parameter(torch.zeros(n, dtype=torch.float64))
        self.register_buffer("unit", torch.ones(n, dtype=torch.float64))

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    # -- quantised parameters (differentiable, straight-through) ---------------------
    def q_weight(self, l: int, integer: bool = True):
        fmt = self.weight_formats[l]
        w = float(fmt.max_int) * self.w[l]
        return _clamp(_ste_round(w), fmt.min_int, fmt.max_int) if integer else w

    def q_bias(self, l: int, integer: bool = True):
        b = self.unit[l] * self.b[l]
        return _clamp(_ste_round(b), BIAS.min_int, BIAS.max_int) if integer else b

    def q_beta(self, l: int, integer: bool = True):
        b = _BETA_ONE * torch.sigmoid(self.beta_p[l])
        return _clamp(_ste_round(b), 0, _BETA_ONE) if integer else b

    def q_theta(self, l: int, integer: bool = True):
        if self.readout == "membrane" and l == self.n_layers - 1:
            return self.log_theta.new_tensor(float(MEM.max_int))
        t = torch.exp(self.log_theta[l])
        return _clamp(_ste_round(t), 1, MEM.max_int) if integer else t

    @torch.no_grad()
    def project_(self) -> None:
        """Keep the latent parameters where their integers are representable."""
        for l in range(self.n_layers):
            fmt = self.weight_formats[l]
            self.w[l].clamp_(fmt.min_int / fmt.max_int, 1.0)
            lim = (BIAS.max_int + 0.49) / float(self.unit[l])
            self.b[l].clamp_(-lim, lim)
        self.log_theta.clamp_(0.0, math.log(MEM.max_int))
        if self.readout == "membrane":
            self.log_theta[-1] = math.log(MEM.max_int)
        self.beta_p.clamp_(-12.0, 12.0)

    @torch.no_grad()
    def init_thresholds_(self, x: torch.Tensor, *, integer: bool = True,
                         scale: float = 1.0) -> list[float]:
        """Data-driven init: layer by layer, set ``theta_l = scale * std(I_l)`` (the
        input current over the batch ``x``, all steps and neurons), so every layer
        starts with a moderate firing rate; ``U_l`` (bias unit) = that threshold."""
        thetas = []
        for l in range(self.n_layers):
            currents = []

            def hook(layer, cur, want=l, sink=currents):
                if layer == want:
                    sink.append(cur.detach())
            self._forward(x, integer=integer, current_hook=hook, upto=l + 1)
            std = float(torch.cat([c.reshape(-1) for c in currents]).std())
            th = min(max(scale * std, 4.0), MEM.max_int / 4)
            self.log_theta[l] = math.log(th)
            self.unit[l] = float(np.floor(th + 0.5))
            if self.readout == "membrane" and l == self.n_layers - 1:
                self.log_theta[l] = math.log(MEM.max_int)
            thetas.append(th)
        return thetas

    def forward(self, x: torch.Tensor, *, integer: bool = True,
                dropout: float = 0.0) -> NetOutput:
        """``x`` (B, T, C): layer-1 activations (ACT ints) for ``integer=True``, real
        inputs ``sample / 2**in_shift`` for ``integer=False``."""
        return self._forward(x, integer=integer, dropout=dropout)

    def _forward(self, x, *, integer, current_hook=None, upto=None, dropout=0.0):
        nl = self.n_layers if upto is None else upto
        params = [(self.q_weight(l, integer), self.q_bias(l, integer),
                   self.q_beta(l, integer), self.q_theta(l, integer),
                   self.resets[l] == RESET_ZERO) for l in range(nl)]
        return run_layers(x, params, integer=integer, slope=self.slope,
                          current_hook=current_hook, dropout=dropout)

    # -- export ------------------------------------------------------------------------
    @torch.no_grad()
    def integer_params(self) -> dict:
        """The exported integers: ``{"in_shift", "layers": [{"weight", "bias", "beta",
        "theta", "reset", "weight_bits"}, ...]}`` (numpy int64 / Python int; the reset mode
        a string), exactly what the forward used."""
        layers = []
        for l in range(self.n_layers):
            layers.append({
                "weight": self.q_weight(l).cpu().numpy().astype(np.int64),
                "bias": self.q_bias(l).cpu().numpy().astype(np.int64),
                "beta": int(self.q_beta(l)),
                "theta": int(self.q_theta(l)),
                "reset": self.resets[l],
                "weight_bits": self.weight_formats[l].width,
            })
        return {"in_shift": self.in_shift, "layers": layers}


class MLP(nn.Module):
    """A plain ReLU MLP on the (dequantised) feature values: the ANN baseline."""

    def __init__(self, sizes, *, dropout: float = 0.0):
        super().__init__()
        mods = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            mods.append(nn.Linear(a, b))
            if i < len(sizes) - 2:
                mods.append(nn.ReLU())
                if dropout:
                    mods.append(nn.Dropout(dropout))
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


def run_layers(x, params, *, integer: bool, slope: float = 5.0, current_hook=None,
               dropout: float = 0.0) -> NetOutput:
    """The LIF recurrence over ``x`` (B, T, C) with ``params`` a list of per-layer
    ``(W (n_out, n_in), bias (n_out,), beta, theta[, zero_reset])`` tensors (integers for
    ``integer=True``; ``zero_reset`` a bool, False when left out).  See the module
    docstring for the arithmetic.  ``dropout`` > 0 (training only) drops hidden spikes
    on their way to the next layer, inverted-dropout style; it is never used in
    evaluation, which must stay exact."""
    if x.ndim != 3 or x.shape[2] != params[0][0].shape[1]:
        raise ValueError(f"inputs must have shape (B, T, {params[0][0].shape[1]}), "
                         f"not {tuple(x.shape)}")
    nl = len(params)
    bsz, steps, _ = x.shape
    zeros = x.new_zeros
    sizes = [p[0].shape[0] for p in params]
    v = [zeros(bsz, n) for n in sizes]
    counts = [zeros(bsz, n) for n in sizes]
    synops = [zeros(bsz) for _ in range(nl)]
    sats = [zeros(bsz) for _ in range(nl)]
    for t in range(steps):
        inp = x[:, t, :]
        for l, (W, B, beta, theta, *rest) in enumerate(params):
            zero_reset = bool(rest and rest[0])
            n_out = sizes[l]
            cur = inp @ W.t()
            if current_hook is not None:
                current_hook(l, cur)
            with torch.no_grad():
                synops[l] += (inp != 0).sum(dim=1).to(x.dtype) * n_out
            if integer:
                vv = _RoundShift.apply(beta * v[l], BETA.frac) + cur + B
                with torch.no_grad():
                    sats[l] += ((vv > MEM.max_int) | (vv < MEM.min_int)).sum(dim=1)
                vv = _clamp(vv, MEM.min_int, MEM.max_int)
            else:
                vv = beta / _BETA_ONE * v[l] + cur + B
            th = torch.as_tensor(theta, dtype=x.dtype, device=x.device)
            s = _Spike.apply(vv - th, th.detach(), slope)
            v[l] = vv * (1.0 - s) if zero_reset else vv - th * s
            counts[l] = counts[l] + s
            inp = s
            if dropout and l < nl - 1:
                keep = (torch.rand_like(s) >= dropout).to(s.dtype)
                inp = s * keep / (1.0 - dropout)
    return NetOutput(counts=counts[-1], v_final=v[-1],
                     theta_out=torch.as_tensor(params[-1][3], dtype=x.dtype, device=x.device),
                     layer_spikes=[c.sum(dim=1) for c in counts],
                     neuron_counts=[c.detach() for c in counts],
                     synops=synops, saturations=sats)


@torch.no_grad()
def integer_forward(int_params: dict, x: torch.Tensor) -> NetOutput:
    """The integer forward from exported integers (``LIFNet.integer_params`` layout:
    ``{"in_shift", "layers": [{"weight", "bias", "beta", "theta", "reset"}]}``, no
    ``"reset"``: subtract); ``x`` are the layer-1 activations (ACT ints, float64)."""
    dev, dt = x.device, x.dtype
    params = [(torch.tensor(np.array(p["weight"], dtype=np.float64), dtype=dt, device=dev),
               torch.tensor(np.array(p["bias"], dtype=np.float64), dtype=dt, device=dev),
               torch.tensor(float(p["beta"]), dtype=dt, device=dev),
               torch.tensor(float(p["theta"]), dtype=dt, device=dev),
               p.get("reset", RESET_SUBTRACT) == RESET_ZERO)
              for p in int_params["layers"]]
    return run_layers(x, params, integer=True)
