"""The structured search refuses a gl(r) family that fails its proof (issue 11).

A gl(r) family at the interface W_a → W_b is ψ_A = (A W_a, −W_b A) for every r×r A.
It is a symmetry exactly when ψ_A·∇V = tr(G_aᵀ A W_a) − tr(G_bᵀ W_b A) ≡ 0
(G = ∂V/∂W). The search keeps a family only after two independent gates: random
numeric matrices (``_interface_residual``) and a proof (trace-cyclic canonical words
for MatrixSymbol layers, ``_trace_zero``; entry-wise with a symbolic A for explicit
ones, ``_proves_directional``). Each gate alone must refuse the families below, and
switching both off must let them through, so the end-to-end assertions can fail.

Families that are not symmetries, derived by hand:

* tanh between the layers, V = ½|y − W2 tanh(W1 x)|². Along ψ_A with A = I,
  d/ds V(e^s W1, W2 e^{−s}) = −(y − W2 h)ᵀ W2 (diag(1 − h²) W1 x − h), h = tanh(W1 x),
  which is not 0 (tanh is not homogeneous: tanh(s·z) ≠ s·tanh(z)). In fact the loss
  has no continuous symmetry at all: the weights of a tanh network are determined by
  its input–output map up to permutations and sign flips of hidden units, a finite
  group (H. J. Sussmann, "Uniqueness of the weights for minimal feedforward nets with
  a given input-output map", Neural Networks 5 (1992) 589–593), so every generator
  vanishes on an open set of weights and, being affine, everywhere: dimension 0.
* weight decay on one layer, V = ½|y − W2W1x|² + (λ/2) tr(W1ᵀW1): the data term is
  gl(r)-invariant (W2W1 is), the decay term gives λ tr(W1ᵀ A W1) = λ tr(A W1W1ᵀ),
  which is λ|W1|² ≠ 0 for A = I. (Antisymmetric A still work, tr(A·S) = 0 for S
  symmetric: so(r) survives, but the gl(r) family must not be returned.)

The positive control, the linear network ½|y − W2W1x|², has gl(r) (Tanaka & Kunin
2021, Sec. 5): the same pipeline must find it, or the refusals above prove nothing.
"""

from __future__ import annotations

import pytest
import sympy as sp

import symnoether as sn
from symnoether.symmetry import find_symmetries, structured

lam = sp.Symbol("lam", positive=True)


def explicit_network(activation):
    """W1 (3×2), W2 (2×3) as explicit coordinates; V = ½|y − W2 σ(W1 x)|²."""
    W1, W2 = sn.matrix_coordinates("W1", 3, 2), sn.matrix_coordinates("W2", 2, 3)
    x, y = sp.Matrix(sn.data("x1:3")), sp.Matrix(sn.data("y1:3"))
    residual = y - W2 * (W1 * x).applyfunc(activation)
    return (residual.T * residual)[0] / 2, (W1, W2), (*x, *y)


def symbolic_network(decay_on_w1: bool):
    """W1 (3×2), W2 (2×3) as MatrixSymbols; V = ½|y − W2W1x|² (+ (λ/2)|W1|²)."""
    W1, W2 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("W2", 2, 3)
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    residual = y - W2 * W1 * x
    loss = sp.Trace(residual.T * residual) / 2
    if decay_on_w1:
        loss = loss + lam / 2 * sp.Trace(W1.T * W1)
    return loss, (W1, W2), (x, y)


def structured_families(loss, layers, data):
    algebra = find_symmetries(loss, layers, data=data, mode="structured")
    return algebra, [f.name for f in algebra.families]


# -- positive controls: the proof accepts true families ---------------------------------


def test_the_linear_network_has_its_gl_family_with_both_layer_kinds():
    for loss, layers, data in (explicit_network(lambda z: z), symbolic_network(False)):
        algebra, names = structured_families(loss, layers, data)
        assert names == ["gl(3) at W1 -> W2"]
        assert algebra.families[0].dimension == 9 and algebra.families[0].verified == "symbolic"


# -- refusals, end to end ----------------------------------------------------------------


def test_tanh_between_explicit_layers_returns_no_family_and_dimension_zero():
    algebra, names = structured_families(*explicit_network(sp.tanh))
    assert names == []
    assert algebra.dimension == 0  # Sussmann 1992 (module docstring)


def test_tanh_between_matrix_symbol_layers_is_refused_not_guessed():
    """SymPy's matrix calculus cannot differentiate an elementwise tanh of a product, so
    the structured search says so instead of answering."""
    W1, W2 = sp.MatrixSymbol("W1", 3, 2), sp.MatrixSymbol("W2", 2, 3)
    x, y = sp.MatrixSymbol("x", 2, 1), sp.MatrixSymbol("y", 2, 1)
    residual = y - W2 * (W1 * x).applyfunc(sp.tanh)
    with pytest.raises(sn.NotSupportedError, match="W1.*matrix_coordinates"):
        find_symmetries(residual.T * residual / 2, (W1, W2), data=(x, y), mode="structured")


def test_weight_decay_on_one_matrix_symbol_layer_has_no_gl_family():
    """Also a regression: SymPy 1.14 differentiates a sum of traces to a silent zero
    matrix (sympy/sympy#24725), which made every candidate family 'symbolic'."""
    algebra, names = structured_families(*symbolic_network(True))
    assert not any(name.startswith("gl(") for name in names), algebra


def test_a_wrong_sympy_matrix_gradient_is_refused():
    """λ·(data term + |W1|²): SymPy returns a zero gradient for the bracketed sum; the
    central-difference check of the loss refuses it, naming the layer."""
    loss, layers, data = symbolic_network(False)
    W1 = layers[0]
    with pytest.raises(sn.NotSupportedError, match="wrong gradient with respect to W1"):
        find_symmetries(lam * (loss + sp.Trace(W1.T * W1)), layers, data=data, mode="structured")


def test_a_constant_added_to_a_matrix_symbol_loss_changes_nothing():
    loss, layers, data = symbolic_network(False)
    _, names = structured_families(loss + 7, layers, data)
    assert names == ["gl(3) at W1 -> W2"]


# -- mutations: each gate alone refuses, and without both the tests above would fail ----


def accept_numerically(monkeypatch):
    monkeypatch.setattr(structured, "_interface_residual", lambda *args: 0.0)


def test_the_entrywise_proof_alone_refuses_tanh(monkeypatch):
    accept_numerically(monkeypatch)
    with pytest.raises(sn.VerificationError, match="fails the symbolic check"):
        structured_families(*explicit_network(sp.tanh))
    monkeypatch.setattr(structured, "_proves_directional", lambda *args: True)
    _, names = structured_families(*explicit_network(sp.tanh))
    assert "gl(3) at W1 -> W2" in names  # what the refusal test would then see


def test_the_trace_canonical_proof_alone_refuses_decay_on_one_layer(monkeypatch):
    accept_numerically(monkeypatch)
    with pytest.raises(sn.VerificationError, match="fails the symbolic check"):
        structured_families(*symbolic_network(True))
    monkeypatch.setattr(structured, "_trace_zero", lambda *args: True)
    _, names = structured_families(*symbolic_network(True))
    assert "gl(3) at W1 -> W2" in names


def test_the_canonicalizer_is_what_proves_the_true_family(monkeypatch):
    """Without identifying words under trace rotation and transposition, the proof of the
    linear network's gl(3) fails: tr(Gᵀ A W1) and tr(W2ᵀ G' … A) only cancel as
    cyclic words."""
    from symnoether.core import traces

    # no identification at all: neither cyclic words nor commuting 1×1 scalars
    monkeypatch.setattr(traces, "_canonical", lambda word, antisymmetric, shapes: ((word,), 1))
    with pytest.raises(
        sn.VerificationError, match="gl\\(3\\) at W1 -> W2 fails the symbolic check"
    ):
        structured_families(*symbolic_network(False))


def test_without_the_gradient_check_sympy_invents_the_family(monkeypatch):
    """SymPy's own derivative of the whole loss (no term split) is the zero matrix for
    the decay loss; without the central-difference check the zero gradient passes both
    gates and gl(3) — even gl(2) at W2 -> W1 — comes back as 'symbolic'."""
    monkeypatch.setattr(structured, "_matrix_gradient", lambda scalar, block: scalar.diff(block))
    with pytest.raises(sn.NotSupportedError, match="wrong gradient"):
        structured_families(*symbolic_network(True))
    monkeypatch.setattr(structured, "_check_matrix_gradients", lambda *args: None)
    _, names = structured_families(*symbolic_network(True))
    assert "gl(3) at W1 -> W2" in names
