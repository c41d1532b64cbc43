"""Translation symmetry of softmax logits: Σḃ decays as e^{−t/τ}, Σb stops at Σb(0) + τΣḃ(0).

The cross-entropy of softmax logits z = Wx + b is invariant under z → z + α𝟙:
shifting every bias by the same amount (ψ = 𝟙 on b), or every row of W by the
same vector, leaves the loss unchanged. The kinetic term of gradient descent
and of heavy-ball momentum is translation invariant too (no kinetic symmetry
breaking), so the Noether charge Q = e^{t/τ} m 𝟙·ḃ is exactly conserved and
closes into an ODE for P = 𝟙·b, which SymPy's ``dsolve`` solves:

    𝟙·ḃ(t) = 𝟙·ḃ(0) e^{−t/τ},    𝟙·b(t) = 𝟙·b(0) + τ 𝟙·ḃ(0) (1 − e^{−t/τ}).

The real optimizer keeps 𝟙·b exactly (every bias gradient is softmax − one-hot,
which sums to 0); heavy ball multiplies 𝟙·(b_{k+1} − b_k) by β each step, the
discrete e^{−η/τ} (log β = −η/τ + O((1 − β)³)). With weight decay λ under
gradient flow the charge decays: 𝟙·b(t) = 𝟙·b(0) e^{−λt}.

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/softmax_translation.py``.

References
----------
D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
"Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
Dynamics", ICLR 2021, arXiv:2012.04728, Sec. 3 (translation symmetry) and
Sec. 5 (its broken law with weight decay). H. Tanaka and D. Kunin, "Noether's
Learning Dynamics", NeurIPS 2021, arXiv:2105.02716, Sec. 4 (translation
symmetry: no kinetic symmetry breaking, Σq̇ ∝ e^{−t/τ}).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core import is_zero

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
T = sn.TIME
P = sp.Function("P")(T)  # P = 𝟙·b, the summed biases
V = sp.Function("V")(T)  # V = 𝟙·ḃ
P0, V0 = sp.symbols("P_0 V_0", real=True)  # 𝟙·b(0), 𝟙·ḃ(0)
TAU = sp.Symbol("tau", positive=True)  # display name of the rule's damping time
CLASSES, INPUTS = 3, 2


def derivation() -> sn.Derivation:
    """Derive the translation laws, solve them, and check them on the real optimizer."""
    model = models.softmax_regression(CLASSES, INPUTS)
    system = model.system(sn.rules.momentum(ETA, BETA))
    deriv = sn.derive(system, model.generators, title=__doc__.splitlines()[0])
    for law in deriv.laws:
        assert law.is_symmetry, "softmax is invariant under z → z + α𝟙"
        assert law.conserved and law.kinetic_breaking == 0, "no kinetic symmetry breaking"
    _check_gradient_descent(model)

    biases = _biases(system)
    law = deriv.law("translation")
    velocity_ode, velocity = _velocity_law(system, law, biases)
    position = _position_law(system, law, biases)
    decayed = _weight_decay_flow(model, biases)
    _check_discrete_gd(model)
    _check_discrete_momentum(model)
    return (
        deriv.with_result("τ (heavy ball)", sp.Eq(TAU, system.tau))
        .with_result("charge ODE (V = 𝟙·ḃ)", velocity_ode)
        .with_result("𝟙·ḃ(t)", velocity)
        .with_result("𝟙·b(t)", position)
        .with_result("𝟙·b(t), gradient flow + weight decay", decayed)
        .with_result("discrete heavy ball: log β + η/τ", _discrete_damping())
    )


def _biases(system: sn.LearningSystem) -> tuple[sp.Symbol, ...]:
    return tuple(q for q in system.coords if q.name.startswith("b"))


def _in_terms_of(expr: sp.Expr, parts: tuple, whole: sp.Expr) -> sp.Expr:
    """Rewrite ``expr`` with Σ parts = whole (eliminate the first part); the result
    must no longer depend on any of the parts."""
    first, rest = parts[0], parts[1:]
    rewritten = sp.expand(expr.subs(first, whole - sp.Add(*rest)))
    assert not rewritten.free_symbols & set(parts), f"{expr} is not a function of Σ{parts}"
    return rewritten


def _velocity_law(system: sn.LearningSystem, law: sn.NoetherLaw, biases: tuple) -> tuple:
    """Q = e^{t/τ} m V and dQ/dt = 0 ⇒ m V' + (m/τ) V = 0 ⇒ V = V₀ e^{−t/τ}."""
    factor, mass, tau = system.damping_factor, system.rule.mass_scale, system.tau
    velocities = tuple(sn.velocity(b) for b in biases)
    charge = factor * _in_terms_of(law.charge / factor, velocities, V)
    assert is_zero(charge - factor * mass * V), "Q = e^{t/τ} m 𝟙·ḃ"
    lhs = sp.expand(sp.diff(charge, T) / factor) - law.rate / factor
    assert sp.simplify(lhs - mass * (V.diff(T) + V / tau)) == 0
    solution = sp.dsolve(lhs, V, ics={V.subs(T, 0): V0})
    assert is_zero(solution.rhs - V0 * sp.exp(-T / tau)), solution
    return sp.Eq(V.diff(T) + V / TAU, 0), sp.Eq(V, V0 * sp.exp(-T / TAU))


def _position_law(system: sn.LearningSystem, law: sn.NoetherLaw, biases: tuple) -> sp.Eq:
    """The same law as an ODE for P = 𝟙·b: m P'' + (m/τ) P' = 0, solved from P(0), P'(0)."""
    factor, tau = system.damping_factor, system.tau
    velocities = tuple(sn.velocity(b) for b in biases)
    charge = factor * _in_terms_of(law.charge / factor, velocities, P.diff(T))
    lhs = sp.expand(sp.diff(charge, T) / factor) - law.rate / factor
    initial = {P.subs(T, 0): P0, P.diff(T).subs(T, 0): V0}
    solution = sp.dsolve(lhs, P, ics=initial)
    assert is_zero(solution.rhs - (P0 + tau * V0 * (1 - sp.exp(-T / tau)))), solution
    return sp.Eq(P, P0 + TAU * V0 * (1 - sp.exp(-T / TAU)))


def _weight_decay_flow(model: models.Model, biases: tuple) -> sp.Eq:
    """Gradient flow with weight decay: Q = 𝟙·b, dQ/dt = −λ 𝟙·b ⇒ 𝟙·b(t) = 𝟙·b(0) e^{−λt}."""
    system = model.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(LAM)])
    law = sn.noether(system, model.generators["translation"])
    assert law.is_symmetry and law.broken_by == ("weight decay",)
    charge = _in_terms_of(law.charge, biases, P)
    rate = _in_terms_of(law.rate, biases, P)
    assert charge == P and is_zero(rate + LAM * P)
    solution = sp.dsolve(sp.Eq(sp.diff(charge, T), rate), P, ics={P.subs(T, 0): P0})
    assert is_zero(solution.rhs - P0 * sp.exp(-LAM * T)), solution
    return solution


def _check_gradient_descent(model: models.Model) -> None:
    """Under plain gradient descent too: every translation charge is conserved."""
    system = model.system(sn.rules.gradient_descent(ETA))
    for generator in model.generators.values():
        law = sn.noether(system, generator)
        assert law.conserved and law.kinetic_breaking == 0


def _discrete_damping() -> sp.Expr:
    """Heavy ball damps 𝟙·Δb by β per step; the Lagrangian by e^{−η/τ} = e^{−2(1−β)/(1+β)}.
    They agree up to O((1 − β)³): the leading term of the difference is (β − 1)³/12."""
    eta_over_tau = ETA / sn.rules.momentum(ETA, BETA).tau
    difference = sp.log(BETA) + sp.simplify(eta_over_tau)
    leading = sp.series(difference, BETA, 1, 4).removeO()
    assert sp.simplify(leading - (BETA - 1) ** 3 / 12) == 0
    return difference


# -- the real optimizer (numpy) -------------------------------------------------


def _gradient(model: models.Model):
    """∇V(W, b; x) as a numpy function of (coordinates, x)."""
    coords = sp.Matrix(list(model.coords[0]) + list(model.coords[1:]))
    grad = [sp.diff(model.loss, q) for q in coords]
    return sp.lambdify([list(coords), list(model.data)], grad, "numpy")


def _sums(theta: np.ndarray) -> np.ndarray:
    """(𝟙·W[:, j] for each input j, 𝟙·b)."""
    W = theta[: CLASSES * INPUTS].reshape(CLASSES, INPUTS)
    b = theta[CLASSES * INPUTS :]
    return np.append(W.sum(axis=0), b.sum())


def _check_discrete_gd(model: models.Model, steps: int = 300) -> None:
    """Stochastic GD (a fresh input every step) keeps 𝟙·b and each 𝟙·W[:, j] exactly."""
    grad = _gradient(model)
    rng = np.random.default_rng(1)
    initial = rng.normal(size=CLASSES * INPUTS + CLASSES)
    theta = initial
    for _ in range(steps):
        theta = theta - 0.5 * np.array(grad(theta, rng.normal(size=INPUTS)))
    assert np.allclose(_sums(theta), _sums(initial), rtol=0, atol=1e-12)
    assert np.abs(theta - initial).max() > 0.1  # the parameters themselves did move


def _check_discrete_momentum(model: models.Model, steps: int = 60) -> None:
    """Heavy ball: 𝟙·(θ_{k+1} − θ_k) = β^k 𝟙·(θ_1 − θ_0) exactly, per translation."""
    grad = _gradient(model)
    rng = np.random.default_rng(2)
    eta, beta = 0.1, 0.9
    previous = rng.normal(size=CLASSES * INPUTS + CLASSES)
    theta = previous + rng.normal(size=previous.size)  # a start with momentum in 𝟙
    first = _sums(theta) - _sums(previous)
    for k in range(1, steps + 1):
        step = -eta * np.array(grad(theta, rng.normal(size=INPUTS))) + beta * (theta - previous)
        previous, theta = theta, theta + step
        assert np.allclose(_sums(theta) - _sums(previous), beta**k * first, rtol=0, atol=1e-12)


if __name__ == "__main__":
    print(derivation())
