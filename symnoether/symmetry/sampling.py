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
from ..core.branches import drop_deltas
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
    constant scales, and every other point is moved to one side of a branch
    boundary, close to it (each boundary in turn, both sides)."""
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
    if isinstance(expr, sp.MatrixExpr) or not expr.has(*BRANCHING):
        return None
    return BoundaryPlan.of(drop_deltas(expr))


def numeric_function(symbols: Sequence, exprs: object):
    """``lambdify(symbols, exprs)`` over NumPy, with ``DiracDelta`` evaluating to 0
    (it vanishes off a set of measure zero; NumPy has no such function).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> f = numeric_function([x], [sp.diff(x * sp.Heaviside(x), x)])
    >>> [float(v) for v in f(2.0)]
    [1.0]
    """
    modules = [{"DiracDelta": _no_delta}, "numpy"]
    return sp.lambdify(symbols, exprs, modules=modules, docstring_limit=0)


def _no_delta(argument, *order):
    return np.zeros_like(np.asarray(argument, dtype=float))


def _near_boundaries(plan: BoundaryPlan, symbols: list, values: list, rng) -> None:
    """In place: scale a third of the real draws by the constants' scales, then move
    every other point to one side of a boundary (boundary k on rows k, k + K, ...)."""
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
    rows = np.arange(0, count, 2)
    for k, boundary in enumerate(boundaries):
        mine = rows[k :: len(boundaries)]
        if mine.size == 0:
            continue
        roots = _root_functions(boundary, tuple(symbols))
        arguments = [v[mine] if np.ndim(v) == 1 else v for v in values]
        choice = rng.integers(0, len(roots), mine.size)
        with np.errstate(all="ignore"):
            found = np.stack([_real_array(f(*arguments), mine.size) for f in roots])
        root = found[choice, np.arange(mine.size)]
        base = np.where(root != 0, np.abs(root), rng.choice([1.0, *map(float, plan.scales)]))
        step = base * 10.0 ** -rng.uniform(2, 6, mine.size)
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
