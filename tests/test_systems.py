import math

import numpy as np
import pytest

from dynalign.hw.systems import EncoderConfig, System, derivative_float, lyapunov_spectrum


def test_defaults_are_the_papers():
    c = EncoderConfig()
    assert c.system is System.MIXED
    assert c.p == {"alpha": 2.0, "beta": 0.1, "gamma": 0.1, "omega": 1.0, "delta": 0.0}
    assert (c.n_steps, c.stride, c.sample_steps) == (800, 200, [0, 200, 400, 600, 800])
    lz = EncoderConfig(system="lorenz")
    assert lz.p == {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3}


@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"system": "rossler"}, ValueError, "unknown system 'rossler'"),
    ({"delta": float("nan")}, ValueError, "delta must be finite"),
    ({"delta": float("inf")}, ValueError, "delta must be finite"),
    ({"delta": "1"}, TypeError, "delta must be a real number"),
    ({"dt": 0.0}, ValueError, "dt must be positive"),
    ({"dt": -0.01}, ValueError, "dt must be positive"),
    ({"dt": 1.5, "tmax": 3.0}, ValueError, "dt must be below 1"),
    ({"dt": 1e-9, "tmax": 1e-9 * 4, "samples": 5}, ValueError, "below the resolution"),
    ({"tmax": float("nan")}, ValueError, "tmax must be finite"),
    ({"tmax": -1.0}, ValueError, "tmax must be positive"),
    ({"tmax": 8.005}, ValueError, "not a whole number of steps"),
    ({"samples": 7}, ValueError, "do not fall on integration steps"),
    ({"samples": 1}, ValueError, r"samples \(T\) must be an integer >= 2"),
    ({"samples": 2.0}, ValueError, r"samples \(T\) must be an integer >= 2"),
    ({"delta": 200.0}, ValueError, "outside the range of coef"),
    ({"sigma": 1.0}, ValueError, "unknown parameter"),
    ({"system": "lorenz", "rho": -300.0}, ValueError, "outside the range of coef"),
])
def test_validation_errors(kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        EncoderConfig(**kwargs)


def test_programme_matches_equations():
    rng = np.random.default_rng(1)
    for cfg in (EncoderConfig(delta=-0.7, alpha=1.3), EncoderConfig(system="lorenz")):
        x, y, z = rng.normal(size=(3, 50))
        terms = {"x": x, "y": y, "z": z, "x3": x ** 3, "xy": x * y, "xz": x * z}
        via_prog = [sum(c * terms[t] for c, t in comp) for comp in cfg.real_program()]
        direct = derivative_float(cfg.system, cfg.p, x, y, z)
        for a, b in zip(via_prog, direct):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("delta", [-1.5, -0.3, 0.0, 2.0, 10.0])
def test_lyapunov_sum_mixed_is_minus_two_delta(delta):
    p = EncoderConfig(delta=delta).p
    exps = lyapunov_spectrum("mixed", p, t_total=4.0)
    # RK4 of the tangent flow makes det(Q) exact only to O((h trace)^5) per step
    assert abs(exps.sum() - (-2 * delta)) <= 1e-5 * max(1.0, abs(2 * delta))
    assert list(exps) == sorted(exps, reverse=True)


def test_lyapunov_lorenz():
    p = EncoderConfig(system="lorenz").p
    exps = lyapunov_spectrum("lorenz", p, t_total=30.0, transient=5.0)
    assert abs(exps.sum() + (10 + 1 + 8 / 3)) <= 1e-5 * (10 + 1 + 8 / 3)
    # the chaotic attractor: one positive (~0.9), one ~0, one strongly negative (~-14.6)
    assert 0.3 < exps[0] < 1.5 and abs(exps[1]) < 0.3 and -15.5 < exps[2] < -13.5


def test_lyapunov_validation():
    p = EncoderConfig().p
    with pytest.raises(ValueError, match="dt must be a positive"):
        lyapunov_spectrum("mixed", p, dt=0.0)
    with pytest.raises(ValueError, match="transient must be in"):
        lyapunov_spectrum("mixed", p, t_total=1.0, transient=2.0)
    with pytest.raises(ValueError, match="diverged"):
        lyapunov_spectrum("mixed", {**p, "delta": -10.0}, t_total=200.0)
    assert math.isclose(EncoderConfig(delta=2).lyapunov_sum, -4.0)
