"""Trace-cyclic canonical forms (symnoether.core.traces) and matrix calculus
(symnoether.core.matrices), checked against hand identities and against numbers."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from symnoether.core.matrices import (
    layers,
    matrix_gradient,
    matrix_velocity,
    time_derivative,
)
from symnoether.core.traces import trace_canonical, trace_form, trace_identity
from symnoether.errors import InvalidCoordinatesError, NotSupportedError


def numeric(expr, values: dict):
    """Evaluate a scalar or matrix expression at NumPy arrays by its own tree walk (an
    independent path: lambdify prints no elementwise functions)."""
    if isinstance(expr, sp.MatrixSymbol | sp.Symbol) and expr in values:
        return np.asarray(values[expr], dtype=float)
    if isinstance(expr, sp.MatrixBase):
        return np.array(expr.tolist(), dtype=float)
    if isinstance(expr, sp.Identity):
        return np.eye(int(expr.shape[0]))
    if isinstance(expr, sp.ZeroMatrix):
        return np.zeros(tuple(int(d) for d in expr.shape))
    if isinstance(expr, sp.Transpose):
        return numeric(expr.arg, values).T
    if isinstance(expr, sp.Trace):
        return np.trace(numeric(expr.arg, values))
    if isinstance(expr, sp.MatMul):
        out = np.asarray(1.0)
        for arg in expr.args:
            value = numeric(arg, values)
            scalar = not isinstance(arg, sp.MatrixExpr) or value.ndim == 0
            out = out * value if scalar or out.ndim == 0 else out @ value
        return out
    if isinstance(expr, sp.MatAdd):
        return sum(numeric(a, values) for a in expr.args)
    if isinstance(expr, sp.HadamardProduct):
        out = numeric(expr.args[0], values)
        for arg in expr.args[1:]:
            out = out * numeric(arg, values)
        return out
    if isinstance(expr, sp.HadamardPower):
        return numeric(expr.base, values) ** float(expr.exp)
    if isinstance(expr, ElementwiseApplyFunction):
        f = sp.lambdify(expr.function.variables, expr.function.expr, "numpy")
        return np.vectorize(lambda v: float(f(v)))(numeric(expr.expr, values))
    if isinstance(expr, sp.Inverse):
        return np.linalg.inv(numeric(expr.arg, values))
    if isinstance(expr, sp.MatPow):
        return np.linalg.matrix_power(numeric(expr.base, values), int(expr.exp))
    if isinstance(expr, sp.Number):
        return np.asarray(float(expr))
    args = [numeric(a, values) for a in expr.args]
    if isinstance(expr, sp.Add):
        return sum(args)
    if isinstance(expr, sp.Mul):
        return np.prod(args)
    if isinstance(expr, sp.Pow):
        return np.asarray(args[0] ** args[1])
    return np.asarray(float(expr.func(*[sp.Float(float(a)) for a in args])))


def random_values(symbols, seed=0):
    rng = np.random.default_rng(seed)
    return {s: rng.standard_normal(tuple(int(d) for d in s.shape)) for s in symbols}


A3, B3, C3 = (sp.MatrixSymbol(n, 3, 3) for n in "ABC")
x3 = sp.MatrixSymbol("x", 3, 1)


@pytest.mark.parametrize(
    "expr",
    [
        sp.Trace(A3 * B3 * C3) - sp.Trace(C3 * A3 * B3),  # rotation
        sp.Trace(A3 * B3 * C3) - sp.Trace(C3.T * B3.T * A3.T),  # transposition
        sp.Trace(A3 * B3) - sp.Trace(B3.T * A3.T),
        # through dimension 1: xᵀAx·xᵀBx = tr(A x xᵀ B x xᵀ), the two scalars commute
        sp.Trace(x3.T * A3 * x3 * x3.T * B3 * x3) - sp.Trace(x3.T * B3.T * x3 * x3.T * A3 * x3),
        sp.Trace(sp.Identity(3)) - 3,
        sp.exp(sp.Trace(A3 * B3)) * (sp.Trace(A3 * B3) - sp.Trace(B3 * A3)),
        sp.sqrt(sp.Trace(A3.T * A3)) ** 2 - sp.Trace(A3 * A3.T),
        sp.Trace((A3 + B3) * (A3 - B3)) - sp.Trace(A3 * A3) + sp.Trace(B3 * B3),
        sp.Trace(2 * A3 * sp.Trace(B3) * C3) - 2 * sp.Trace(B3.T) * sp.Trace(C3 * A3),
        sp.Trace(sp.ZeroMatrix(3, 3) * A3),
    ],
)
def test_identities_are_proved(expr):
    assert trace_identity(expr)


@pytest.mark.parametrize(
    "expr",
    [
        sp.Trace(A3 * B3 * C3) - sp.Trace(B3 * A3 * C3),  # not a rotation
        sp.Trace(A3 * B3) - sp.Trace(A3 * B3.T),
        sp.Trace(A3 * A3.T * B3 * B3.T) - sp.Trace(A3.T * A3 * B3 * B3.T),
        sp.Trace(sp.Identity(3)) - 2,
        x3.T * A3 * x3 - x3.T * A3 * A3 * x3,
    ],
)
def test_non_identities_are_not_proved(expr):
    assert not trace_identity(expr)
    # ... and they are indeed nonzero somewhere
    values = random_values(sorted(expr.atoms(sp.MatrixSymbol), key=str), seed=3)
    assert abs(float(np.sum(numeric(expr, values)))) > 1e-6


def test_an_identity_of_small_sizes_only_is_not_claimed():
    # Cayley–Hamilton: tr A³ = (3/2) tr A tr A² − ½ (tr A)³ holds for every 2×2 A and
    # fails at 3×3; the canonical form decides "for every size", so it says no
    A = sp.MatrixSymbol("A", 2, 2)
    expr = sp.Trace(A**3) - sp.Rational(3, 2) * sp.Trace(A) * sp.Trace(A**2) + sp.Trace(A) ** 3 / 2
    a = np.random.default_rng(1).standard_normal((2, 2))
    assert abs(float(numeric(expr, {A: a}))) < 1e-9  # true at 2×2
    assert not trace_identity(expr)


def test_symmetric_antisymmetric_and_diagonal_letters():
    S, J, W = (sp.MatrixSymbol(n, 3, 3) for n in "SJW")
    assert trace_identity(sp.Trace(S * W) - sp.Trace(S * W.T), symmetric={S})
    assert not trace_identity(sp.Trace(S * W) - sp.Trace(S * W.T))
    assert trace_identity(sp.Trace(W.T * J * W), antisymmetric={J})
    assert trace_identity(sp.Trace(J * W) + sp.Trace(J * W.T), antisymmetric={"J"})
    assert trace_identity(sp.Trace(S * W) - sp.Trace(S * W.T), diagonal={S})


def test_elementwise_functions_are_opaque_letters():
    W, A = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("A", 3, 2)
    F = W.applyfunc(sp.tanh)
    assert trace_identity(sp.Trace(F.T * A) - sp.Trace(A.T * F))
    assert not trace_identity(sp.Trace(F.T * A) - sp.Trace(A.T * W))


def test_a_matrix_where_a_scalar_belongs_is_refused():
    with pytest.raises(NotSupportedError, match="3×3 matrix where a scalar"):
        trace_identity(A3 * B3)


def test_canonical_form_collects_words():
    W, A = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("A", 2, 2)
    eta = sp.Symbol("eta")
    form = trace_canonical(eta * sp.Trace(W.T * A) + sp.Trace(A.T * W) + sp.Trace(W) ** 2)
    assert sorted(map(str, form.values())) == ["1", "eta + 1"]
    assert len(form) == 2


def test_trace_form_shows_the_velocity_first_and_is_equal():
    W, V, A = (sp.MatrixSymbol(n, 3, 3) for n in ("W", "V", "A"))
    expr = sp.Trace(A * W * V.T) + sp.Trace(W.T * A.T * V)
    form = trace_form(expr, prefer=[V, W])
    assert form == 2 * sp.Trace(V.T * A * W)
    assert trace_identity(form - expr)


# -- a property test: a random nonzero trace polynomial is never called zero ------------

LETTERS = ["A", "B", "A'", "B'"]


def _word(codes):
    A, B = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("B", 4, 4)
    table = {"A": A, "B": B, "A'": A.T, "B'": B.T}
    return sp.MatMul(*[table[c] for c in codes]) if len(codes) > 1 else table[codes[0]]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(-3, 3), st.lists(st.sampled_from(LETTERS), min_size=1, max_size=4)),
        min_size=1,
        max_size=4,
    )
)
def test_trace_identity_never_claims_a_nonzero_polynomial(terms):
    expr = sp.Add(*[c * sp.Trace(_word(w)) for c, w in terms])
    A, B = sp.MatrixSymbol("A", 4, 4), sp.MatrixSymbol("B", 4, 4)
    rng = np.random.default_rng(7)
    values = []
    for size in (3, 4):
        a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
        An, Bn = sp.MatrixSymbol("A", size, size), sp.MatrixSymbol("B", size, size)
        sized = expr.xreplace({A: An, B: Bn})
        values.append(float(np.sum(numeric(sized, {An: a, Bn: b}))) if sized != 0 else 0.0)
    if trace_identity(expr):
        assert all(abs(v) < 1e-8 for v in values), (expr, values)
    elif any(abs(v) > 1e-6 for v in values):
        pass  # not claimed and indeed nonzero
    # a rotated copy of the expression always cancels it
    rotated = sp.Add(*[c * sp.Trace(_word(w[1:] + w[:1])) for c, w in terms])
    assert trace_identity(expr - rotated)


# -- matrix calculus ---------------------------------------------------------------------


def test_layers_and_velocities():
    W1, W2 = layers(W1=(64, 32), W2=(10, 64))
    assert (W1.shape, W2.shape) == ((64, 32), (10, 64))
    assert matrix_velocity(W1).name == "Wdot1" and matrix_velocity(W1).shape == (64, 32)
    assert matrix_velocity(sp.MatrixSymbol("W", 2, 2)).name == "Wdot"
    with pytest.raises(InvalidCoordinatesError, match="W1=.*pair of positive integers"):
        layers(W1=(0, 3))
    with pytest.raises(InvalidCoordinatesError, match="not a MatrixSymbol"):
        matrix_velocity(sp.Symbol("w"))


def _losses():
    W1, W2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("W2", 2, 4)
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    e = y - W2 * W1 * x
    lam = sp.Rational(3, 10)
    h = (W1 * x).applyfunc(sp.tanh)
    r = y - W2 * h
    return (W1, W2, x, y), [
        sp.Trace(e.T * e) / 2,
        sp.Trace(e.T * e) / 2 + lam * (sp.Trace(W1.T * W1) + sp.Trace(W2.T * W2)) / 2,
        sp.sqrt(sp.Trace(W1.T * W1) + 1) * sp.Trace(W2 * W1 * x * y.T),
        sp.Trace(W2 * W1 * W1.T * W2.T) ** 2,
        sp.Trace(r.T * r) / 2,
        sp.Trace(sp.HadamardPower(W2 * W1, 3) * x * y.T),
    ]


@pytest.mark.parametrize("k", range(6))
def test_gradient_matches_a_central_difference(k):
    symbols, losses = _losses()
    loss = losses[k]
    values = random_values(symbols, seed=k)
    f0 = float(numeric(loss, values))
    assert np.isfinite(f0)
    rng = np.random.default_rng(100 + k)
    for W in symbols[:2]:
        G = numeric(matrix_gradient(loss, W), values)
        assert G.shape == tuple(W.shape)
        direction = rng.standard_normal(G.shape)
        h = 1e-6
        up, down = dict(values), dict(values)
        up[W] = values[W] + h * direction
        down[W] = values[W] - h * direction
        fd = (float(numeric(loss, up)) - float(numeric(loss, down))) / (2 * h)
        assert np.sum(G * direction) == pytest.approx(fd, rel=1e-6, abs=1e-8)


def test_gradient_of_a_product_network_is_the_textbook_one():
    # ∂/∂W1 ½|y − W2W1x|² = −W2ᵀ(y − W2W1x)xᵀ (by hand)
    W1, W2 = sp.MatrixSymbol("W1", 4, 3), sp.MatrixSymbol("W2", 2, 4)
    x, y = sp.MatrixSymbol("x", 3, 1), sp.MatrixSymbol("y", 2, 1)
    e = y - W2 * W1 * x
    Z = sp.MatrixSymbol("Z", 4, 3)
    difference = matrix_gradient(e.T * e / 2, W1) + W2.T * e * x.T
    assert trace_identity(sp.Trace(Z.T * difference))


def test_gradient_of_a_norm_is_not_sympys_silent_zero():
    w = sp.MatrixSymbol("w", 512, 1)
    grad = matrix_gradient(sp.sqrt(sp.Trace(w.T * w)), w)
    Z = sp.MatrixSymbol("Z", 512, 1)
    expected = w / sp.sqrt(sp.Trace(w.T * w))
    assert trace_identity(sp.Trace(Z.T * (grad - expected)))


def test_time_derivative_by_the_product_rule():
    W, V, A = (sp.MatrixSymbol(n, 3, 3) for n in ("W", "V", "A"))
    t, tau = sp.Symbol("t", real=True), sp.Symbol("tau", positive=True)
    Q = sp.exp(t / tau) * sp.Trace(V.T * A * W)
    acc = sp.MatrixSymbol("U", 3, 3)
    d = time_derivative(Q, {W: V, V: acc}, time=t)
    expected = sp.exp(t / tau) * (
        sp.Trace(V.T * A * W) / tau + sp.Trace(acc.T * A * W) + sp.Trace(V.T * A * V)
    )
    assert trace_identity(d - expected)
    # elementwise functions: d/dt tanh(W)∘... is tanh'(W) ∘ Ẇ
    F = W.applyfunc(sp.tanh)
    dF = time_derivative(sp.Trace(A.T * F), {W: V}, time=None)
    values = random_values([W, V, A], seed=5)
    expected = np.sum(values[A] * (1 - np.tanh(values[W]) ** 2) * values[V])
    assert float(numeric(dF, values)) == pytest.approx(expected)
