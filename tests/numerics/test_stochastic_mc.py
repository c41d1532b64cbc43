"""Monte Carlo validation of SGD laws (validate_sgd) and heavy-ball SGD's noise factor.

Statistics. A correct law's z-score is close to a standard normal (the residual
M = Q_K − Q_0 − Σ d_k is a martingale under the exact one-step prediction, and an
average over thousands of independent runs); the pass threshold |z| ≤ 4 makes a false
failure happen with probability 2·Φ(−4) ≈ 6.3·10⁻⁵ per test. Every test uses a fixed
seed, so a run is reproducible; the wrong laws below miss by hundreds of standard errors.

Hand derivations used as expectations:

* ℓ = (w − x)²/2 on x ∈ {−1, 1}: ∇ℓ_i = w − x_i, ∇V = w, Σ = 1/B (with replacement).
  Plain SGD w_{k+1} = (1 − η)w_k + ηx_i: E w_k = (1 − η)^k w_0.
* Heavy ball on the same loss (h = 1, σ² = 1): w_{k+1} = (1 + β − η)w_k − βw_{k−1} + ηx_i,
  an AR(2) with stationary variance (1 + β)η/((1 − β)(2(1 + β) − η)) (from the
  Yule–Walker equations, γ₀ = (1 − a₂)σ_e²/((1 + a₂)((1 − a₂)² − a₁²)), a₁ = 1 + β − η,
  a₂ = −β, σ_e² = η²); the SME of rules.sgd_momentum predicts η/(2(1 − β)) (OU process
  with drift −w/(1 − β) and diffusion η/(1 − β)²), the SGD noise without the 1/(1 − β)²
  factor would give η/2.
* Collapse of the scalar pair to (0, 0): GD's linearization at the origin is
  −[[λ, −m], [−m, λ]] with m = mean(xy), unstable for λ < |m| (Ziyin et al.; Chen,
  Kunin et al. 2023 for the noise).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import (
    InvalidInputError,
    InvalidParameterError,
    NotSupportedError,
    ValidationFailedError,
)
from symnoether.numerics import stochastic_drivers
from symnoether.numerics.stochastic_mc import stream_keys

eta, lam = sp.symbols("eta lam", positive=True)
x, y = sn.data("x y")
u, w = sn.coordinates("u w")
(q,) = sn.coordinates("q")
PAIR = (y - u * w * x) ** 2 / 2
THREE = {x: [0.5, -1, 3], y: [2, 1, -1]}
Z_MAX = 4.0  # false-failure rate 2Φ(−4) ≈ 6.3e-5 per test


def pair(dataset=THREE, regularizers=(), **rule):
    return sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(eta, **rule), data=(x, y),
                             dataset=dataset, regularizers=list(regularizers))  # fmt: skip


def quadratic(rule):
    return sn.LearningSystem((q,), (q - x) ** 2 / 2, rule=rule, data=(x,),
                             dataset={x: [-1, 1]})  # fmt: skip


# -- a correct law passes, a wrong one fails -------------------------------------------


def test_law_of_balance_passes_and_flipped_noise_drift_fails():
    system = pair()
    law = sn.noether(system, (u, -w))
    report = sn.validate_sgd(system, law, [1.0, 0.2], params={eta: 0.01}, runs=4096,
                             steps=2000, seed=0)  # fmt: skip
    assert report.passed, report
    assert report.prediction == "exact one-step expectation"
    assert abs(report.z) <= Z_MAX and report.status == "passed"
    # the noise drift drives Q = ½(u² − w²) down from 0.48 (the law of balance): visible
    assert report.mean_charge[-1] < report.mean_charge[0] - 0.03
    wrong = replace(law, noise_drift=-law.noise_drift)
    failed = sn.validate_sgd(system, wrong, [1.0, 0.2], params={eta: 0.01}, runs=4096,
                             steps=2000, seed=0)  # fmt: skip
    assert not failed.passed and failed.status == "failed"
    assert abs(failed.z) > 100 * Z_MAX
    assert "noise drift" in failed.message
    with pytest.raises(ValidationFailedError, match="standard errors"):
        sn.validate_sgd(system, wrong, [1.0, 0.2], params={eta: 0.01}, runs=256, steps=500,
                        throw=True)  # fmt: skip


def test_with_weight_decay_and_batches_without_replacement():
    # B = 2 of N = 3 without replacement: Σ carries (N − B)/(N − 1) = 1/2 (the law's), a
    # law derived for batches drawn with replacement (twice the noise drift) fails.
    system = pair(regularizers=[sn.rules.weight_decay(lam)], batch_size=2, replacement=False)
    law = sn.noether(system, (u, -w))
    params = {eta: 0.02, lam: 0.05}
    report = sn.validate_sgd(system, law, [1.5, -0.3], params=params, runs=4096, steps=1000)
    assert report.passed, report
    other = sn.noether(pair(regularizers=[sn.rules.weight_decay(lam)], batch_size=2), (u, -w))
    mixed = replace(law, noise_drift=other.noise_drift)
    assert not sn.validate_sgd(system, mixed, [1.5, -0.3], params=params, runs=4096,
                               steps=1000).passed  # fmt: skip


def test_full_batch_without_replacement_is_gradient_descent():
    # B = N without replacement: every batch is the dataset, no noise, all runs agree.
    system = pair(batch_size=3, replacement=False)
    law = sn.noether(system, (u, -w))
    assert law.noise_drift == 0
    report = sn.validate_sgd(system, law, [1.0, 0.2], params={eta: 0.01}, runs=16, steps=300)
    assert report.passed, report
    assert np.ptp(report.final, axis=0).max() == 0.0


def test_expected_rate_ode_for_a_charge_that_diffuses():
    # Q = q (ψ = 1, not a symmetry): rate −(q − mean x) + (η/2)·0; E q_k = (1 − η)^k q_0.
    system = quadratic(sn.rules.sgd(eta))
    law = sn.noether(system, (1,))
    report = sn.validate_sgd(system, law, [2.0], params={eta: 0.01}, runs=4096, steps=500,
                             prediction="rate", seed=3)  # fmt: skip
    assert report.passed, report
    assert report.prediction == "expected-rate ODE (trapezoid)"
    exact = 2.0 * 0.99**500
    assert abs(report.mean_charge[-1] - exact) < Z_MAX * report.band[-1] * 3 + 0.01 * exact


def test_rate_prediction_carries_the_modelling_error_of_order_eta_squared():
    # For the per-sample symmetric charge the statistical error is small: the O(η²t)
    # bias of the continuous model shows in 'rate' mode, and shrinks fourfold with η/2.
    system = pair()
    law = sn.noether(system, (u, -w))
    biases = []
    for step, count in ((0.02, 250), (0.01, 500)):
        report = sn.validate_sgd(system, law, [1.0, 0.2], params={eta: step}, runs=2048,
                                 steps=count, prediction="rate")  # fmt: skip
        biases.append(abs(report.mean_residual))
    assert 2.5 < biases[0] / biases[1] < 6.5


# -- reproducible, thread-count independent ------------------------------------------------


def test_parallel_and_serial_runs_are_bit_identical_and_seeded():
    import numba

    system = pair()
    law = sn.noether(system, (u, -w))
    kw = dict(params={eta: 0.01}, runs=512, steps=400, seed=7)
    serial = sn.validate_sgd(system, law, [1.0, 0.2], parallel=False, **kw)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = sn.validate_sgd(system, law, [1.0, 0.2], **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = sn.validate_sgd(system, law, [1.0, 0.2], **kw)
    finally:
        numba.set_num_threads(threads)
    for report in (one, two):
        assert np.array_equal(report.final, serial.final)
        assert np.array_equal(report.mean_charge, serial.mean_charge)
        assert report.z == serial.z
    again = sn.validate_sgd(system, law, [1.0, 0.2], **kw)
    assert np.array_equal(again.final, serial.final)
    other = sn.validate_sgd(system, law, [1.0, 0.2], **{**kw, "seed": 8})
    assert not np.array_equal(other.final, serial.final)


def test_numpy_backend_draws_the_same_batches():
    system = pair()
    law = sn.noether(system, (u, -w))
    kw = dict(params={eta: 0.01}, runs=8, steps=50, seed=11)
    compiled = sn.validate_sgd(system, law, [1.0, 0.2], **kw)
    plain = sn.validate_sgd(system, law, [1.0, 0.2], backend="numpy", **kw)
    assert np.allclose(compiled.final, plain.final, rtol=1e-12, atol=1e-14)


def test_the_stream_is_uniform_over_batch_indices():
    # 60000 draws into N = 6 cells: chi-square with 5 degrees of freedom, P(> 25) ≈ 1.4e-4.
    keys = stream_keys(123)
    counts = np.zeros(6)
    for r in range(100):
        for k in range(200):
            left, right = stochastic_drivers.block(r, k, keys)
            for j in range(3):
                counts[(stochastic_drivers.draw(left, right, j) * 6) >> 32] += 1
    expected = counts.sum() / 6
    assert ((counts - expected) ** 2 / expected).sum() < 25.0
    blocks = {stochastic_drivers.block(r, k, keys) for r in range(50) for k in range(50)}
    assert len(blocks) == 2500  # a bijection of the counter


# -- heavy-ball SGD: the noise factor 1/(1 − β)² ----------------------------------------------


def test_momentum_stationary_variance_matches_the_sme_noise_factor():
    beta, step = 0.5, 0.02
    system = quadratic(sn.rules.sgd_momentum(eta, beta))
    law = sn.noether(system, (q,))  # Q = (1 − β) q²/2
    assert sp.expand(law.charge - (1 - sp.Rational(1, 2)) * q**2 / 2) == 0
    report = sn.validate_sgd(system, law, [0.0], params={eta: step}, runs=4096, steps=2000,
                             seed=5)  # fmt: skip
    variance = float(np.mean(report.final[:, 0] ** 2))
    error = variance * math.sqrt(2 / 4096)
    discrete = (1 + beta) * step / ((1 - beta) * (2 * (1 + beta) - step))
    sme = step / (2 * (1 - beta))
    assert abs(discrete - sme) < error  # the SME is right to O(η²)
    assert abs(variance - discrete) < Z_MAX * error
    assert abs(variance - step / 2) > 20 * error  # SGD's noise factor would be wrong
    assert report.prediction == "expected-rate ODE (trapezoid)"
    # Over t = 40 at stationarity the continuous model's O(η²) error in the expected
    # rate adds up (E[rate] under the discrete stationary law is O(η²), not 0): 'rate'
    # mode then needs an atol of order η²·t, see test_momentum_law_over_a_short_horizon.
    assert report.mean_charge[-1] == pytest.approx((1 - beta) * variance / 2)


def test_momentum_law_over_a_short_horizon_and_the_wrong_noise_factor():
    # From q0 = 1 over t = 4 (400 steps of η = 0.01) the law's noise drift η/(2(1 − β))
    # adds 0.04 to Q; the noise factor of plain SGD (the drift times 1 − β) adds 0.02.
    # 'rate' compares with the continuous model, whose O(η²t) error (measured: under
    # 0.002 here, 0.003–0.006 at η = 0.02) is allowed by atol = 0.004, a tenth of the
    # noise drift's effect; the wrong factor misses by 0.02.
    beta, step = 0.5, 0.01
    system = quadratic(sn.rules.sgd_momentum(eta, beta))
    law = sn.noether(system, (q,))
    kw = dict(params={eta: step}, runs=4096, steps=400, seed=2, atol=0.004)
    report = sn.validate_sgd(system, law, [1.0], **kw)
    assert report.passed, report
    wrong = replace(law, noise_drift=law.noise_drift * (1 - beta))
    failed = sn.validate_sgd(system, wrong, [1.0], **kw)
    assert not failed.passed and failed.mean_residual > 0.015


def test_momentum_noise_drift_is_amplified():
    # the closed form: Σ = 1, Q = (1 − β)q²/2, noise drift (η/(2(1 − β)²))·(1 − β)
    beta = sp.Rational(1, 2)
    law = sn.noether(quadratic(sn.rules.sgd_momentum(eta, beta)), (q,))
    assert sp.simplify(law.noise_drift - eta / (2 * (1 - beta))) == 0
    assert sp.simplify(law.potential_breaking + q * (q - 0)) == 0  # −ψ·∇V = −q·q
    # finite step −η(1 + β)/(2(1 − β)³)·∇Q·H∇V, ∇Q = (1 − β)q, H = 1, ∇V = q
    expected = -eta * (1 + beta) / (2 * (1 - beta) ** 3) * (1 - beta) * q * q
    assert sp.simplify(law.kinetic_breaking - expected) == 0


# -- collapse experiment ----------------------------------------------------------------------


def test_collapse_fraction_on_both_sides_of_the_threshold():
    # mean(xy) over THREE = (1 − 1 − 3)/3 = −1: GD threshold λ_c = 1.
    system = pair(regularizers=[sn.rules.weight_decay(lam)])
    kw = dict(runs=256, steps=3000, collapse=[{u: 0, w: 0}])
    above = sn.validate_sgd(system, None, [1.0, 0.5], params={eta: 0.01, lam: 2.0}, **kw)
    below = sn.validate_sgd(system, None, [1.0, 0.5], params={eta: 0.01, lam: 0.1}, **kw)
    assert above.collapse_fraction == 1.0 and below.collapse_fraction == 0.0
    assert above.passed and np.isnan(above.z)
    projector = sp.zeros(2, 2)  # the subspace {0}: P = 0
    again = sn.validate_sgd(system, None, [1.0, 0.5], params={eta: 0.01, lam: 2.0},
                            runs=256, steps=3000, collapse=projector)  # fmt: skip
    assert again.collapse_fraction == 1.0
    assert "collapse" in str(again)


# -- the report ---------------------------------------------------------------------------------


def test_report_text_latex_and_plot(tmp_path):
    system = pair()
    law = sn.noether(system, (u, -w))
    report = sn.validate_sgd(system, law, [1.0, 0.2], params={eta: 0.01}, runs=256, steps=200)
    text = str(report)
    assert text.startswith("Monte Carlo validation PASSED") and "standard error" in text
    assert r"\text{passed}" in report._repr_latex_()
    assert "SGDReport(status='passed'" in repr(report)
    assert report.raise_if_failed() is report
    figure = report.plot(tmp_path / "mc.png")
    assert (tmp_path / "mc.png").stat().st_size > 0
    assert len(figure.axes) == 2


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_named():
    system = pair()
    law = sn.noether(system, (u, -w))
    gd = sn.LearningSystem((u, w), PAIR, rule=sn.rules.gradient_descent(eta), data=(x, y))
    with pytest.raises(InvalidInputError, match="rules.sgd"):
        sn.validate_sgd(gd, sn.noether(gd, (u, -w)), [1, 0], params={eta: 0.1})
    with pytest.raises(InvalidInputError, match="data symbol"):
        sn.validate_sgd(system, law, [1, 0], params={eta: 0.1, "x": 1.0})
    with pytest.raises(InvalidInputError, match="eta"):
        sn.validate_sgd(system, law, [1, 0], params={})
    with pytest.raises(InvalidParameterError, match="positive"):
        sn.validate_sgd(system, law, [1, 0], params={eta: -0.1})
    with pytest.raises(InvalidInputError, match="q0"):
        sn.validate_sgd(system, law, [1, 0, 3], params={eta: 0.1})
    with pytest.raises(InvalidInputError, match="runs"):
        sn.validate_sgd(system, law, [1, 0], params={eta: 0.1}, runs=1)
    with pytest.raises(InvalidInputError, match="seed"):
        sn.validate_sgd(system, law, [1, 0], params={eta: 0.1}, seed=-1)
    with pytest.raises(InvalidInputError, match="prediction"):
        sn.validate_sgd(system, law, [1, 0], params={eta: 0.1}, prediction="exakt")
    with pytest.raises(InvalidInputError, match="projector"):
        sn.validate_sgd(system, law, [1, 0], params={eta: 0.1}, runs=4, steps=2,
                        collapse=np.array([[1.0, 1.0], [0.0, 1.0]]))  # fmt: skip
    with pytest.raises(InvalidInputError, match="collapse=..."):
        sn.validate_sgd(system, None, [1, 0], params={eta: 0.1})
    momentum = quadratic(sn.rules.sgd_momentum(eta, 0.5))
    with pytest.raises(NotSupportedError, match="velocity"):
        sn.validate_sgd(momentum, sn.noether(momentum, (q,)), [1.0], params={eta: 0.1},
                        prediction="exact")  # fmt: skip
    quartic = sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(eta), data=(x, y),
                                dataset=THREE)  # fmt: skip
    law4 = sn.noether(quartic, (u**3, 0))  # Q = u⁴/4: not quadratic
    with pytest.raises(NotSupportedError, match="not quadratic"):
        sn.validate_sgd(quartic, law4, [1, 0], params={eta: 0.1}, prediction="exact")


def test_sgd_momentum_rule_checks():
    from symnoether.errors import InvalidRuleError

    with pytest.raises(InvalidRuleError, match="batch_size"):
        sn.rules.sgd_momentum(0.1, 0.9, batch_size=0)
    with pytest.raises(InvalidRuleError, match=r"outside \[0, 1\)"):
        sn.rules.sgd_momentum(0.1, 1.0)
    rule = sn.rules.sgd_momentum(0.1, 0.5, batch_size=2, replacement=False)
    assert rule.stochastic and rule.order == 1 and rule.tau is None
    assert rule.mass_scale == sp.Rational(1, 2) or float(rule.mass_scale) == 0.5
