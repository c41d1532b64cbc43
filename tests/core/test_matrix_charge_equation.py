"""Tests of symnoether.core.matrix_charge_equation: the balancedness matrix equation.

By hand: for ψ = (SW₁, −W₂S), S symmetric, Q = e^{t/τ} m (tr(Ẇ₁ᵀSW₁) − tr(Ẇ₂ᵀW₂S))
= e^{t/τ}(m/2) tr(SḊ) with D = W₁W₁ᵀ − W₂ᵀW₂; the kinetic breaking m tr(S(Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂))
and weight decay's −λ tr(SD) hold for every symmetric S, so
(m/2)D̈ + (m/2τ)Ḋ + λD = m(Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂) (heavy ball: m = η(1+β)/2, m/τ = 1 − β), and
under gradient flow ½Ḋ + λD = 0, D = e^{−2λt}D₀ (Kunin et al. 2021, Sec. 5). The numerical
check integrates the matrix equations of motion written here in numpy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import solve_ivp

import symnoether as sn

t = sn.TIME
eta, beta, lam = sp.symbols("eta beta lambda", positive=True)

MW1, MW2 = sn.layers(W1=(3, 2), W2=(1, 3))
MX, MY = sn.layers(x=(2, 1), y=(1, 1), data=True)
MA = sp.MatrixSymbol("A", 3, 3)
MS = (MA + MA.T) / 2


def _matrix_system(rule, regularizers=()):
    e = MY - MW2 * MW1 * MX
    return sn.LearningSystem(
        (MW1, MW2), e.T * e / 2, rule=rule, data=(MX, MY), regularizers=list(regularizers)
    )


def _symbols(found):
    return {symbol.name: symbol for symbol in found.symbols}


def test_matrix_balancedness_under_momentum_and_weight_decay():
    system = _matrix_system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(system, (MS * MW1, -MW2 * MS))
    assert isinstance(found, sn.MatrixChargeEquation)
    assert found.quantity == MW1 * MW1.T - MW2.T * MW2
    d = _symbols(found)
    V1, V2 = system.velocities
    lhs = eta * (1 + beta) / 4 * d["D''"] + (1 - beta) / 2 * d["D'"] + lam * d["D"]
    Z = sp.MatrixSymbol("Z", 3, 3)
    difference = sp.Trace(Z * (found.equation.lhs - lhs))
    assert sp.simplify(sp.expand(difference.doit())) == 0
    source = eta * (1 + beta) / 2 * (V1 * V1.T - V2.T * V2)
    assert sp.simplify(sp.Trace(Z * (found.source - source)).doit()) == 0
    assert found.solution is None and "velocities" in found.reason
    expected = (
        "eta*(beta + 1)*D''/4 + (1 - beta)*D'/2 + lambda*D = "
        "(eta*(beta + 1)/2)*(Wdot1*Wdot1.T - Wdot2.T*Wdot2)"
    )
    assert found.text_equation == expected and expected in str(found)
    latex = found._repr_latex_()
    assert r"\frac{\eta \left(\beta + 1\right)}{4} \ddot{D} + \frac{1 - \beta}{2} \dot{D}" in latex


def test_matrix_balancedness_under_gradient_flow_with_weight_decay():
    system = _matrix_system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(sn.noether(system, (MS * MW1, -MW2 * MS)))
    d = _symbols(found)
    assert found.equation.lhs == d["D'"] / 2 + lam * d["D"]
    assert found.solution.rhs == sp.exp(-2 * lam * t) * sp.MatrixSymbol("D_0", 3, 3)
    assert "D(t) = exp(-2*lambda*t)*D_0" in str(found)


def test_matrix_balancedness_of_a_three_layer_interface():
    """ψ = (SW₁, −W₂S, 0) on W₃W₂W₁x: D = W₁W₁ᵀ − W₂ᵀW₂, conserved by gradient flow."""
    W1, W2, W3 = sn.layers(W1=(3, 2), W2=(3, 3), W3=(1, 3))
    e = MY - W3 * W2 * W1 * MX
    flow = sn.LearningSystem(
        (W1, W2, W3), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(MX, MY)
    )
    found = sn.charge_equation(flow, (MS * W1, -W2 * MS, 0))
    assert found.quantity == W1 * W1.T - W2.T * W2
    assert found.solution.rhs == sp.MatrixSymbol("D_0", 3, 3)


def test_matrix_refusals():
    gd = _matrix_system(sn.rules.gradient_descent(eta))
    J = (MA - MA.T) / 2
    with pytest.raises(sn.InvalidGeneratorError, match=r"not symmetric.*\(A \+ A.T\)/2"):
        sn.charge_equation(gd, (J * MW1, -MW2 * J))
    with pytest.raises(sn.NotSupportedError, match="leave the loss invariant"):
        sn.charge_equation(gd, (MS * MW1, 0))
    with pytest.raises(sn.NotSupportedError, match=r"entry for W2, .* is not S\*W2"):
        sn.charge_equation(gd, (MS * MW1, MW2 * MW2.T * MW2))
    partial = _matrix_system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam, on=[MW1])])
    with pytest.raises(sn.NotSupportedError, match="not a multiple of tr\\(SD\\)"):
        sn.charge_equation(partial, (MS * MW1, -MW2 * MS))
    law = sn.noether(gd, (MS * MW1, -MW2 * MS))
    with pytest.raises(sn.InvalidInputError, match="'W1' is a matrix of the system"):
        sn.charge_equation(law, name="W1")
    # the generator's own matrix cannot name the balancedness either
    (parameter,) = {M for M in MS.atoms(sp.MatrixSymbol)}
    with pytest.raises(sn.InvalidInputError, match="of the system or its generator"):
        sn.charge_equation(law, name=parameter.name)
    with pytest.raises(sn.VerificationError, match="kinetic breaking"):
        sn.charge_equation(dataclasses.replace(law, kinetic_breaking=sp.S.Zero))


def test_matrix_equation_along_an_integrated_trajectory():
    """m Ẅ + (m/τ)Ẇ + ∇V = 0 integrated by hand (numpy), W₁ 3×2, W₂ 1×3: the returned
    matrix equation holds entrywise with D, D', D'' by central differences."""
    decay, eta_, beta_ = 0.2, 0.1, 0.5
    mass, tau = eta_ * (1 + beta_) / 2, eta_ * (1 + beta_) / (2 * (1 - beta_))
    found = sn.charge_equation(
        _matrix_system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)]),
        (MS * MW1, -MW2 * MS),
    )
    xv, yv = np.array([[0.8], [-0.4]]), np.array([[0.3]])

    def unpack(state):
        return (state[:6].reshape(3, 2), state[6:9].reshape(1, 3),
                state[9:15].reshape(3, 2), state[15:].reshape(1, 3))  # fmt: skip

    def rhs(_, state):
        W1, W2, V1, V2 = unpack(state)
        e = yv - W2 @ W1 @ xv
        G1, G2 = -W2.T @ e @ xv.T + decay * W1, -e @ (W1 @ xv).T + decay * W2
        A1, A2 = -V1 / tau - G1 / mass, -V2 / tau - G2 / mass
        return np.concatenate([V1.ravel(), V2.ravel(), A1.ravel(), A2.ravel()])

    start = np.random.default_rng(6).normal(size=18)
    run = solve_ivp(rhs, (0, 2), start, method="DOP853", rtol=1e-12, atol=1e-12,
                    dense_output=True)  # fmt: skip

    def balancedness(s):
        W1, W2, _, _ = unpack(run.sol(s))
        return W1 @ W1.T - W2.T @ W2

    values = {eta: eta_, beta: beta_, lam: decay}
    d = _symbols(found)
    step = 1e-4
    worst = 0.0
    for s in np.linspace(0.2, 1.8, 9):
        D0_, Dp, Dm = balancedness(s), balancedness(s + step), balancedness(s - step)
        first, second = (Dp - Dm) / (2 * step), (Dp - 2 * D0_ + Dm) / step**2
        numeric = {d["D''"]: sp.Matrix(second), d["D'"]: sp.Matrix(first), d["D"]: sp.Matrix(D0_)}
        _, _, V1, V2 = unpack(run.sol(s))
        velocities = dict(zip(found.law.system.velocities, (sp.Matrix(V1), sp.Matrix(V2)),
                              strict=True))  # fmt: skip
        left = np.array(found.equation.lhs.subs(values).xreplace(numeric).doit(), dtype=float)
        right = np.array(found.source.subs(values).xreplace(velocities).doit(), dtype=float)
        worst = max(worst, np.abs(left - right).max() / np.abs(right).max())
    assert worst < 1e-4
    # the same check fails without the weight-decay term
    wrong = found.equation.lhs.subs(values) - decay * d["D"]
    numeric = {d["D''"]: sp.Matrix(second), d["D'"]: sp.Matrix(first), d["D"]: sp.Matrix(D0_)}
    left = np.array(wrong.xreplace(numeric).doit(), dtype=float)
    assert np.abs(left - right).max() / np.abs(right).max() > 0.05
