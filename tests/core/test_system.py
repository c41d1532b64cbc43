"""Tests of symnoether.core.system: symbols, and the LearningSystem built from a rule or by hand.

Expected Lagrangians, masses and damping times are written by hand from the
table of DESIGN.md (re-derived in rules.py's docstring and by the
modified-equation check in tests/test_dynamics.py).
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidCoordinatesError

t = sn.TIME
eta, beta, lam, k, m, gamma = sp.symbols("eta beta lambda k m gamma", positive=True)


# -- symbols -----------------------------------------------------------------------


def test_coordinates_are_real_symbols_in_a_tuple():
    w = sn.coordinates("w1:4")
    assert w == tuple(sp.Symbol(f"w{i}", real=True) for i in (1, 2, 3))
    assert all(s.is_real for s in w)
    (theta,) = sn.coordinates("theta")
    assert theta == sp.Symbol("theta", real=True)
    assert sp.Symbol("theta") != theta  # a plain Symbol is a different symbol


def test_data_are_real_symbols():
    assert sn.data("x y") == (sp.Symbol("x", real=True), sp.Symbol("y", real=True))
    assert sn.data("x") == (sp.Symbol("x", real=True),)


def test_matrix_coordinates_are_one_based_row_column():
    W = sn.matrix_coordinates("W1", 2, 3)
    assert W.shape == (2, 3)
    assert isinstance(W, sp.ImmutableMatrix)
    assert W[0, 1] == sp.Symbol("W1_12", real=True)
    assert W[1, 2] == sp.Symbol("W1_23", real=True)
    assert [s.name for s in W] == ["W1_11", "W1_12", "W1_13", "W1_21", "W1_22", "W1_23"]


def test_matrix_coordinates_with_ten_or_more_rows_or_columns_use_separators():
    W = sn.matrix_coordinates("W1", 10, 11)
    assert W[9, 10].name == "W1_10_11"
    assert W[0, 0].name == "W1_1_1"
    assert W[0, 9].name == "W1_1_10"
    assert len(set(W)) == 110  # no two entries share a name (W1_1_11 vs W1_11_1)


def test_velocity_names_and_latex():
    w1, w2 = sn.coordinates("w1 w2")
    assert sn.velocities((w1, w2)) == (
        sp.Symbol("wdot1", real=True),
        sp.Symbol("wdot2", real=True),
    )
    assert sp.latex(sn.velocity(w1)) == r"\dot{w}_{1}"
    (theta,) = sn.coordinates("theta_2")
    assert sp.latex(sn.velocity(theta)) == r"\dot{\theta}_{2}"
    W = sn.matrix_coordinates("W1", 2, 2)
    assert sn.velocity(W[0, 1]).name == "Wdot1_12"
    assert sp.latex(sn.velocity(W[0, 1])).startswith(r"\dot{W}")
    assert len(set(sn.velocities(W))) == 4


def test_velocities_flatten_matrices_row_by_row():
    W = sn.matrix_coordinates("W", 2, 2)
    (b,) = sn.coordinates("b")
    assert [v.name for v in sn.velocities((W, b))] == [
        "Wdot_11",
        "Wdot_12",
        "Wdot_21",
        "Wdot_22",
        "bdot",
    ]


# -- LearningSystem from a rule --------------------------------------------------------

w1, w2 = sn.coordinates("w1 w2")
v1, v2 = sn.velocities((w1, w2))
x, y = sn.data("x y")
LOSS = (y - w2 * w1 * x) ** 2 / 2


def _gd_system(**extra):
    return sn.LearningSystem(
        coords=(w1, w2), loss=LOSS, rule=sn.rules.gradient_descent(eta), data=(x, y), **extra
    )


def _same(a, b) -> bool:
    return sp.simplify(sp.expand(a - b)) == 0


def test_gradient_descent_lagrangian_by_hand():
    system = _gd_system()
    kinetic = eta / 4 * (v1**2 + v2**2)  # ½ q̇ᵀ (η/2) q̇
    assert _same(system.kinetic, kinetic)
    assert system.mass_matrix == sp.ImmutableMatrix(sp.eye(2) * eta / 2)
    assert _same(system.tau, eta / 2)
    assert _same(system.damping_factor, sp.exp(2 * t / eta))
    assert _same(system.lagrangian, sp.exp(2 * t / eta) * (kinetic - LOSS))
    assert system.order == 2
    assert system.time == t
    assert system.coords == (w1, w2)
    assert system.velocities == (v1, v2)
    assert system.data == (x, y)
    assert system.loss == LOSS
    assert system.potential == LOSS


def test_momentum_mass_and_tau_by_hand():
    system = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.momentum(eta, beta), data=(x, y))
    mass = eta * (1 + beta) / 2
    assert all(_same(e, d) for e, d in zip(system.mass_matrix, sp.eye(2) * mass, strict=True))
    assert _same(system.tau, eta * (1 + beta) / (2 * (1 - beta)))
    assert _same(system.tau, mass / (1 - beta))  # M/τ = (1 − β)·I
    expected = sp.exp(2 * t * (1 - beta) / (eta * (1 + beta))) * (mass * (v1**2 + v2**2) / 2 - LOSS)
    assert _same(system.lagrangian, expected)


def test_preconditioned_mass_by_hand():
    G = sp.Matrix([[2, 1], [1, 3]])
    system = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.preconditioned(eta, G), data=(x, y))
    assert system.mass_matrix == sp.ImmutableMatrix(eta / 2 * G)
    expected = eta / 4 * (2 * v1**2 + 2 * v1 * v2 + 3 * v2**2)
    assert _same(system.kinetic, expected)
    assert _same(system.tau, eta / 2)


def test_preconditioned_scalar_metric_is_a_multiple_of_identity():
    system = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.preconditioned(eta, 3), data=(x, y))
    assert system.mass_matrix == sp.ImmutableMatrix(sp.eye(2) * 3 * eta / 2)


def test_weight_decay_adds_to_potential_only():
    system = _gd_system(regularizers=[sn.rules.weight_decay(lam)])
    assert system.loss == LOSS
    assert _same(system.potential, LOSS + lam * (w1**2 + w2**2) / 2)
    partial = _gd_system(regularizers=[sn.rules.weight_decay(lam, on=[w2])])
    assert _same(partial.potential, LOSS + lam * w2**2 / 2)


def test_gradient_flow_has_no_lagrangian():
    flow = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.gradient_flow(), data=(x, y))
    assert flow.order == 1
    assert flow.tau is None
    assert flow.mass_matrix == sp.ImmutableMatrix(sp.eye(2))
    with pytest.raises(sn.FirstOrderRuleError, match="first order"):
        _ = flow.lagrangian
    with pytest.raises(sn.FirstOrderRuleError, match="first order"):
        _ = flow.damping_factor


def test_gradient_flow_metric_is_the_mass_matrix():
    G = sp.diag(2, 5)
    flow = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.gradient_flow(G), data=(x, y))
    assert flow.mass_matrix == sp.ImmutableMatrix(G)


def test_system_is_frozen():
    system = _gd_system()
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.loss = w1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.tau = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        system.mass_matrix = sp.eye(2)  # type: ignore[misc]


def test_matrix_blocks_are_flattened_row_by_row():
    W1 = sn.matrix_coordinates("W1", 2, 2)
    W2 = sn.matrix_coordinates("W2", 1, 2)
    system = sn.LearningSystem(
        (W1, W2), (W2 * W1 * sp.Matrix([x, y]))[0] ** 2, data=(x, y), rule=sn.rules.gradient_flow()
    )
    assert system.coords == (*W1, *W2)
    assert [name for name, _ in system.blocks] == ["W1", "W2"]
    assert system.coordinate_matrix("W2") == W2
    with pytest.raises(sn.InvalidCoordinatesError, match="W3"):
        system.coordinate_matrix("W3")


# -- hand-written kinetic terms -----------------------------------------------------------


def test_kepler_with_hand_written_kinetic():
    r = sp.sqrt(w1**2 + w2**2)
    kinetic = m * (v1**2 + v2**2) / 2
    system = sn.LearningSystem((w1, w2), -k / r, kinetic=kinetic)
    assert system.mass_matrix == sp.ImmutableMatrix(sp.eye(2) * m)
    assert system.tau == sp.oo
    assert system.damping_factor == 1
    assert _same(system.lagrangian, kinetic + k / r)
    assert system.hyperparameters == (k, m)
    assert system.rule is None


def test_state_dependent_hand_kinetic_mass():
    # polar coordinates: T = ½(ṙ² + r²θ̇²); V = ρ²/2 does not depend on the cyclic θ
    rho, theta = sn.coordinates("rho theta")
    vr, vt = sn.velocities((rho, theta))
    with pytest.warns(sn.IgnoredCoordinateWarning, match="coordinates theta .*cyclic"):
        system = sn.LearningSystem((rho, theta), rho**2 / 2, kinetic=(vr**2 + rho**2 * vt**2) / 2)
    assert system.mass_matrix == sp.ImmutableMatrix(sp.diag(1, rho**2))


def test_mass_matrix_indefinite_at_some_points_is_refused_naming_one():
    # M = diag(1, w1) is positive definite for w1 > 0 only: the check draws w1 of both
    # signs and names a point where Cholesky fails (the second eigenvalue is w1 < 0)
    with pytest.raises(sn.InvalidKineticError, match=r"not positive definite at w1 = -"):
        sn.LearningSystem((w1, w2), (w1**2 + w2**2) / 2, kinetic=(v1**2 + w1 * v2**2) / 2)


def test_mass_matrix_singular_everywhere_is_refused_as_singular():
    # M = [[1, w1], [w1, w1²]]: det M = 0 at every point (T = ½(v1 + w1 v2)²)
    with pytest.raises(sn.InvalidKineticError, match="is singular"):
        sn.LearningSystem((w1, w2), (w1**2 + w2**2) / 2, kinetic=(v1 + w1 * v2) ** 2 / 2)


def test_positive_definite_mass_matrices_are_accepted():
    # an unsigned mass symbol is a mass (drawn positive); cos(w1 − w2) coupling as in a
    # double pendulum: M = [[2, c], [c, 1]], det = 2 − c² ≥ 1
    mass = sp.Symbol("mu")
    system = sn.LearningSystem((w1, w2), w1**2, kinetic=mass * (v1**2 + v2**2) / 2)
    assert system.mass_matrix == sp.ImmutableMatrix(sp.eye(2) * mass)
    c = sp.cos(w1 - w2)
    system = sn.LearningSystem((w1, w2), -sp.cos(w1), kinetic=v1**2 + c * v1 * v2 + v2**2 / 2)
    assert system.mass_matrix == sp.ImmutableMatrix([[2, c], [c, 1]])


def test_declared_negative_mass_is_refused():
    mass = sp.Symbol("mu", negative=True)
    with pytest.raises(sn.InvalidKineticError, match=r"not positive definite at mu = -"):
        sn.LearningSystem((w1, w2), w1**2, kinetic=mass * (v1**2 + v2**2) / 2)


# -- coordinate blocks: tuples of symbols, coordinates the loss ignores ------------------


def test_tuple_blocks_in_a_learning_system():
    W = sn.matrix_coordinates("W", 2, 2)
    c, a = sn.coordinates("c1:3"), list(sn.coordinates("a1:3"))
    (x,) = sn.data("x")
    loss = (a[0] * (W[0, 0] * x + c[0]) + a[1] * (W[1, 1] * x + c[1]) - W[0, 1] - W[1, 0]) ** 2
    system = sn.LearningSystem((W, c, a), loss, rule=sn.rules.gradient_flow(), data=(x,))
    flat = sn.LearningSystem((W, *c, *a), loss, rule=sn.rules.gradient_flow(), data=(x,))
    assert system.coords == flat.coords == (*W, *c, *a)
    assert [name for name, _ in system.blocks] == ["W", "c", "a"]
    assert system.coordinate_matrix("c") == sp.Matrix(c)
    assert system.velocities == sn.velocities((W, c, a))
    nested = sn.LearningSystem((W, c, a), loss, rule=sn.rules.gradient_flow(), data=[(x,)])
    assert nested.data == (x,)  # data may be given in tuples too
    # the same generators either way, given per block or as one column
    psi = (sp.zeros(2, 2), sp.Matrix([1, 0]), sp.Matrix([0, 0]))
    assert sn.noether(system, psi).generator.T == sp.Matrix([[0, 0, 0, 0, 1, 0, 0, 0]])


def test_tuple_block_names_and_bad_blocks():
    b = sn.coordinates("b_1 b_2")
    c = sn.coordinates("c10 c11")
    u, v = sn.coordinates("u v")
    w1, w2 = sn.coordinates("w1 w2")
    system = sn.LearningSystem(
        ((u, v), b, c), u * v + b[0] * b[1] + c[0] * c[1], rule=sn.rules.gradient_flow()
    )
    assert [name for name, _ in system.blocks] == ["u_v", "b", "c"]
    single = sn.LearningSystem(((w1,), w2), w1 * w2, rule=sn.rules.gradient_flow())
    assert single.blocks == (("w1", w1), ("w2", w2))  # a single symbol stays a scalar
    with pytest.raises(InvalidCoordinatesError, match=r"holds 3 \(int\).*block of scalar"):
        sn.LearningSystem((w1, (w2, 3)), w1 * w2, rule=sn.rules.gradient_flow())
    with pytest.raises(InvalidCoordinatesError, match=r"\(\) is empty"):
        sn.LearningSystem((w1, w2, ()), w1 * w2, rule=sn.rules.gradient_flow())
    with pytest.raises(InvalidCoordinatesError, match="appears twice"):
        sn.LearningSystem(((w1, w2), w1), w1 * w2, rule=sn.rules.gradient_flow())


def test_coordinates_the_loss_ignores_warn_naming_them():
    # V = (w1 − w2)²: the coordinate c is in coords but not in the loss (a bias that a
    # normalization cancels); the warning names c, and only c, and points at the fix
    w1, w2, c = sn.coordinates("w1 w2 c")
    with pytest.warns(sn.IgnoredCoordinateWarning, match=r"coordinates c \(.*algebra\.ignored"):
        system = sn.LearningSystem((w1, w2, c), (w1 - w2) ** 2, rule=sn.rules.gradient_flow())
    assert system.coords == (w1, w2, c)  # still a coordinate: it moves under weight decay
    with warnings.catch_warnings():
        warnings.simplefilter("error", sn.IgnoredCoordinateWarning)
        sn.LearningSystem((w1, w2), (w1 - w2) ** 2, rule=sn.rules.gradient_flow())


def test_damping_tau_for_hand_kinetic():
    kinetic = (v1**2 + v2**2) / 2
    system = sn.LearningSystem((w1, w2), (w1**2 + w2**2) / 2, kinetic=kinetic, tau=gamma)
    assert system.tau == gamma
    assert _same(system.lagrangian, sp.exp(t / gamma) * (kinetic - (w1**2 + w2**2) / 2))
    numeric = sn.LearningSystem((w1, w2), (w1**2 + w2**2) / 2, kinetic=kinetic, tau=2)
    assert numeric.tau == 2
    assert _same(numeric.damping_factor, sp.exp(t / 2))


def test_hyperparameters_listing():
    system = sn.LearningSystem(
        (w1, w2),
        LOSS,
        rule=sn.rules.momentum(eta, beta),
        data=(x, y),
        regularizers=[sn.rules.weight_decay(lam)],
    )
    assert system.hyperparameters == (beta, eta, lam)  # sorted by name; no data, no t
    offset = sp.Symbol("c", real=True)
    shifted = sn.LearningSystem(
        (w1, w2), LOSS + offset * w1, rule=sn.rules.gradient_flow(), data=(x, y)
    )
    assert shifted.hyperparameters == (offset,)


# -- undeclared symbols ----------------------------------------------------------------------


def test_no_warning_without_parameters():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _gd_system()


def test_no_warning_when_parameters_complete():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _gd_system(parameters=(eta,))
        _gd_system(parameters=(eta, lam), regularizers=[sn.rules.weight_decay(lam)])


def test_warning_names_the_undeclared_symbols():
    with pytest.warns(sn.UndeclaredSymbolWarning, match="lambda"):
        _gd_system(parameters=(eta,), regularizers=[sn.rules.weight_decay(lam)])
    with pytest.warns(sn.UndeclaredSymbolWarning, match="eta"):
        _gd_system(parameters=())
    c = sp.Symbol("c", real=True)
    with pytest.warns(sn.UndeclaredSymbolWarning, match=r"\bc\b"):
        sn.LearningSystem(
            (w1, w2),
            LOSS + c * w1,
            rule=sn.rules.gradient_descent(eta),
            data=(x, y),
            parameters=(eta,),
        )


def test_warning_points_at_the_callers_line():
    with pytest.warns(sn.UndeclaredSymbolWarning) as record:
        _gd_system(parameters=())
    assert record[0].filename == __file__


# -- display -------------------------------------------------------------------------------


def test_str_and_latex_of_a_system():
    system = _gd_system(regularizers=[sn.rules.weight_decay(lam)])
    text = str(system)
    assert "w1, w2" in text and "gradient_descent" in text and "weight decay" in text
    assert "tau = eta/2" in text
    latex = system._repr_latex_()
    assert latex.startswith("$$") and r"\dot{w}_{1}" in latex and "e^{" in latex
    flow = sn.LearningSystem((w1, w2), LOSS, rule=sn.rules.gradient_flow(), data=(x, y))
    assert r"\nabla V" in flow._repr_latex_()
    assert "grad V" in str(flow)
