"""Stability of a symmetric solution under gradient flow: the restoration threshold.

Hand derivation (Ziyin et al. 2025, the scalar pair): V = mean (y − u w x)²/2 + (λ/2)(u² + w²).
At u = w = 0: ∂²V/∂u² = ∂²V/∂w² = λ (the u w x term is quadratic in each only through
the other), ∂²V/∂u∂w = mean(−x y), so H = [[λ, −m], [−m, λ]] with m = mean(xy) and
eigenvalues λ ± m: stable iff λ > |m|, and the growth rate is |m| − λ.
For x = (1/2, −1, 3), y = (2, 1, −1): m = (1 − 1 − 3)/3 = −1, so λ_c = 1.
"""

from __future__ import annotations

import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidInputError, InvalidRuleError, NotAFixedPointError

eta, lam = sp.symbols("eta lam", positive=True)
x, y = sn.data("x y")
u, w = sn.coordinates("u w")
HALF = sp.Rational(1, 2)
DATA = {x: [HALF, -1, 3], y: [2, 1, -1]}


def pair(rule):
    return sn.LearningSystem(
        (u, w), (y - u * w * x) ** 2 / 2, rule=rule, data=(x, y), dataset=DATA,
        regularizers=[sn.rules.weight_decay(lam)],
    )  # fmt: skip


@pytest.mark.parametrize("rule", [sn.rules.gradient_flow(), sn.rules.sgd(eta)])
def test_restoration_threshold_of_the_scalar_pair(rule):
    result = sn.stability(pair(rule), {u: 0, w: 0}, parameter=lam)
    assert result.hessian == sp.Matrix([[lam, 1], [1, lam]])  # −m = 1
    assert result.threshold == 1
    assert result.exponent(HALF) == pytest.approx(0.5)  # |m| − λ
    assert result.exponent(2) == pytest.approx(-1.0)
    assert "lam > 1" in str(result) and r"\quad lam_c = 1" in result._repr_latex_()


def test_normal_directions_of_the_mirrors():
    # H = [[λ, 1], [1, λ]]: along (1, −1) (normal to u = w) it is λ − 1, along (1, 1)
    # (normal to u = −w) λ + 1 > 0 for every λ > 0: only the first has a threshold
    system = pair(sn.rules.gradient_flow())
    swap = sn.stability(system, {u: 0, w: 0}, parameter=lam, normal=sp.Matrix([1, -1]))
    assert swap.hessian == sp.Matrix([[lam - 1]]) and swap.threshold == 1
    assert swap.normal.shape == (2, 1) and "normal directions" in str(swap)
    anti = sn.stability(system, {u: 0, w: 0}, parameter=lam, normal=sp.Matrix([1, 1]))
    assert anti.hessian == sp.Matrix([[lam + 1]]) and anti.threshold is None
    with pytest.raises(InvalidInputError, match="maps the normal directions out of their span"):
        sn.stability(system, {u: 0, w: 0}, parameter=lam, normal=sp.Matrix([1, 0]))


def test_step_size_has_no_threshold_under_gradient_descent_flow():
    result = sn.stability(pair(sn.rules.gradient_descent(eta)), {u: 0, w: 0}, parameter=eta)
    assert result.threshold is None
    assert result.exponent(0.1, params={lam: HALF}) == pytest.approx(0.5)


def test_bad_input():
    system = pair(sn.rules.gradient_flow())
    # at (1, 1): ∂V/∂u = mean(−x w (y − x)) + λ = −mean(xy − x²) + λ ≠ 0
    with pytest.raises(NotAFixedPointError, match="gradient does not vanish .* ∂V/∂u ="):
        sn.stability(system, {u: 1, w: 1}, parameter=lam)
    with pytest.raises(InvalidInputError, match="no value for the coordinate w"):
        sn.stability(system, {u: 0}, parameter=lam)
    with pytest.raises(InvalidRuleError, match="noise=True is the minibatch-SGD threshold"):
        sn.stability(system, {u: 0, w: 0}, parameter=lam, noise=True)
    with pytest.raises(InvalidInputError, match="depends on lam; pass params"):
        sn.stability(system, {u: 0, w: 0}, parameter=eta).exponent(1)
