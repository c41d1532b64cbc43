r"""Symmetry discovery: every affine symmetry of a loss, verified and classified.

A generator ψ(q) = A q + b is a symmetry of the loss V when ψ·∇V ≡ 0 for every
value of the coordinates, the data and the hyper-parameters. The condition is
linear in the n² + n unknowns (A, b): at a point it reads
(∇V ⊗ [q; 1]) · vec[A | b] = 0. :func:`find_symmetries` evaluates the gradient
at random points (floats: ReLU's ``Max``/``Heaviside``, log-sum-exp, norms and
float coefficients all evaluate), finds the null space of the sampled system,
brings it to reduced row-echelon form with small rational entries, and proves
every basis generator symbolically with :func:`symnoether.core.jet.is_zero` before
returning it. Sampling can only over-constrain, never invent a symmetry, and
verification rejects anything the numerics got wrong.

Layered models declared with ``matrix_coordinates`` (or SymPy ``MatrixSymbol``
layers) can be searched in structured mode (:mod:`symnoether.symmetry.structured`),
which scales to layers of width 64 and returns gl(r) as one family.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
   Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716, Sec. 2–4.
.. [2] D. Kunin et al., "Neural Mechanics: Symmetry and Broken Conservation Laws
   in Deep Learning Dynamics", ICLR 2021, arXiv:2012.04728, Sec. 3.
.. [3] P. J. Olver, "Applications of Lie Groups to Differential Equations",
   Springer 1993, Sec. 2.2 (infinitesimal invariance criterion ψ·∇V = 0).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether.symmetry import find_symmetries
>>> w = sn.coordinates("w1:4")
>>> x = sn.data("x1:4")
>>> norm = sp.sqrt(sum(c**2 for c in w))
>>> loss = sp.log(1 + sp.exp(-sum(a * b for a, b in zip(w, x)) / norm))
>>> algebra = find_symmetries(loss, w, data=x)
>>> [(s.kind, s.generator.T) for s in algebra]
[('scale', Matrix([[w1, w2, w3]]))]
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from fractions import Fraction
from functools import partial

import numpy as np
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from ..budget import check, time_budget
from ..core.checks import (
    block_symbols,
    check_distinct,
    coordinate_blocks,
    ignored_coordinates,
    ignored_message,
)
from ..errors import (
    IgnoredCoordinateWarning,
    InvalidCoordinatesError,
    InvalidInputError,
    InvalidLossError,
    NotSupportedError,
    SearchTooLargeError,
)
from .actions import BlockAction, classify
from .algebra import (
    Symmetry,
    SymmetryAlgebra,
    SymmetryBreaking,
    SymmetryBreakingTable,
    SymmetryFamily,
    TranslationModule,
)
from .grouping import on_every_block, present
from .sampling import (
    annihilates,
    blas_threads,
    branch_plan,
    canonical_basis,
    coordinate_symbols,
    gradient,
    null_space,
    numeric_function,
    polynomial_ring,
    proves_zero,
    sample_values,
    short_text,
)
from .structured import structured_search

__all__ = [
    "find_symmetries",
    "Symmetry",
    "SymmetryFamily",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "SymmetryBreakingTable",
    "TranslationModule",
    "MAX_GENERAL_UNKNOWNS",
]

MAX_GENERAL_UNKNOWNS = 4000
"""Largest n² + n the general search accepts (n = 62 coordinates; ~130 MB)."""

_MODES = ("auto", "general", "structured")
_EXTRA_SAMPLES = 16


def find_symmetries(
    loss: object,
    coords: object,
    data: object = (),
    *,
    mode: str = "auto",
    parameters: Iterable | None = None,
    seed: int = 0,
    max_unknowns: int = MAX_GENERAL_UNKNOWNS,
    timeout: float | None = None,
) -> SymmetryAlgebra:
    """Every affine symmetry ψ = A q + b of ``loss``: a verified basis of its Lie algebra.

    Parameters
    ----------
    loss : sympy expression (or 1×1 Matrix / MatrixExpr)
        V(q; data), built from the coordinates, data and hyper-parameters.
    coords : sequence of Symbols, coordinate matrices, MatrixSymbols, tuples of Symbols
        As for :class:`~symnoether.core.system.LearningSystem` (matrices flatten row by
        row; a tuple or list of Symbols, such as biases, is one column block).
    data : sequence of Symbols, matrices or MatrixSymbols
        Inputs and targets: the symmetry must hold for every value of them.
    mode : {'auto', 'general', 'structured'}
        'general' solves for all n² + n unknowns (up to ``max_unknowns``);
        'structured' tries the actions layered models have (gl(r) at hidden
        interfaces, per-neuron scalings, translations along 𝟙); 'auto' picks
        general when it fits, structured otherwise (and for MatrixSymbols).
    parameters : sequence of Symbols, optional
        Hyper-parameters; every non-coordinate, non-data symbol is one anyway.
        The symmetry must hold for all their admissible values.
    seed : int
        Seed of the random sample points (results are reproducible).
    max_unknowns : int
        Memory guard of the general search.
    timeout : float, optional
        Time budget in seconds (default None: no budget); see :mod:`symnoether.budget`.

    Returns
    -------
    SymmetryAlgebra
        Empty (dimension 0) when the loss has no continuous affine symmetry.
        Presented by families where it has them (``algebra.families``: gl(r) at an
        interface, translations times affine functions), its element basis is what
        iterating gives. Coordinates the loss does not depend on are not searched
        and not counted: they are listed in ``algebra.ignored``.

    Warns
    -----
    IgnoredCoordinateWarning
        Naming the coordinates the loss does not depend on.

    Raises
    ------
    InvalidCoordinatesError, InvalidLossError, NonDifferentiableLossError
        Malformed coordinates or data, a loss with no coordinate in it, a loss
        whose gradient SymPy cannot compute.
    SearchTooLargeError
        General search over too many unknowns: use ``mode='structured'``.
    BudgetExceededError
        The search ran out of its ``timeout``.
    NotSupportedError
        A symmetry was found numerically whose coefficients are not rational
        (V = f(w1 + √2 w2)): derive that generator by hand.

    Notes
    -----
    The coefficients of A and b are rational numbers, the same for every value
    of the hyper-parameters and the data. A symmetry whose coefficients depend
    on a hyper-parameter is therefore not found: V = (w1 + c·w2)² is invariant
    under ψ = (c, −1) for each c, but no single constant ψ works for all c, so
    its algebra is empty here; pass such a generator to
    :func:`symnoether.core.noether` yourself.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> b = sn.coordinates("b1:4")
    >>> lse = sp.log(sum(sp.exp(c) for c in b)) - b[0]      # softmax cross-entropy
    >>> algebra = find_symmetries(lse, b)
    >>> algebra.dimension, algebra[0].kind, algebra[0].generator.T
    (4, 'translation', Matrix([[1, 1, 1]]))
    >>> print(algebra)                    # the shift along 𝟙, times any affine function
    symmetry algebra of dimension 4 (general search)
      translations times affine functions (dimension 4): psi = f(q)*t, f affine in the 3
      coordinates, t in the span of
        translation_1 = (1, 1, 1)
    >>> c = sp.Symbol("c", positive=True)
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> find_symmetries((w1 + c * w2) ** 2, (w1, w2)).dimension   # ψ = (c, −1) depends on c
    0
    """
    with time_budget(timeout, "the symmetry search", hint=_SEARCH_HINT):
        algebra = _search(loss, coords, data, mode, seed, max_unknowns)
    if algebra.ignored:
        warnings.warn(ignored_message(algebra.ignored), IgnoredCoordinateWarning, stacklevel=2)
    return algebra


_SEARCH_HINT = (
    "pass the generators yourself (sn.derive(system, {name: generator})), or search layered "
    "models declared with sn.matrix_coordinates with mode='structured'"
)


def _search(loss, coords, data, mode: str, seed: int, max_unknowns: int) -> SymmetryAlgebra:
    if mode not in _MODES:
        raise InvalidInputError(f"mode = {mode!r} is not one of {', '.join(_MODES)}")
    blocks = parse_blocks(coords)
    data_symbols = parse_data(data, blocks)
    loss = parse_loss(loss, blocks)
    matrix_symbols = any(isinstance(b, sp.MatrixSymbol) for _, b in blocks)
    ignored = ignored_coordinates(loss, _coordinates(blocks))
    n = sum(_size(b) for _, b in blocks) - sum(_size(q) for q in ignored)
    if mode == "auto":
        mode = "structured" if matrix_symbols or n * (n + 1) > max_unknowns else "general"
    if mode == "structured":
        return _structured(loss, blocks, data_symbols, ignored, seed)
    if matrix_symbols:
        raise InvalidInputError(
            "general mode needs explicit coordinate symbols; MatrixSymbol layers are "
            "searched with mode='structured'"
        )
    if n * (n + 1) > max_unknowns:
        raise SearchTooLargeError(
            f"the general search has n² + n = {n * (n + 1)} unknowns for n = {n} "
            f"coordinates, more than max_unknowns = {max_unknowns} (memory grows as n⁴); "
            "declare the layers with sn.matrix_coordinates and pass mode='structured'"
        )
    return general_search(loss, blocks, data_symbols, seed=seed)


# -- input ------------------------------------------------------------------------


def parse_blocks(coords: object) -> tuple:
    """(name, block) pairs: Symbols, explicit matrices of Symbols, MatrixSymbols; checked
    as :class:`~symnoether.core.system.LearningSystem` checks its coordinates."""
    blocks = coordinate_blocks(coords, matrix_symbols=True)
    symbols = [s for _, block in blocks for s in block_symbols(block)]
    bad = [s for s in symbols if not isinstance(s, sp.Symbol | sp.MatrixSymbol)]
    if bad:
        raise InvalidCoordinatesError(
            f"coordinate matrix entry {bad[0]!r} is not a Symbol; build coordinate "
            "matrices with sn.matrix_coordinates('W', rows, cols)"
        )
    check_distinct(symbols, "coordinate")
    return blocks


def parse_data(data: object, blocks: tuple) -> tuple:
    """Flattened data symbols (matrices and tuples of Symbols flattened, MatrixSymbols
    kept whole)."""
    if isinstance(data, sp.Symbol | sp.MatrixBase | sp.MatrixSymbol):
        data = [data]
    if isinstance(data, str) or not isinstance(data, Iterable):
        raise InvalidCoordinatesError(
            f"data = {data!r} is not a sequence of data Symbols; declare data with "
            "sn.data('x y') and pass data=(x, y)"
        )
    flat = []
    for item in data:
        nested = isinstance(item, sp.MatrixBase | tuple | list)
        entries = list(item) if nested else [item]
        for entry in entries:
            if not isinstance(entry, sp.Symbol | sp.MatrixSymbol):
                raise InvalidCoordinatesError(
                    f"data entry {entry!r} is a {type(entry).__name__}, not a Symbol; "
                    "declare data with sn.data('x y')"
                )
            flat.append(entry)
    coordinates = set(coordinate_symbols(blocks)) | {b for _, b in blocks}
    shared = [d for d in flat if d in coordinates]
    if shared:
        raise InvalidCoordinatesError(
            f"{shared[0]} is both a coordinate and a data symbol; rename one of them"
        )
    return tuple(flat)


def parse_loss(loss: object, blocks: tuple) -> sp.Basic:
    if isinstance(loss, sp.MatrixBase | sp.MatrixExpr):
        if tuple(loss.shape) != (1, 1):
            raise InvalidLossError(
                f"the loss is a {loss.shape[0]}×{loss.shape[1]} matrix; it must be a scalar "
                "(write a squared norm as (r.T*r)[0] or r.T*r for a column r)"
            )
        if isinstance(loss, sp.MatrixBase):
            loss = loss[0, 0]
    elif (
        isinstance(loss, str)
        or isinstance(loss, bool)
        or not isinstance(loss, int | float | sp.Expr)
    ):
        raise InvalidLossError(
            f"the loss {loss!r} is a {type(loss).__name__}, not a SymPy expression; build it "
            "from the symbols of sn.coordinates and sn.data"
        )
    loss = loss if isinstance(loss, sp.MatrixExpr) else sp.sympify(loss)
    if not any(loss.has(b) for _, b in blocks if isinstance(b, sp.MatrixSymbol)) and not (
        loss.free_symbols & set(coordinate_symbols(blocks))
    ):
        raise InvalidLossError(
            f"the loss {short_text(loss)} depends on none of the coordinates, so every "
            "generator is a symmetry; build it from these coordinate symbols"
        )
    return loss


def _size(block: object) -> int:
    if isinstance(block, sp.MatrixBase | sp.MatrixSymbol):
        return int(block.shape[0]) * int(block.shape[1])
    return 1


# -- general mode ----------------------------------------------------------------


def general_search(loss: sp.Expr, blocks: tuple, data: tuple, *, seed: int = 0) -> SymmetryAlgebra:
    """The general affine search over all n² + n unknowns (see module docstring), n the
    coordinates the loss depends on; the result is grouped into families
    (:func:`symnoether.symmetry.grouping.present`), which proves every element it
    presents (a module element f·t follows from its translation t)."""
    every = coordinate_symbols(blocks)
    ignored = ignored_coordinates(loss, every)
    coords = tuple(q for q in every if q not in set(ignored))
    position = [every.index(q) for q in coords]
    n = len(coords)
    grad = gradient(loss, coords)
    ring = polynomial_ring(loss, coords)
    others = sorted(loss.free_symbols - set(coords) - set(data), key=lambda s: s.name)
    symbols = [*coords, *data, *others]
    evaluate = numeric_function(symbols, grad)
    unknowns = n * (n + 1)
    if ring is not None and unknowns <= _EXACT_UNKNOWNS:
        basis = exact_basis(ring, coords)
    else:
        rng = np.random.default_rng(seed)
        branching = branch_plan(loss, symbols) or False  # sample where the loss branches
        sample = partial(_sample_rows, evaluate, symbols, n, far=branching)
        extra = min(3 * unknowns, 256) if branching else 0  # branches hold on parts only
        rows = sample(unknowns + _EXTRA_SAMPLES + extra, rng)
        with blas_threads():
            null = _stable_null_space(sample, unknowns, rows, rng)
        basis = canonical_basis(null)
    single = (("q", sp.ImmutableMatrix(every)),)
    members = []
    for vector in basis:
        check()
        left, shift = {}, {}
        for index, value in vector.items():
            i, j = divmod(index, n + 1)
            if j == n:
                shift[(position[i], 0)] = value
            else:
                left[(position[i], position[j])] = value
        action = (BlockAction(len(every), 1, left=left, shift=shift),)
        kind = classify(action)
        members.append(Symmetry(kind, kind, every, single, action))

    def verify(symmetry: Symmetry) -> None:
        check()
        psi = [symmetry.generator[k] for k in position]
        if not _verified(psi, coords, grad, ring):
            raise NotSupportedError(_inexact_message(symmetry.generator, others))

    grouped = present(members, every, coords, blocks, verify)
    return SymmetryAlgebra(every, single, grouped, "general", ignored)


def _structured(loss, blocks: tuple, data: tuple, ignored: tuple, seed: int) -> SymmetryAlgebra:
    """The structured search over the blocks the loss uses, put back on every block."""
    kept = [k for k, (_, b) in enumerate(blocks) if not _ignored_block(b, ignored)]
    found = structured_search(loss, tuple(blocks[k] for k in kept), data, seed=seed)
    coords = _coordinates(blocks, explicit=True)
    members = on_every_block(found.members, blocks, kept, ignored, coords)
    return SymmetryAlgebra(coords, blocks, members, "structured", ignored)


def _ignored_block(block: object, ignored: tuple) -> bool:
    entries = [block] if isinstance(block, sp.Symbol | sp.MatrixSymbol) else list(block)
    return set(entries) <= set(ignored)


def _coordinates(blocks: tuple, *, explicit: bool = False) -> tuple:
    """The coordinates of ``blocks``: Symbols, and MatrixSymbol layers whole (or, with
    ``explicit``, as their entries)."""
    out: list = []
    for _, block in blocks:
        if isinstance(block, sp.MatrixSymbol):
            out.extend(block.as_explicit() if explicit else [block])
        elif isinstance(block, sp.MatrixBase):
            out.extend(block)
        else:
            out.append(block)
    return tuple(out)


def _inexact_message(generator: sp.MatrixBase, others: list) -> str:
    """Why a numerically found generator can fail the exact check, and what to do."""
    depends = f" or depend on {', '.join(map(str, others))}" if others else ""
    approximate = [sp.N(entry, 6) for entry in generator]
    return (
        f"the general search found a symmetry numerically, close to ψ = {approximate}, "
        f"but that ψ fails the exact check ψ·∇V ≡ 0: the true coefficients are not "
        f"rational (such as √2){depends}, and the search reconstructs rational "
        "coefficients only. Derive the generator by hand and pass it to "
        "sn.noether(system, ψ), or sn.derive(system, {name: ψ})"
    )


def exact_basis(ring: tuple, coords: tuple) -> list:
    """The affine symmetries of a polynomial loss by exact coefficient matching.

    ψ·∇V = Σᵢ (Σⱼ A_ij q_j + b_i) ∂ᵢV vanishes identically iff every monomial's
    coefficient does: a linear system over ℚ in the n² + n unknowns, solved in
    exact rational arithmetic (reduced row-echelon form, no rounding), so any
    denominators are exact. Same {unknown index: Fraction} form as
    :func:`canonical_basis`.
    """
    algebra, loss = ring
    n = len(coords)
    q = [algebra.from_expr(c) for c in coords]
    grads = [loss.diff(x) for x in q]
    rows: dict[tuple, dict[int, object]] = {}
    for i, g in enumerate(grads):
        check()
        for j in range(n + 1):
            column = i * (n + 1) + j
            poly = g * q[j] if j < n else g
            for monomial, coefficient in poly.terms():
                rows.setdefault(monomial, {})[column] = coefficient
    system = DomainMatrix(
        {r: entries for r, entries in enumerate(rows.values())},
        (max(len(rows), 1), n * (n + 1)),
        sp.QQ,
    )
    null = system.to_dense().nullspace()
    if null.shape[0] == 0 or null.is_zero_matrix:
        return []
    reduced, pivots = null.rref()
    basis = []
    for r in range(len(pivots)):
        vector = {}
        for column, value in enumerate(reduced.to_Matrix().row(r)):
            if value != 0:
                vector[column] = Fraction(int(value.p), int(value.q))
        basis.append(vector)
    return basis


_EXACT_UNKNOWNS = 600
"""Polynomial losses with at most this many unknowns n² + n are solved exactly."""


def _verified(psi: sp.MatrixBase, coords: tuple, grad: list, ring: tuple | None) -> bool:
    """ψ·∇V ≡ 0: in exact polynomial arithmetic when V is polynomial, else by is_zero."""
    if ring is not None:
        algebra, loss = ring
        total = algebra.zero
        for p, q in zip(psi, coords, strict=True):
            if p != 0:
                total += algebra.from_expr(p) * loss.diff(algebra.from_expr(q))
        return total == 0
    return proves_zero(sp.Add(*[p * g for p, g in zip(psi, grad, strict=True) if p != 0]))


def _stable_null_space(sample, unknowns, rows, rng) -> np.ndarray:
    """Null space of the sampled system, resampling (``sample(count, rng)``) until
    fresh points agree."""
    null = null_space(rows)
    for attempt in range(6):
        check()
        fresh = sample(max(2 * _EXTRA_SAMPLES, unknowns // 4), rng)
        if annihilates(fresh, null):
            return null
        rows = np.concatenate([rows, fresh, sample(unknowns, rng)])
        null = null_space(rows, fast=attempt == 0)
    return null


def _sample_rows(evaluate, symbols: list, n: int, wanted: int, rng, *, far=False) -> np.ndarray:
    chunks, have = [], 0
    for _ in range(4):
        check()
        count = wanted - have + 8
        values = sample_values(symbols, count, rng, far=far)
        with np.errstate(all="ignore"):
            raw = evaluate(*values)
        grads = np.stack([np.broadcast_to(np.asarray(g, dtype=float), (count,)) for g in raw], 1)
        points = np.stack(values[:n], 1)
        finite = np.isfinite(grads).all(axis=1)
        grads, points = grads[finite], points[finite]
        augmented = np.concatenate([points, np.ones((len(points), 1))], 1)
        chunks.append((grads[:, :, None] * augmented[:, None, :]).reshape(len(points), -1))
        have += len(points)
        if have >= wanted:
            break
    if have < wanted:
        raise InvalidLossError(
            "the loss is not finite at most random points (its gradient evaluates to nan or "
            "inf); give coordinates, data and parameters sign assumptions that make it real"
        )
    return np.concatenate(chunks)[:wanted]
