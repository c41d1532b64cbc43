"""Matrix-level Noether laws (issue 14). Every expected form is derived by hand in the
test (Neural Mechanics, Kunin et al. 2021, Sec. 4–5; Tanaka & Kunin 2021, Theorem 1),
compared with the law both by trace identity and numerically (NumPy evaluation of the
hand formula vs ``sp.lambdify`` of the law), and against the element-wise law."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import sympy as sp
from sympy.matrices.expressions.diagonal import DiagMatrix

import symnoether as sn
from symnoether.core.jet import is_zero
from symnoether.core.matrix_system import substitute
from symnoether.core.matrix_values import float_value
from symnoether.core.vocabulary import matrix_coordinates

module = importlib.import_module("symnoether.core.matrix_noether")
eta, beta, lam = sp.symbols("eta beta lambda", positive=True)
t = sn.TIME
VALUES = {eta: 0.3, beta: 0.6, lam: 0.05, t: 0.7}


def linear(widths, rule, decay=False):
    """Linear network W_L…W_1 x with loss ½|y − W_L…W_1 x|² (widths from input to output)."""
    names = {f"W{k + 1}": (widths[k + 1], widths[k]) for k in range(len(widths) - 1)}
    layers = sn.layers(**names)
    x, y = sn.layers(x=(widths[0], 1), y=(widths[-1], 1), data=True)
    out = x
    for W in layers:
        out = W * out
    e = y - out
    regularizers = [sn.rules.weight_decay(lam)] if decay else []
    system = sn.LearningSystem(
        layers, e.T * e / 2, rule=rule, data=(x, y), regularizers=regularizers
    )
    return system, layers, (x, y)


def numbers(symbols, seed):
    rng = np.random.default_rng(seed)
    return {s: rng.standard_normal(tuple(int(d) for d in s.shape)) for s in symbols}


def lambdified(expr, values):
    """The law at NumPy values through sp.lambdify (Trace printed as numpy.trace)."""
    trace = sp.Function("trace")
    expr = expr.replace(lambda e: isinstance(e, sp.Trace), lambda e: trace(e.arg))
    symbols = list(values)
    f = sp.lambdify(symbols, expr, modules=[{"trace": np.trace}, "numpy"])
    return float(np.sum(f(*[values[s] for s in symbols])))


def agree(law_expr, hand_expr, hand_number, matrices, seed=0):
    """Same by trace identity, and numerically: the hand formula evaluated with NumPy."""
    assert sn.trace_identity(law_expr - hand_expr), (law_expr, hand_expr)
    values = {**numbers(matrices, seed), **VALUES}
    expected = hand_number(values)
    assert lambdified(law_expr, values) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_two_layer_gl_under_momentum_with_weight_decay():
    rule = sn.rules.momentum(eta, beta)
    system, (W1, W2), (x, y) = linear((3, 5, 2), rule, decay=True)
    A = sp.MatrixSymbol("A", 5, 5)
    law = sn.noether(system, (A * W1, -W2 * A))
    assert isinstance(law, sn.MatrixNoetherLaw)
    V1, V2 = system.velocities
    # by hand: m = η(1+β)/2, τ = η(1+β)/(2(1−β)), Q = m e^{t/τ}[tr(Ẇ1ᵀAW1) − tr(Ẇ2ᵀW2A)]
    m = eta * (1 + beta) / 2
    f = sp.exp(t * 2 * (1 - beta) / (eta * (1 + beta)))
    Q = m * f * (sp.Trace(V1.T * A * W1) - sp.Trace(V2.T * W2 * A))
    ksb = m * f * (sp.Trace(V1.T * A * V1) - sp.Trace(V2.T * V2 * A))
    decay = -lam * f * (sp.Trace(W1.T * A * W1) - sp.Trace(W2.T * W2 * A))

    def scale(v):
        m_ = v[eta] * (1 + v[beta]) / 2
        return m_, np.exp(v[t] * 2 * (1 - v[beta]) / (v[eta] * (1 + v[beta])))

    def q_number(v):
        m_, f_ = scale(v)
        a, w1, w2, v1, v2 = (v[s] for s in (A, W1, W2, V1, V2))
        return m_ * f_ * (np.trace(v1.T @ a @ w1) - np.trace(v2.T @ w2 @ a))

    def rate_number(v):
        m_, f_ = scale(v)
        a, w1, w2, v1, v2 = (v[s] for s in (A, W1, W2, V1, V2))
        kinetic = m_ * f_ * (np.trace(v1.T @ a @ v1) - np.trace(v2.T @ v2 @ a))
        return kinetic - v[lam] * f_ * (np.trace(w1.T @ a @ w1) - np.trace(w2.T @ w2 @ a))

    matrices = [A, W1, W2, V1, V2]
    agree(law.charge, Q, q_number, matrices)
    agree(law.rate, ksb + decay, rate_number, matrices, seed=1)
    assert sn.trace_identity(law.kinetic_breaking - ksb)
    assert law.loss_breaking == 0 and law.is_symmetry
    assert law.breaking_regularizers == ("weight decay",)
    assert not law.conserved and law.order == 2
    assert law.constants == (A,)
    assert law.verification == "trace-cyclic canonical form"
    # the balancedness matrix: Q = tr(Aᵀ C_A), C_A = m e^{t/τ}(Ẇ1W1ᵀ − W2ᵀẆ2)
    C = law.matrix_charges[A]
    Z = sp.MatrixSymbol("Z", 5, 5)
    assert sn.trace_identity(sp.Trace(Z.T * (C - m * f * (V1 * W1.T - W2.T * V2))))
    assert "tr" in str(law).lower() and law._repr_latex_().startswith("$$")


def test_three_layer_gl_at_both_interfaces_under_gradient_descent():
    system, (W1, W2, W3), _ = linear((3, 4, 5, 2), sn.rules.gradient_descent(eta))
    A, B = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("B", 5, 5)
    V1, V2, V3 = system.velocities
    m, f = eta / 2, sp.exp(2 * t / eta)  # GD: M = (η/2) I, τ = η/2
    first = sn.noether(system, (A * W1, -W2 * A, 0))
    assert sn.trace_identity(
        first.charge - m * f * (sp.Trace(V1.T * A * W1) - sp.Trace(V2.T * W2 * A))
    )
    assert first.loss_breaking == 0
    second = sn.noether(system, (0, B * W2, -W3 * B))
    ksb = m * f * (sp.Trace(V2.T * B * V2) - sp.Trace(V3.T * V3 * B))

    def number(v):
        b, v2, v3 = v[B], v[V2], v[V3]
        f_ = np.exp(2 * v[t] / v[eta])
        return v[eta] / 2 * f_ * (np.trace(v2.T @ b @ v2) - np.trace(v3.T @ v3 @ b))

    agree(second.rate, ksb, number, [B, V2, V3, W2, W3])
    assert second.loss_breaking == 0 and second.generator[0] == sp.ZeroMatrix(4, 3)
    # a generator across both interfaces is not a symmetry: (A W1, 0, 0) scales the output
    broken = sn.noether(system, (A * W1, 0, 0))
    assert broken.loss_breaking != 0 and not broken.is_symmetry and "loss" in broken.broken_by


@pytest.mark.parametrize("depth", [2, 3])
def test_gradient_flow_balancedness(depth):
    widths = (3, 4, 2) if depth == 2 else (3, 4, 4, 2)
    system, layers, _ = linear(widths, sn.rules.gradient_flow())
    A = sp.MatrixSymbol("A", 4, 4)
    S = (A + A.T) / 2
    W1, W2 = layers[:2]
    psi = (S * W1, -W2 * S) + (0,) * (depth - 2)
    law = sn.noether(system, psi)
    # φ = ½[tr(W1ᵀSW1) − tr(W2ᵀW2S)], conserved; C_A = ½(W1W1ᵀ − W2ᵀW2) (Kunin et al.)
    phi = (sp.Trace(W1.T * S * W1) - sp.Trace(W2.T * W2 * S)) / 2
    assert sn.trace_identity(law.charge - phi)
    assert law.conserved and law.rate == 0 and law.order == 1
    C = law.matrix_charges[A]
    Z = sp.MatrixSymbol("Z", 4, 4)
    assert sn.trace_identity(sp.Trace(Z.T * (C - (W1 * W1.T - W2.T * W2) / 2)))
    values = numbers([W1, W2], seed=depth)
    w1, w2 = values[W1], values[W2]
    C_number = sp.lambdify([W1, W2], C, "numpy")(w1, w2)
    assert np.allclose(C_number, (w1 @ w1.T - w2.T @ w2) / 2)


def test_gradient_flow_with_weight_decay_drives_the_charge_down():
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.gradient_flow(), decay=True)
    A = sp.MatrixSymbol("A", 4, 4)
    S = (A + A.T) / 2
    law = sn.noether(system, (S * W1, -W2 * S))
    # dφ/dt = −Σ tr(ψᵀ G_reg) = −λ[tr(W1ᵀSW1) − tr(W2ᵀW2S)] = −2λφ
    assert sn.trace_identity(law.rate + 2 * lam * law.charge)
    assert law.loss_breaking == 0 and law.breaking_regularizers == ("weight decay",)


def test_a_generic_gl_element_has_no_first_order_charge():
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.gradient_flow())
    A = sp.MatrixSymbol("A", 4, 4)
    with pytest.raises(sn.NoFirstOrderChargeError, match=r"S = \(A \+ A.T\)/2"):
        sn.noether(system, (A * W1, -W2 * A))


def normalized(rule, decay=False):
    w, x = sn.layers(w=(512, 1), x=(512, 1))
    y = sp.Symbol("y", real=True)
    loss = (y - sp.Trace(x.T * w) / sp.sqrt(sp.Trace(w.T * w))) ** 2 / 2
    regularizers = [sn.rules.weight_decay(lam)] if decay else []
    system = sn.LearningSystem(w, loss, rule=rule, data=(x, y), regularizers=regularizers)
    return system, w


def test_scale_law_of_a_normalized_weight_vector():
    system, w = normalized(sn.rules.gradient_descent(eta), decay=True)
    (v,) = system.velocities
    law = sn.noether(system, (w,))
    f = sp.exp(2 * t / eta)
    # ψ = w: the loss is scale invariant (potential part 0 proved); KSB = e^{t/τ} m tr(ẇᵀẇ),
    # weight decay −λ e^{t/τ} tr(wᵀw) (Tanaka & Kunin Sec. 5: the effective step η/|w|²)
    assert law.loss_breaking == 0
    assert sn.trace_identity(law.kinetic_breaking - eta / 2 * f * sp.Trace(v.T * v))
    assert sn.trace_identity(law.regularizer_breaking + lam * f * sp.Trace(w.T * w))
    assert sn.trace_identity(law.charge - eta / 2 * f * sp.Trace(v.T * w))
    assert law.verification == "trace-cyclic canonical form"
    flow, w = normalized(sn.rules.gradient_flow())
    first = sn.noether(flow, (w,))
    assert first.conserved and sn.trace_identity(first.charge - sp.Trace(w.T * w) / 2)


@pytest.mark.parametrize("width", [2, 3])
def test_agreement_with_the_element_wise_law(width):
    rule = sn.rules.momentum(eta, beta)
    system, (W1, W2), _ = linear((width, width, width), rule, decay=True)
    A = sp.MatrixSymbol("A", width, width)
    law = sn.noether(system, (A * W1, -W2 * A))
    matrices = {**system.explicit_matrices(), A: matrix_coordinates("A", width, width)}
    explicit = system.explicit()
    generator = (matrices[A] * matrices[W1], -matrices[W2] * matrices[A])
    element_wise = sn.noether(explicit, generator)
    for name in ("charge", "kinetic_breaking", "loss_breaking", "regularizer_breaking", "rate"):
        mine = substitute(getattr(law, name), matrices)
        theirs = getattr(element_wise, name)
        assert is_zero(sp.expand(mine - theirs)), name
    assert element_wise.conserved == law.conserved


def test_agreement_with_the_element_wise_law_under_gradient_flow():
    system, (W1, W2), _ = linear((2, 2, 2), sn.rules.gradient_flow())
    A = sp.MatrixSymbol("A", 2, 2)
    S = (A + A.T) / 2
    law = sn.noether(system, (S * W1, -W2 * S))
    matrices = {**system.explicit_matrices(), A: matrix_coordinates("A", 2, 2)}
    Se = (matrices[A] + matrices[A].T) / 2
    element_wise = sn.noether(system.explicit(), (Se * matrices[W1], -matrices[W2] * Se))
    assert sp.expand(substitute(law.charge, matrices) - element_wise.charge) == 0
    assert element_wise.conserved and law.conserved


def test_per_neuron_rescaling_of_a_width_64_relu_layer():
    W1, W2 = sn.layers(W1=(64, 16), W2=(4, 64))
    x, y = sn.layers(x=(16, 1), y=(4, 1), data=True)
    z = sp.Symbol("z", real=True)
    e = y - W2 * (W1 * x).applyfunc(sp.Lambda(z, sp.Max(0, z)))
    system = sn.LearningSystem(
        (W1, W2), e.T * e / 2, rule=sn.rules.gradient_descent(eta), data=(x, y)
    )
    D = DiagMatrix(sp.MatrixSymbol("d", 64, 1))
    law = sn.noether(system, (D * W1, -W2 * D))
    # relu(D z) = D relu(z) for a positive diagonal D: the loss is invariant; ψ is linear
    # so Dψ[Ẇ] = ψ(Ẇ) and KSB = m e^{t/τ}[tr(Ẇ1ᵀDẆ1) − tr(Ẇ2ᵀẆ2D)]
    V1, V2 = system.velocities
    assert law.loss_breaking == 0 and law.almost_everywhere
    expected = eta / 2 * sp.exp(2 * t / eta) * (sp.Trace(V1.T * D * V1) - sp.Trace(V2.T * V2 * D))
    assert sn.trace_identity(law.kinetic_breaking - expected)
    assert "loss breaking ≡ 0: exact evaluation" in law.verification
    # every hidden unit's pre-activation was sampled on both sides of ReLU's kink
    assert "both sides of every branch boundary" in law.verification
    # a generic A is not a symmetry of the ReLU network (it is of the linear one)
    A = sp.MatrixSymbol("A", 64, 64)
    assert sn.noether(system, (A * W1, -W2 * A)).loss_breaking != 0


def test_width_64_derivations_prove_the_gl_symmetry():
    # (their time, flat in the width, is measured in benchmarks/matrix_width.py)
    for widths in ((32, 64, 10), (32, 64, 64, 10)):
        system, layers, _ = linear(widths, sn.rules.momentum(eta, beta), decay=True)
        A = sp.MatrixSymbol("A", 64, 64)
        generator = (A * layers[0], -layers[1] * A) + (0,) * (len(layers) - 2)
        law = sn.noether(system, generator)
        assert law.loss_breaking == 0


# -- soundness: each gate can fail ------------------------------------------------------------


def test_a_wrong_rate_is_caught_by_the_noether_identity(monkeypatch):
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.momentum(eta, beta))
    A = sp.MatrixSymbol("A", 4, 4)
    original = module._work
    monkeypatch.setattr(module, "_work", lambda forces, psi: 2 * original(forces, psi))
    with pytest.raises(sn.VerificationError, match="Noether identity fails"):
        sn.noether(system, (A * W1, -W2 * A))


def test_exact_evaluation_alone_decides_the_symmetry(monkeypatch):
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.momentum(eta, beta))
    A = sp.MatrixSymbol("A", 4, 4)
    original = module.trace_identity
    # canonical forms prove the Noether identity only (the difference holds opaque forces)
    monkeypatch.setattr(
        module, "trace_identity", lambda e: original(e) if "_G_" in str(e) else False
    )
    law = sn.noether(system, (A * W1, -W2 * A))
    assert law.loss_breaking == 0
    assert "loss breaking ≡ 0: exact evaluation at 2 random integer points" in law.verification


def test_an_undecidable_identity_is_refused(monkeypatch):
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.momentum(eta, beta))
    A = sp.MatrixSymbol("A", 4, 4)
    monkeypatch.setattr(module, "trace_identity", lambda e: False)
    monkeypatch.setattr(module, "_exact_zero", lambda e, s: (None, "tanh is not rational"))
    with pytest.raises(sn.NotSupportedError, match="Noether identity cannot be verified"):
        sn.noether(system, (A * W1, -W2 * A))


def test_an_undecided_breaking_term_is_kept_and_conservation_not_claimed(monkeypatch):
    W1, W2 = sn.layers(W1=(3, 2), W2=(1, 3))
    x, y = sn.layers(x=(2, 1), y=(1, 1), data=True)
    e = y - W2 * (W1 * x).applyfunc(sp.tanh)
    system = sn.LearningSystem(
        (W1, W2), e.T * e / 2, rule=sn.rules.gradient_descent(eta), data=(x, y)
    )
    A = sp.MatrixSymbol("A", 3, 3)
    # double precision shows the gl breaking of a tanh network at once ...
    assert sn.noether(system, (A * W1, -W2 * A)).loss_breaking != 0
    # ... without it, exact evaluation meets tanh (not rational): undecided, kept
    monkeypatch.setattr(module, "_clearly_nonzero", lambda expr: False)
    law = sn.noether(system, (A * W1, -W2 * A))
    assert law.loss_breaking != 0 and not law.conserved
    assert "loss breaking: undecided" in law.verification
    assert "conservation not claimed" in law.verification


# -- bad input --------------------------------------------------------------------------------


@pytest.fixture
def two_layers():
    system, (W1, W2), (x, y) = linear((3, 4, 2), sn.rules.momentum(eta, beta))
    return system, W1, W2, x, y


def test_a_generator_with_the_wrong_number_of_entries(two_layers):
    system, W1, W2, x, y = two_layers
    with pytest.raises(sn.InvalidGeneratorError, match="3 entries but the system has 2 layers"):
        sn.noether(system, (W1, -W2, 0))


def test_a_generator_entry_of_the_wrong_shape_names_both(two_layers):
    system, W1, W2, x, y = two_layers
    with pytest.raises(sn.InvalidGeneratorError, match="W2 has shape 4×2 but W2 is 2×4"):
        sn.noether(system, (W1, W2.T))


def test_a_generator_using_a_velocity_or_data(two_layers):
    system, W1, W2, x, y = two_layers
    V1 = system.velocities[0]
    with pytest.raises(sn.InvalidGeneratorError, match="velocity Wdot1"):
        sn.noether(system, (V1, 0))
    with pytest.raises(sn.InvalidGeneratorError, match="data symbol x"):
        sn.noether(system, (W1 * x * x.T, 0))
    with pytest.raises(sn.InvalidGeneratorError, match="time t"):
        sn.noether(system, (t * W1, 0))


def test_a_look_alike_layer_in_the_generator(two_layers):
    system, W1, W2, x, y = two_layers
    impostor = sp.MatrixSymbol("W2", 4, 3)
    with pytest.raises(sn.InvalidGeneratorError, match="uses a W2 of another shape"):
        sn.noether(system, (impostor, 0))


def test_a_zero_or_scalar_generator(two_layers):
    system, W1, W2, x, y = two_layers
    with pytest.raises(sn.InvalidGeneratorError, match="zero on every layer"):
        sn.noether(system, (0, 0))
    with pytest.raises(sn.InvalidGeneratorError, match="not a matrix.*4×3"):
        sn.noether(system, (sp.Integer(2), 0))


def test_a_generator_that_is_no_symmetry_is_not_an_error(two_layers):
    system, W1, W2, x, y = two_layers
    law = sn.noether(system, (W1, 0))
    # −tr(G1ᵀW1) with G1 = −W2ᵀ e xᵀ: tr(x eᵀ W2 W1), e = y − W2W1x
    e = y - W2 * W1 * x
    f = system.damping_factor
    assert sn.trace_identity(law.loss_breaking - f * sp.Trace(x * e.T * W2 * W1))
    assert not law.conserved


def test_per_neuron_balancedness_of_a_relu_layer_under_gradient_flow():
    W1, W2 = sn.layers(W1=(6, 3), W2=(2, 6))
    x, y = sn.layers(x=(3, 1), y=(2, 1), data=True)
    z = sp.Symbol("z", real=True)
    e = y - W2 * (W1 * x).applyfunc(sp.Lambda(z, sp.Max(0, z)))
    flow = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(x, y))
    d = sp.MatrixSymbol("d", 6, 1)
    D = DiagMatrix(d)
    law = sn.noether(flow, (D * W1, -W2 * D))
    # φ = ½[tr(W1ᵀDW1) − tr(W2ᵀW2D)] = ½ Σ_i d_i (|row_i W1|² − |col_i W2|²), conserved:
    # C_d = ½ (|row_i W1|² − |col_i W2|²)_i, the per-neuron balancedness (Kunin et al.)
    assert law.conserved and law.almost_everywhere
    assert sn.trace_identity(law.charge - (sp.Trace(W1.T * D * W1) - sp.Trace(W2.T * W2 * D)) / 2)
    values = numbers([W1, W2], seed=11)
    w1, w2 = values[W1], values[W2]
    C = float_value(law.matrix_charges[d], values)
    assert np.allclose(C.ravel(), ((w1**2).sum(axis=1) - (w2**2).sum(axis=0)) / 2)


def test_a_nonlinear_generator_has_its_directional_derivative_in_the_kinetic_term():
    system, (W1, W2), _ = linear((3, 4, 2), sn.rules.gradient_descent(eta))
    V1 = system.velocities[0]
    law = sn.noether(system, (sp.Trace(W1.T * W1) * W1, 0))
    # ψ = |W1|² W1: Dψ[V] = 2 tr(W1ᵀV) W1 + |W1|² V, KSB = m e^{t/τ} tr(Vᵀ Dψ[V])
    m, f = eta / 2, sp.exp(2 * t / eta)
    expected = m * f * (2 * sp.Trace(W1.T * V1) ** 2 + sp.Trace(W1.T * W1) * sp.Trace(V1.T * V1))
    assert sn.trace_identity(law.kinetic_breaking - expected)
