"""The noise equilibrium of an exponential symmetry under SGD (Ziyin, Wang, Li and Wu,
"Parameter symmetry and noise equilibrium of SGD", 2024, arXiv:2402.07193).

Hand derivation for the scalar pair ℓ = (y − u w x)²/2 without weight decay: with
a_i = (y_i − u w x_i) x_i, ∇ℓ_i = −a_i (w, u), and for Q = ½(u² − w²) (A = diag(1, −1)):
finite step (η/2)∇VᵀA∇V = (η/2) ā² (w² − u²), noise drift (η/2) Var(a) (w² − u²) (B = 1),
so the expected rate is −(η/2) mean(a²) (u² − w²). On the orbit (u e^s, w e^{−s}) the
product uw and hence mean(a²) is fixed: the rate vanishes exactly where u² = w² (the
law of balance), and is negative above it, positive below (a stable equilibrium).
"""

from __future__ import annotations

import math

import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidGeneratorError, InvalidInputError, NotASymmetryError

eta, lam = sp.symbols("eta lam", positive=True)
x, y = sn.data("x y")
u, w = sn.coordinates("u w")
PAIR = (y - u * w * x) ** 2 / 2
DATA = {x: [1, 2], y: [0, 1]}


def pair(**kw):
    return sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(eta), data=(x, y), dataset=DATA, **kw)


def test_law_of_balance_without_weight_decay():
    system = pair()
    law = sn.noether(system, (u, -w))
    eq = sn.noise_equilibrium(system, law, {u: 2, w: 0.5}, params={eta: 0.1})
    assert eq.exists and not eq.definite
    assert len(eq.points) == 1
    (s,), (point,), (charge,) = eq.times, eq.points, eq.charges
    assert s == pytest.approx(-math.log(2), abs=1e-10)  # 2e^s = 0.5e^{−s}
    assert point[u] == pytest.approx(1, abs=1e-10) and point[w] == pytest.approx(1, abs=1e-10)
    assert charge == pytest.approx(0, abs=1e-10)
    # the sign of the rate on either side: negative above the balance, positive below
    rate = law.rate.subs(eta, sp.Rational(1, 10))
    assert rate.subs({u: 2, w: sp.Rational(1, 2)}) < 0 < rate.subs({u: sp.Rational(1, 2), w: 2})
    assert "noise equilibrium" in str(eq) and "s^*" in eq._repr_latex_()


def test_negative_product_balances_at_minus_root_three():
    system = pair()
    law = sn.noether(system, (u, -w))
    eq = sn.noise_equilibrium(system, law, {u: -3, w: 1}, params={eta: 0.1})
    (point,) = eq.points
    assert point[u] == pytest.approx(-math.sqrt(3), abs=1e-9)
    assert point[w] == pytest.approx(math.sqrt(3), abs=1e-9)


def test_balance_survives_weight_decay_by_the_swap_symmetry():
    # ℓ is symmetric under u ↔ w, which flips Q and its rate: u = w stays an equilibrium.
    system = pair(regularizers=[sn.rules.weight_decay(lam)])
    law = sn.noether(system, (u, -w))
    eq = sn.noise_equilibrium(system, law, {u: 2, w: 0.5}, params={eta: 0.1, lam: 0.05})
    assert any(abs(p[u] - 1) < 1e-9 and abs(p[w] - 1) < 1e-9 for p in eq.points)


def test_no_equilibrium_for_a_definite_scale_symmetry():
    # ℓ = (x − u/√(u² + w²))²/2 is invariant under ψ = (u, w) (A = I, definite). Then
    # ∇V ⟂ θ, the finite step gives (η/2)|∇V|² ≥ 0 and the noise drift (η/2) tr Σ ≥ 0:
    # the charge ½|θ|² only grows, away from points where every gradient vanishes.
    loss = (x - u / sp.sqrt(u**2 + w**2)) ** 2 / 2
    system = sn.LearningSystem((u, w), loss, rule=sn.rules.sgd(eta), data=(x,), dataset={x: [0, 1]})
    law = sn.noether(system, (u, w))
    eq = sn.noise_equilibrium(system, law, {u: 1, w: 1}, params={eta: 0.1})
    assert eq.definite and not eq.exists
    assert "definite" in str(eq)


def test_bad_input():
    system = pair()
    with pytest.raises(InvalidGeneratorError, match="not Aθ with a constant symmetric A"):
        sn.noise_equilibrium(system, sn.noether(system, (u**2, 0)), {u: 1, w: 1})
    with pytest.raises(NotASymmetryError, match="not a symmetry of the training loss"):
        sn.noise_equilibrium(system, sn.noether(system, (u, w)), {u: 1, w: 1})
    law = sn.noether(system, (u, -w))
    with pytest.raises(InvalidInputError, match=r"depends on eta; pass params"):
        sn.noise_equilibrium(system, law, {u: 1, w: 1})
    with pytest.raises(InvalidInputError, match="no value for the coordinate w"):
        sn.noise_equilibrium(system, law, {u: 1}, params={eta: 0.1})
    flow = sn.LearningSystem((u, w), PAIR, rule=sn.rules.gradient_flow(), data=(x, y))
    with pytest.raises(InvalidInputError, match="needs a system built with rules.sgd"):
        sn.noise_equilibrium(flow, sn.noether(flow, (u, -w)), {u: 1, w: 1})


# -- closed form ---------------------------------------------------------------------------


def test_closed_form_law_of_balance_for_a_symbolic_start():
    # With weight decay the rate gains −2λQ = −λ(u² − w²): still ∝ (u² − w²) on the orbit
    # (u₀eˢ, w₀e⁻ˢ), so the equilibrium is u² = w², i.e. e^{2s*} = w₀/u₀ and
    # u* = w* = √(u₀w₀) for every η and λ (the law of balance's fixed point).
    u0, w0 = sp.symbols("u0 w0", positive=True)
    system = pair(regularizers=[sn.rules.weight_decay(lam)])
    law = sn.noether(system, (u, -w))
    eq = sn.noise_equilibrium(system, law, {u: u0, w: w0})
    assert eq.exists and not eq.points  # symbolic: closed form only
    (point,), (s,) = eq.closed_form, eq.closed_times
    assert sp.simplify(point[u] - sp.sqrt(u0 * w0)) == 0
    assert sp.simplify(point[w] - sp.sqrt(u0 * w0)) == 0
    assert sp.simplify(s - sp.log(w0 / u0) / 2) == 0
    assert "closed form" in str(eq)


def test_closed_form_of_a_vector_layer_matches_the_hand_derivation_and_the_numeric_root():
    # ℓ = (y − w u·x)²/2, ψ = (u₁, u₂, −w), A = diag(1, 1, −1), B = 1, no decay. With
    # r_i = y_i − w u·x_i, ∇_uℓ_i = −r_i w x_i, ∂_wℓ_i = −r_i u·x_i. For an exponential
    # symmetry ∇²V Aθ = −A∇V, so the finite-step term is (η/2)∇VᵀA∇V, and with the noise
    # drift (η/2)tr(ΣA) the rate is (η/2) mean_i ∇ℓ_iᵀA∇ℓ_i = (η/2) mean r_i²(w²|x_i|² − (u·x_i)²).
    # On the orbit (eˢu, e⁻ˢw), r_i is fixed; with Z = e^{2s}: (η/2)(M₁/Z − Z M₂),
    # M₁ = mean r_i²|x_i|², M₂ = mean r_i²(u₀·x_i)². Data x = (1, 0), (0, 2), y = (2, 1),
    # start u₀ = (1, 2), w₀ = 1: u₀·x = 1, 4; r = 1, −3; M₁ = (1 + 9·4)/2 = 37/2,
    # M₂ = (1 + 9·16)/2 = 145/2, so Z² = 37/145 and s* = ¼ log(37/145).
    x1, x2 = sn.data("x1 x2")
    u1, u2 = sn.coordinates("u1 u2")
    system = sn.LearningSystem(
        (u1, u2, w), (y - w * (u1 * x1 + u2 * x2)) ** 2 / 2, rule=sn.rules.sgd(eta),
        data=(x1, x2, y), dataset={x1: [1, 0], x2: [0, 2], y: [2, 1]},
    )  # fmt: skip
    law = sn.noether(system, (u1, u2, -w))
    eq = sn.noise_equilibrium(system, law, {u1: 1, u2: 2, w: 1}, params={eta: 0.1})
    (s,) = eq.closed_times
    assert sp.simplify(s - sp.log(sp.Rational(37, 145)) / 4) == 0
    (exact,), (numeric,) = eq.closed_form, eq.points
    assert sp.simplify(exact[w] - sp.exp(-s)) == 0
    for q in (u1, u2, w):
        assert float(exact[q]) == pytest.approx(numeric[q], abs=1e-10)


def test_no_equilibrium_in_closed_form_for_a_definite_scale_symmetry():
    # ℓ = (x − u/√(u² + w²))²/2 with the definite A = I: the rate on the ray θ₀eˢ is
    # (η/2)(|∇V|² + tr Σ)·(positive) (see test_no_equilibrium_for_a_definite_scale_symmetry),
    # so its numerator in z = eˢ has no positive root, for a symbolic start too
    loss = (x - u / sp.sqrt(u**2 + w**2)) ** 2 / 2
    system = sn.LearningSystem((u, w), loss, rule=sn.rules.sgd(eta), data=(x,), dataset={x: [0, 1]})
    law = sn.noether(system, (u, w))
    c = sp.Symbol("c", positive=True)
    eq = sn.noise_equilibrium(system, law, {u: c, w: 2 * c})
    assert eq.closed_form == () and not eq.exists and eq.definite
    assert "definite" in str(eq)
