r"""The learning-rule table of RESULTS.md, derived by modified-equation analysis.

Sources
-------
* D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
  "Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
  Dynamics", ICLR 2021, arXiv:2012.04728 (NM), Sec. 5 and Appendix:
  modified equation of SGD and heavy-ball momentum, weight decay.
* H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
  Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716 (NLD), Sec. 3:
  learning rules as damped Lagrangians L = e^{t/τ}(½q̇ᵀMq̇ − V).
* L. Ziyin et al., "Parameter Symmetry Breaking and Restoration Determines the
  Hierarchical Learning in AI Systems" (2025): weight decay as the symmetry-
  restoring regularizer (λ/2)|q|².

The derivation each test repeats (t = kη, q(t) smooth, q_{k±1} = q(t ± η)):

* GD, q_{k+1} = q_k − η∇V:  [q(t+η) − q(t)]/η + ∇V
  = q̇ + (η/2)q̈ + (η²/6)q⃛ + ∇V + O(η³).
* Heavy ball, q_{k+1} = q_k − η∇V + β(q_k − q_{k−1}):
  [q(t+η) − q(t) − β(q(t) − q(t−η))]/η + ∇V
  = (1−β)q̇ + (η(1+β)/2)q̈ + (η²(1−β)/6)q⃛ + ∇V + O(η³).
* Preconditioned, q_{k+1} = q_k − ηG⁻¹∇V, times G:
  G q̇ + (η/2)G q̈ + (η²/6)G q⃛ + ∇V + O(η³).

Keeping the terms through O(η) gives the Lagrangian's Euler–Lagrange equation
M q̈ + (M/τ) q̇ + ∇V = 0 with the table's M and τ; the remainder is O(η²).
For a state-dependent G(q) the Euler–Lagrange equation of ½q̇ᵀ(η/2)G(q)q̇ has the
extra connection term (η/2)(Ġq̇ − ½∂_q(q̇ᵀGq̇)), O(η), absent from the discrete
update: the model is then first-order accurate only.

The tests compare the engine's equations of motion with these expansions
symbolically, and independently run the discrete optimizers in plain NumPy
against the closed-form solution of the (linear) equations of motion.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether import rules
from symnoether.core.dynamics import equations_of_motion

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
T = sn.TIME

Q_COORDS = sn.coordinates("q1 q2")
#: a 2D quartic loss with a cross term and a linear tilt
QUARTIC = Q_COORDS[0] ** 4 / 4 + Q_COORDS[0] ** 2 * Q_COORDS[1] ** 2 / 2 + Q_COORDS[1] ** 2 / 2
QUARTIC = QUARTIC - Q_COORDS[0] + Q_COORDS[0] * Q_COORDS[1] / 3
G_CONST = sp.Matrix([[2, 1], [1, 3]])  # symmetric positive definite
PATH = [sp.Function(f"Q{i + 1}", real=True)(T) for i in range(2)]


# -- symbolic modified-equation machinery -----------------------------------------


def on_path(expr: sp.Expr) -> sp.Expr:
    """Evaluate a jet-space expression on the curve q(t): q → Q(t), q̇ → Q'(t)."""
    velocities = dict(zip(sn.velocities(Q_COORDS), [p.diff(T) for p in PATH], strict=True))
    return sp.sympify(expr).xreplace(velocities).xreplace(dict(zip(Q_COORDS, PATH, strict=True)))


def shifted(path: sp.Expr, steps: int, order: int = 4) -> sp.Expr:
    """Taylor series of q(t + steps·η) in η (sympy ``series``), through η^order."""
    series = sp.series(path.subs(T, T + steps * ETA), ETA, 0, order + 1)
    return series.removeO().doit()


def engine_residual(system: sn.LearningSystem) -> sp.Matrix:
    """M(q̈ − a(q, q̇)) on the path, a = the engine's accelerations: zero exactly
    on solutions of the engine's equations of motion, and equal to
    M q̈ + (M/τ)q̇ + ∇V (+ connection terms) for these rules."""
    accelerations = equations_of_motion(system).accelerations
    second = sp.Matrix([p.diff(T, 2) for p in PATH])
    mass = system.mass_matrix.applyfunc(on_path)
    return mass * (second - accelerations.applyfunc(on_path))


def coefficients(residual: sp.Matrix, power: int) -> list:
    """The η^power coefficient of each entry (a polynomial in η once cancelled)."""
    polynomials = [sp.expand(sp.cancel(entry)) for entry in residual]
    assert all(not p.has(1 / ETA) and p.is_polynomial(ETA) for p in polynomials)
    return [sp.simplify(p.coeff(ETA, power)) for p in polynomials]


def gradient_on_path(loss: sp.Expr) -> sp.Matrix:
    return sp.Matrix([on_path(sp.diff(loss, q)) for q in Q_COORDS])


def third() -> sp.Matrix:
    return sp.Matrix([p.diff(T, 3) for p in PATH])


def test_gradient_descent_modified_equation():
    """GD: discrete residual − engine residual = (η²/6)q⃛ + O(η³): the engine's
    EOM is the modified equation through O(η) (M = η/2, τ = η/2)."""
    system = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.gradient_descent(ETA))
    discrete = sp.Matrix([(shifted(p, 1) - p) / ETA for p in PATH]) + gradient_on_path(QUARTIC)
    difference = discrete - engine_residual(system)
    assert coefficients(difference, 0) == [0, 0]
    assert coefficients(difference, 1) == [0, 0]
    expected = third() / 6
    assert [sp.simplify(c - e) for c, e in zip(coefficients(difference, 2), expected)] == [0, 0]
    assert system.rule.modified_equation_order == 2


def test_heavy_ball_modified_equation():
    """Heavy ball: the difference starts at (η²(1−β)/6)q⃛ (M = η(1+β)/2,
    M/τ = 1−β)."""
    system = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.momentum(ETA, BETA))
    discrete = sp.Matrix(
        [(shifted(p, 1) - p - BETA * (p - shifted(p, -1))) / ETA for p in PATH]
    ) + gradient_on_path(QUARTIC)
    difference = discrete - engine_residual(system)
    assert coefficients(difference, 0) == [0, 0]
    assert coefficients(difference, 1) == [0, 0]
    expected = (1 - BETA) * third() / 6
    assert [sp.simplify(c - e) for c, e in zip(coefficients(difference, 2), expected)] == [0, 0]
    assert system.rule.modified_equation_order == 2


def test_constant_preconditioner_modified_equation():
    """Preconditioned with constant SPD G: G·(discrete step)/η + ∇V minus the
    engine residual is (η²/6)G q⃛ + O(η³) (M = (η/2)G, τ = η/2)."""
    system = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.preconditioned(ETA, G_CONST))
    step = sp.Matrix([(shifted(p, 1) - p) / ETA for p in PATH])
    discrete = G_CONST * step + gradient_on_path(QUARTIC)
    difference = discrete - engine_residual(system)
    assert coefficients(difference, 0) == [0, 0]
    assert coefficients(difference, 1) == [0, 0]
    expected = G_CONST * third() / 6
    assert [sp.simplify(c - e) for c, e in zip(coefficients(difference, 2), expected)] == [0, 0]
    assert system.rule.modified_equation_order == 2


def test_state_dependent_preconditioner_connection_term():
    r"""G(q) = diag(1 + q₂², 1 + q₁²).  The discrete update gives
    G(q)[q̇ + (η/2)q̈] + ∇V + O(η²), while the Euler–Lagrange equation of
    ½q̇ᵀ(η/2)G(q)q̇ adds (η/2)c, c = Ġq̇ − ½∂_q(q̇ᵀGq̇).  By hand:
    Ġ = diag(2q₂q̇₂, 2q₁q̇₁), q̇ᵀGq̇ = (1+q₂²)q̇₁² + (1+q₁²)q̇₂², so
    c₁ = 2q₂q̇₂q̇₁ − q₁q̇₂²,  c₂ = 2q₁q̇₁q̇₂ − q₂q̇₁².
    The difference is −(η/2)c + O(η²): first-order accurate only."""
    q1, q2 = PATH
    metric = sp.diag(1 + Q_COORDS[1] ** 2, 1 + Q_COORDS[0] ** 2)
    system = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.preconditioned(ETA, metric))
    step = sp.Matrix([(shifted(p, 1) - p) / ETA for p in PATH])
    discrete = metric.applyfunc(on_path) * step + gradient_on_path(QUARTIC)
    difference = discrete - engine_residual(system)
    assert coefficients(difference, 0) == [0, 0]
    d1, d2 = q1.diff(T), q2.diff(T)
    connection = [2 * q2 * d2 * d1 - q1 * d2**2, 2 * q1 * d1 * d2 - q2 * d1**2]
    first = coefficients(difference, 1)
    assert [sp.simplify(f + c / 2) for f, c in zip(first, connection)] == [0, 0]
    assert first != [0, 0]
    assert system.rule.modified_equation_order == 1


# -- numeric cross-check: the real discrete optimizers vs the continuous law -----

H_NUM = np.array([[1.5, 0.4], [0.4, 0.8]])
G_NUM = np.array([[2.0, 0.5], [0.5, 1.0]])
Q0 = np.array([1.0, -0.7])
HORIZON = 2.0
STEPS = (0.02, 0.01, 0.005)


def linear_coefficients(rule: rules.LearningRule):
    """Read M, C, K off the engine's EOM for V = ½qᵀHq: M q̈ = −C q̇ − K q."""
    H = sp.Matrix(H_NUM.tolist()).applyfunc(sp.nsimplify)
    q = sp.Matrix(Q_COORDS)
    system = sn.LearningSystem(Q_COORDS, (q.T * H * q)[0] / 2, rule=rule)
    eom = equations_of_motion(system)
    forcing = sp.Matrix(eom.forcing)
    to_array = lambda m: np.array(m.tolist(), dtype=float)  # noqa: E731
    if eom.order == 1:
        return None, None, to_array(-forcing.jacobian(q)), to_array(eom.mass_matrix)
    C = -forcing.jacobian(sp.Matrix(system.velocities))
    K = -forcing.jacobian(q)
    assert forcing - (-C * sp.Matrix(system.velocities) - K * q) == sp.zeros(2, 1)
    return to_array(eom.mass_matrix), to_array(C), to_array(K), None


def slow_solution(M, C, K):
    """Closed form of the slow solution of M q̈ + C q̇ + K q = 0 with q(0) = Q0:
    the eigenmodes (λ, u) of the companion matrix with the two smallest |λ|
    (the fast pair decays like e^{−2t/η}); q(t) = U e^{Λt} U⁻¹ Q0."""
    Minv = np.linalg.inv(M)
    companion = np.block([[np.zeros((2, 2)), np.eye(2)], [-Minv @ K, -Minv @ C]])
    values, vectors = np.linalg.eig(companion)
    slow = np.argsort(np.abs(values))[:2]
    U, lam = vectors[:2, slow], values[slow]
    coeffs = np.linalg.solve(U, Q0)
    return lambda t: np.real(U @ (np.exp(lam * t) * coeffs))


def discrete_error(update, solution, eta):
    """max_k |q_k − q(kη)| over t ∈ [0, HORIZON], starting on the continuous
    solution (q_{−1} = q(−η), q_0 = Q0: exact starting values)."""
    previous, current = solution(-eta), Q0.copy()
    error = 0.0
    for k in range(1, int(round(HORIZON / eta)) + 1):
        previous, current = current, update(current, previous, eta)
        error = max(error, np.linalg.norm(current - solution(k * eta)))
    return error


def observed_order(errors) -> float:
    slope, _ = np.polyfit(np.log(STEPS), np.log(errors), 1)
    return slope


def gd(q, prev, eta):
    return q - eta * H_NUM @ q


def heavy_ball(q, prev, eta, beta=0.5):
    return q - eta * H_NUM @ q + beta * (q - prev)


def preconditioned_gd(q, prev, eta):
    return q - eta * np.linalg.solve(G_NUM, H_NUM @ q)


CASES = {
    "gradient_descent": (lambda eta: rules.gradient_descent(sp.nsimplify(eta)), gd),
    "momentum": (lambda eta: rules.momentum(sp.nsimplify(eta), sp.Rational(1, 2)), heavy_ball),
    "preconditioned": (
        lambda eta: rules.preconditioned(
            sp.nsimplify(eta), sp.Matrix(G_NUM.tolist()).applyfunc(sp.nsimplify)
        ),
        preconditioned_gd,
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_discrete_optimizer_follows_lagrangian_to_second_order(name):
    """|q_k − q(kη)| = O(η²) on [0, 2] for the engine's Lagrangian (local error
    O(η³), e.g. GD on a mode h: e^{r₊η} = 1 − hη − h³η³/6 + O(η⁴) with
    r₊ = (−1 + √(1 − 2ηh))/η)."""
    make_rule, update = CASES[name]
    errors = []
    for eta in STEPS:
        M, C, K, _ = linear_coefficients(make_rule(eta))
        errors.append(discrete_error(update, slow_solution(M, C, K), eta))
    assert observed_order(errors) == pytest.approx(2.0, abs=0.3), errors


def test_gradient_flow_is_only_first_order():
    """GD against gradient flow q̇ = −Hq: e^{−hη} = 1 − hη + h²η²/2 + …, local error
    O(η²), global O(η)."""
    errors = []
    for eta in STEPS:
        _, _, K, metric = linear_coefficients(rules.gradient_flow())
        rate = np.linalg.solve(metric, K)
        values, vectors = np.linalg.eig(-rate)
        coeffs = np.linalg.solve(vectors, Q0)

        def flow(t, values=values, vectors=vectors, coeffs=coeffs):
            return np.real(vectors @ (np.exp(values * t) * coeffs))

        errors.append(discrete_error(gd, flow, eta))
    assert observed_order(errors) == pytest.approx(1.0, abs=0.3), errors


# -- weight decay ---------------------------------------------------------------


def test_weight_decay_is_gd_on_regularized_loss():
    """q − η∇(V + λ/2|q|²) = (1 − ηλ)q − η∇V exactly; the EOM gain −λq in the forcing."""
    q = sp.Matrix(Q_COORDS)
    plain = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.gradient_descent(ETA))
    decayed = sn.LearningSystem(
        Q_COORDS, QUARTIC, rule=rules.gradient_descent(ETA), regularizers=[rules.weight_decay(LAM)]
    )
    assert sp.expand(decayed.potential - QUARTIC - LAM * (q.T * q)[0] / 2) == 0
    grad_loss = sp.Matrix([sp.diff(QUARTIC, x) for x in Q_COORDS])
    grad_total = sp.Matrix([sp.diff(decayed.potential, x) for x in Q_COORDS])
    step = q - ETA * grad_total - ((1 - ETA * LAM) * q - ETA * grad_loss)
    assert step.applyfunc(sp.expand) == sp.zeros(2, 1)
    forcing_gap = equations_of_motion(decayed).forcing - equations_of_motion(plain).forcing
    assert (forcing_gap + LAM * q).applyfunc(sp.expand) == sp.zeros(2, 1)


def test_weight_decay_on_some_coordinates_only():
    """weight_decay(λ, on=[q1]) adds (λ/2)q₁² only."""
    system = sn.LearningSystem(
        Q_COORDS,
        QUARTIC,
        rule=rules.gradient_descent(ETA),
        regularizers=[rules.weight_decay(LAM, on=[Q_COORDS[0]])],
    )
    assert sp.expand(system.potential - QUARTIC - LAM * Q_COORDS[0] ** 2 / 2) == 0


def test_weight_decay_translation_decay_rate():
    r"""Which weight-decay law the engine derives (RESULTS.md, Neural Mechanics).

    V = ½(q₁ − q₂)² is translation invariant; S = q₁ + q₂ under GD + weight decay
    obeys, from the summed EOM, (η/2)S̈ + Ṡ + λS = 0 (the fully modified flow of
    V + λ/2|q|²).  Its slow root r = (−1 + √(1 − 2ηλ))/η = −λ − ηλ²/2 − η²λ³/2 + …
    Discrete GD: S_{k+1} = (1 − ηλ)S_k, per-unit-time rate log(1 − ηλ)/η
    = −λ − ηλ²/2 − η²λ³/3 + …  They agree through O(ηλ²) and differ at
    O(η²λ³) (by η²λ³/6), whereas NM's θ̇ = −g − λθ (rate −λ) already differs at O(ηλ²)."""
    q1, q2 = Q_COORDS
    system = sn.LearningSystem(
        Q_COORDS,
        (q1 - q2) ** 2 / 2,
        rule=rules.gradient_descent(ETA),
        regularizers=[rules.weight_decay(LAM)],
    )
    a = equations_of_motion(system).accelerations
    v1, v2 = system.velocities
    S, Sd = sp.symbols("S Sdot", real=True)
    # along q₁ + q₂ = S, q̇₁ + q̇₂ = Ṡ the summed acceleration depends on S, Ṡ only
    summed = sp.expand((a[0] + a[1]).subs({q1: S - q2, v1: Sd - v2}))
    assert sp.expand(ETA / 2 * summed + Sd + LAM * S) == 0
    r = sp.Symbol("r")
    roots = sp.solve(ETA / 2 * r**2 + r + LAM, r)
    slow = [root for root in roots if sp.limit(root, ETA, 0) == -LAM]
    assert len(slow) == 1
    engine_rate = sp.series(slow[0], ETA, 0, 3).removeO()
    discrete_rate = sp.series(sp.log(1 - ETA * LAM) / ETA, ETA, 0, 3).removeO()
    assert sp.expand(engine_rate - (-LAM - ETA * LAM**2 / 2 - ETA**2 * LAM**3 / 2)) == 0
    assert sp.expand(engine_rate - discrete_rate) == sp.expand(-(ETA**2) * LAM**3 / 6)


def test_constant_symbolic_preconditioner_is_second_order():
    """G = diag(g, 1), g a positive hyper-parameter: Ġ = 0 and ∂_q(q̇ᵀGq̇) = 0, so
    the connection term vanishes and the residual starts at (η²/6)G q⃛ as for
    numeric G (checked), hence modified_equation_order must be 2."""
    g = sp.Symbol("g", positive=True)
    metric = sp.diag(g, 1)
    system = sn.LearningSystem(Q_COORDS, QUARTIC, rule=rules.preconditioned(ETA, metric))
    step = sp.Matrix([(shifted(p, 1) - p) / ETA for p in PATH])
    difference = metric * step + gradient_on_path(QUARTIC) - engine_residual(system)
    assert coefficients(difference, 0) == [0, 0]
    assert coefficients(difference, 1) == [0, 0]
    assert system.rule.modified_equation_order == 2
