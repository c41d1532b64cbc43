"""Tests of symnoether.core.charge_equation: the closed ODE of a quadratic charge.

Every expected equation is derived by hand here. For ψ = Aq, A symmetric, M = m·I:
Q = e^{t/τ} m q̇ᵀAq = e^{t/τ}(m/2)Ḋ with D = qᵀAq; dQ/dt = e^{t/τ}[(m/2)D̈ + (m/2τ)Ḋ];
the kinetic breaking is e^{t/τ} m q̇ᵀAq̇ and weight decay adds −e^{t/τ}λqᵀAq = −e^{t/τ}λD.
So (m/2)D̈ + (m/2τ)Ḋ + λD = m q̇ᵀAq̇ (Kunin et al. 2021, Sec. 5):
* GD (m = τ = η/2):             (η/4)D̈ + ½Ḋ + λD = (η/2) q̇ᵀAq̇,
* heavy ball (m = η(1+β)/2, m/τ = 1 − β): (η(1+β)/4)D̈ + ((1−β)/2)Ḋ + λD = (η(1+β)/2) q̇ᵀAq̇,
* gradient flow (Q = ½D, dQ/dt = −ψ·∇V): ½Ḋ + λD = 0, so D = D₀e^{−2λt}.
The numerical checks integrate the equations of motion written by hand here (numpy
gradients, scipy ``solve_ivp``) and test the returned equation on the trajectory with
finite differences.
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
D = sp.Function("D")(t)
D0, D1 = sp.symbols("D_0 D_1", real=True)
u1, u2, u3 = sn.coordinates("u1 u2 u3")
ud1, ud2, ud3 = sn.velocities((u1, u2, u3))
x, y = sn.data("x y")
LOSS = (y - u3 * u1 * x) ** 2 / 2 + (u2 - 1) ** 2 / 2  # u₁u₃ is rescale invariant
RESCALE = (u1, 0, -u3)


def _system(rule, regularizers=()):
    return sn.LearningSystem(
        (u1, u2, u3), LOSS, rule=rule, data=(x, y), regularizers=list(regularizers)
    )


def _same(a, b) -> bool:
    return sp.simplify(sp.expand(a - b)) == 0


def _same_eq(found: sp.Eq, lhs, rhs) -> bool:
    return _same(found.lhs, lhs) and _same(found.rhs, rhs)


# -- the forms of the papers, by hand ----------------------------------------------------


def test_gd_on_u1_u3_is_the_issue_example():
    found = sn.charge_equation(sn.noether(_system(sn.rules.gradient_descent(eta)), RESCALE))
    assert found.quantity == u1**2 - u3**2
    assert found.matrix == sp.diag(1, 0, -1)
    assert _same_eq(
        found.equation, eta * D.diff(t, 2) / 4 + D.diff(t) / 2, eta * (ud1**2 - ud3**2) / 2
    )
    assert _same(found.charge, sp.exp(2 * t / eta) * eta / 4 * D.diff(t))
    assert _same(found.source, eta * (ud1**2 - ud3**2) / 2)
    assert found.solution is None and not found.closed
    assert "velocity udot1" in found.reason


def test_gd_with_weight_decay_adds_lambda_d():
    system = _system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(system, RESCALE)
    lhs = eta * D.diff(t, 2) / 4 + D.diff(t) / 2 + lam * D
    assert _same_eq(found.equation, lhs, eta * (ud1**2 - ud3**2) / 2)


def test_momentum_with_weight_decay():
    system = _system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(system, RESCALE)
    lhs = eta * (1 + beta) / 4 * D.diff(t, 2) + (1 - beta) / 2 * D.diff(t) + lam * D
    assert _same_eq(found.equation, lhs, eta * (1 + beta) / 2 * (ud1**2 - ud3**2))
    # the damped-oscillator form D'' + 2γD' + ω²D = 2(u̇₁² − u̇₃²) of Neural Mechanics
    scaled = sp.expand(4 / (eta * (1 + beta)) * (found.equation.lhs - found.equation.rhs))
    gamma, omega2 = (1 - beta) / (eta * (1 + beta)), 4 * lam / (eta * (1 + beta))
    assert _same(scaled, D.diff(t, 2) + 2 * gamma * D.diff(t) + omega2 * D - 2 * (ud1**2 - ud3**2))


def test_gradient_flow_conserves_d():
    found = sn.charge_equation(_system(sn.rules.gradient_flow()), RESCALE)
    assert _same_eq(found.equation, D.diff(t) / 2, 0)
    assert found.charge == D / 2
    assert found.closed and found.solution == sp.Eq(D, D0)


def test_gradient_flow_with_weight_decay_decays_at_two_lambda():
    system = _system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(system, RESCALE)
    assert _same_eq(found.equation, D.diff(t) / 2 + lam * D, 0)
    assert found.solution.lhs == D
    assert _same(found.solution.rhs, D0 * sp.exp(-2 * lam * t))
    assert found.reason == ""


def test_weight_decay_on_part_of_the_coordinates_stays_in_the_source():
    """Decay on u₁ only: −ψ·∇(λ/2)u₁² = −λu₁², not a multiple of D: a coordinate source."""
    system = _system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam, on=[u1])])
    found = sn.charge_equation(system, RESCALE)
    lhs = eta * D.diff(t, 2) / 4 + D.diff(t) / 2
    assert _same_eq(found.equation, lhs, eta * (ud1**2 - ud3**2) / 2 - lam * u1**2)
    flow = sn.charge_equation(
        _system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam, on=[u1])]), RESCALE
    )
    assert _same_eq(flow.equation, D.diff(t) / 2, -lam * u1**2)
    assert flow.solution is None and "coordinate u1" in flow.reason


def test_scale_symmetry_of_a_normalized_unit():
    """ψ = w on V(w/|w|): D = |w|², (η/4)D'' + ½D' = (η/2)|ẇ|² (|w|² grows: RMSProp analogy)."""
    w1, w2 = sn.coordinates("w1 w2")
    v1, v2 = sn.velocities((w1, w2))
    loss = (1 - (w1 + 2 * w2) / sp.sqrt(w1**2 + w2**2)) ** 2
    system = sn.LearningSystem((w1, w2), loss, rule=sn.rules.gradient_descent(eta))
    found = sn.charge_equation(system, (w1, w2))
    assert found.quantity == w1**2 + w2**2
    lhs = eta * D.diff(t, 2) / 4 + D.diff(t) / 2
    assert _same_eq(found.equation, lhs, eta * (v1**2 + v2**2) / 2)


def test_symmetric_gl_generator_of_a_linear_network():
    """ψ_A = (AW₁, −W₂A), A = [[a, c], [c, d]]: D = tr(A(W₁W₁ᵀ − W₂ᵀW₂)); GD's source is
    (η/2) tr(A(Ẇ₁Ẇ₁ᵀ − Ẇ₂ᵀẆ₂)); gradient flow conserves it."""
    model = sn.models.linear_network(2, 2, 1)
    W1, W2 = model.coords
    a, c, d = sp.symbols("a c d", real=True)
    A = sp.Matrix([[a, c], [c, d]])
    gd = model.system(sn.rules.gradient_descent(eta))
    found = sn.charge_equation(gd, (A * W1, -W2 * A))
    speeds = dict(zip(gd.coords, gd.velocities, strict=True))
    V1, V2 = W1.xreplace(speeds), W2.xreplace(speeds)
    assert _same(found.quantity, (A * (W1 * W1.T - W2.T * W2)).trace())
    source = eta / 2 * (A * (V1 * V1.T - V2.T * V2)).trace()
    assert _same_eq(found.equation, eta * D.diff(t, 2) / 4 + D.diff(t) / 2, source)
    flow = sn.charge_equation(model.system(sn.rules.gradient_flow()), (A * W1, -W2 * A))
    assert flow.solution == sp.Eq(D, D0)


def test_constant_preconditioner_weights_the_quadratic():
    """M = (η/2)G, G = diag(1, 4), ψ = (w₁, −w₂): GA = diag(1, −4) is symmetric, so
    D = w₁² − 4w₂², Q = e^{t/τ}(η/4)Ḋ and the source is (η/2)(ẇ₁² − 4ẇ₂²)."""
    w1, w2 = sn.coordinates("w1 w2")
    v1, v2 = sn.velocities((w1, w2))
    rule = sn.rules.preconditioned(eta, sp.diag(1, 4))
    system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=rule)
    found = sn.charge_equation(system, (w1, -w2))
    assert found.quantity == w1**2 - 4 * w2**2
    lhs = eta * D.diff(t, 2) / 4 + D.diff(t) / 2
    assert _same_eq(found.equation, lhs, eta * (v1**2 - 4 * v2**2) / 2)
    flow = sn.LearningSystem(
        (w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow(sp.diag(1, 4))
    )
    assert _same_eq(sn.charge_equation(flow, (w1, -w2)).equation, D.diff(t) / 2, 0)


def test_hand_written_kinetic_gives_the_virial_identity():
    """Kepler, T = ½|q̇|², ψ = q (not a symmetry): D = |q|², ½D̈ = |q̇|² − q·∇V = |q̇|² − 1/|q|."""
    q1, q2 = sn.coordinates("q1 q2")
    v1, v2 = sn.velocities((q1, q2))
    r = sp.sqrt(q1**2 + q2**2)
    kepler = sn.LearningSystem((q1, q2), -1 / r, kinetic=(v1**2 + v2**2) / 2)
    found = sn.charge_equation(kepler, (q1, q2), name="I")
    moment = sp.Function("I")(t)
    assert _same_eq(found.equation, moment.diff(t, 2) / 2, v1**2 + v2**2 - 1 / r)
    assert found.solution is None and "coordinate" in found.reason


def test_damped_hand_kinetic_uses_its_mass_and_tau():
    """T = (m/2)|q̇|², τ: (m/2)D̈ + (m/2τ)Ḋ = m|q̇|² − ψ·∇V; V = (q₁q₂)² is rescale invariant."""
    q1, q2 = sn.coordinates("q1 q2")
    v1, v2 = sn.velocities((q1, q2))
    m, tau = sp.symbols("m tau", positive=True)
    system = sn.LearningSystem((q1, q2), (q1 * q2) ** 2, kinetic=m * (v1**2 + v2**2) / 2, tau=tau)
    found = sn.charge_equation(system, (q1, -q2))
    lhs = m / 2 * D.diff(t, 2) + m / (2 * tau) * D.diff(t)
    assert _same_eq(found.equation, lhs, m * (v1**2 - v2**2))


# -- display ------------------------------------------------------------------------------


def test_plain_text_and_latex():
    system = _system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    found = sn.charge_equation(system, RESCALE)
    text = str(found)
    assert "D = u1**2 - u3**2" in text
    expected = (
        "eta*(beta + 1)*D''/4 + (1 - beta)*D'/2 + lambda*D = eta*(beta + 1)*(udot1**2 - udot3**2)/2"
    )
    assert found.text_equation == expected and expected in text
    assert "Q = exp(t/tau)*(eta*(beta + 1)*D'/4)" in text
    assert "none: the source depends on the velocity" in text
    latex = found._repr_latex_()
    assert r"\frac{\eta \left(\beta + 1\right)}{4} \ddot{D} + \frac{1 - \beta}{2} \dot{D}" in latex
    assert r"+ \lambda D &= \frac{\eta \left(\beta + 1\right) \left(\dot{u}_{1}^{2}" in latex
    assert r"e^{t/\tau}" in latex


def test_latex_of_a_solution():
    system = _system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    latex = sn.charge_equation(system, RESCALE)._repr_latex_()
    assert r"\frac{1}{2} \dot{D} + \lambda D &= 0" in latex
    assert r"D(t) &= D_{0} e^{- 2 \lambda t}" in latex
    assert "D(t) = D_0*exp(-2*lambda*t)" in str(sn.charge_equation(system, RESCALE))


# -- refusals -----------------------------------------------------------------------------


def test_translation_is_refused():
    b1, b2 = sn.coordinates("b1 b2")
    system = sn.LearningSystem(
        (b1, b2),
        sp.log(sp.exp(b1) + sp.exp(b2)) - b1,
        rule=sn.rules.gradient_descent(eta),
    )
    with pytest.raises(sn.InvalidGeneratorError, match=r"constant part b = \(1, 1\).*linear"):
        sn.charge_equation(system, (1, 1))


def test_rotation_is_refused():
    """Antisymmetric A (GD, the rotation of a radial loss): the charge is an angular momentum."""
    q1, q2 = sn.coordinates("q1 q2")
    system = sn.LearningSystem(
        (q1, q2), (q1**2 + q2**2 - 1) ** 2, rule=sn.rules.gradient_descent(eta)
    )
    assert sn.noether(system, (-q2, q1)).conserved
    with pytest.raises(sn.InvalidGeneratorError, match="not symmetric.*angular momentum"):
        sn.charge_equation(system, (-q2, q1))


def test_mixed_generator_is_refused_but_its_symmetric_part_is_not():
    q1, q2 = sn.coordinates("q1 q2")
    system = sn.LearningSystem(
        (q1, q2), (q1**2 + q2**2 - 1) ** 2, rule=sn.rules.gradient_descent(eta)
    )
    with pytest.raises(sn.InvalidGeneratorError, match=r"\(A \+ Aᵀ\)/2"):
        sn.charge_equation(system, (q1 - q2, q1))
    assert sn.charge_equation(system, (q1, q2)).quantity == q1**2 + q2**2


def test_nonlinear_generator_is_refused():
    q1, q2 = sn.coordinates("q1 q2")
    system = sn.LearningSystem((q1, q2), q1**2 * q2**2, rule=sn.rules.gradient_descent(eta))
    with pytest.raises(sn.InvalidGeneratorError, match=r"not linear.*q1\*\*2"):
        sn.charge_equation(system, (q1**2, -2 * q1 * q2))


def test_non_constant_preconditioner_is_refused():
    w1, w2 = sn.coordinates("w1 w2")
    rule = sn.rules.preconditioned(eta, sp.diag(1 + w1**2, 1))
    system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=rule)
    with pytest.raises(sn.NotSupportedError, match="mass matrix depends on the coordinate w1"):
        sn.charge_equation(system, (w1, -w2))


def _balance(batch: int, decay, xs, ys):
    """By hand (law of balance, Ziyin et al. 2023): ℓᵢ = ½(yᵢ − uwxᵢ)², aᵢ = (yᵢ − uwxᵢ)xᵢ;
    E[dQ]/dt = −(η(ā² + Var(a)/B) + 2λ + ηλ²)Q for Q = ½D, D = u² − w², so
    ½D' + λD = −(η(ā² + Var(a)/B) + ηλ²)·D/2."""
    a = [(yi - u1 * u3 * xi) * xi for xi, yi in zip(xs, ys, strict=True)]
    mean = sp.Add(*a) / len(a)
    variance = sp.Add(*[v**2 for v in a]) / len(a) - mean**2
    return -(eta * (mean**2 + variance / batch) + eta * decay**2) * (u1**2 - u3**2) / 2


@pytest.mark.parametrize(("batch", "decay"), [(1, lam), (2, lam), (1, 0)])
def test_sgd_gives_the_law_of_balance(batch, decay):
    xs, ys = [sp.Rational(1, 2), -1, 3], [2, 1, -1]
    regularizers = [sn.rules.weight_decay(lam)] if decay else []
    loss, rule = (y - u3 * u1 * x) ** 2 / 2, sn.rules.sgd(eta, batch)
    system = sn.LearningSystem((u1, u3), loss, rule=rule, data=(x, y), dataset={x: xs, y: ys},
                               regularizers=regularizers)  # fmt: skip
    found = sn.charge_equation(system, (u1, -u3))
    assert found.expected and found.quantity == u1**2 - u3**2
    assert _same_eq(found.equation, D.diff(t) / 2 + decay * D, _balance(batch, decay, xs, ys))
    assert found.solution is None and "coordinate" in found.reason
    assert "expected rate E[dD]/dt" in str(found)


def test_heavy_ball_sgd_halves_nothing_but_the_mass():
    """sgd_momentum: metric (1 − β)I, Q = ((1 − β)/2)D, and the Itô terms scale by
    c_f = η(1+β)/(2(1−β)³), c_n = η/(1−β)² (core.stochastic): at β = 0 it is plain SGD."""
    xs, ys = [1, -2], [1, 0]
    data = {x: xs, y: ys}
    loss = (y - u3 * u1 * x) ** 2 / 2
    plain = sn.LearningSystem((u1, u3), loss, rule=sn.rules.sgd(eta), data=(x, y), dataset=data)
    heavy = sn.LearningSystem((u1, u3), loss, rule=sn.rules.sgd_momentum(eta, beta), data=(x, y),
                              dataset=data)  # fmt: skip
    found = sn.charge_equation(heavy, (u1, -u3))
    assert _same(found.equation.lhs, (1 - beta) / 2 * D.diff(t))
    at_zero = sn.charge_equation(plain, (u1, -u3))
    assert _same(found.equation.rhs.subs(beta, 0), at_zero.equation.rhs)
    assert _same(at_zero.equation.rhs, _balance(1, 0, xs, ys))


def test_bad_arguments_are_refused():
    system = _system(sn.rules.gradient_descent(eta))
    law = sn.noether(system, RESCALE)
    with pytest.raises(sn.InvalidInputError, match="needs the generator"):
        sn.charge_equation(system)
    with pytest.raises(sn.InvalidInputError, match="already has its generator"):
        sn.charge_equation(law, RESCALE)
    with pytest.raises(sn.InvalidInputError, match="needs a NoetherLaw"):
        sn.charge_equation("u1**2")
    with pytest.raises(sn.InvalidInputError, match="'u1' is a symbol of the system"):
        sn.charge_equation(law, name="u1")
    with pytest.raises(sn.InvalidInputError, match="not a plain name"):
        sn.charge_equation(law, name="D(t)")


def test_a_law_that_does_not_hold_is_refused():
    """A tampered law (wrong kinetic breaking, or a loss breaking the EOM do not give) fails
    the verification instead of giving a wrong equation."""
    system = _system(sn.rules.gradient_descent(eta))
    law = sn.noether(system, RESCALE)
    with pytest.raises(sn.VerificationError, match="kinetic breaking"):
        sn.charge_equation(dataclasses.replace(law, kinetic_breaking=sp.S.Zero))
    wrong = dataclasses.replace(law, loss_breaking=system.damping_factor * u1)
    with pytest.raises(sn.VerificationError, match="along the equations of motion"):
        sn.charge_equation(wrong)
    flow = sn.noether(_system(sn.rules.gradient_flow()), RESCALE)
    with pytest.raises(sn.VerificationError, match="along the equations of motion"):
        sn.charge_equation(dataclasses.replace(flow, loss_breaking=u1 * u3))


# -- numerically, along trajectories integrated here ---------------------------------------

X, Y = 1.3, 0.7


def _gradient(q: np.ndarray, decay: float) -> np.ndarray:
    """∇V of ½(Y − u₃u₁X)² + ½(u₂ − 1)² + (decay/2)|q|², by hand."""
    r = Y - q[2] * q[0] * X
    return np.array([-r * q[2] * X, q[1] - 1.0, -r * q[0] * X]) + decay * q


def _second_order_run(mass: float, tau: float, decay: float, time: float = 3.0):
    """m q̈ + (m/τ) q̇ + ∇V = 0 from a fixed start, dense and tight."""

    def rhs(_, state):
        q, v = state[:3], state[3:]
        return np.concatenate([v, -(v / tau) - _gradient(q, decay) / mass])

    start = np.array([1.5, -0.2, 0.4, 0.3, 0.1, -0.6])
    return solve_ivp(
        rhs, (0, time), start, method="DOP853", rtol=1e-12, atol=1e-12, dense_output=True
    )


def _check_along(found, run, values: dict, times: np.ndarray, step: float = 1e-4) -> float:
    """max |lhs − rhs| / scale of the returned equation along ``run``, D and its derivatives
    from central differences of D(t) = u₁² − u₃² on the trajectory."""
    lhs = found.equation.lhs.subs(values)
    d2, d1, d0 = sp.symbols("d2 d1 d0")
    lhs = sp.lambdify((d2, d1, d0), lhs.subs({D.diff(t, 2): d2, D.diff(t): d1, D: d0}))
    rhs = sp.lambdify(((u1, u2, u3, ud1, ud2, ud3),), found.equation.rhs.subs(values))

    def quadratic(s):
        state = run.sol(s)
        return state[0] ** 2 - state[2] ** 2

    worst, scale = 0.0, 0.0
    for s in times:
        d_0 = quadratic(s)
        d_1 = (quadratic(s + step) - quadratic(s - step)) / (2 * step)
        d_2 = (quadratic(s + step) - 2 * d_0 + quadratic(s - step)) / step**2
        left, right = lhs(d_2, d_1, d_0), rhs(run.sol(s))
        worst = max(worst, abs(left - right))
        scale = max(scale, abs(right), abs(left))
    return worst / scale


@pytest.mark.parametrize(
    ("rule", "mass", "tau"),
    [
        (sn.rules.gradient_descent(eta), 0.05, 0.05),  # η = 0.1
        (sn.rules.momentum(eta, beta), 0.09, 0.45),  # η = 0.1, β = 0.8: m = 0.09, τ = 0.45
    ],
)
def test_equation_holds_along_an_integrated_trajectory(rule, mass, tau):
    decay = 0.3
    found = sn.charge_equation(_system(rule, [sn.rules.weight_decay(lam)]), RESCALE)
    run = _second_order_run(mass, tau, decay)
    values = {eta: 0.1, beta: 0.8, lam: decay}
    assert _check_along(found, run, values, np.linspace(0.1, 2.9, 15)) < 1e-4
    # a wrong equation (no weight-decay term) fails the same check
    wrong = dataclasses.replace(found, equation=sp.Eq(found.equation.lhs - lam * D, found.source))
    assert _check_along(wrong, run, values, np.linspace(0.1, 2.9, 15)) > 0.1


def test_gradient_flow_solution_matches_an_integrated_flow():
    decay = 0.4
    found = sn.charge_equation(
        _system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)]), RESCALE
    )
    start = np.array([1.5, -0.2, 0.4])
    run = solve_ivp(
        lambda _, q: -_gradient(q, decay), (0, 4), start, rtol=1e-12, atol=1e-12, dense_output=True
    )
    closed = sp.lambdify(
        t, found.solution.rhs.subs({lam: decay, D0: start[0] ** 2 - start[2] ** 2})
    )
    for s in np.linspace(0, 4, 9):
        q = run.sol(s)
        assert abs(q[0] ** 2 - q[2] ** 2 - closed(s)) < 1e-9


def test_the_readme_states_what_it_prints():
    """README, "In a REPL or notebook": the scale law's equation, as printed."""
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    w = sn.coordinates("w1:4")
    xs = sn.data("x1:4")
    (ys,) = sn.data("y")
    norm = sp.sqrt(sum(wi**2 for wi in w))
    loss = (ys - sum(wi * xi for wi, xi in zip(w, xs, strict=True)) / norm) ** 2 / 2
    system = sn.LearningSystem(w, loss, rule=sn.rules.gradient_descent(eta), data=(*xs, ys),
                               regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip
    printed = sn.charge_equation(system, sp.Matrix(w)).text_equation
    assert printed == "eta*D''/4 + D'/2 + lambda*D = eta*(wdot1**2 + wdot2**2 + wdot3**2)/2"
    assert f"`{printed}`" in readme.replace("\n", " ")
