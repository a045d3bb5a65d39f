"""Stimulus, expected outputs and the in-order checker for the encoder RTL tests.

Shared by the Amaranth-sim tests, the cocotb testbench (``sim/tb_encoder.py``) and
``dynalign verify encoder``: the expected beats come from the golden
:class:`~dynalign.hw.encoder.ref.FixedEncoder` and are compared with ``==``.
"""

from __future__ import annotations

import numpy as np

from ..formats import CODE
from ..systems import EncoderConfig, System
from .ref import FixedEncoder
from .regs import encoder_registers

__all__ = ["expected_beats", "expected_sat", "random_config", "config_to_dict",
           "config_from_dict", "Checker", "make_case"]


def expected_beats(config: EncoderConfig, requests, *, lanes: int = 1) -> list:
    """The output beats for ``requests`` (a list of code lists, each of length K):
    a list of ``(samples_tuple, last)`` in stream order."""
    enc = FixedEncoder(config)
    beats = []
    for req in requests:
        samples, _ = enc.encode(np.asarray([req], dtype=np.int64))
        flat = samples[0].reshape(-1)                     # t-major, then k, then x y z
        groups = flat.reshape(-1, lanes)
        for i, g in enumerate(groups):
            beats.append((tuple(int(v) for v in g), int(i == len(groups) - 1)))
    return beats


def expected_sat(config: EncoderConfig, requests) -> bool:
    """The sticky ``sat`` flag after serving ``requests``: golden ``sat_events > 0``
    for at least one served code."""
    enc = FixedEncoder(config)
    return any(int(enc.table_saturation[c - CODE.min_int]) > 0 for req in requests for c in req)


def config_to_dict(config: EncoderConfig) -> dict:
    return {"system": config.system.value, **config.p, "tmax": config.tmax, "dt": config.dt,
            "samples": config.samples}


def config_from_dict(d: dict) -> EncoderConfig:
    return EncoderConfig(**d)


#: Ranges the random parameters of each system are drawn from (uniform), around the
#: paper's values.
_RANDOM_RANGES = {
    System.LORENZ: {"sigma": (5, 15), "rho": (10, 40), "beta": (1, 4)},
    System.CHEN: {"a": (30, 60), "b": (2, 3.5), "c": (20, 97)},
    System.ROSSLER: {"a": (0.1, 0.4), "b": (0.1, 2.0), "c": (2.0, 9.0)},
    System.AIZAWA: {"alpha": (0.5, 1.2), "beta": (0.5, 1.0), "gamma": (0.4, 0.8),
                    "delta": (2.0, 4.0), "eps": (0.0, 0.5), "zeta": (0.0, 0.3)},
    System.NOSE_HOOVER: {"alpha": (0.5, 2.0)},
    System.SPROTT_C: {"a": (1.0, 5.0)},
    System.CHUA: {"alpha": (8.0, 16.0), "beta": (20.0, 30.0), "gamma": (0.0, 0.5),
                  "m0": (-1.3, -1.0), "m1": (-0.8, -0.5)},
}


def random_config(rng: np.random.Generator, *, max_T: int = 5, max_steps: int = 40,
                  system=None, delta=None) -> EncoderConfig:
    """A random valid configuration with few RK4 steps (quick to simulate).

    System (unless given): the mixed oscillator with probability 0.4, else one of the
    other seven, uniformly.  Mixed oscillator: delta in [-1.5, 10] unless given
    (dissipative and expansive), alpha, beta, gamma, omega drawn around the paper's
    values; the others: :data:`_RANDOM_RANGES`.  ``dt`` sometimes large, so that some
    trajectories saturate.
    """
    if system is None:
        others = [s for s in System if s is not System.MIXED]
        system = System.MIXED if rng.random() < 0.4 else others[int(rng.integers(len(others)))]
    system = System.parse(system)
    T = int(rng.integers(2, max_T + 1))
    stride = int(rng.integers(1, max(1, max_steps // (T - 1)) + 1))
    dt = float(rng.choice([0.01, 0.02, 0.05, 0.1, 0.25]))
    n_steps = stride * (T - 1)
    tmax = round(n_steps * dt, 10)
    if system is System.MIXED:
        params = {"delta": float(rng.uniform(-1.5, 10.0)) if delta is None else float(delta),
                  "alpha": float(rng.uniform(0.5, 3.0)), "beta": float(rng.uniform(0, 0.3)),
                  "gamma": float(rng.uniform(0, 0.3)), "omega": float(rng.uniform(0.5, 2))}
    else:
        params = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in
                  _RANDOM_RANGES[system].items()}
    return EncoderConfig(system=system, tmax=tmax, dt=dt, samples=T, **params)


def make_case(config: EncoderConfig, requests, *, lanes: int = 1) -> dict:
    """A JSON-friendly test case: register writes, requests, expected beats and flags."""
    k = len(requests[0]) if requests else 1
    regs = encoder_registers(config, n_features=k)
    return {"config": config_to_dict(config), "regs": [[int(a), int(v)] for a, v in regs.items()],
            "requests": [[int(c) for c in r] for r in requests],
            "expected": [[list(s), last] for s, last in expected_beats(config, requests,
                                                                        lanes=lanes)],
            "expected_sat": bool(expected_sat(config, requests)),
            "expected_table_sat": bool(FixedEncoder(config).table_saturation.any())}


class Checker:
    """In-order scoreboard: ``push(beat)`` compares with ``==`` against the next
    expected beat; records the first mismatch with its request, code and sample index."""

    def __init__(self, config: EncoderConfig, requests, *, lanes: int = 1, expected=None):
        self.config, self.requests, self.lanes = config, requests, lanes
        self.expected = expected if expected is not None else expected_beats(
            config, requests, lanes=lanes)
        self.k = len(requests[0]) if requests else 1
        self.seen = 0
        self.compared = 0
        self.mismatches = 0
        self.first = None

    def where(self, beat_index: int, lane: int) -> dict:
        per_req = self.config.samples * 3 * self.k // self.lanes
        r, b = divmod(beat_index, per_req)
        flat = b * self.lanes + lane
        t, rest = divmod(flat, 3 * self.k)
        k, c = divmod(rest, 3)
        return {"request": r, "feature": k, "code": int(self.requests[r][k]),
                "sample_index": t, "component": "xyz"[c]}

    def push(self, samples, last) -> bool:
        i = self.seen
        self.seen += 1
        if i >= len(self.expected):
            self.mismatches += 1
            if self.first is None:
                self.first = {"beat": i, "error": "unexpected extra beat",
                              "got": list(samples)}
            return False
        exp, exp_last = self.expected[i]
        ok = True
        for lane, (e, g) in enumerate(zip(exp, samples)):
            self.compared += 1
            if int(e) != int(g):
                ok = False
                self.mismatches += 1
                if self.first is None:
                    self.first = {"beat": i, **self.where(i, lane), "expected": int(e),
                                  "got": int(g), "config": config_to_dict(self.config)}
        if int(last) != int(exp_last):
            ok = False
            self.mismatches += 1
            if self.first is None:
                self.first = {"beat": i, "error": "last flag", "expected": exp_last,
                              "got": int(last)}
        return ok

    @property
    def complete(self) -> bool:
        return self.seen >= len(self.expected)
