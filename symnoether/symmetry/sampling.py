"""Numerics shared by the general and the structured symmetry search: the coordinates
and gradient of a loss, random sample points, null spaces of the sampled condition
ψ·∇V = 0, their exact rational basis, and the exact checks (sparse polynomials over
ℚ, else :func:`symnoether.core.jet.is_zero`).

Losses with branches (ReLU's ``Max``, ``Heaviside``, ``Abs``, clipping, ``Piecewise``)
are sampled where they branch: :func:`branch_plan` finds every branch boundary
(:class:`symnoether.core.branches.BoundaryPlan`) and :func:`sample_values` puts half
of the points on both sides of, and close to, one of them, with the other values
drawn at the scales of the loss's own constants. The gradients are evaluated with
``DiracDelta`` as 0 (:func:`numeric_function`): the search, like the laws, holds
almost everywhere.

Examples
--------
>>> import numpy as np, sympy as sp
>>> rows = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])     # x + y = 0, z = 0
>>> basis = canonical_basis(null_space(rows))
>>> [{k: str(v) for k, v in vector.items()} for vector in basis]
[{0: '1', 1: '-1'}]
>>> w1, w2 = sp.symbols("w1 w2")
>>> proves_zero(w1 * 2 * w2 - 2 * w1 * w2)
True
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.polys.polyerrors import CoercionFailed

from ..core.boundaries import BRANCHING, BoundaryPlan
from ..core.jet import is_zero
from ..errors import NonDifferentiableLossError, VerificationError

__all__ = [
    "coordinate_symbols", "gradient", "short_text", "sample_values", "null_space",
    "canonical_basis", "polynomial_ring", "proves_zero", "blas_threads", "annihilates",
    "branch_plan", "numeric_function",
]  # fmt: skip


def coordinate_symbols(blocks: tuple) -> tuple:
    """The coordinate Symbols of ``blocks``, row by row (MatrixSymbol blocks have none)."""
    out = []
    for _, block in blocks:
        if isinstance(block, sp.MatrixBase):
            out.extend(block)
        elif isinstance(block, sp.MatrixSymbol):
            continue
        else:
            out.append(block)
    return tuple(out)


def gradient(loss: sp.Expr, coords: Sequence[sp.Symbol]) -> list:
    """∂V/∂q for each coordinate; a ``Derivative`` left over is an error."""
    grad = list(sp.Matrix([loss]).jacobian(list(coords)))
    for q, g in zip(coords, grad, strict=True):
        if g.has(sp.Derivative) or g.has(sp.Subs):
            culprit = next(iter(g.atoms(sp.Derivative) or g.atoms(sp.Subs)))
            raise NonDifferentiableLossError(
                f"SymPy cannot differentiate the loss with respect to {q}: it leaves "
                f"{short_text(culprit)}; rewrite that term with differentiable functions "
                "(Max, Abs, Heaviside, Piecewise, exp, log, sqrt are fine)"
            )
    return grad


def short_text(expr: object, limit: int = 80) -> str:
    """``expr`` as text, cut to ``limit`` characters for messages."""
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def sample_values(
    symbols: Sequence, count: int, rng: np.random.Generator, *, far: object = False
) -> list:
    """Random values for ``symbols`` respecting their sign/integer assumptions.

    With ``far``, a quarter of the real draws reach |x| ~ 10–50, so that
    branches holding only far from 0 (ReLU6's saturation, a threshold at 3)
    are sampled too; kept off for smooth losses, whose exponentials saturate
    there and would ill-condition the system. ``far`` may be a
    :class:`~symnoether.core.branches.BoundaryPlan` (:func:`branch_plan`): then,
    besides, a third of the real draws are multiplied by one of the loss's
    constant scales, and three points in four are moved to one side of a branch
    boundary (each boundary as often, both sides), close to it or well inside, or,
    for a third of the points of a step's boundary (``Heaviside``, ``sign``), onto
    it."""
    values = []
    for s in symbols:
        if isinstance(s, sp.MatrixSymbol):
            values.append(rng.standard_normal((count, *map(int, s.shape))))
        elif s.is_integer:
            values.append(rng.integers(1, 6, count).astype(float))
        elif s.is_positive or s.is_nonnegative:
            values.append(rng.uniform(0.5, 2.0, count))
        elif s.is_negative or s.is_nonpositive:
            values.append(-rng.uniform(0.5, 2.0, count))
        elif far:
            wide = rng.random(count) < 0.25
            scale = np.where(wide, 10.0 ** rng.uniform(0.5, 1.2, count), 1.0)
            values.append(rng.standard_normal(count) * scale)
        else:
            values.append(rng.standard_normal(count))
    if isinstance(far, BoundaryPlan):
        _near_boundaries(far, list(symbols), values, rng)
    return values


def branch_plan(expr: sp.Expr, symbols: Sequence) -> BoundaryPlan | None:
    """Where ``expr`` branches (None when it does not), for :func:`sample_values`.

    Examples
    --------
    >>> import sympy as sp
    >>> w1, w2 = sp.symbols("w1 w2", real=True)
    >>> plan = branch_plan(sp.Max(0, w1 - 150) + (w2 - 1) ** 2, (w1, w2))
    >>> [(str(b.variable), b.roots) for b in plan.boundaries], plan.scales
    ([('w1', (150,))], (2, 150))
    >>> branch_plan((w2 - 1) ** 2, (w1, w2)) is None
    True
    """
    if isinstance(expr, sp.MatrixExpr) or not expr.has(*BRANCHING, sp.DiracDelta):
        return None
    return BoundaryPlan.of(expr)


def numeric_function(symbols: Sequence, exprs: object):
    """``lambdify(symbols, exprs)`` over NumPy (a list of scalar expressions), where a
    ``DiracDelta`` is 0 off its set and a point on that set gives the jump's weight.

    A gradient with a term c·DiracDelta(g) (the derivative of a step) evaluates to
    its regular part where g ≠ 0; at a point on g = 0 (to 10⁻¹⁰ of the size of g's
    terms, as :func:`sample_values` puts them with a plan) every component is
    replaced by its weight c instead, so that a row of the sampled condition
    ψ·∇V = 0 there reads ψ·c = 0: the step must not move under ψ.

    Examples
    --------
    >>> import sympy as sp
    >>> w, x = sp.symbols("w x", real=True)
    >>> f = numeric_function([w, x], [sp.diff(x * sp.Heaviside(w - 1), w)])   # x·δ(w − 1)
    >>> [float(v) for v in f(2.0, 3.0)], [float(v) for v in f(1.0, 3.0)]
    ([0.0], [3.0])
    """
    modules = [{"DiracDelta": _no_delta}, "numpy"]
    plain = sp.lambdify(symbols, exprs, modules=modules, docstring_limit=0)
    if not isinstance(exprs, list | tuple) or not all(isinstance(e, sp.Expr) for e in exprs):
        return plain
    deltas = sorted(
        {d for e in exprs for d in e.atoms(sp.DiracDelta) if len(d.args) == 1 or d.args[1] == 0},
        key=sp.default_sort_key,
    )
    if not deltas:
        return plain
    stand_ins = {d: sp.Dummy() for d in deltas}
    zero = dict.fromkeys(stand_ins.values(), sp.S.Zero)
    linear = [e.xreplace(stand_ins) for e in exprs]
    jumps = []
    for delta, symbol in stand_ins.items():
        weights = [sp.diff(e, symbol).xreplace(zero) for e in linear]
        argument = delta.args[0]
        size = sum((sp.Abs(t) for t in sp.Add.make_args(sp.expand(argument))), sp.S.Zero)
        jumps.append(
            tuple(
                sp.lambdify(symbols, item, modules=modules, docstring_limit=0)
                for item in (argument, size, weights)
            )
        )

    def evaluate(*values):
        shape = np.broadcast(*[np.asarray(v) for v in values]).shape
        out = [np.array(np.broadcast_to(np.asarray(v, float), shape)) for v in plain(*values)]
        for surface, size, weights in jumps:
            on = np.abs(surface(*values)) <= 1e-10 * np.asarray(size(*values), float)
            if np.any(on):
                for component, weight in zip(out, weights(*values), strict=True):
                    component[on] = np.broadcast_to(np.asarray(weight, float), shape)[on]
        return out

    return evaluate


def _no_delta(argument, *order):
    return np.zeros_like(np.asarray(argument, dtype=float))


def _near_boundaries(plan: BoundaryPlan, symbols: list, values: list, rng) -> None:
    """In place: scale a third of the real draws by the constants' scales, then move
    three points in four to one side of a boundary (each boundary as often), half
    of those first next to another boundary (corners: w₁ > 150 and w₂ > 50)."""
    count = len(values[0]) if values else 0
    index = {s: i for i, s in enumerate(symbols)}
    free = [i for i, s in enumerate(symbols) if _real_scalar(s)]
    if plan.scales:
        scales = np.array([float(c) for c in plan.scales])
        for i in free:
            chosen = rng.random(count) < 1 / 3
            values[i] = np.where(chosen, values[i] * rng.choice(scales, count), values[i])
    boundaries = [b for b in plan.boundaries if b.variable in index]
    if not boundaries or count < 2:
        return
    rows = np.flatnonzero(rng.random(count) < 0.75)
    if len({b.variable for b in boundaries}) > 1:  # first, half of the rows to a corner
        corner = rng.integers(0, 2 * len(boundaries), rows.size)
        for k, boundary in enumerate(boundaries):
            _move_to(boundary, rows[corner == k], plan, symbols, values, index, rng)
    main = rng.permutation(np.arange(rows.size) % len(boundaries))
    for k, boundary in enumerate(boundaries):
        _move_to(boundary, rows[main == k], plan, symbols, values, index, rng)


def _move_to(boundary, mine, plan, symbols, values, index, rng) -> None:
    """Rows ``mine``: the boundary's variable moved to one side of it, half of them
    close to it (10⁻⁶ … 10⁻¹ of its size), half well inside (5 … 100 %); for a
    step's boundary, a third onto it instead."""
    if mine.size == 0:
        return
    roots = _root_functions(boundary, tuple(symbols))
    arguments = [v[mine] if np.ndim(v) == 1 else v for v in values]
    choice = rng.integers(0, len(roots), mine.size)
    with np.errstate(all="ignore"):
        found = np.stack([_real_array(f(*arguments), mine.size) for f in roots])
    root = found[choice, np.arange(mine.size)]
    base = np.where(root != 0, np.abs(root), rng.choice([1.0, *map(float, plan.scales)]))
    close = rng.random(mine.size) < 0.5
    relative = np.where(
        close, 10.0 ** -rng.uniform(1, 6, mine.size), rng.uniform(0.05, 1, mine.size)
    )
    step = base * relative
    if boundary.step:  # on the set itself, where a jump's weight is read
        step = np.where(rng.random(mine.size) < 1 / 3, 0.0, step)
    moved = root + np.where(rng.random(mine.size) < 0.5, step, -step)
    v = boundary.variable
    ok = np.isfinite(moved)
    if v.is_positive or v.is_nonnegative:
        ok &= moved > 0
    elif v.is_negative or v.is_nonpositive:
        ok &= moved < 0
    column = values[index[v]]
    column[mine] = np.where(ok, moved, column[mine])


def _real_scalar(s: object) -> bool:
    return isinstance(s, sp.Symbol) and not (
        s.is_integer or s.is_positive or s.is_negative or s.is_nonnegative or s.is_nonpositive
    )


@functools.lru_cache(maxsize=256)
def _root_functions(boundary, symbols: tuple) -> list:
    return [
        sp.lambdify(symbols, root, modules="numpy", docstring_limit=0) for root in boundary.roots
    ]


def _real_array(value: object, size: int) -> np.ndarray:
    array = np.broadcast_to(np.asarray(value), (size,))
    if np.iscomplexobj(array):
        return np.where(np.abs(array.imag) <= 1e-12 * np.abs(array), array.real, np.nan)
    return array.astype(float)


def null_space(rows: np.ndarray, *, fast: bool = True) -> np.ndarray:
    """A basis (columns) of the numerical null space of ``rows``.

    Small systems: SVD (singular values below 10⁻⁸ of the largest). Large ones
    (more than 1500 unknowns): the Gram matrix and a pivoted Cholesky
    factorization (LAPACK ``pstrf``, rank-revealing; ``fast=False`` uses a
    symmetric eigensolver instead, slower and more robust).
    """
    norms = np.linalg.norm(rows, axis=1)
    keep = norms > 0
    rows = rows[keep] / norms[keep, None]
    unknowns = rows.shape[1]
    if rows.shape[0] == 0:
        return np.eye(unknowns)
    if unknowns <= 1500:
        _, sigma, vt = np.linalg.svd(rows, full_matrices=True)
        sigma = np.concatenate([sigma, np.zeros(unknowns - len(sigma))])
        return vt[sigma <= 1e-8 * sigma[0]].T
    import scipy.linalg

    gram = rows.T @ rows
    if fast:
        factor, pivots, rank, _ = scipy.linalg.lapack.dpstrf(
            gram, lower=1, tol=1e-12 * gram.diagonal().max()
        )
        pivots = pivots - 1
        l11, l21 = np.tril(factor[:rank, :rank]), factor[rank:, :rank]
        free = np.eye(unknowns - rank)
        bound = -scipy.linalg.solve_triangular(l11.T, l21.T, lower=False)
        null = np.zeros((unknowns, unknowns - rank))
        null[pivots[:rank]] = bound
        null[pivots[rank:]] = free
        return null / np.linalg.norm(null, axis=0)
    scale = np.trace(gram)
    count = min(unknowns, 64)
    while True:
        w, v = scipy.linalg.eigh(gram, subset_by_index=[0, count - 1])
        null = w <= 1e-14 * scale
        if not null.all() or count == unknowns:
            return v[:, null]
        count = min(unknowns, 4 * count)


def canonical_basis(null: np.ndarray, *, max_denominator: int = 10**6) -> list:
    """Reduced row-echelon form of the span of ``null``'s columns, as exact rationals.

    Returns a list of {unknown index: Fraction} dicts (pivot entries are 1).
    """
    matrix = null.T.copy()
    k, unknowns = matrix.shape
    row = 0
    for col in range(unknowns):
        if row == k:
            break
        pivot = row + int(np.argmax(np.abs(matrix[row:, col])))
        if abs(matrix[pivot, col]) < 1e-6:
            continue
        matrix[[row, pivot]] = matrix[[pivot, row]]
        matrix[row] /= matrix[row, col]
        others = np.arange(k) != row
        matrix[others] -= np.outer(matrix[others, col], matrix[row])
        row += 1
    basis = []
    for vector in matrix[:row]:
        exact = {}
        for index in np.nonzero(np.abs(vector) > 1e-9)[0]:
            value = Fraction(float(vector[index])).limit_denominator(max_denominator)
            if abs(float(value) - vector[index]) > 1e-6 * max(1.0, abs(vector[index])):
                raise VerificationError(
                    "a symmetry generator found numerically has coefficients that are not "
                    "small rationals; the loss is too ill-conditioned for the numeric "
                    "search — rescale it or declare its coefficients as symbols"
                )
            if value != 0:
                exact[int(index)] = value
        basis.append(exact)
    return basis


def polynomial_ring(loss: sp.Expr, coords: Sequence[sp.Symbol] = ()) -> tuple | None:
    """(ring, loss in it): exact sparse polynomials over ℚ, when the loss is polynomial.

    The ring holds every coordinate, also those the loss does not depend on
    (a generator may still move them)."""
    if loss.atoms(sp.Float) or not loss.is_polynomial(*loss.free_symbols):
        return None
    symbols = sorted(loss.free_symbols | set(coords), key=lambda s: s.name)
    ring = sp.ring(symbols, sp.QQ)[0]
    try:
        return ring, ring.from_expr(loss)
    except (ValueError, TypeError, sp.PolynomialError, CoercionFailed):
        return None  # coefficients outside ℚ (√2, π): the numeric search takes it


def proves_zero(expr: sp.Expr, ring: object = None) -> bool:
    """ψ·∇V ≡ 0, symbolically: exact sparse-polynomial arithmetic for polynomial
    losses (ten times faster than ``expand``), else :func:`symnoether.core.jet.is_zero`
    (rationalize, expand, cancel, then a 50-digit randomized check)."""
    if ring is not None:
        try:
            return ring.from_expr(expr) == 0
        except (ValueError, TypeError, sp.PolynomialError):
            pass
    return is_zero(expr)


def blas_threads():
    """Limit BLAS to one thread (threadpoolctl, when installed): on a loaded machine
    OpenBLAS's spinning threads make a 100×100 SVD take a second, and a
    2550² factorization several times longer than on one thread."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)


def annihilates(rows: np.ndarray, null: np.ndarray) -> bool:
    """Whether fresh sample rows vanish on the null space found (relative 1e-7)."""
    if null.shape[1] == 0:
        return True
    norms = np.linalg.norm(rows, axis=1)
    norms[norms == 0] = 1
    return bool(np.abs((rows / norms[:, None]) @ null).max() <= 1e-7)
