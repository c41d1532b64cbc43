"""Tests of symnoether.core.dag against SymPy's own walks (an independent method):
the reverse-mode gradient equals ``sp.diff`` entry by entry, the memoized substitution
equals ``xreplace``, the integer evaluator equals exact SymPy arithmetic."""

from __future__ import annotations

import random

import pytest
import sympy as sp

import symnoether as sn
from symnoether.core.dag import (
    derivatives,
    free_symbols,
    gradient,
    is_rational_dag,
    nodes,
    rational_value,
    substitute,
    tree_size,
)

x, y, z = sp.symbols("x y z", real=True)
k = sp.Symbol("k", positive=True)

EXPRESSIONS = [
    (x * y - 1) ** 2 / 2,
    sp.sin(x * y) ** 3 + sp.exp(z) * x,
    x**y + y ** sp.Rational(1, 3),
    sp.Max(x, y * z) + sp.Abs(x - y) + sp.Heaviside(z - 1) * x,
    sp.Piecewise((x**2, x > 0), (y, True)) * z,
    sp.sqrt(x**2 + y**2) - k / sp.sqrt(x**2 + z**2),
    sp.log(x * y + z) / (x + 1) + sp.atan2(y, x),
    sp.tanh(x + sp.sin(y)) * sp.cos(x) ** 2,
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=range(len(EXPRESSIONS)))
def test_gradient_equals_sympy_diff(expr):
    for got, symbol in zip(gradient(expr, [x, y, z, k]), [x, y, z, k], strict=True):
        assert sp.simplify(got - sp.diff(expr, symbol)) == 0


def test_gradient_of_a_network_loss_shares_the_residuals():
    # V = ½|y − W2 W1 x|² for 3×3 layers: every entry of ∇V equals SymPy's, and the
    # gradient's distinct nodes stay few (the residuals e_i are shared, not copied).
    W1, W2 = sn.matrix_coordinates("U", 3, 3), sn.matrix_coordinates("V", 3, 3)
    xs, ys = sp.Matrix(sn.data("x1:4")), sp.Matrix(sn.data("y1:4"))
    e = ys - W2 * W1 * xs
    loss = (e.T * e)[0] / 2
    coords = [*W1, *W2]
    ours = gradient(loss, coords)
    for got, q in zip(ours, coords, strict=True):
        assert sp.expand(got - sp.diff(loss, q)) == 0
    shared = nodes(sp.Add(*ours))
    assert len(shared) < tree_size(sp.Add(*ours), 10**6)


def test_derivatives_uses_sympy_for_small_work():
    assert derivatives(x**2 * y, [x, y]) == [2 * x * y, x**2]


def test_substitute_equals_xreplace():
    expr = (x + y) ** 2 * sp.sin(x + y) + sp.exp(x + y) / (z + 1)
    point = {x: sp.Rational(1, 3), y: 2, z: -sp.Rational(5, 7)}
    assert substitute(expr, point) == expr.xreplace(point)


def test_rational_value_equals_exact_sympy_arithmetic():
    rng = random.Random(3)
    expr = (x * y - k) ** 3 / (2 * z**2 + 1) - sp.Rational(7, 3) * x / y + k**-2
    assert is_rational_dag(nodes(expr))
    for _ in range(5):
        draw = lambda: sp.Rational(rng.randint(-99, 99) or 1, rng.randint(1, 50))  # noqa: E731
        point = {s: draw() for s in (x, y, z, k)}
        assert rational_value(expr, point) == expr.xreplace(point)


def test_rational_value_refuses_what_it_cannot_evaluate():
    assert not is_rational_dag(nodes(sp.sqrt(x) + y))
    assert rational_value(sp.sqrt(x) + y, {x: 4, y: 1}) is None
    assert rational_value(1 / x, {x: 0}) is None  # division by zero: no value there
    assert rational_value(x + y, {x: sp.Float(0.5), y: 1}) is None


def test_free_symbols_and_tree_size():
    expr = sp.Integral(x * y, (x, 0, 1)) + z
    assert free_symbols(expr) == {y, z}  # the bound x is not free
    assert free_symbols(x * sp.exp(y)) == {x, y}
    assert tree_size(x * y + x, 100) == 5
