"""Exact linear algebra over the rationals for the conserved subspace: null spaces with
integer bases, orthogonal complements, span tests.

Examples
--------
>>> from fractions import Fraction
>>> from symnoether.symmetry.rational import nullspace
>>> nullspace([[Fraction(0), Fraction(1), Fraction(-1), Fraction(0)]], 4)
[(1, 0, 0, 0), (0, 1, 1, 0), (0, 0, 0, 1)]
"""

from __future__ import annotations

from fractions import Fraction
from math import gcd, lcm

from ..budget import check

__all__ = ["nullspace", "integral", "unit", "complement", "in_span"]


def nullspace(rows: list, n: int) -> list:
    """An integer basis of {c : row·c = 0 for every row}, from the reduced echelon form."""
    pivots: list = []  # (column, row) with row[column] = 1, reduced
    for raw in rows:
        check()
        row = list(raw)
        for column, pivot_row in pivots:
            if row[column]:
                factor = row[column]
                row = [a - factor * b for a, b in zip(row, pivot_row, strict=True)]
        lead = next((k for k, a in enumerate(row) if a), None)
        if lead is None:
            continue
        row = [a / row[lead] for a in row]
        reduced = []
        for column, pivot_row in pivots:
            if pivot_row[lead]:
                factor = pivot_row[lead]
                pivot_row = [a - factor * b for a, b in zip(pivot_row, row, strict=True)]
            reduced.append((column, pivot_row))
        pivots = [*reduced, (lead, row)]
        if len(pivots) == n:
            return []
    pivot_columns = {column for column, _ in pivots}
    basis = []
    for free in range(n):
        if free in pivot_columns:
            continue
        vector = [Fraction(0)] * n
        vector[free] = Fraction(1)
        for column, row in pivots:
            vector[column] = -row[free]
        basis.append(integral(vector))
    return basis


def integral(vector: list) -> tuple:
    """The vector scaled to coprime integers, its first nonzero entry positive."""
    scale = lcm(*(Fraction(a).denominator for a in vector))
    ints = [int(Fraction(a) * scale) for a in vector]
    common = gcd(*ints) or 1
    first = next((a for a in ints if a), 1)
    sign = 1 if first > 0 else -1
    return tuple(sign * a // common for a in ints)


def unit(k: int, n: int) -> tuple:
    return tuple(int(j == k) for j in range(n))


def complement(inner: list, outer: list, n: int) -> list:
    """An integer basis of the vectors of span(outer) orthogonal to span(inner)."""
    if not outer:
        return []
    products = [[sum(a * b for a, b in zip(u, v, strict=True)) for v in outer] for u in inner]
    out = []
    for weights in nullspace(products, len(outer)):
        vector = [sum(w * v[k] for w, v in zip(weights, outer, strict=True)) for k in range(n)]
        out.append(integral(vector))
    return out


def in_span(vector: tuple, rows: list) -> bool:
    n = len(vector)
    return len(nullspace(rows, n)) == len(nullspace([*rows, list(vector)], n))
