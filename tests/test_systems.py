import math

import numpy as np
import pytest

from dynalign.hw.systems import (
    CHEN_TEXTBOOK,
    DEFAULTS,
    TERM_FACTORS,
    EncoderConfig,
    System,
    derivative_float,
    divergence_float,
    jacobian_float,
    lyapunov_spectrum,
    lyapunov_sum_theory,
    mean_divergence,
)


def test_defaults_are_the_papers():
    c = EncoderConfig()
    assert c.system is System.MIXED
    assert c.p == {"alpha": 2.0, "beta": 0.1, "gamma": 0.1, "omega": 1.0, "delta": 0.0}
    assert (c.n_steps, c.stride, c.sample_steps) == (800, 200, [0, 200, 400, 600, 800])
    lz = EncoderConfig(system="lorenz")
    assert lz.p == {"sigma": 10.0, "rho": 28.0, "beta": 8 / 3}


@pytest.mark.parametrize("kwargs, exc, msg", [
    ({"system": "hopf"}, ValueError, "unknown system 'hopf'"),
    ({"system": "chen", "sigma": 1.0}, ValueError, "unknown parameter"),
    ({"system": "chen", "c": 200.0}, ValueError, "outside the range of coef"),
    ({"system": "chen", "a": float("nan")}, ValueError, "a must be finite"),
    ({"system": "rossler", "c": "5"}, TypeError, "c must be a real number"),
    ({"system": "aizawa", "zeta": 300.0}, ValueError, "outside the range of coef"),
    ({"system": "aizawa", "rho": 1.0}, ValueError, "unknown parameter"),
    ({"system": "nose-hoover", "alpha": float("inf")}, ValueError, "alpha must be finite"),
    ({"system": "sprott-c", "a": -129.0}, ValueError, "outside the range of coef"),
    ({"system": "chua", "beta": 130.0}, ValueError, "outside the range of coef"),
    ({"system": "chua", "m0": None, "m2": 1.0}, ValueError, "unknown parameter"),
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


def _float_terms(x, y, z):
    terms = {"1": np.ones_like(x), "chi": np.abs(x + 1) - np.abs(x - 1)}
    for t, f in TERM_FACTORS.items():
        terms[t] = np.prod([{"x": x, "y": y, "z": z}[c] for c in f], axis=0)
    return terms


def test_new_systems_defaults_are_the_issues():
    assert EncoderConfig(system="chen").p == {"a": 60.0, "b": 2.667, "c": 97.0}
    assert EncoderConfig(system="chen", **CHEN_TEXTBOOK).p == {"a": 35.0, "b": 3.0, "c": 28.0}
    assert EncoderConfig(system="rossler").p == {"a": 0.2, "b": 0.2, "c": 5.7}
    assert EncoderConfig(system="aizawa").p == {"alpha": 0.95, "beta": 0.7, "gamma": 0.6,
                                                "delta": 3.5, "eps": 0.25, "zeta": 0.1}
    assert EncoderConfig(system="nose-hoover").p == {"alpha": 1.0}
    assert EncoderConfig(system="sprott-c").p == {"a": 3.0}
    assert EncoderConfig(system="chua").p == {"alpha": 15.6, "beta": 28.58, "gamma": 0.0,
                                              "m0": -1.143, "m1": -0.714}
    assert set(DEFAULTS) == set(System)


CONFIGS = [EncoderConfig(system=s) for s in System] + [
    EncoderConfig(delta=-0.7, alpha=1.3), EncoderConfig(system="chen", **CHEN_TEXTBOOK),
    EncoderConfig(system="chua", gamma=0.3, m0=-1.2, m1=-0.6),
    EncoderConfig(system="aizawa", eps=0.4, zeta=-0.2)]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.system.value}-{c.p}")
def test_programme_matches_equations(cfg):
    rng = np.random.default_rng(1)
    x, y, z = rng.normal(size=(3, 50)) * 2
    terms = _float_terms(x, y, z)
    via_prog = [sum(c * terms[t] for c, t in comp) for comp in cfg.real_program()]
    direct = derivative_float(cfg.system, cfg.p, x, y, z)
    for a, b in zip(via_prog, direct):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-11)
    assert max(len(comp) for comp in cfg.real_program()) <= 8     # 2**ACC_GUARD


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


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: f"{c.system.value}-{c.p}")
def test_jacobian_matches_finite_differences(cfg):
    rng = np.random.default_rng(2)
    for _ in range(5):
        st = rng.normal(size=3) * 1.5
        if cfg.system is System.CHUA:
            st[0] = 0.5 if abs(abs(st[0]) - 1) < 1e-3 else st[0]
        jac = jacobian_float(cfg.system, cfg.p, st)
        eps = 1e-6
        for j in range(3):
            d = np.zeros(3)
            d[j] = eps
            num = (np.array(derivative_float(cfg.system, cfg.p, *(st + d)))
                   - np.array(derivative_float(cfg.system, cfg.p, *(st - d)))) / (2 * eps)
            np.testing.assert_allclose(jac[:, j], num, rtol=1e-6, atol=1e-5)
        theory = lyapunov_sum_theory(cfg.system, cfg.p)
        if theory is not None:
            assert divergence_float(cfg.system, cfg.p, st) == pytest.approx(theory)


def test_constant_divergence_where_the_issue_says():
    assert lyapunov_sum_theory("sprott-c", EncoderConfig(system="sprott-c").p) == -1.0
    assert lyapunov_sum_theory("chen", CHEN_TEXTBOOK) == pytest.approx(-10.0)
    assert EncoderConfig(system="chen").lyapunov_sum == pytest.approx(97 - 60 - 2.667)
    for s in ("rossler", "aizawa", "nose-hoover", "chua"):
        assert EncoderConfig(system=s).lyapunov_sum is None


def test_lyapunov_sprott_c_sum_is_minus_one():
    p = EncoderConfig(system="sprott-c").p
    exps = lyapunov_spectrum("sprott-c", p, t_total=20.0, transient=2.0)
    assert abs(exps.sum() + 1.0) <= 1e-5
    assert list(exps) == sorted(exps, reverse=True)


@pytest.mark.parametrize("system", ["rossler", "aizawa", "nose-hoover", "chua"])
def test_lyapunov_sum_is_the_mean_divergence(system):
    # Liouville: the exponents' sum is the time-averaged trace of the Jacobian
    p = EncoderConfig(system=system).p
    kw = {"t_total": 8.0, "transient": 1.0}
    exps = lyapunov_spectrum(system, p, **kw)
    div = mean_divergence(system, p, **kw)
    assert abs(exps.sum() - div) <= 2e-3 * max(1.0, abs(div))


def test_lyapunov_chen_paper_parameters_expand():
    # c - a - b = +34.3: the paper's Chen expands phase volume and escapes; its
    # finite-time exponents over a short window still sum to the constant divergence
    p = EncoderConfig(system="chen").p
    exps = lyapunov_spectrum("chen", p, t_total=0.1, dt=0.001)
    assert abs(exps.sum() - (97 - 60 - 2.667)) <= 1e-3 * 34.333


def test_grid_step_puts_every_sample_on_a_step():
    from dynalign.hw.systems import PAPER_SAMPLES, PAPER_WINDOWS, grid_step
    for tmax in PAPER_WINDOWS:
        for T in PAPER_SAMPLES:
            dt = grid_step(tmax, T)
            if T == 1:
                assert dt == 0.01
                continue
            cfg = EncoderConfig(tmax=tmax, dt=dt, samples=T)      # would raise otherwise
            assert cfg.n_steps % (T - 1) == 0
            assert abs(dt / 0.01 - 1) < 0.05
            if round(tmax / 0.01) % (T - 1) == 0:
                assert dt == 0.01                 # unchanged where 0.01 already fits
    assert grid_step(8.0, 10) == pytest.approx(8 / 801)
    assert grid_step(2.0, 20) == pytest.approx(2 / 209)    # 0.00957 nearer than 0.01053


@pytest.mark.parametrize("args, exc, msg", [
    ((0.0, 5), ValueError, "must be positive"),
    ((8.0, 0), ValueError, r"samples \(T\) must be a positive integer"),
    ((8.0, 2.5), ValueError, r"samples \(T\) must be a positive integer"),
    ((float("nan"), 5), ValueError, "tmax must be finite"),
])
def test_grid_step_validation(args, exc, msg):
    from dynalign.hw.systems import grid_step
    with pytest.raises(exc, match=msg):
        grid_step(*args)
