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
