"""gl(r) of a two-layer linear network: gradient flow conserves the balancedness W₁W₁ᵀ − W₂ᵀW₂.

The loss V = ½|y − W₂W₁x|² of a two-layer linear network (W₁ r×d, W₂ m×r)
is invariant under W₁ → GW₁, W₂ → W₂G⁻¹ for every invertible r×r G; the
generators ψ_A = (AW₁, −W₂A), A ∈ gl(r), span an r²-dimensional Lie algebra.

* Symmetric A: gradient flow has the first-order charge ½ tr(A C) with the
  balancedness matrix C = W₁W₁ᵀ − W₂ᵀW₂; the r(r+1)/2 charges assemble into C,
  which is therefore conserved. Under gradient descent with step η its
  kinetic breaking is (η/2) tr(A (Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂)), and the real optimizer moves
  C by exactly η²(G₁G₁ᵀ − G₂ᵀG₂) per step (G the gradients): O(η) over a fixed
  time.
* Antisymmetric A: Mψ_A is not a gradient field, so gradient flow has no
  first-order charge (``NoFirstOrderChargeError``); under gradient descent or
  heavy-ball momentum the kinetic breaking q̇ᵀM(Dψ_A)q̇ = m tr(Ẇ₁ᵀAẆ₁) − … vanishes
  by antisymmetry, and the second-order charge
  Q_A = e^{t/τ} m (tr(Ẇ₁ᵀAW₁) − tr(Ẇ₂ᵀW₂A)) is exactly conserved.

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/linear_network_gl.py``.

References
----------
H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
arXiv:2105.02716, Sec. 4 (GL(r) symmetry of linear networks; antisymmetric
generators conserved with kinetic energy). D. Kunin et al., "Neural
Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3. S. Arora, N. Cohen,
E. Hazan, "On the Optimization of Deep Networks: Implicit Acceleration by
Overparameterization", ICML 2018 (balancedness W₁W₁ᵀ − W₂ᵀW₂ under gradient flow).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core import is_zero

ETA, BETA = sp.symbols("eta beta", positive=True)
T = sn.TIME
D_IN, R, M_OUT = 3, 2, 2
ANTISYMMETRIC = sp.Matrix([[0, 1], [-1, 0]])
# Matrix-level names, for display of the laws in the notation of the papers.
A_, C_ = sp.MatrixSymbol("A", R, R), sp.MatrixSymbol("C", R, R)
W1_, W2_ = sp.MatrixSymbol("W_1", R, D_IN), sp.MatrixSymbol("W_2", M_OUT, R)
V1_, V2_ = sp.MatrixSymbol("Wdot_1", R, D_IN), sp.MatrixSymbol("Wdot_2", M_OUT, R)


def derivation() -> sn.Derivation:
    """Derive the gl(r) laws and the balancedness matrix; check discrete GD."""
    model = models.linear_network(D_IN, R, M_OUT)
    W1, W2 = model.coords
    flow = model.system(sn.rules.gradient_flow())
    symmetric = _symmetric_generators(W1, W2)
    deriv = sn.derive(flow, symmetric, title=__doc__.splitlines()[0])
    assert all(law.conserved and law.is_symmetry for law in deriv.laws)

    balancedness = _assemble_balancedness(deriv, W1, W2)
    generic = _generic_symmetric_charge(flow, W1, W2, balancedness)
    kinetic = _finite_step_breaking(model, W1, W2)
    finite_step, conserved = _charge_equations(model, W1, W2)
    antisymmetric = _antisymmetric_laws(model, W1, W2)
    per_step = _check_discrete_gd()
    return (
        deriv.with_result("balancedness C, conserved by gradient flow", balancedness)
        .with_result("balancedness, matrix form", sp.Eq(C_, W1_ * W1_.T - W2_.T * W2_))
        .with_result("charge of a generic symmetric A", generic)
        .with_result("GD: kinetic breaking of symmetric A (÷ e^{t/τ})", kinetic)
        .with_result("GD: equation of D = tr(AC)", finite_step)
        .with_result("gradient flow: equation of D = tr(AC), solved", conserved)
        .with_result("GD, heavy ball: antisymmetric A, conserved charge", antisymmetric)
        .with_result("discrete GD: C_{k+1} − C_k", per_step)
    )


def _elementary(i: int, j: int) -> sp.Matrix:
    A = sp.zeros(R, R)
    A[i, j] = 1
    return A


def _symmetric_generators(W1: sp.Matrix, W2: sp.Matrix) -> dict:
    """ψ_A = (AW₁, −W₂A) for the symmetric basis E_ii and E_ij + E_ji."""
    generators = {}
    for i in range(R):
        for j in range(i, R):
            A = _elementary(i, j) + _elementary(j, i) if i != j else _elementary(i, i)
            generators[f"sym_{i + 1}{j + 1}"] = (A * W1, -W2 * A)
    return generators


def _hand_balancedness(W1: sp.Matrix, W2: sp.Matrix) -> sp.Matrix:
    return sp.Matrix(W1 * W1.T - W2.T * W2)


def _assemble_balancedness(deriv: sn.Derivation, W1: sp.Matrix, W2: sp.Matrix) -> sp.Matrix:
    """C_ii = 2 Q(E_ii), C_ij = Q(E_ij + E_ji): the charges are ½ tr(A C)."""
    C = sp.zeros(R, R)
    for i in range(R):
        C[i, i] = 2 * deriv.law(f"sym_{i + 1}{i + 1}").charge
        for j in range(i + 1, R):
            C[i, j] = C[j, i] = deriv.law(f"sym_{i + 1}{j + 1}").charge
    hand = _hand_balancedness(W1, W2)
    assert all(is_zero(a - b) for a, b in zip(C, hand, strict=True)), "C = W₁W₁ᵀ − W₂ᵀW₂"
    return sp.ImmutableMatrix(hand)


def _generic_symmetric_charge(
    flow: sn.LearningSystem, W1: sp.Matrix, W2: sp.Matrix, balancedness: sp.Matrix
) -> sp.Eq:
    """One parametrized generator for all of sym(r): A = [[a, c], [c, d]] ⇒ Q = ½ tr(A C)."""
    a, c, d = sp.symbols("a c d", real=True)
    A = sp.Matrix([[a, c], [c, d]])
    law = sn.noether(flow, (A * W1, -W2 * A))
    assert law.conserved
    assert is_zero(law.charge - (A * balancedness).trace() / 2)
    return sp.Eq(sp.Symbol("Q_A"), sp.Trace(A_ * C_) / 2)


def _velocity_matrices(system: sn.LearningSystem, W1: sp.Matrix, W2: sp.Matrix) -> tuple:
    speeds = dict(zip(system.coords, system.velocities, strict=True))
    return W1.xreplace(speeds), W2.xreplace(speeds)


def _finite_step_breaking(model: models.Model, W1: sp.Matrix, W2: sp.Matrix) -> sp.Eq:
    """GD: the symmetric charges are broken by the kinetic term (η/2) tr(A(Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂))."""
    system = model.system(sn.rules.gradient_descent(ETA))
    a, c, d = sp.symbols("a c d", real=True)
    A = sp.Matrix([[a, c], [c, d]])
    law = sn.noether(system, (A * W1, -W2 * A))
    assert law.broken_by == ("kinetic term",)
    V1, V2 = _velocity_matrices(system, W1, W2)
    velocity_balancedness = V1 * V1.T - V2.T * V2
    hand = ETA / 2 * (A * velocity_balancedness).trace()
    assert is_zero(law.kinetic_breaking / system.damping_factor - hand)
    return sp.Eq(
        sp.Symbol("kinetic_breaking"), ETA * sp.Trace(A_ * (V1_ * V1_.T - V2_.T * V2_)) / 2
    )


def _charge_equations(model: models.Model, W1: sp.Matrix, W2: sp.Matrix) -> tuple:
    """``sn.charge_equation`` for symmetric A = [[a, c], [c, d]], asserted against the hand
    forms. ψ_A = (AW₁, −W₂A) is linear with qᵀψ_A = tr(W₁ᵀAW₁) − tr(W₂ᵀW₂A) = tr(AC) = D.
    GD (m = τ = η/2): Q = e^{t/τ}(η/2)⟨q̇, ψ_A⟩ = e^{t/τ}(η/4)D', so
    (η/4)D'' + ½D' = (η/2) tr(A(Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂)); gradient flow: ½D' = 0, D = D₀."""
    a, c, d = sp.symbols("a c d", real=True)
    A = sp.Matrix([[a, c], [c, d]])
    D = sp.Function("D")(T)
    quadratic = (A * _hand_balancedness(W1, W2)).trace()
    system = model.system(sn.rules.gradient_descent(ETA))
    found = sn.charge_equation(system, (A * W1, -W2 * A))
    V1, V2 = _velocity_matrices(system, W1, W2)
    assert is_zero(found.quantity - quadratic)
    assert sp.simplify(found.equation.lhs - (ETA * D.diff(T, 2) / 4 + D.diff(T) / 2)) == 0
    assert is_zero(found.equation.rhs - ETA / 2 * (A * (V1 * V1.T - V2.T * V2)).trace())
    flow = sn.charge_equation(model.system(sn.rules.gradient_flow()), (A * W1, -W2 * A))
    assert is_zero(flow.quantity - quadratic)
    assert flow.equation == sp.Eq(D.diff(T) / 2, 0)
    assert flow.solution == sp.Eq(D, sp.Symbol("D_0", real=True))
    source = ETA * sp.Trace(A_ * (V1_ * V1_.T - V2_.T * V2_)) / 2
    return sp.Eq(found.equation.lhs, source), flow.solution


def _antisymmetric_laws(model: models.Model, W1: sp.Matrix, W2: sp.Matrix) -> sp.Eq:
    """Antisymmetric A: no first-order charge; exactly conserved under GD and heavy ball."""
    A = ANTISYMMETRIC
    generator = (A * W1, -W2 * A)
    try:
        sn.noether(model.system(sn.rules.gradient_flow()), generator)
    except sn.NoFirstOrderChargeError:
        pass
    else:
        raise AssertionError("gradient flow must have no first-order charge for antisymmetric A")
    for rule in (sn.rules.gradient_descent(ETA), sn.rules.momentum(ETA, BETA)):
        system = model.system(rule)
        law = sn.noether(system, generator)
        assert law.is_symmetry and law.kinetic_breaking == 0 and law.conserved
        V1, V2 = _velocity_matrices(system, W1, W2)
        hand = rule.mass_scale * ((V1.T * A * W1).trace() - (V2.T * W2 * A).trace())
        assert is_zero(law.charge / system.damping_factor - hand)
        try:  # the charge is an angular momentum, not a function of a quadratic
            sn.charge_equation(law)
        except sn.InvalidGeneratorError:
            pass
        else:
            raise AssertionError("antisymmetric A has no quadratic charge equation")
    mass, tau = sp.symbols("m tau", positive=True)
    matrix_form = sp.Trace(V1_.T * A_ * W1_) - sp.Trace(V2_.T * W2_ * A_)
    return sp.Eq(sp.Symbol("Q_A"), sp.exp(T / tau) * mass * matrix_form)


# -- the real optimizer (numpy) -------------------------------------------------


def _gradients(W1, W2, X, Y):
    """∇V of V = ½ Σ_n |y_n − W₂W₁x_n|² (columns of X, Y are samples), by hand."""
    error = Y - W2 @ W1 @ X
    return -W2.T @ error @ X.T, -error @ (W1 @ X).T


def _run(eta: float, time: float, W1, W2, X, Y) -> tuple:
    """Discrete GD up to ``time``; asserts the exact per-step identity on the way."""
    for _ in range(round(time / eta)):
        G1, G2 = _gradients(W1, W2, X, Y)
        before = W1 @ W1.T - W2.T @ W2
        W1, W2 = W1 - eta * G1, W2 - eta * G2
        after = W1 @ W1.T - W2.T @ W2
        predicted = before + eta**2 * (G1 @ G1.T - G2.T @ G2)
        assert np.allclose(after, predicted, rtol=1e-12, atol=1e-12)
    return W1, W2


def _check_discrete_gd() -> sp.Eq:
    """C_{k+1} − C_k = η²(G₁G₁ᵀ − G₂ᵀG₂) exactly; over a fixed time the drift of C is O(η):
    halving η halves it."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(D_IN, 8))
    Y = rng.normal(size=(M_OUT, D_IN)) @ X
    W1, W2 = 0.5 * rng.normal(size=(R, D_IN)), 0.5 * rng.normal(size=(M_OUT, R))
    start = W1 @ W1.T - W2.T @ W2
    drift = []
    for eta in (0.01, 0.005):
        end1, end2 = _run(eta, 2.0, W1, W2, X, Y)
        drift.append(np.abs(end1 @ end1.T - end2.T @ end2 - start).max())
    assert 1.8 < drift[0] / drift[1] < 2.2, drift
    G1, G2 = sp.MatrixSymbol("G_1", R, D_IN), sp.MatrixSymbol("G_2", M_OUT, R)
    step = sp.MatrixSymbol("C_{k+1}", R, R) - sp.MatrixSymbol("C_k", R, R)
    return sp.Eq(step, sp.Symbol("eta", positive=True) ** 2 * (G1 * G1.T - G2.T * G2))


if __name__ == "__main__":
    print(derivation())
