r"""Stochastic collapse: the SGD stability threshold from the top Lyapunov exponent.

Reference: F. Chen, D. Kunin, A. Yamamura and S. Ganguli, "Stochastic collapse: how
gradient noise attracts SGD dynamics towards simpler subnetworks", NeurIPS 2023.

Hand derivation for the scalar pair ℓ_i = (y_i − u w x_i)²/2 + (λ/2)(u² + w²) at u = w = 0,
x = (1/2, −1, 3), y = (2, 1, −1), so m_i = x_i y_i = (1, −1, −3) and mean(m) = −1.
Every per-sample gradient, (−(y_i − u w x_i) x_i w + λu, −(y_i − u w x_i) x_i u + λw), vanishes
at 0: it is a fixed point of every SGD step. The per-sample Hessian there is
K_i = [[λ, −m_i], [−m_i, λ]]; all K_i commute, with common eigenvectors
v₋ = (1, −1): K_i v₋ = (λ + m_i) v₋, h₋ = (λ + 1, λ − 1, λ − 3), and
v₊ = (1, 1):  K_i v₊ = (λ − m_i) v₊, h₊ = (λ − 1, λ + 1, λ + 3).
With B = 1 the linearized SGD step multiplies the v-component by 1 − η h_i, i uniform,
so the Lyapunov exponent per step along v is (1/3) Σ_i log|1 − η h_i|: it is negative
(the runs collapse onto 0) exactly when |Π_i (1 − η h_i)| < 1.

* GD threshold (mean Hessian λ ± 1): λ_c = 1 = |mean(xy)|, and no threshold in η.
* SGD in λ at η = 1/10, s = λ/10: along v₋ the product is (0.9 − s)(1.1 − s)(1.3 − s),
  = 1.287 > 1 at s = 0, decreasing for s < 0.9: the threshold is the root of
  (0.9 − s)(1.1 − s)(1.3 − s) = 1 in (0, 0.9). Along v₊, (1.1 − s)(0.9 − s)(0.7 − s) =
  0.693 < 1 already at s = 0: v₋ is the top direction.
* SGD in η at λ = 1/2: along v₋, h = (3/2, −1/2, −5/2) and
  (1 − 3η/2)(1 + η/2)(1 + 5η/2) = 1 + (3/2)η − (13/4)η² − (15/8)η³, which is 1 at η = 0 and
  again at the positive root of 15/8 η² + 13/4 η − 3/2 = 0,
  η_c = (−13/4 + √(169/16 + 45/4)) / (15/4) ≈ 0.3788: above it (until the step overshoots)
  the saddle attracts. Along v₊, h = (−1/2, 3/2, 7/2): (1 + η/2)(1 − 3η/2)(1 − 7η/2) has
  |·| < 1 on (0, 0.85), so v₋ decides.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidInputError, InvalidRuleError, NotAFixedPointError

eta, lam = sp.symbols("eta lam", positive=True)
x, y = sn.data("x y")
u, w = sn.coordinates("u w")
HALF = sp.Rational(1, 2)
DATA = {x: [HALF, -1, 3], y: [2, 1, -1]}
XS, YS = np.array([0.5, -1.0, 3.0]), np.array([2.0, 1.0, -1.0])


def pair(rule=None, **kw):
    return sn.LearningSystem(
        (u, w), (y - u * w * x) ** 2 / 2, rule=rule or sn.rules.sgd(eta), data=(x, y),
        dataset=kw.pop("dataset", DATA), regularizers=[sn.rules.weight_decay(lam)], **kw,
    )  # fmt: skip


def lambda_threshold_by_hand() -> float:
    # (0.9 − s)(1.1 − s)(1.3 − s) − 1 = 0, s = λ/10: the root in (0, 0.9)
    cubic = np.polysub(np.poly([0.9, 1.1, 1.3]) * -1, [1.0])  # (−1)·Π(s − r) = Π(r − s)
    roots = [r.real for r in np.roots(cubic) if abs(r.imag) < 1e-12 and 0 < r.real < 0.9]
    (s,) = roots
    return 10 * s


ETA_THRESHOLD = (-13 / 4 + math.sqrt(169 / 16 + 45 / 4)) / (15 / 4)


def test_weight_decay_threshold_is_lowered_by_noise():
    result = sn.stability(pair(), {u: 0, w: 0}, parameter=lam, noise=True, params={eta: 0.1})
    expected = lambda_threshold_by_hand()
    assert 0.85 < expected < 0.88
    assert result.threshold == pytest.approx(expected, abs=1e-9)
    assert result.gd_threshold == 1  # |mean(xy)|
    assert result.threshold < result.gd_threshold  # noise lowers the threshold
    assert result.method.startswith("closed form")
    # the exponent per unit time along v₋ at λ = 0, by hand: (1/η)(1/3) log(0.9·1.1·1.3)
    assert result.exponent(0) == pytest.approx(math.log(0.9 * 1.1 * 1.3) / 0.3, rel=1e-12)
    # the closed form keeps η and λ symbolic
    assert {eta, lam} <= set().union(*(e.free_symbols for e in result.exponents))
    assert "SGD threshold" in str(result) and "GD threshold       lam > 1" in str(result)
    assert r"lam_c^{\mathrm{SGD}}" in result._repr_latex_()


def test_noise_creates_a_threshold_in_the_step_size():
    gd = sn.stability(pair(sn.rules.gradient_descent(eta)), {u: 0, w: 0}, parameter=eta)
    assert gd.threshold is None  # a larger η never stabilizes the saddle under GD
    sgd = sn.stability(pair(), {u: 0, w: 0}, parameter=eta, noise=True, params={lam: HALF})
    assert sgd.gd_threshold is None
    assert sgd.threshold == pytest.approx(ETA_THRESHOLD, abs=1e-9)
    assert sgd.exponent(0.3) > 0 > sgd.exponent(0.5)


def collapsed_fraction(eta_, lam_, steps, *, noise=True, runs=200, seed=0):
    """Plain numpy SGD (B = 1, with replacement) on the scalar pair from |θ| ~ 1e−3: the
    fraction of runs within 1e−6 of the symmetric solution u = w = 0 at the end."""
    rng = np.random.default_rng(seed)
    u_, w_ = rng.normal(size=runs) * 1e-3, rng.normal(size=runs) * 1e-3
    for _ in range(steps):
        if noise:
            i = rng.integers(0, 3, size=runs)
            xi, yi = XS[i], YS[i]
            r = (yi - u_ * w_ * xi) * xi
        else:
            r = ((YS[:, None] - np.outer(XS, u_ * w_)) * XS[:, None]).mean(axis=0)
        u_, w_ = u_ - eta_ * (-r * w_ + lam_ * u_), w_ - eta_ * (-r * u_ + lam_ * w_)
    return float(np.mean(np.hypot(u_, w_) < 1e-6))


def test_monte_carlo_on_both_sides_of_the_thresholds():
    # Fixed seed; the predicted exponents per step are ≥ 0.0045 in absolute value over
    # thousands of steps, so a run on the wrong side of 1e−6 would need a log-growth
    # deviation of many standard deviations: the false-failure rate is far below 1e-6.
    lam_c = lambda_threshold_by_hand()
    below, between = lam_c - 0.12, (lam_c + 1) / 2  # between the SGD and GD thresholds
    assert collapsed_fraction(0.1, below, 6000) < 0.05
    assert collapsed_fraction(0.1, between, 6000) > 0.95
    assert collapsed_fraction(0.1, between, 6000, noise=False, runs=20) == 0  # GD escapes
    assert collapsed_fraction(ETA_THRESHOLD - 0.13, 0.5, 1500) < 0.05
    assert collapsed_fraction(ETA_THRESHOLD + 0.17, 0.5, 1500) > 0.95


def test_normal_space_of_the_swap_symmetry():
    # the swap u ↔ w fixes u = w; its normal direction is v₋ = (1, −1): the same threshold
    system = pair()
    one = sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True, params={eta: 0.1},
                       normal=sp.Matrix([1, -1]))  # fmt: skip
    assert one.normal.shape == (2, 1)
    assert one.threshold == pytest.approx(lambda_threshold_by_hand(), abs=1e-9)
    # along v₊ the point attracts for every λ ≥ 0 (product 0.693 < 1 at λ = 0)
    plus = sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True, params={eta: 0.1},
                        normal=sp.Matrix([1, 1]))  # fmt: skip
    assert plus.threshold is None and plus.exponent(0) < 0


# Non-commuting per-sample Hessians: ℓ_i = (a_i·θ)²/2 − (u² + w²)/2 with a = (1, 0), (1, 1).
a1, a2 = sn.data("a1 a2")
TILTED = {a1: [1, 1], a2: [0, 1]}


def tilted(rule):
    loss = (a1 * u + a2 * w) ** 2 / 2 - (u**2 + w**2) / 2
    return sn.LearningSystem((u, w), loss, rule=rule, data=(a1, a2), dataset=TILTED,
                             regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip


def test_full_batch_products_match_the_spectral_radius():
    # B = N without replacement: every step is the same map I − ηK̄, so the exponent is
    # log ρ(I − ηK̄)/η exactly, K̄ = mean(a aᵀ) + (λ − 1)I.
    system = tilted(sn.rules.sgd(0.1, batch_size=2, replacement=False))
    result = sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True)
    assert result.method == "products of random matrices" and not result.exponents
    mean = np.array([[1.0, 0.5], [0.5, 0.5]])
    for value in (0.2, 0.7):
        radius = np.abs(np.linalg.eigvals(np.eye(2) - 0.1 * (mean + (value - 1) * np.eye(2))))
        assert result.exponent(value) == pytest.approx(math.log(radius.max()) / 0.1, abs=2e-3)
    # the GD threshold: λ_min(mean aaᵀ) = (3 − √5)/4, so λ_c = 1 − (3 − √5)/4
    assert result.threshold == pytest.approx(1 - (3 - math.sqrt(5)) / 4, abs=1e-3)


def test_random_products_between_moment_bounds():
    # (1/(dη)) E log|det M| ≤ γ ≤ (1/(2η)) log ρ(E[M ⊗ M]) (Jensen on the growth of the
    # volume and of the second moment), M = I − ηK_i with probability 1/2 each.
    system = tilted(sn.rules.sgd(0.5))
    result = sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True)
    K = [np.array([[0.0, 0.0], [0.0, -1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]])]
    for value in (0.3, 0.8):
        maps = [np.eye(2) - 0.5 * (k + value * np.eye(2)) for k in K]
        lower = np.mean([np.log(abs(np.linalg.det(m))) for m in maps]) / (2 * 0.5)
        second = sum(np.kron(m, m) for m in maps) / 2
        upper = np.log(np.abs(np.linalg.eigvals(second)).max()) / (2 * 0.5)
        gamma, error = result.estimate(value)
        assert 0 < error < 0.02
        assert lower - 4 * error <= gamma <= upper + 4 * error
    assert result.threshold is not None and result.threshold_error > 0


def test_bad_input():
    # x = (1, 1), y = (0, 2), no decay, at u = w = 1: mean gradient 0, per-sample not
    system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(eta),
                               data=(x, y), dataset={x: [1, 1], y: [0, 2]})  # fmt: skip
    assert sn.stability(
        sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.gradient_flow(),
                          data=(x, y), dataset={x: [1, 1], y: [0, 2]}),
        {u: 1, w: 1}, parameter=lam,
    ).threshold is None  # fmt: skip
    with pytest.raises(NotAFixedPointError, match=r"per-sample gradient .* ∂ℓ/∂u = 1 on sample 0"):
        sn.stability(system, {u: 1, w: 1}, parameter=eta, noise=True)
    with pytest.raises(InvalidInputError, match=r"depend on eta; pass params=\{eta"):
        sn.stability(pair(), {u: 0, w: 0}, parameter=lam, noise=True)
    with pytest.raises(InvalidInputError, match="maps the normal directions out of their span"):
        sn.stability(tilted(sn.rules.sgd(0.5)), {u: 0, w: 0}, parameter=lam, noise=True,
                     normal=sp.Matrix([1, 0]))  # fmt: skip
    with pytest.raises(InvalidInputError, match="normal= has shape"):
        sn.stability(pair(), {u: 0, w: 0}, parameter=lam, noise=True, params={eta: 0.1},
                     normal=sp.Matrix([1, 2, 3]))  # fmt: skip
    with pytest.raises(InvalidRuleError, match="build the system with rule=sn.rules.sgd"):
        sn.stability(pair(sn.rules.gradient_flow()), {u: 0, w: 0}, parameter=lam, noise=True)
