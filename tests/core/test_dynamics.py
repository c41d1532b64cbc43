"""Tests of symnoether.core.dynamics: Euler–Lagrange equations against hand derivations.

Every expected equation below is derived by hand in the comments, from
L = e^{t/τ}(½q̇ᵀMq̇ − V); the discrete-update checks Taylor-expand the
optimizers' updates (modified-equation analysis, Kunin et al. 2021, Sec. 5)
without using the engine.
"""

from __future__ import annotations

import pytest
import sympy as sp

import symnoether as sn

t = sn.TIME
eta, beta, k, m, gamma = sp.symbols("eta beta k m gamma", positive=True)
w1, w2 = sn.coordinates("w1 w2")
v1, v2 = sn.velocities((w1, w2))
a1, a2 = sp.symbols("a1 a2", real=True)

QUARTIC = w1**4 / 4 + w1**2 * w2**2 / 2 + w1 * w2 - w2
GRAD = sp.Matrix([w1**3 + w1 * w2**2 + w2, w1**2 * w2 + w1 - 1])  # by hand


def _same(a, b) -> bool:
    difference = sp.Matrix(a) - sp.Matrix(b)
    return all(sp.simplify(sp.expand(e)) == 0 for e in difference)


def _zero(expr) -> bool:
    return sp.simplify(sp.expand(expr)) == 0


def _d_dt(expr, coords, vels, accs):
    """The test's own total derivative ∂_t + q̇·∂_q + q̈·∂_q̇."""
    out = sp.diff(expr, t)
    out += sum(v * sp.diff(expr, q) for q, v in zip(coords, vels, strict=True))
    out += sum(a * sp.diff(expr, v) for v, a in zip(vels, accs, strict=True))
    return out


def _system(rule, loss=QUARTIC):
    return sn.LearningSystem((w1, w2), loss, rule=rule)


# -- second order: rules -------------------------------------------------------------


def test_gradient_descent_on_quartic_loss():
    # (η/2) q̈ + q̇ + ∇V = 0   (M = η/2, M/τ = 1)
    eom = sn.equations_of_motion(_system(sn.rules.gradient_descent(eta)))
    assert eom.order == 2
    assert eom.mass_matrix == sp.ImmutableMatrix(sp.eye(2) * eta / 2)
    assert _same(eom.forcing, -sp.Matrix([v1, v2]) - GRAD)
    assert _same(eom.accelerations, (2 / eta) * (-sp.Matrix([v1, v2]) - GRAD))


def test_momentum_equations():
    # (η(1+β)/2) q̈ + (1−β) q̇ + ∇V = 0
    eom = sn.equations_of_motion(_system(sn.rules.momentum(eta, beta)))
    mass = eta * (1 + beta) / 2
    assert _same(eom.mass_matrix, sp.eye(2) * mass)
    assert _same(eom.forcing, -(1 - beta) * sp.Matrix([v1, v2]) - GRAD)
    assert _same(eom.accelerations, (-(1 - beta) * sp.Matrix([v1, v2]) - GRAD) / mass)


def test_numeric_momentum_equations():
    eom = sn.equations_of_motion(_system(sn.rules.momentum(sp.Rational(1, 10), 0.9)))
    # mass = 0.1·1.9/2 = 0.095; damping (1 − 0.9) = 0.1
    expected = (-sp.Rational(1, 10) * sp.Matrix([v1, v2]) - GRAD) / sp.Rational(95, 1000)
    difference = eom.accelerations - expected
    point = {w1: 0.3, w2: -1.2, v1: 0.7, v2: 0.25}
    assert all(abs(float(e.subs(point))) < 1e-9 for e in difference)


def test_state_dependent_preconditioner():
    # G = [[1 + w2², 0], [0, 1]], M = (η/2)G, τ = η/2. By hand, from
    # L = e^{2t/η}((η/4)((1 + w2²)v1² + v2²) − V):
    #   (η/2)(1 + w2²) a1 + (1 + w2²) v1 + η w2 v1 v2 + ∂1V = 0
    #   (η/2) a2 + v2 − (η/2) w2 v1² + ∂2V = 0
    # (the η w2 v1 v2 and −(η/2) w2 v1² terms are the Christoffel-like Ṁq̇ − ½∂_q(q̇ᵀMq̇)).
    G = sp.Matrix([[1 + w2**2, 0], [0, 1]])
    rule = sn.rules.preconditioned(eta, G)
    assert rule.modified_equation_order == 1
    eom = sn.equations_of_motion(_system(rule))
    assert _same(eom.mass_matrix, eta / 2 * G)
    forcing = sp.Matrix(
        [
            -(1 + w2**2) * v1 - eta * w2 * v1 * v2 - GRAD[0],
            -v2 + eta / 2 * w2 * v1**2 - GRAD[1],
        ]
    )
    assert _same(eom.forcing, forcing)
    assert _same(
        eom.accelerations,
        sp.Matrix([forcing[0] / (eta / 2 * (1 + w2**2)), forcing[1] / (eta / 2)]),
    )


def test_coupled_state_dependent_preconditioner():
    # G = [[1, w1], [w1, 2]] (positive definite near 0). By hand:
    #   ∂L0/∂v = (η/2)(v1 + w1 v2, w1 v1 + 2 v2);  d/dt adds (η/2)(v1 v2, v1²) from Ġ,
    #   ∂L0/∂w1 = (η/2) v1 v2 − ∂1V, ∂L0/∂w2 = −∂2V, damping (2/η)·(η/2)Gv = Gv.
    G = sp.Matrix([[1, w1], [w1, 2]])
    eom = sn.equations_of_motion(_system(sn.rules.preconditioned(eta, G)))
    forcing = sp.Matrix(
        [
            -(v1 + w1 * v2) - GRAD[0],  # the (η/2)v1v2 of Ġ cancels ½∂_{w1}(q̇ᵀMq̇)
            -(w1 * v1 + 2 * v2) - eta / 2 * v1**2 - GRAD[1],
        ]
    )
    assert _same(eom.forcing, forcing)
    accs = eom.accelerations
    assert _same(eta / 2 * G * accs, forcing)


@pytest.mark.parametrize(
    ("rule", "residual"),
    [
        # q_{k+1} − q_k + η∇V(q_k)
        (sn.rules.gradient_descent(eta), lambda nxt, now, prv, g: nxt - now + eta * g),
        # q_{k+1} − q_k − β(q_k − q_{k−1}) + η∇V(q_k)
        (
            sn.rules.momentum(eta, beta),
            lambda nxt, now, prv, g: nxt - now - beta * (now - prv) + eta * g,
        ),
        # G(q_{k+1} − q_k) + η∇V(q_k), constant G
        (
            sn.rules.preconditioned(eta, sp.Matrix([[2, 1], [1, 3]])),
            lambda nxt, now, prv, g: sp.Matrix([[2, 1], [1, 3]]) * (nxt - now) + eta * g,
        ),
    ],
    ids=["gd", "momentum", "preconditioned"],
)
def test_equations_are_the_modified_equation_of_the_discrete_update(rule, residual):
    # q(t ± η) = q ± ηq̇ + (η²/2)q̈ + O(η³): the update's residual, to O(η²), must be
    # η·(M q̈ − f), i.e. the continuous equation times the step.
    q = sp.Matrix([w1, w2])
    v = sp.Matrix([v1, v2])
    a = sp.Matrix([a1, a2])
    nxt = q + eta * v + eta**2 / 2 * a
    prv = q - eta * v + eta**2 / 2 * a
    discrete = residual(nxt, q, prv, GRAD)
    eom = sn.equations_of_motion(_system(rule))
    continuous = eta * (eom.mass_matrix * a - eom.forcing)
    assert _same(discrete, continuous)


# -- second order: hand-written kinetic terms --------------------------------------------


def test_kepler_gives_newtons_law():
    r = sp.sqrt(w1**2 + w2**2)
    system = sn.LearningSystem((w1, w2), -k / r, kinetic=m * (v1**2 + v2**2) / 2)
    eom = sn.equations_of_motion(system)
    assert _same(eom.accelerations, -k / m * sp.Matrix([w1, w2]) / r**3)


def test_polar_coordinates_centrifugal_and_coriolis_terms():
    # T = ½(ṙ² + r²θ̇²), V = r²/2:  r̈ = rθ̇² − r,  θ̈ = −2ṙθ̇/r
    rho, theta = sn.coordinates("rho theta")
    vr, vt = sn.velocities((rho, theta))
    system = sn.LearningSystem((rho, theta), rho**2 / 2, kinetic=(vr**2 + rho**2 * vt**2) / 2)
    eom = sn.equations_of_motion(system)
    assert _same(eom.accelerations, sp.Matrix([rho * vt**2 - rho, -2 * vr * vt / rho]))


def test_damped_hand_kinetic():
    # L = e^{t/γ}(½|q̇|² − V):  q̈ = −q̇/γ − ∇V
    system = sn.LearningSystem((w1, w2), QUARTIC, kinetic=(v1**2 + v2**2) / 2, tau=gamma)
    eom = sn.equations_of_motion(system)
    assert _same(eom.accelerations, -sp.Matrix([v1, v2]) / gamma - GRAD)


# -- first order: gradient flow ----------------------------------------------------------


def test_gradient_flow_first_order_form():
    eom = sn.equations_of_motion(_system(sn.rules.gradient_flow()))
    assert eom.order == 1
    assert _same(eom.forcing, -GRAD)
    first = eom.first_order()
    assert first.state == (w1, w2)
    assert first.time == t
    assert _same(first.rhs, -GRAD)


def test_gradient_flow_with_metric():
    # G q̇ = −∇V, G = diag(2, 5)
    eom = sn.equations_of_motion(_system(sn.rules.gradient_flow(sp.diag(2, 5))))
    assert _same(eom.first_order().rhs, sp.Matrix([-GRAD[0] / 2, -GRAD[1] / 5]))


def test_gradient_flow_has_no_accelerations():
    eom = sn.equations_of_motion(_system(sn.rules.gradient_flow()))
    with pytest.raises(sn.FirstOrderRuleError, match="first order"):
        _ = eom.accelerations


def test_second_order_first_order_form():
    eom = sn.equations_of_motion(_system(sn.rules.gradient_descent(eta)))
    first = eom.first_order()
    assert first.state == (w1, w2, v1, v2)
    assert first.time == t
    assert tuple(first.rhs[:2]) == (v1, v2)
    assert _same(sp.Matrix(first.rhs[2:]), (2 / eta) * (-sp.Matrix([v1, v2]) - GRAD))
    assert "dw1/dt" in str(first)


# -- energy balance ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: sn.LearningSystem(
            (w1, w2), -k / sp.sqrt(w1**2 + w2**2), kinetic=(v1**2 + v2**2) / 2
        ),
        lambda: sn.LearningSystem((w1, w2), QUARTIC, kinetic=((1 + w2**2) * v1**2 + v2**2) / 2),
    ],
    ids=["kepler", "state-dependent-mass"],
)
def test_energy_is_conserved_without_damping(make):
    system = make()
    eom = sn.equations_of_motion(system)
    energy = system.kinetic + system.potential
    rate = _d_dt(energy, system.coords, system.velocities, list(eom.accelerations))
    assert _zero(sp.together(rate))


@pytest.mark.parametrize(
    "rule",
    [
        sn.rules.gradient_descent(eta),
        sn.rules.momentum(eta, beta),
        sn.rules.preconditioned(eta, sp.Matrix([[2, 1], [1, 3]])),
        sn.rules.preconditioned(eta, sp.Matrix([[1 + w2**2, 0], [0, 1]])),
    ],
    ids=["gd", "momentum", "constant-G", "state-dependent-G"],
)
def test_damped_energy_balance(rule):
    # E = T + V, dE/dt = q̇·(d/dt ∂T/∂q̇ − ∂T/∂q) + q̇·∇V = −(1/τ) q̇·Mq̇ = −(2/τ) T
    system = _system(rule)
    eom = sn.equations_of_motion(system)
    energy = system.kinetic + system.potential
    rate = _d_dt(energy, system.coords, system.velocities, list(eom.accelerations))
    assert _zero(sp.together(rate + 2 / system.tau * system.kinetic))


def test_gradient_descent_energy_balance_by_hand():
    # GD: T = (η/4)|q̇|², τ = η/2, so dE/dt = −|q̇|²
    system = _system(sn.rules.gradient_descent(eta))
    eom = sn.equations_of_motion(system)
    energy = eta / 4 * (v1**2 + v2**2) + QUARTIC
    rate = _d_dt(energy, (w1, w2), (v1, v2), list(eom.accelerations))
    assert _zero(rate + v1**2 + v2**2)


def test_equations_display():
    eom = sn.equations_of_motion(_system(sn.rules.gradient_descent(eta)))
    assert "equations of motion (order 2)" in str(eom)
    assert r"\frac{\eta}{2} \ddot{w}_{1} &=" in eom._repr_latex_()


# -- against an independent method: SymPy's LagrangesMethod ----------------------------


def _pendulum_energies(angles, rates):
    """T and V of the planar n-link pendulum, unit masses and lengths, g = 1, angles from
    the downward vertical: bob k at (Σ_{i≤k} sin θ_i, −Σ_{i≤k} cos θ_i)."""
    n = len(angles)
    vx = [sum(sp.cos(angles[i]) * rates[i] for i in range(k + 1)) for k in range(n)]
    vy = [sum(sp.sin(angles[i]) * rates[i] for i in range(k + 1)) for k in range(n)]
    kinetic = sum(a**2 + b**2 for a, b in zip(vx, vy, strict=True)) / 2
    potential = -sum(sp.cos(angles[i]) for k in range(n) for i in range(k + 1))
    return kinetic, potential


@pytest.mark.parametrize("links", [2, 3])
def test_n_link_pendulum_equals_lagranges_method(links):
    from sympy.physics.mechanics import LagrangesMethod, dynamicsymbols

    angles = sn.coordinates(" ".join(f"th{i}" for i in range(1, links + 1)))
    rates = sn.velocities(angles)
    kinetic, potential = _pendulum_energies(angles, rates)
    eom = sn.equations_of_motion(sn.LearningSystem(angles, potential, kinetic=kinetic))

    q = dynamicsymbols(f"q1:{links + 1}")
    qd = [s.diff(dynamicsymbols._t) for s in q]
    kinetic_q, potential_q = _pendulum_energies(q, qd)
    theirs = LagrangesMethod(kinetic_q - potential_q, q)
    theirs.form_lagranges_equations()
    back = {**dict(zip(qd, rates, strict=True)), **dict(zip(q, angles, strict=True))}
    # both write M q̈ = f; trigonometric polynomials in the same angles, so they agree
    # exactly once cos(θi − θj) and sin(θi − θj) are expanded
    same = lambda a, b: all(  # noqa: E731
        sp.expand(sp.expand_trig(e)) == 0 for e in sp.Matrix(a) - sp.Matrix(b)
    )
    assert same(eom.mass_matrix, theirs.mass_matrix.xreplace(back))
    assert same(eom.forcing, theirs.forcing.xreplace(back))


# -- structured mass matrices: the same equations as a dense solve ----------------------


def _dense(eom):
    """M⁻¹f by one dense LU of the whole mass matrix (SymPy's LUsolve), in the test."""
    return sp.Matrix(eom.mass_matrix).LUsolve(sp.Matrix(eom.forcing))


def test_diagonal_mass_with_different_entries_divides_each_row():
    # G = diag(2, 3, 5): M = (η/2)G, so q̈_i = f_i / (η G_ii / 2), by hand
    w3 = sn.coordinates("w3")[0]
    coords = (w1, w2, w3)
    loss = (w1 * w2 * w3 - 1) ** 2 / 2
    rule = sn.rules.preconditioned(eta, sp.diag(2, 3, 5))
    eom = sn.equations_of_motion(sn.LearningSystem(coords, loss, rule=rule))
    by_hand = [f / (eta * g / 2) for f, g in zip(eom.forcing, (2, 3, 5), strict=True)]
    assert _same(eom.solved, sp.Matrix(by_hand))
    assert _same(eom.solved, _dense(eom))


def test_block_diagonal_and_permuted_blocks_equal_the_dense_solve():
    # G = B ⊗ I₂ with B = [[2, 1], [1, 3]]: blocks {0, 2} and {1, 3} after a permutation
    ws = sn.coordinates("w1:5")
    G = sp.kronecker_product(sp.Matrix([[2, 1], [1, 3]]), sp.eye(2))
    loss = (ws[0] * ws[1] - ws[2]) ** 2 / 2 + ws[3] ** 4 / 4
    eom = sn.equations_of_motion(sn.LearningSystem(ws, loss, rule=sn.rules.preconditioned(eta, G)))
    assert _same(eom.solved, _dense(eom))


def test_state_dependent_block_diagonal_kinetic_term_equals_the_dense_solve():
    # T = ½(v1² + (1 + w1²)v2² + v2 v3 + v3²): M = diag(1, [[1 + w1², ½], [½, 1]])
    w3 = sn.coordinates("w3")[0]
    v3 = sn.velocities((w3,))[0]
    kinetic = (v1**2 + (1 + w1**2) * v2**2 + v2 * v3 + v3**2) / 2
    system = sn.LearningSystem((w1, w2, w3), (w1 + w2 + w3) ** 2 / 2, kinetic=kinetic)
    eom = sn.equations_of_motion(system)
    half = sp.S.Half
    assert _same(eom.mass_matrix, sp.Matrix([[1, 0, 0], [0, 1 + w1**2, half], [0, half, 1]]))
    # by hand: ∂L/∂w1 = w1 v2² − ∂1V; d/dt(∂T/∂v2) adds 2 w1 v1 v2; the rest is −∇V
    grad = sp.Matrix([w1 + w2 + w3] * 3)
    forcing = sp.Matrix([w1 * v2**2, -2 * w1 * v1 * v2, 0]) - grad
    assert _same(eom.forcing, forcing)
    assert _same(eom.solved, _dense(eom))


def test_solve_structured_matches_lu_on_a_permuted_block_matrix():
    from symnoether.core.dynamics import solve_structured

    a, b, c, d = sp.symbols("a b c d", positive=True)
    M = sp.Matrix([[a, 0, 1, 0], [0, b, 0, 0], [1, 0, c, 0], [0, 0, 0, d]])
    rhs = sp.Matrix(sp.symbols("r1:5"))
    difference = solve_structured(M, rhs) - M.LUsolve(rhs)
    assert all(sp.simplify(e) == 0 for e in difference)
