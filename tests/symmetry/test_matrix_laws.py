"""Conservation laws of matrix-level systems (symnoether.symmetry.matrix_laws).

Expected forms are derived by hand here (Kunin et al., "Neural Mechanics", ICLR 2021,
Sec. 3–5): for a linear network e = y − W_L⋯W_1 x and the gl(r) family
ψ_A = (A W_a, −W_b A) at the interface a → b,

* gradient flow: ψ_S (S symmetric) is the gradient of φ_S = ½[tr(W_aᵀ S W_a) − tr(W_bᵀ W_b S)]
  = tr(S C), C = ½(W_a W_aᵀ − W_bᵀ W_b), and dφ_S/dt = −ψ_S·∇V = 0; an antisymmetric J
  has no first-order charge (∂/∂W_a of any φ with ∇φ = J W_a would need J = Jᵀ);
* momentum (mass m, damping τ): Q_A = m e^{t/τ}[tr(Ẇ_aᵀ A W_a) − tr(Ẇ_bᵀ W_b A)] moves at
  m e^{t/τ} tr(A (Ẇ_aẆ_aᵀ − Ẇ_bᵀẆ_b)) − λ e^{t/τ} tr(A (W_aW_aᵀ − W_bᵀW_b)): both
  brackets are symmetric matrices, so the rate vanishes exactly for antisymmetric A.

The counts are cross-checked against the element-wise engine (an independent path:
explicit entries, linear algebra over the basis of the algebra) at width 2.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidInputError
from symnoether.symmetry import matrix_conservation_laws

eta, beta, lam = sp.symbols("eta beta lambda", positive=True)


def network(widths: tuple, rule, regularizers=()):
    """A linear network with layer widths (input, hidden..., output) as MatrixSymbols."""
    shapes = {f"W{k + 1}": (widths[k + 1], widths[k]) for k in range(len(widths) - 1)}
    layers = sn.layers(**shapes)
    x, y = sn.layers(x=(widths[0], 1), y=(widths[-1], 1), data=True)
    out = x
    for W in layers:
        out = W * out
    e = y - out
    system = sn.LearningSystem(
        layers, e.T * e / 2, rule=rule, data=(x, y), regularizers=list(regularizers)
    )
    return system, layers


def numeric(expr: sp.Basic, values: dict) -> np.ndarray:
    """Evaluate a matrix or trace expression at NumPy arrays (explicit matrices, .doit())."""
    explicit = {s: sp.Matrix(v) for s, v in values.items()}
    result = sp.sympify(expr).xreplace(explicit).doit()
    return np.array(sp.Matrix(result) if hasattr(result, "shape") else [[result]], dtype=float)


def random_values(symbols, rng) -> dict:
    return {s: rng.integers(-3, 4, size=s.shape) for s in symbols}


def test_gradient_flow_conserves_the_balancedness_of_each_interface():
    system, (W1, W2, W3) = network((3, 4, 4, 2), sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    assert isinstance(laws, sn.MatrixConservationLaws)
    pieces = {(p.family, p.piece) for p in laws.conserved}
    assert pieces == {("gl(4) at W1 -> W2", "symmetric"), ("gl(4) at W2 -> W3", "symmetric")}
    assert laws.conserved_dimension == 2 * (4 * 5 // 2)
    assert {p.piece for p in laws.broken} == {"antisymmetric"}
    assert all(p.law is None and "first-order" in p.reason for p in laws.broken)
    rng = np.random.default_rng(0)
    values = random_values((W1, W2, W3), rng)
    w1, w2, w3 = (values[W].astype(float) for W in (W1, W2, W3))
    hand = {
        "gl(4) at W1 -> W2": (w1 @ w1.T - w2.T @ w2) / 2,
        "gl(4) at W2 -> W3": (w2 @ w2.T - w3.T @ w3) / 2,
    }
    for name, form in laws.matrix_forms.items():
        np.testing.assert_allclose(numeric(form, values), hand[name])
    # 36 entries, within the size the bound is counted at: the Lie-algebra count agrees
    # with the 2·(4·5/2) = 20 balancedness entries, so nothing is missing
    assert (laws.bound, laws.complete) == (20, True)


def test_momentum_with_weight_decay_conserves_the_antisymmetric_piece():
    rule = sn.rules.momentum(eta, beta)
    system, (W1, W2) = network((3, 5, 2), rule, [sn.rules.weight_decay(lam)])
    laws = sn.conservation_laws(system)
    (kept,) = laws.conserved
    (moved,) = laws.broken
    assert (kept.piece, kept.dimension) == ("antisymmetric", 10)
    assert (moved.piece, moved.dimension) == ("symmetric", 15)
    assert set(moved.law.broken_by) == {"kinetic term", "weight decay"}
    # the conserved charge m e^{t/τ}[tr(Ẇ1ᵀJW1) − tr(Ẇ2ᵀW2J)] = m e^{t/τ} tr(Jᵀ(Ẇ1W1ᵀ − W2ᵀẆ2))
    # (cyclic: tr(Ẇ1ᵀJW1) = tr(JW1Ẇ1ᵀ) = tr(Jᵀ(W1Ẇ1ᵀ)ᵀ)), evaluated at t = 0 by hand
    A = next(iter(kept.law.matrix_charges))
    V1, V2 = system.velocities
    rng = np.random.default_rng(1)
    values = random_values((W1, W2, V1, V2, A), rng)
    w1, w2, v1, v2, a = (values[s].astype(float) for s in (W1, W2, V1, V2, A))
    j = (a - a.T) / 2
    at = {eta: sp.Rational(1, 10), beta: sp.Rational(9, 10), sn.TIME: 0}
    m = float(rule.mass_scale.subs(at))
    hand = m * np.trace(j.T @ (v1 @ w1.T - w2.T @ v2))
    charge = kept.law.charge.subs(at)
    assert numeric(charge, values)[0, 0] == pytest.approx(hand)


def test_counts_agree_with_the_element_wise_engine_at_width_two():
    """The element-wise engine finds the conserved subspace by linear algebra over the
    algebra's basis: its counts must equal the matrix-level pieces' dimensions."""
    for rule, expected in ((sn.rules.gradient_flow(), 3), (sn.rules.momentum(eta, beta), 1)):
        system, _ = network((2, 2, 2), rule)
        matrix = sn.conservation_laws(system)
        assert matrix.conserved_dimension == expected
        explicit = sn.conservation_laws(system.explicit())
        assert len(explicit.laws) == expected


def test_refuses_what_is_not_a_matrix_system():
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_flow())
    with pytest.raises(InvalidInputError, match="needs a MatrixSystem"):
        matrix_conservation_laws(flow)
    with pytest.raises(InvalidInputError, match="needs a LearningSystem"):
        sn.conservation_laws("not a system")


def test_prints_and_typesets_the_pieces():
    system, _ = network((2, 3, 2), sn.rules.gradient_flow())
    laws = sn.conservation_laws(system)
    text = str(laws)
    assert "matrix form [gl(3) at W1 -> W2]" in text and "antisymmetric piece" in text
    assert laws._repr_latex_().startswith("$$")


# -- the bound at matrix level (issue 13: counted on explicit entries up to a size) --------


def _two_layer_flow(hidden: int, d: int, m: int):
    W1, W2 = sn.layers(W1=(hidden, d), W2=(m, hidden))
    x, y = sn.layers(x=(d, 1), y=(m, 1), data=True)
    e = y - W2 * W1 * x
    return sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(x, y))


def test_the_bound_is_counted_on_the_entries_and_the_balancedness_completes_it():
    # Marcotte et al.: a hidden width r ≤ d + m gives r(r+1)/2 laws, the symmetric
    # balancedness entries: here r = 4, d + m = 5, so 10, all in ½(W1W1ᵀ − W2ᵀW2).
    laws = sn.conservation_laws(_two_layer_flow(4, 3, 2))
    assert (laws.bound, laws.complete) == (10, True)
    assert "counted on the 20 entries" in laws.bound_note
    assert "no law is missing" in str(laws)


def test_a_bound_beyond_the_matrix_forms_says_complete_false():
    # r = 5 > n = d + m = 2: n(n+1)/2 + n(r − n) = 3 + 6 = 9 laws (Marcotte et al.), but
    # the structured search sees only the 5 rescalings here, none derived at matrix level:
    # the forms give 0 of 9, and the result must not claim completeness.
    laws = sn.conservation_laws(_two_layer_flow(5, 1, 1))
    assert laws.bound == 9 and laws.complete is False
    assert "9 not found at matrix level" in laws.bound_note


def test_no_bound_beyond_the_documented_size_or_off_gradient_flow():
    from symnoether.symmetry.matrix_laws import MATRIX_BOUND_SIZE

    wide = sn.conservation_laws(_two_layer_flow(8, 8, 8))
    assert wide.system.size > MATRIX_BOUND_SIZE
    assert wide.bound is None and wide.complete is None
    assert f"exceed the {MATRIX_BOUND_SIZE}" in wide.bound_note
    W1, W2 = sn.layers(W1=(3, 2), W2=(2, 3))
    x, y = sn.layers(x=(2, 1), y=(2, 1), data=True)
    e = y - W2 * W1 * x
    eta, beta = sp.symbols("eta beta", positive=True)
    heavy = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.momentum(eta, beta),
                              data=(x, y))  # fmt: skip
    laws = sn.conservation_laws(heavy)
    assert laws.bound is None and "gradient flow" in laws.bound_note
