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

__all__ = [
    "BRANCHING", "Boundary", "BoundaryPlan", "boundaries", "steps", "surface_factors", "pieces",
    "normal_factor",
    "solve_for", "constant_scales",
]  # fmt: skip

BRANCHING = (sp.Max, sp.Min, sp.Abs, sp.Heaviside, sp.Piecewise, sp.sign)
"""The functions with branches."""

_VARIANTS = 32  # most branch-free variants of one nested boundary
_FACTOR_OPS = 60  # largest boundary factored into its pieces
_SCALES = 8  # most constant scales kept


@dataclass(frozen=True)
class Boundary:
    """A branch boundary ``expr`` = 0, solved: ``variable`` = each of ``roots``; ``step``
    when it is the boundary of a ``Heaviside``, ``sign`` or ``DiracDelta`` (where a
    derivative has a DiracDelta)."""

    expr: sp.Expr
    variable: sp.Symbol
    roots: tuple
    step: bool = False


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
        found = _collect(expr)
        for g in sorted(found, key=sp.default_sort_key):
            for v in sorted(g.free_symbols, key=sp.default_sort_key):
                roots = solve_for(g, v)
                if roots:
                    solved.append(Boundary(g, v, roots, found[g]))
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
        ``reps`` base points per boundary (``draw(symbol, rng)`` for the other values),
        half of them first moved next to a second boundary (a corner such as
        w₁ > 150, w₂ > 50)."""
        points = []
        for boundary in self.boundaries:
            others = [b for b in self.boundaries if b.variable != boundary.variable]
            for _ in range(reps):
                base = {s: draw(s, rng) for s in symbols}
                if others and rng.random() < 0.5:
                    self._move(rng.choice(others), base, rng)  # a corner of two boundaries
                value = self._root(boundary, base, rng)
                if value is None:
                    continue  # a complex or undefined root at this base point
                step = abs(value) if value != 0 else self._scale(rng)
                step *= sp.Rational(1, 10 ** rng.randint(0, 6))  # close, or well inside
                for side in (1, -1):
                    point = dict(base)
                    point[boundary.variable] = value + side * step
                    if _admissible(boundary.variable, point[boundary.variable]):
                        points.append(point)
        return points

    def _root(self, boundary: Boundary, point: dict, rng: random.Random):
        try:
            return sp.Rational(sp.N(rng.choice(boundary.roots).xreplace(point), 40))
        except (TypeError, ValueError):
            return None

    def _move(self, boundary: Boundary, point: dict, rng: random.Random) -> None:
        value = self._root(boundary, point, rng)
        if value is None:
            return
        step = (abs(value) if value != 0 else self._scale(rng)) / 10 ** rng.randint(0, 6)
        moved = value + rng.choice((1, -1)) * step
        if _admissible(boundary.variable, moved):
            point[boundary.variable] = moved

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
    of their pieces; a polynomial g split into its irreducible factors, so that
    w₁x = 0 gives both w₁ = 0 and x = 0), without duplicates (g and −g).

    Examples
    --------
    >>> import sympy as sp
    >>> x, w = sp.symbols("x w", real=True)
    >>> boundaries(sp.Min(sp.Max(0, x), 6))                 # ReLU6: x = 0 and x = 6
    [x, x - 6]
    >>> boundaries(sp.Heaviside(w * x - 150) + sp.Abs(w * x))
    [w, x, w*x - 150]
    """
    return sorted(_collect(expr), key=sp.default_sort_key)


def steps(expr: sp.Expr) -> list:
    """The boundaries where ``expr``'s derivative has a ``DiracDelta``: those of its
    ``Heaviside``, ``sign`` and ``DiracDelta`` terms (a jump, if its weight is not 0)."""
    return sorted((g for g, step in _collect(expr).items() if step), key=sp.default_sort_key)


def _collect(expr: sp.Expr) -> dict:
    """{boundary: whether it is a step's} (see :func:`boundaries`)."""
    raw = []
    for atom in expr.atoms(*BRANCHING, sp.DiracDelta):
        step = isinstance(atom, sp.Heaviside | sp.sign | sp.DiracDelta)
        if isinstance(atom, sp.Max | sp.Min):
            raw += [(a - b, step) for a, b in itertools.combinations(atom.args, 2)]
        elif isinstance(atom, sp.Piecewise):
            for _, condition in atom.args:
                if isinstance(condition, sp.Basic):
                    raw += [(r.lhs - r.rhs, step) for r in condition.atoms(Relational)]
        else:
            raw.append((atom.args[0], step))
    found: dict = {}
    for g, step in raw:
        for variant in _branch_free(g):
            for factor in surface_factors(variant):
                found[factor] = found.get(factor, False) or step
    return found


def surface_factors(g: sp.Expr) -> list:
    """The pieces of the set g = 0: the irreducible factors of g's numerator (when it is
    a small polynomial), each with a positive leading sign; [] for a constant.

    Examples
    --------
    >>> import sympy as sp
    >>> w, x = sp.symbols("w x", real=True)
    >>> surface_factors(-w * x / (1 + x**2))
    [w, x]
    """
    numerator = sp.fraction(sp.together(g))[0] if g.free_symbols else g
    if not numerator.free_symbols:
        return []
    factors = [numerator]
    if sp.count_ops(numerator) < _FACTOR_OPS and numerator.is_polynomial():
        try:
            factors = [f for f, _ in sp.factor_list(numerator)[1]]
        except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
            pass
    out = {normal_factor(factor) for factor in factors if factor.free_symbols}
    return sorted(out, key=sp.default_sort_key)


def normal_factor(factor: sp.Expr) -> sp.Expr:
    """``factor`` or ``−factor``, whichever has the positive leading sign, expanded when
    small: one name for the piece of a boundary, however it was reached."""
    factor = -factor if factor.could_extract_minus_sign() else factor
    return sp.expand(factor) if sp.count_ops(factor) < _FACTOR_OPS else factor


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
def solve_for(g: sp.Expr, v: sp.Symbol) -> tuple:
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
