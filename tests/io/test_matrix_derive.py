"""derive() on matrix-level systems: laws per family piece, documents, validation.

Hand derivation (Kunin et al., "Neural Mechanics", ICLR 2021): for e = y − W2 W1 x under
heavy-ball momentum (mass m = η(1 + β)/2) with weight decay λ, the gl(r) charge
Q_A = m e^{t/τ}[tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)] moves at
m e^{t/τ} tr(A(Ẇ1Ẇ1ᵀ − Ẇ2ᵀẆ2)) − λ e^{t/τ} tr(A(W1W1ᵀ − W2ᵀW2)); both brackets are
symmetric, so the antisymmetric piece of A is conserved and the symmetric one is not.
Under gradient flow only the symmetric piece has a (first-order) charge.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn

eta, beta, lam = sp.symbols("eta beta lambda", positive=True)


def two_layer(rule, regularizers=(), width=4):
    W1, W2 = sn.layers(W1=(width, 3), W2=(2, width))
    x, y = sn.layers(x=(3, 1), y=(2, 1), data=True)
    e = y - W2 * W1 * x
    system = sn.LearningSystem(
        (W1, W2), e.T * e / 2, rule=rule, data=(x, y), regularizers=list(regularizers)
    )
    return system, (W1, W2), (x, y)


def test_derive_finds_one_law_per_piece_of_the_family():
    system, (W1, W2), _ = two_layer(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    deriv = sn.derive(system)
    assert deriv.names == (
        "gl(4) at W1 -> W2, antisymmetric",
        "gl(4) at W1 -> W2, symmetric",
    )
    assert [law.conserved for law in deriv.laws] == [True, False]
    assert set(deriv.laws[1].broken_by) == {"kinetic term", "weight decay"}
    ((plain, latex, form),) = deriv.matrix_forms
    assert "gl(4) at W1 -> W2" in plain and r"\text" in latex
    # the matrix form at random matrices, at t = 0: Q_J = tr(Jᵀ C) for antisymmetric J with
    # C the antisymmetric part of m(Ẇ1W1ᵀ − W2ᵀẆ2) (tr(Ẇ1ᵀJW1) = tr(Jᵀ Ẇ1W1ᵀ), cyclically)
    V1, V2 = system.velocities
    rng = np.random.default_rng(3)
    values = {s: rng.integers(-3, 4, size=s.shape).astype(float) for s in (W1, W2, V1, V2)}
    at = {eta: sp.Rational(1, 10), beta: sp.Rational(1, 2), sn.TIME: 0}
    explicit = {s: sp.Matrix(v) for s, v in values.items()}
    C = np.array(sp.Matrix(form.subs(at).xreplace(explicit).doit()), dtype=float)
    w1, w2, v1, v2 = (values[s] for s in (W1, W2, V1, V2))
    m = float((eta * (1 + beta) / 2).subs(at))
    bracket = m * (v1 @ w1.T - w2.T @ v2)
    np.testing.assert_allclose(C, (bracket - bracket.T) / 2)
    text = str(deriv)
    assert "matrix forms of the conserved charges" in text and "tr(Ẇ1ᵀ A1 W1)" in text


def test_gradient_flow_notes_the_piece_without_a_charge():
    system, _, _ = two_layer(sn.rules.gradient_flow())
    deriv = sn.derive(system)
    assert deriv.names == ("gl(4) at W1 -> W2, symmetric",)
    assert deriv.laws[0].conserved
    assert any("antisymmetric piece: no first-order charge" in note for note in deriv.notes)
    # 20 entries: the bound is counted, r(r+1)/2 = 10 for r = 4 ≤ d + m = 5 (Marcotte et
    # al.), all of them the symmetric piece's entries
    assert any(note.startswith("bound: 10 independent laws") and note.endswith("(complete)")
               for note in deriv.notes)  # fmt: skip


def test_named_generators_and_the_latex_document():
    system, (W1, W2), _ = two_layer(sn.rules.gradient_descent(eta))
    A = sp.MatrixSymbol("A", 4, 4)
    deriv = sn.derive(system, {"gl": (A * W1, -W2 * A)})
    assert deriv.names == ("gl",)
    document = deriv.to_latex()
    assert r"\operatorname{tr}" in document and "Trace" not in document
    assert r"\dot{W}_{1}" in document
    assert "not typeset entry by entry" in document  # the kernels appendix of a matrix system


def test_derivation_validates_on_arrays():
    system, (W1, W2), (x, y) = two_layer(sn.rules.gradient_descent(eta), width=3)
    A = sp.MatrixSymbol("A", 3, 3)
    deriv = sn.derive(system, {"gl": (A * W1, -W2 * A)})
    rng = np.random.default_rng(0)
    q0 = {W1: rng.normal(size=(3, 3)) / 2, W2: rng.normal(size=(2, 3)) / 2}
    params = {x: rng.normal(size=(3, 1)), y: rng.normal(size=(2, 1)), eta: 0.05}
    checked = deriv.validate(q0, params=params, t_end=1.0, backend="numpy")
    (report,) = checked.reports
    assert report.passed
