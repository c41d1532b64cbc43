"""The common-subexpression step of the kernels: SymEngine's cse (the optional ``fast``
extra) for large rational functions gives back the same expressions as the input, and
anything else stays with SymPy's cse. Checked by substituting the replacements back
(exact cancellation) and at random points, with and without SymEngine."""

from __future__ import annotations

import random

import pytest
import sympy as sp

from symnoether.numerics import codegen

y = sp.symbols("y0:6")
p = sp.symbols("p0:3")


def _expressions():
    e = [y[0] - p[0] * y[1] * y[2] - p[1] * y[3], y[4] - y[5] * y[1] / p[2]]
    grad = [sp.Rational(1, 2) * e[0] ** 2 * y[i] - e[1] * y[i] ** 2 / (1 + p[0]) for i in range(6)]
    return [*grad, (e[0] + e[1]) ** 3 / (p[2] ** 2 + 1)]


def _expanded_back(replacements, reduced):
    back = dict()
    for symbol, value in replacements:
        back[symbol] = value.xreplace(back)
    return [e.xreplace(back) for e in reduced]


@pytest.mark.parametrize("engine", ["symengine", "sympy"])
def test_cse_gives_back_the_same_expressions(engine, monkeypatch):
    if engine == "symengine":
        pytest.importorskip("symengine")
        monkeypatch.setattr(codegen, "_SYMENGINE_NODES", 0)
    else:
        monkeypatch.setenv("SYMNOETHER_SYMENGINE", "0")
    codegen._symengine.cache_clear()
    exprs = _expressions()
    replacements, reduced = codegen._cse(exprs)
    codegen._symengine.cache_clear()
    assert replacements, "the residuals are common subexpressions"
    assert all(str(symbol).startswith("c") for symbol, _ in replacements)
    rebuilt = _expanded_back(replacements, reduced)
    assert all(sp.cancel(a - b) == 0 for a, b in zip(rebuilt, exprs, strict=True))
    rng = random.Random(1)
    point = {s: sp.Rational(rng.randint(1, 50), rng.randint(1, 9)) for s in (*y, *p)}
    assert [a.xreplace(point) for a in rebuilt] == [b.xreplace(point) for b in exprs]


def test_cse_keeps_sympy_for_functions_and_floats(monkeypatch):
    monkeypatch.setattr(codegen, "_SYMENGINE_NODES", 0)
    exprs = [sp.sin(y[0] + y[1]) ** 2 + sp.sin(y[0] + y[1]), 0.5 * (y[2] + y[3]) ** 2]
    replacements, reduced = codegen._cse(exprs)
    expected = sp.cse(exprs, symbols=sp.numbered_symbols("c"), optimizations=None)
    assert (replacements, reduced) == (expected[0], expected[1])
