"""MatrixSystem: LearningSystem on MatrixSymbol layers (issue 14). Expected forms are
derived by hand in each test; element-wise agreement goes through ``system.explicit()``."""

from __future__ import annotations

import copy
import dataclasses
import pickle

import pytest
import sympy as sp

import symnoether as sn
from symnoether.core.matrix_system import substitute

eta, beta, lam = sp.symbols("eta beta lambda", positive=True)


def network(widths=(3, 4, 2), rule=None, regularizers=(), decay_on=None):
    """Two-layer linear network W2 W1 x, loss ½|y − W2W1x|²; weight decay λ on the
    layers numbered in ``decay_on`` (0-based) when given."""
    n_in, hidden, n_out = widths
    W1, W2 = sn.layers(W1=(hidden, n_in), W2=(n_out, hidden))
    x, y = sn.layers(x=(n_in, 1), y=(n_out, 1), data=True)
    e = y - W2 * W1 * x
    rule = rule or sn.rules.momentum(eta, beta)
    regularizers = list(regularizers)
    if decay_on is not None:
        regularizers.append(sn.rules.weight_decay(lam, on=[(W1, W2)[k] for k in decay_on]))
    system = sn.LearningSystem(
        (W1, W2), e.T * e / 2, rule=rule, data=(x, y), regularizers=regularizers
    )
    return system, (W1, W2, x, y)


def same_matrix(X, Y, shape) -> bool:
    """X ≡ Y as matrix expressions: tr(Zᵀ(X − Y)) ≡ 0 for an opaque Z."""
    Z = sp.MatrixSymbol("Z", *shape)
    return sn.trace_identity(sp.Trace(Z.T * (X - Y)))


def test_learning_system_returns_a_matrix_system():
    system, (W1, W2, x, y) = network()
    assert isinstance(system, sn.MatrixSystem)
    assert not isinstance(system, sn.LearningSystem)
    assert system.layers == (W1, W2)
    assert [V.name for V in system.velocities] == ["Wdot1", "Wdot2"]
    assert system.velocities[0].shape == W1.shape
    assert system.data == (x, y)
    assert system.shapes == ((4, 3), (2, 4)) and system.size == 20
    assert system.order == 2 and system.time == sn.TIME
    # momentum: m = η(1+β)/2, τ = η(1+β)/(2(1−β))
    assert sp.simplify(system.mass - eta * (1 + beta) / 2) == 0
    assert sp.simplify(system.tau - eta * (1 + beta) / (2 * (1 - beta))) == 0
    assert system.damping_factor == sp.exp(sn.TIME / system.tau)
    assert system.hyperparameters == (beta, eta)


def test_accelerations_by_hand():
    # Ẅ_B = −Ẇ_B/τ − G_B/m with G1 = −W2ᵀ e xᵀ, G2 = −e xᵀW1ᵀ, e = y − W2W1x
    system, (W1, W2, x, y) = network(decay_on=[1])
    e = y - W2 * W1 * x
    m, tau = system.mass, system.tau
    V1, V2 = system.velocities
    G1 = -W2.T * e * x.T
    G2 = -e * x.T * W1.T + lam * W2
    assert same_matrix(system.gradients[0], G1, W1.shape)
    assert same_matrix(system.gradients[1], G2, W2.shape)
    assert same_matrix(system.loss_gradients[1], G2 - lam * W2, W2.shape)
    assert same_matrix(system.accelerations[0], -V1 / tau - G1 / m, W1.shape)
    assert same_matrix(system.accelerations[1], -V2 / tau - G2 / m, W2.shape)
    assert not same_matrix(system.accelerations[1], -V2 / tau - (G2 - 2 * lam * W2) / m, W2.shape)
    eom = sn.equations_of_motion(system)
    assert isinstance(eom, sn.MatrixEquationsOfMotion)
    assert same_matrix(eom.forcing[0], -(m / tau) * V1 - G1, W1.shape)
    assert "Wddot1" in str(eom)


def test_gradient_flow_and_gradient_descent():
    flow, (W1, W2, x, y) = network(rule=sn.rules.gradient_flow())
    assert flow.order == 1 and flow.mass == 1 and flow.tau == sp.oo
    assert flow.damping_factor == 1
    e = y - W2 * W1 * x
    assert same_matrix(flow.accelerations[0], W2.T * e * x.T, W1.shape)
    metric = network(rule=sn.rules.gradient_flow(sp.Integer(3)))[0]
    assert metric.mass == 3
    gd = network(rule=sn.rules.gradient_descent(eta))[0]
    assert gd.mass == eta / 2 and gd.tau == eta / 2
    pre = network(rule=sn.rules.preconditioned(eta, sp.Integer(4)))[0]
    assert pre.mass == 2 * eta


def test_weight_decay_potential():
    system, (W1, W2, x, y) = network(regularizers=[sn.rules.weight_decay(lam)])
    expected = system.loss + lam * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2)) / 2
    assert sn.trace_identity(system.potential - expected)
    only = network(decay_on=[0])[0]
    assert sn.trace_identity(only.potential - only.loss - lam * sp.Trace(W1.T * W1) / 2)


def test_explicit_system_agrees_entry_by_entry():
    system, (W1, W2, x, y) = network(widths=(2, 2, 2), regularizers=[sn.rules.weight_decay(lam)])
    explicit = system.explicit()
    assert isinstance(explicit, sn.LearningSystem)
    assert explicit.coords == system.entries()
    assert system.entries()[:2] == sp.symbols("W1_11 W1_12", real=True)
    matrices = system.explicit_matrices()
    assert sp.expand(explicit.potential - substitute(system.potential, matrices)) == 0
    for W, G in zip(system.layers, system.gradients, strict=True):
        dense = substitute(G, matrices)
        for (i, j), value in sp.ImmutableMatrix(dense).todok().items():
            q = matrices[W][i, j]
            assert sp.expand(value - sp.diff(explicit.potential, q)) == 0
    eom = sn.equations_of_motion(explicit)
    accelerations = [substitute(a, matrices) for a in system.accelerations]
    flat = [entry for a in accelerations for entry in sp.Matrix(a)]
    for mine, theirs in zip(flat, eom.solved, strict=True):
        assert sp.simplify(mine - theirs) == 0


def test_copy_pickle_and_replace():
    system, (W1, W2, x, y) = network()
    assert copy.copy(system) == system
    assert copy.deepcopy(system) == system
    assert pickle.loads(pickle.dumps(system)) == system
    replaced = dataclasses.replace(system, regularizers=(sn.rules.weight_decay(lam),))
    assert isinstance(replaced, sn.MatrixSystem) and replaced.regularizers
    w1, w2 = sn.coordinates("w1 w2")
    scalar = sn.LearningSystem((w1, w2), (w1 * w2 - 1) ** 2, rule=sn.rules.gradient_flow())
    assert pickle.loads(pickle.dumps(scalar)) == scalar and copy.copy(scalar) == scalar


def test_width_64_three_layers_builds_in_seconds():
    W1, W2, W3 = sn.layers(W1=(64, 32), W2=(64, 64), W3=(10, 64))
    x, y = sn.layers(x=(32, 1), y=(10, 1), data=True)
    e = y - W3 * W2 * W1 * x
    system = sn.LearningSystem(
        (W1, W2, W3),
        e.T * e / 2,
        rule=sn.rules.momentum(eta, beta),
        data=(x, y),
        regularizers=[sn.rules.weight_decay(lam)],
    )
    accelerations = system.accelerations  # (its time: benchmarks/matrix_width.py)
    assert system.size == 64 * 32 + 64 * 64 + 10 * 64
    assert [a.shape for a in accelerations] == [W.shape for W in (W1, W2, W3)]


# -- bad input --------------------------------------------------------------------------


def test_a_layer_that_is_also_data_is_refused():
    W1, W2 = sn.layers(W1=(2, 2), W2=(2, 2))
    with pytest.raises(sn.InvalidCoordinatesError, match="W2 is both a layer.*remove it"):
        sn.LearningSystem((W1, W2), sp.Trace(W2 * W1), rule=sn.rules.gradient_flow(), data=(W2,))


def test_a_matrix_loss_that_is_not_1x1_is_refused():
    W1, x = sn.layers(W1=(2, 3), x=(3, 1))
    r = W1 * x
    with pytest.raises(sn.InvalidLossError, match="2×2 matrix.*e.T\\*e/2"):
        sn.LearningSystem((W1,), r * r.T, rule=sn.rules.gradient_flow(), data=(x,))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # check=False builds the mismatch
def test_a_shape_mismatch_in_the_loss_names_both_shapes():
    W1, W2 = sn.layers(W1=(3, 4), W2=(4, 4))
    loss = sp.Trace(sp.MatMul(W2, W1, check=False))
    with pytest.raises(sn.InvalidLossError, match="W2 is 4×4 and W1 is 3×4"):
        sn.LearningSystem((W1, W2), loss, rule=sn.rules.gradient_flow())


def test_an_undeclared_matrix_symbol_is_refused():
    W1, T = sn.layers(W1=(2, 2), T=(2, 2))
    with pytest.raises(sn.InvalidLossError, match="MatrixSymbol T.*data="):
        sn.LearningSystem((W1,), sp.Trace(T * W1), rule=sn.rules.gradient_flow())


def test_a_look_alike_layer_of_another_shape_is_refused():
    (W1,) = sn.layers(W1=(2, 2))
    other = sp.MatrixSymbol("W1", 3, 3)
    with pytest.raises(sn.InvalidLossError, match="W1 with shape 3×3.*declared W1 is 2×2"):
        sn.LearningSystem((W1,), sp.Trace(other) + sp.Trace(W1), rule=sn.rules.gradient_flow())


def test_unsupported_rules_name_the_element_wise_path():
    (W1,) = sn.layers(W1=(2, 2))
    loss = sp.Trace(W1.T * W1)
    with pytest.raises(sn.NotSupportedError, match="sgd.*sn.matrix_coordinates"):
        sn.LearningSystem((W1,), loss, rule=sn.rules.sgd(eta))
    G = sp.diag(1, 2, 3, 4)
    with pytest.raises(sn.NotSupportedError, match="matrix preconditioner.*matrix_coordinates"):
        sn.LearningSystem((W1,), loss, rule=sn.rules.preconditioned(eta, G))
    with pytest.raises(sn.NotSupportedError, match="kinetic=.*matrix_coordinates"):
        sn.LearningSystem((W1,), loss, kinetic=sp.Integer(1))


def test_mixing_scalars_and_matrix_symbols_is_refused():
    (W1,) = sn.layers(W1=(2, 2))
    (b,) = sn.coordinates("b")
    with pytest.raises(sn.NotSupportedError, match="b.*1×1 layer"):
        sn.LearningSystem((W1, b), sp.Trace(W1) * b, rule=sn.rules.gradient_flow())


def test_weight_decay_on_a_non_layer_is_refused():
    W1, W2 = sn.layers(W1=(2, 2), W2=(2, 2))
    with pytest.raises(sn.InvalidRuleError, match="names W2, which is not a layer"):
        sn.LearningSystem(
            (W1,),
            sp.Trace(W1),
            rule=sn.rules.gradient_flow(),
            regularizers=[sn.rules.weight_decay(lam, on=[W2])],
        )
