r"""Where an expression branches, and how to sample it there (boundary-aware points).

A zero test that samples at random points sees only the branches its points fall
in: ``Max(0, x − 150)`` is 0 on the whole box |x| ≤ 100. A :class:`BoundaryPlan`
lists every branch boundary g = 0 of an expression (``Max``, ``Min``, ``Abs``,
``Heaviside``, ``sign``, ``Piecewise`` conditions; nested branches replaced by each
of their pieces), each solved for one of its variables (degree ≤ 2 in it, or the
variable in one place), and the scales of the expression's own constants (150,
10⁻⁶). :meth:`BoundaryPlan.points` gives exact points on both sides of, and close
to, every boundary; :func:`symnoether.symmetry.sampling.sample_values` does the
same in floating point for the symmetry search. A boundary that cannot be solved
for any variable is listed in :attr:`BoundaryPlan.unsolved`.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y", real=True)
>>> plan = BoundaryPlan.of(sp.Max(0, x - 150) + sp.Abs(y))
>>> [(str(b.expr), str(b.variable), b.roots) for b in plan.boundaries]
[('y', 'y', (0,)), ('x - 150', 'x', (150,))]
>>> plan.scales
(150,)
>>> BoundaryPlan.of(sp.Heaviside(x + sp.exp(x) + sp.sin(x))).unsolved
(x + exp(x) + sin(x),)
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import sympy as sp
from sympy.core.relational import Relational

from ..errors import NotSupportedError

__all__ = ["BRANCHING", "Boundary", "BoundaryPlan", "boundaries", "pieces", "constant_scales"]

BRANCHING = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.Piecewise, sp.sign)
"""The functions with branches."""

_VARIANTS = 32  # most branch-free variants of one nested boundary
_SCALES = 8  # most constant scales kept


@dataclass(frozen=True)
class Boundary:
    """A branch boundary ``expr`` = 0, solved: ``variable`` = each of ``roots``."""

    expr: sp.Expr
    variable: sp.Symbol
    roots: tuple


@dataclass(frozen=True)
class BoundaryPlan:
    """Where an expression branches, and at which scales to sample it.

    Attributes
    ----------
    boundaries : tuple of Boundary
        Every branch boundary that could be solved for one of its variables.
    unsolved : tuple of sympy expressions
        Boundaries g = 0 that could not be solved for any variable.
    scales : tuple of Rationals
        Magnitudes (≠ 0, 1) of the expression's numeric constants, at most 8.
    """

    boundaries: tuple
    unsolved: tuple
    scales: tuple

    @classmethod
    def of(cls, expr: sp.Expr) -> BoundaryPlan:
        """The plan of ``expr`` (branch boundaries of nested branches included)."""
        solved, unsolved = [], []
        for g in boundaries(expr):
            for v in sorted(g.free_symbols, key=sp.default_sort_key):
                roots = _solve_for(g, v)
                if roots:
                    solved.append(Boundary(g, v, roots))
                    break
            else:
                unsolved.append(g)
        return cls(tuple(solved), tuple(unsolved), constant_scales(expr))

    def refuse_unsolved(self, where: sp.Expr) -> None:
        """Raise :class:`NotSupportedError` naming the first unsolved boundary."""
        if self.unsolved:
            g = self.unsolved[0]
            raise NotSupportedError(
                f"cannot decide whether {_short(where)} vanishes: it branches where "
                f"{_short(g)} = 0, a boundary that can be solved for none of its "
                "variables, so neither an exact decision nor sample points on both sides "
                "of it are possible; write that branch with a condition linear in one "
                "symbol (or polynomial of degree ≤ 2 in it)"
            )

    def points(self, symbols: list, rng: random.Random, draw: Callable, reps: int) -> list:
        """Exact (rational) points on both sides of, and close to, each boundary:
        ``reps`` base points per boundary (``draw(symbol, rng)`` for the other values)."""
        points = []
        for boundary in self.boundaries:
            for _ in range(reps):
                base = {s: draw(s, rng) for s in symbols}
                root = rng.choice(boundary.roots).xreplace(base)
                try:
                    value = sp.Rational(sp.N(root, 40))
                except (TypeError, ValueError):
                    continue  # a complex or undefined root at this base point
                step = abs(value) if value != 0 else self._scale(rng)
                step *= sp.Rational(1, 10 ** rng.randint(2, 6))
                for side in (1, -1):
                    point = dict(base)
                    point[boundary.variable] = value + side * step
                    if _admissible(boundary.variable, point[boundary.variable]):
                        points.append(point)
        return points

    def _scale(self, rng: random.Random) -> sp.Rational:
        return rng.choice((sp.S.One, *self.scales))


def constant_scales(expr: sp.Expr) -> tuple:
    """Magnitudes of the numeric constants of ``expr`` other than 0 and 1 (at most 8,
    the most extreme first kept), as exact Rationals."""
    magnitudes = set()
    for number in expr.atoms(sp.Number):
        if not number.is_finite or number.is_zero or not number.is_real:
            continue
        magnitude = abs(sp.Rational(number))
        if magnitude != 1:
            magnitudes.add(magnitude)
    ordered = sorted(magnitudes, key=lambda m: -abs(sp.log(m).evalf(5)))[:_SCALES]
    return tuple(sorted(ordered))


def _admissible(symbol: sp.Symbol, value: sp.Rational) -> bool:
    if (symbol.is_positive or symbol.is_nonnegative) and value <= 0:
        return False
    return not ((symbol.is_negative or symbol.is_nonpositive) and value >= 0)


def boundaries(expr: sp.Expr) -> list:
    """Branch-free g with a branch boundary on g = 0 (nested branches replaced by each
    of their pieces), normalized and without duplicates (g and −g).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> boundaries(sp.Min(sp.Max(0, x), 6))                 # ReLU6: x = 0 and x = 6
    [x, x - 6]
    """
    raw = []
    for atom in expr.atoms(*BRANCHING):
        if isinstance(atom, sp.Max | sp.Min):
            raw += [a - b for a, b in itertools.combinations(atom.args, 2)]
        elif isinstance(atom, sp.Piecewise):
            for _, condition in atom.args:
                if isinstance(condition, sp.Basic):
                    raw += [r.lhs - r.rhs for r in condition.atoms(Relational)]
        else:
            raw.append(atom.args[0])
    found: dict = {}
    for g in raw:
        for variant in _branch_free(g):
            variant = sp.fraction(sp.together(variant))[0] if variant.free_symbols else variant
            if not variant.free_symbols:
                continue
            key = -variant if variant.could_extract_minus_sign() else variant
            found.setdefault(key, sp.expand(key) if sp.count_ops(key) < 40 else key)
    return sorted(found.values(), key=sp.default_sort_key)


def _branch_free(g: sp.Expr) -> list:
    variants = [g]
    while True:
        inner = [a for v in variants for a in v.atoms(*BRANCHING) if not a.args[0].has(*BRANCHING)]
        inner = [a for a in inner if not any(arg.has(*BRANCHING) for arg in a.args)]
        if not inner:
            return variants
        atom = inner[0]
        variants = [v.xreplace({atom: piece}) for v in variants for piece in pieces(atom)]
        variants = variants[:_VARIANTS]


def pieces(atom: sp.Basic) -> tuple:
    """The values a branching function takes, one per branch (``Abs(a)``: a, −a)."""
    if isinstance(atom, sp.Max | sp.Min):
        return atom.args
    if isinstance(atom, sp.Abs):
        return (atom.args[0], -atom.args[0])
    if isinstance(atom, sp.sign):
        return (sp.S.NegativeOne, sp.S.One)
    if isinstance(atom, sp.Heaviside):
        return (sp.S.Zero, sp.S.One)
    return tuple(piece for piece, _ in atom.args)  # Piecewise


@lru_cache(maxsize=4096)
def _solve_for(g: sp.Expr, v: sp.Symbol) -> tuple:
    """Closed-form roots of g = 0 for v: g of degree ≤ 2 in v, or v in one place."""
    try:
        poly = sp.Poly(g, v)
    except sp.PolynomialError:
        poly = None
    try:
        if poly is not None and not any(c.has(v) for c in poly.all_coeffs()):
            coefficients = poly.all_coeffs()
            if len(coefficients) == 2:
                a, b = coefficients
                return (-b / a,)
            if len(coefficients) == 3:
                a, b, c = coefficients
                root = sp.sqrt(b**2 - 4 * a * c)
                return ((-b + root) / (2 * a), (-b - root) / (2 * a))
            if g.free_symbols == {v} and poly.degree() > 2:
                return tuple(poly.real_roots())
            return ()
        if g.count(v) != 1:
            return ()
        roots = sp.solve(g, v, check=False, simplify=False)
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return ()
    if not isinstance(roots, list):
        return ()
    return tuple(r for r in roots if isinstance(r, sp.Expr) and not r.has(v))


def _short(expr: object, limit: int = 80) -> str:
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."
