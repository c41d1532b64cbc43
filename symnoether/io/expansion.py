r"""How large an expression becomes when expanded, estimated without expanding it.

A 35-character spec string, ``(w1 + w2 + x + y)**64``, expands to 47,905 terms
with coefficients of up to 37 digits, and the derivation expands it again and
again; ``sum(W@W@W@W@W)`` for a 32×32 W is a small tree of shared sub-trees
whose expansion has ~10⁹ terms. :class:`Estimator` bounds the number of terms
and the total degree of the full expansion (``sp.expand``) from the tree
alone, in time linear in the number of *distinct* sub-expressions (shared
ones are estimated once):

- a number: one term (none for 0), degree 0; a symbol: one term, degree 1;
- a sum: the sum of its terms' counts, the largest degree;
- a product: the product of the counts, the sum of the degrees;
- a power ``b**k`` (``k`` a positive integer, ``b`` of ``t`` terms and degree
  ``d``): the multisets of ``k`` of the ``t`` terms, C(t + k − 1, k), and at most
  the monomials of degree ≤ kd in b's ``n`` atoms, C(n + kd, n); degree kd;
- ``b**(p/q)``: ``b**k`` for k = ⌊p/q⌋ times one atom (``expand`` writes
  ``(x + y)**(5/2)`` as ``(x + y)**2·sqrt(x + y)`` multiplied out);
- anything else (``exp(u)``, ``1/u``, ``Max(u, v)``): one term of degree 1 in
  the outer polynomial, plus the expansions of its arguments (``expand`` works
  inside functions and denominators too).

The counts are upper bounds (cancellations are not foreseen), exact for a
power of a sum of distinct symbols. It also reports the largest numeric
exponent, so that powers SymPy merged (``(w1+w2)**64 * (w1+w2)**64`` is
``(w1+w2)**128``) are seen.

Examples
--------
>>> import sympy as sp
>>> w1, w2, x, y = sp.symbols("w1 w2 x y")
>>> size = Estimator().size((w1 + w2 + x + y) ** 64)
>>> size.terms, size.degree           # C(67, 3) monomials of degree 64 in 4 symbols
(47905, 64)
>>> len(sp.Add.make_args(sp.expand((w1 + w2 + x + y) ** 4))), Estimator().size(
...     (w1 + w2 + x + y) ** 4).terms
(35, 35)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["Estimator", "Size", "amount"]

_CAP = 10**30  # counts are clamped here: beyond any limit, and cheap to multiply


@dataclass(frozen=True)
class Size:
    """The estimated expansion of an expression.

    Attributes
    ----------
    terms : int
        Upper bound on the number of terms of the expansion, the expansions
        inside functions and denominators included (clamped at 10³⁰).
    degree : int
        Total degree of the expansion (a function application counts as one atom).
    exponent : int or sympy.Rational
        Largest magnitude of a numeric exponent in the expression (0: none).
    power : sympy.Basic or None
        The power with that exponent.
    """

    terms: int
    degree: int
    exponent: int | sp.Rational = 0
    power: sp.Basic | None = None

    def __str__(self) -> str:
        return f"about {amount(self.terms)} terms of degree {self.degree}"


def amount(count: float) -> str:
    """A count as text: 47,905; 1.1e+09 from ten million on.

    Examples
    --------
    >>> amount(47905), amount(1.07e9)
    ('47,905', '1.1e+09')
    """
    return f"{count:,.0f}" if count < 1e7 else f"{count:.2g}"


@dataclass(frozen=True)
class _Node:
    terms: int  # terms of the outer polynomial (functions as atoms)
    inner: int  # terms of the expansions inside functions and denominators
    degree: int
    exponent: int | sp.Rational
    power: sp.Basic | None


class Estimator:
    """Estimates expansions, remembering every sub-expression it has seen.

    Examples
    --------
    >>> W = sp.Matrix(2, 2, sp.symbols("a b c d"))
    >>> Estimator().product_terms(W, W)   # 4 entries of 2 products each
    8.0
    """

    def __init__(self) -> None:
        self._memo: dict[sp.Basic, _Node] = {}
        self._atoms: dict[sp.Basic, frozenset] = {}

    def size(self, expr: sp.Basic) -> Size:
        """The estimated expansion of ``expr`` (a scalar, or a matrix: all its entries)."""
        entries = list(expr) if isinstance(expr, sp.MatrixBase) else [expr]
        nodes = [self._node(e) for e in entries]
        terms = min(sum(n.terms + n.inner for n in nodes), _CAP)
        degree = max((n.degree for n in nodes), default=0)
        top = max(nodes, key=lambda n: n.exponent, default=None)
        if top is None or top.exponent == 0:
            return Size(terms, degree)
        return Size(terms, degree, top.exponent, top.power)

    def product_terms(self, left: sp.MatrixBase, right: sp.MatrixBase) -> float:
        """Estimated terms of the expanded entries of ``left * right``, in all, before
        the product is formed (entry (i, j) has at most Σₗ size(Lᵢₗ)·size(Rₗⱼ))."""
        lsize = np.array([[self.size(e).terms for e in row] for row in left.tolist()], float)
        rsize = np.array([[self.size(e).terms for e in row] for row in right.tolist()], float)
        return float((lsize @ rsize).sum())

    # -- the walk: iterative (products of matrices nest deeply), memoized -------------
    def _node(self, root: sp.Basic) -> _Node:
        memo = self._memo
        stack = [(root, False)]
        while stack:
            expr, ready = stack.pop()
            if expr in memo:
                continue
            if ready or not expr.args:
                memo[expr] = self._combine(expr)
                continue
            stack.append((expr, True))
            stack.extend((a, False) for a in expr.args if a not in memo)
        return memo[root]

    def _combine(self, expr: sp.Basic) -> _Node:
        if expr.is_Number:
            return _Node(0 if expr.is_zero else 1, 0, 0, 0, None)
        if not expr.args:  # a symbol (degree 1), pi or E (degree 0)
            return _Node(1, 0, 1 if expr.is_Symbol else 0, 0, None)
        args = [self._memo[a] for a in expr.args]
        inner = min(sum(a.inner for a in args), _CAP)
        top = max(args, key=lambda a: a.exponent)
        exponent, power = top.exponent, top.power
        if expr.is_Add:
            terms, degree = min(sum(a.terms for a in args), _CAP), max(a.degree for a in args)
        elif expr.is_Mul:
            terms = 1
            for a in args:
                terms = min(terms * a.terms, _CAP)
            degree = sum(a.degree for a in args)
        elif expr.is_Pow and expr.exp.is_Integer:
            base, k = args[0], int(expr.exp)
            if abs(k) > exponent:
                exponent, power = abs(k), expr
            terms, degree = self._power(expr.base, base, abs(k))
            if k < 0:  # 1/b**k: an atom, its denominator expanded
                inner, terms, degree = min(inner + terms, _CAP), 1, min(degree, 1)
        elif expr.is_Pow and expr.exp.is_Rational:  # b**(p/q) = b**k · b**(r/q), k = ⌊p/q⌋
            base, k = args[0], abs(expr.exp.p) // expr.exp.q
            if abs(expr.exp) > exponent:
                exponent, power = abs(expr.exp), expr
            terms, degree = self._power(expr.base, base, k) if k else (1, 0)
            inner, degree = min(inner + base.terms, _CAP), degree + min(base.degree, 1)
            if expr.exp < 0:
                inner, terms, degree = min(inner + terms, _CAP), 1, min(degree, 1)
        else:  # a function, or a power with a symbolic exponent: an atom
            inner = min(inner + sum(a.terms for a in args), _CAP)
            terms, degree = 1, 1 if any(a.degree for a in args) else 0
        return _Node(terms, inner, degree, exponent, power)

    def _power(self, base: sp.Basic, node: _Node, k: int) -> tuple[int, int]:
        """(terms, degree) of ``base**k`` expanded."""
        degree = node.degree * k
        if node.terms <= 1 or k <= 1:
            return node.terms, degree
        terms = _comb(node.terms + k - 1, k)
        if terms > 1_000:  # the monomials of b's atoms may be fewer (((x + 1)**2 + x)**9)
            atoms = len(self._atoms_of(base))
            terms = min(terms, _comb(atoms + degree, atoms))
        return terms, degree

    def _atoms_of(self, root: sp.Basic) -> frozenset:
        """The symbols and function applications of ``root`` (the atoms of its expansion)."""
        memo = self._atoms
        stack = [(root, False)]
        while stack:
            expr, ready = stack.pop()
            if expr in memo:
                continue
            polynomial = expr.is_Add or expr.is_Mul or (expr.is_Pow and expr.exp.is_Integer)
            if not polynomial:
                constant = self._memo[expr].degree == 0  # _node has seen every sub-expression
                memo[expr] = frozenset() if constant else frozenset([expr])
            elif ready:
                memo[expr] = frozenset().union(*(memo[a] for a in expr.args))
            else:
                stack.append((expr, True))
                stack.extend((a, False) for a in expr.args if a not in memo)
        return memo[root]


def _comb(n: int, k: int) -> int:
    """C(n, k), clamped at _CAP (k is at most a few hundred; n may be huge)."""
    k = min(k, n - k)
    if k < 0:
        return 0
    value = 1
    for i in range(k):
        value = value * (n - i) // (i + 1)
        if value > _CAP:
            return _CAP
    return value
