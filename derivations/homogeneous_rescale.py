"""Rescale symmetry: |w₁|² − |w₂|² kept by gradient flow, broken ∝ η by GD, restored by decay.

A homogeneous layer pair (w₁, w₂) with V(αw₁, w₂/α) = V(w₁, w₂) — a scalar
product w₂w₁x, or a ReLU unit with its incoming weights and bias against its
outgoing weight — has the generator ψ = (w₁, −w₂) and, under gradient flow,
the conserved charge ½(|w₁|² − |w₂|²). Under gradient descent with step η the
kinetic term breaks it: with D = |w₁|² − |w₂|²,

    (η/4) D'' + ½ D' = (η/2)(|ẇ₁|² − |ẇ₂|²)   ⇒   D' = η(|ẇ₁|² − |ẇ₂|²) + O(η²),

the continuous form of the exact discrete identity
D_{k+1} = D_k + η²(|g₁|² − |g₂|²) checked below on the real optimizer. Weight
decay λ adds −2λD: under gradient flow D(t) = D(0) e^{−2λt}, so the balanced,
symmetric configuration |w₁| = |w₂| is restored — the mechanism by which
Ziyin et al. explain symmetry restoration in training.

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/homogeneous_rescale.py``.

References
----------
D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
"Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
Dynamics", ICLR 2021, arXiv:2012.04728, Sec. 3 and 5 (rescale symmetry, its
law under finite steps and weight decay). H. Tanaka and D. Kunin, "Noether's
Learning Dynamics", NeurIPS 2021, arXiv:2105.02716, Sec. 4 (kinetic symmetry
breaking of rescale symmetry). L. Ziyin et al., "Parameter Symmetry Breaking
and Restoration Determines the Hierarchical Learning in AI Systems" (2025):
weight decay restores the rescale symmetry.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core import is_zero

ETA, LAM = sp.symbols("eta lambda", positive=True)
T = sn.TIME
D = sp.Function("D")(T)  # D = |w₁|² − |w₂|²
K = sp.Function("K")  # K = |ẇ₁|² − |ẇ₂|²
D0 = sp.Symbol("D_0", real=True)


def derivation() -> sn.Derivation:
    """Derive the rescale laws (pair and ReLU), their ODEs and solutions; check discrete GD."""
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(ETA), [sn.rules.weight_decay(LAM)])
    deriv = sn.derive(system, pair.generators, title=__doc__.splitlines()[0])
    law = deriv.law("rescale")
    assert law.is_symmetry, "w₁·∂V/∂w₁ − w₂·∂V/∂w₂ vanishes for V(w₂w₁x)"
    assert law.broken_by == ("kinetic term", "weight decay")

    conserved = _gradient_flow_charge(pair)
    finite_step = _finite_step_ode(pair.system(sn.rules.gradient_descent(ETA)), pair)
    restored = _weight_decay_flow(pair)
    charge_ode = _charge_ode(system, law)
    leading, solution = _leading_order(charge_ode)
    relu = _relu_laws()
    _check_discrete_pair(pair)
    _check_discrete_relu()
    _check_restoration(pair)
    return (
        deriv.with_result("charge under gradient flow (conserved)", conserved)
        .with_result("GD: charge ODE", finite_step)
        .with_result("GD + weight decay: charge ODE", charge_ode)
        .with_result("leading order in η", leading)
        .with_result("solution at leading order", solution)
        .with_result("gradient flow + weight decay", restored)
        .with_result("ReLU unit 1: charge under gradient flow (conserved)", relu)
    )


def _gradient_flow_charge(pair: models.Model) -> sp.Eq:
    """Gradient flow: Q = ½(w₁² − w₂²), conserved."""
    system = pair.system(sn.rules.gradient_flow())
    law = sn.noether(system, pair.generators["rescale"])
    assert law.conserved
    w1, w2 = system.coords
    assert is_zero(law.charge - (w1**2 - w2**2) / 2)
    return sp.Eq(sp.Symbol("Q"), law.charge)


def _charge_ode_of(system: sn.LearningSystem, law: sn.NoetherLaw, hand_lhs: sp.Expr) -> sp.Eq:
    """``sn.charge_equation``'s ODE for D = w₁² − w₂², asserted to be the hand form
    ``hand_lhs`` = (η/2)(ẇ₁² − ẇ₂²); returned with K(t) = |ẇ₁|² − |ẇ₂|².

    By hand (m = τ = η/2): Q = e^{t/τ}(η/2)(ẇ₁w₁ − ẇ₂w₂) = e^{t/τ}(η/4)D', so
    dQ/dt = e^{t/τ}((η/4)D'' + ½D'); the kinetic breaking is e^{t/τ}(η/2)K and weight
    decay's −ψ·∇(λ/2)|w|² = −λD.
    """
    found = sn.charge_equation(law)
    w1, w2 = system.coords
    v1, v2 = system.velocities
    assert found.quantity == w1**2 - w2**2
    assert is_zero(found.charge - system.damping_factor * ETA * D.diff(T) / 4)
    assert sp.simplify(found.equation.lhs - hand_lhs) == 0, found.equation
    assert sp.simplify(found.equation.rhs - ETA * (v1**2 - v2**2) / 2) == 0, found.equation
    return sp.Eq(hand_lhs, ETA * K(T) / 2)


def _finite_step_ode(system: sn.LearningSystem, pair: models.Model) -> sp.Eq:
    """GD without weight decay: (η/4)D'' + ½D' = (η/2)K; kinetic breaking only."""
    law = sn.noether(system, pair.generators["rescale"])
    assert law.broken_by == ("kinetic term",)
    return _charge_ode_of(system, law, ETA * D.diff(T, 2) / 4 + D.diff(T) / 2)


def _charge_ode(system: sn.LearningSystem, law: sn.NoetherLaw) -> sp.Eq:
    """GD + weight decay: (η/4)D'' + ½D' + λD = (η/2)K."""
    return _charge_ode_of(system, law, ETA * D.diff(T, 2) / 4 + D.diff(T) / 2 + LAM * D)


def _leading_order(charge_ode: sp.Eq) -> tuple[sp.Eq, sp.Eq]:
    """Drop the O(η) inertia (η/4)D'': D' = −2λD + ηK — the breaking rate is ∝ η.

    Its solution, D(t) = e^{−2λt}D(0) + η∫₀ᵗ e^{−2λ(t−u)}K(u)du, is checked against
    the ODE and against dsolve's general solution.
    """
    first_order = charge_ode.lhs.subs(D.diff(T, 2), 0) - charge_ode.rhs
    leading = sp.solve(first_order, D.diff(T))[0]
    assert sp.expand(leading - (-2 * LAM * D + ETA * K(T))) == 0
    ode = sp.Eq(D.diff(T), leading)
    u = sp.Symbol("u", positive=True)
    hand = sp.exp(-2 * LAM * T) * D0 + ETA * sp.Integral(
        sp.exp(-2 * LAM * (T - u)) * K(u), (u, 0, T)
    )
    assert _solves(ode, hand) and hand.subs(T, 0).doit() == D0
    assert _solves(ode, sp.dsolve(ode, D, hint="1st_linear").rhs)
    return ode, sp.Eq(D, hand)


def _solves(ode: sp.Eq, candidate: sp.Expr) -> bool:
    residual = (sp.diff(candidate, T) - ode.rhs.subs(D, candidate)).doit()
    return sp.simplify(sp.expand(residual)) == 0


def _weight_decay_flow(pair: models.Model) -> sp.Eq:
    """Gradient flow + weight decay: Q = ½D, dQ/dt = −2λQ ⇒ ½D' + λD = 0, D(t) = D(0)e^{−2λt}
    (symmetry restored); ``sn.charge_equation`` solves it."""
    system = pair.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(LAM)])
    law = sn.noether(system, pair.generators["rescale"])
    assert law.broken_by == ("weight decay",)
    assert is_zero(law.rate + 2 * LAM * law.charge), "dQ/dt = −2λQ"
    found = sn.charge_equation(law)
    w1, w2 = system.coords
    assert found.quantity == w1**2 - w2**2
    assert sp.simplify(found.equation.lhs - (D.diff(T) / 2 + LAM * D)) == 0
    assert found.equation.rhs == 0
    assert is_zero(found.solution.rhs - D0 * sp.exp(-2 * LAM * T)), found.solution
    return found.solution


def _relu_laws() -> sp.Eq:
    """ReLU (Max) units: per-unit charge ½(|W_j|² + b_j² − a_j²), conserved by gradient flow,
    broken by GD's kinetic term only: (η/4)D_j'' + ½D_j' = (η/2)(|Ẇ_j|² + ḃ_j² − ȧ_j²)."""
    relu = models.relu_network(2, 2)
    flow = relu.system(sn.rules.gradient_flow())
    step = relu.system(sn.rules.gradient_descent(ETA))
    charges = []
    for j, name in ((1, "rescale_1"), (2, "rescale_2")):
        law = sn.noether(flow, relu.generators[name])
        assert law.conserved and law.is_symmetry
        W = flow.coordinate_matrix("W")
        b, a = sp.Symbol(f"b{j}", real=True), sp.Symbol(f"a{j}", real=True)
        hand = (W[j - 1, 0] ** 2 + W[j - 1, 1] ** 2 + b**2 - a**2) / 2
        assert is_zero(law.charge - hand)
        charges.append(law.charge)
        broken = sn.noether(step, relu.generators[name])
        assert broken.broken_by == ("kinetic term",)
        # its quadratic D_j = 2Q_j obeys GD's ODE, kinetic source (η/2)·(the same in q̇)
        found = sn.charge_equation(broken)
        speeds = dict(zip(step.coords, step.velocities, strict=True))
        assert is_zero(found.quantity - 2 * hand)
        assert sp.simplify(found.equation.lhs - (ETA * D.diff(T, 2) / 4 + D.diff(T) / 2)) == 0
        assert is_zero(found.equation.rhs - ETA * hand.xreplace(speeds))
    return sp.Eq(sp.Symbol("Q_1"), charges[0])


# -- the real optimizer (numpy) -------------------------------------------------


def _check_discrete_pair(pair: models.Model, steps: int = 200) -> None:
    """(w₁² − w₂²)_{k+1} = (1 − ηλ)²(w₁² − w₂²)_k + η²(g₁² − g₂²), exactly (λ = 0 too)."""
    grad = sp.lambdify([pair.coords, pair.data], [sp.diff(pair.loss, q) for q in pair.coords])
    rng = np.random.default_rng(3)
    for eta, lam in ((0.05, 0.0), (0.05, 0.1)):
        w = rng.normal(size=2)
        for _ in range(steps):
            g = np.array(grad(w, rng.normal(size=2)))
            new = (1 - eta * lam) * w - eta * g
            predicted = (1 - eta * lam) ** 2 * (w[0] ** 2 - w[1] ** 2) + eta**2 * (
                g[0] ** 2 - g[1] ** 2
            )
            assert abs(new[0] ** 2 - new[1] ** 2 - predicted) <= 1e-12 * (1 + abs(predicted))
            w = new


def _relu_gradient(W, b, a, x, y):
    """∇V of V = ½(y − Σⱼ aⱼ max(0, wⱼ·x + bⱼ))², by hand (numpy)."""
    pre = W @ x + b
    active = (pre > 0).astype(float)
    error = y - a @ np.maximum(pre, 0)
    g_a = -error * np.maximum(pre, 0)
    g_pre = -error * a * active
    return np.outer(g_pre, x), g_pre, g_a


def _check_discrete_relu(steps: int = 200) -> None:
    """Per ReLU unit j, D_j = |W_j|² + b_j² − a_j²: D_{k+1} = (1−ηλ)²D_k + η²(|g_in|² − g_a²)."""
    rng = np.random.default_rng(4)
    eta, lam = 0.05, 0.02
    W, b, a = rng.normal(size=(2, 2)), rng.normal(size=2), rng.normal(size=2)
    for _ in range(steps):
        gW, gb, ga = _relu_gradient(W, b, a, rng.normal(size=2), rng.normal())
        before = (W**2).sum(axis=1) + b**2 - a**2
        W, b, a = ((1 - eta * lam) * p - eta * g for p, g in ((W, gW), (b, gb), (a, ga)))
        after = (W**2).sum(axis=1) + b**2 - a**2
        kicks = (gW**2).sum(axis=1) + gb**2 - ga**2
        predicted = (1 - eta * lam) ** 2 * before + eta**2 * kicks
        assert np.allclose(after, predicted, rtol=1e-12, atol=1e-12)


def _check_restoration(pair: models.Model) -> None:
    """Discrete GD from an unbalanced start: with weight decay D → 0 (symmetry restored);
    without, D stays near D(0) (it drifts only by η Σ η(g₁² − g₂²))."""
    grad = sp.lambdify([pair.coords, pair.data], [sp.diff(pair.loss, q) for q in pair.coords])
    eta, time = 0.01, 40.0
    finals = {}
    for lam in (0.0, 0.1):
        w = np.array([3.0, 0.2])
        for _ in range(int(time / eta)):
            w = (1 - eta * lam) * w - eta * np.array(grad(w, (1.0, 1.0)))
        finals[lam] = w[0] ** 2 - w[1] ** 2
    start = 3.0**2 - 0.2**2
    assert abs(finals[0.0] - start) < 0.05 * start
    assert abs(finals[0.1]) < 3 * np.exp(-2 * 0.1 * time) * start


if __name__ == "__main__":
    print(derivation())
