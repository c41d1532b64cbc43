r"""Symmetry discovery: the affine symmetries of a loss, verified and classified, with
what was searched.

A generator ψ(q) = A q + b is a symmetry of the loss V when ψ·∇V ≡ 0 for every
value of the coordinates, the data and the hyper-parameters. The condition is
linear in the n² + n unknowns (A, b). :func:`find_symmetries` has two searches:

* the **general search** (:mod:`symnoether.symmetry.general`) solves for all
  n² + n unknowns: exact sparse coefficient matching for polynomial losses, the
  gradient sampled at random points otherwise (ReLU's ``Max``/``Heaviside``,
  log-sum-exp, norms and float coefficients all evaluate). Its result is
  *complete* (``algebra.complete``): every affine symmetry is in its span. It
  reaches models of 100 parameters (10 100 unknowns), ``MatrixSymbol`` layers
  included (written out entry by entry);
* the **structured search** (:mod:`symnoether.symmetry.structured`) tries the
  families layered models have, at the matrix level, and scales to layers of
  width 64; it is *not* complete: ``algebra.searched`` lists the families it
  tried, and ``print(algebra)`` says so.

``mode='auto'`` (the default) runs the general search whenever it fits
(n² + n ≤ ``max_unknowns``) and the structured one otherwise, which the result
then says. Every generator returned is proved before it is returned. Sampling
can only over-constrain, never invent a symmetry, and the proof rejects
anything the numerics got wrong.

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

import dataclasses
import warnings
from collections.abc import Iterable
from math import comb

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from ..budget import time_budget
from ..core.checks import (
    ignored_coordinates,
    ignored_message,
)
from ..errors import (
    IgnoredCoordinateWarning,
    InvalidInputError,
    NotSupportedError,
    SearchTooLargeError,
)
from .algebra import (
    Symmetry,
    SymmetryAlgebra,
    SymmetryBreaking,
    SymmetryBreakingTable,
    SymmetryFamily,
    TranslationModule,
)
from .discrete import find_discrete_symmetries
from .general import general_search
from .grouping import on_every_block
from .parsing import parse_blocks, parse_data, parse_loss
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

MAX_GENERAL_UNKNOWNS = 10100
"""Largest n² + n the general search takes by default (n = 100 coordinates)."""

_MODES = ("auto", "general", "structured")


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
    discrete: bool = False,
) -> SymmetryAlgebra:
    """The affine symmetries ψ = A q + b of ``loss``: a verified basis of their Lie algebra,
    with how complete it is (``algebra.complete``, ``algebra.searched``).

    Parameters
    ----------
    loss : sympy expression (or 1×1 Matrix / MatrixExpr)
        V(q; data), built from the coordinates, data and hyper-parameters.
    coords : sequence of Symbols, coordinate matrices, MatrixSymbols, tuples of Symbols
        As for :class:`~symnoether.core.system.LearningSystem` (matrices flatten row by
        row; a tuple or list of Symbols, such as biases, is one column block).
    data : sequence of Symbols, matrices or MatrixSymbols
        Inputs and targets: the symmetry must hold for every value of them.
    discrete : bool
        Also search the discrete symmetries — orthogonal signed permutations R with
        V(Rθ) ≡ V(θ): mirrors, sign flips, permutations of hidden units
        (:func:`~symnoether.symmetry.discrete.find_discrete_symmetries`) — returned as
        ``algebra.discrete`` (None when not searched).
    mode : {'auto', 'general', 'structured'}
        'general' solves for all n² + n unknowns (up to ``max_unknowns``; MatrixSymbol
        layers are written out entry by entry): the result is complete;
        'structured' tries the families layered models have (gl(r) at hidden
        interfaces, families of products WᵢᵀWⱼ and WᵢWⱼᵀ, per-neuron scalings,
        translations along 𝟙): the result is flagged incomplete; 'auto' picks
        general when n² + n ≤ ``max_unknowns``, structured otherwise.
    parameters : sequence of Symbols, optional
        Hyper-parameters; every non-coordinate, non-data symbol is one anyway.
        The symmetry must hold for all their admissible values.
    seed : int
        Seed of the random sample points (results are reproducible).
    max_unknowns : int
        Largest n² + n the general search takes (its time grows with it).
    timeout : float, optional
        Time budget in seconds (default None: no budget); see :mod:`symnoether.budget`.

    Returns
    -------
    SymmetryAlgebra
        Empty (dimension 0) when the loss has no continuous affine symmetry (in the
        families searched, for a structured search: ``algebra.complete`` is False).
        Presented by families where it has them (``algebra.families``: gl(r) at an
        interface, families of products, translations times affine functions), its
        element basis is what iterating gives. Coordinates the loss does not depend
        on are not searched and not counted: they are listed in ``algebra.ignored``.

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
        ``mode='general'`` over more than ``max_unknowns`` unknowns: raise it, or use
        ``mode='structured'``.
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
      complete: all affine generators searched
      translations times affine functions (dimension 4): psi = f(q)*t, f affine in the 3
      coordinates, t in the span of
        translation_1 = (1, 1, 1)
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> pair = find_symmetries((1 - w1 * w2) ** 2, (w1, w2), discrete=True)
    >>> pair.dimension, len(pair.discrete.elements)     # the rescaling, and 3 mirrors
    (1, 3)
    >>> c = sp.Symbol("c", positive=True)
    >>> find_symmetries((w1 + c * w2) ** 2, (w1, w2)).dimension   # ψ = (c, −1) depends on c
    0
    """
    with time_budget(timeout, "the symmetry search", hint=_SEARCH_HINT):
        algebra = _search(loss, coords, data, mode, seed, max_unknowns)
        if discrete:
            mirrors = find_discrete_symmetries(loss, coords, data, seed=seed)
            algebra = dataclasses.replace(algebra, discrete=mirrors)
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
    auto = mode == "auto"
    if auto:
        mode = "general" if n * (n + 1) <= max_unknowns else "structured"
    if mode == "structured":
        return _structured(loss, blocks, data_symbols, ignored, seed)
    if n * (n + 1) > max_unknowns:
        raise SearchTooLargeError(
            f"the general search has n² + n = {n * (n + 1)} unknowns for n = {n} "
            f"coordinates, more than max_unknowns = {max_unknowns}; raise max_unknowns "
            "(time and memory grow with it), or declare the layers with "
            "sn.matrix_coordinates and pass mode='structured' (an incomplete search)"
        )
    if matrix_symbols:
        written = _written_out(loss, blocks, data_symbols)
        terms = expansion_bound(written[0])
        if auto and terms > EXPANSION_LIMIT:  # a deep MatrixSymbol network: too many terms
            algebra = _structured(loss, blocks, data_symbols, ignored, seed)
            why = (
                f"; the general search was not run: the loss written out entry by entry has "
                f"up to {terms:.1e} terms (more than {EXPANSION_LIMIT:.0e})"
            )
            return dataclasses.replace(algebra, searched=algebra.searched + why)
        return _general_on_entries(written, blocks, seed)
    return general_search(loss, blocks, data_symbols, seed=seed)


# -- input ------------------------------------------------------------------------


def _size(block: object) -> int:
    if isinstance(block, sp.MatrixBase | sp.MatrixSymbol):
        return int(block.shape[0]) * int(block.shape[1])
    return 1


# -- the two searches ---------------------------------------------------------------


def _structured(loss, blocks: tuple, data: tuple, ignored: tuple, seed: int) -> SymmetryAlgebra:
    """The structured search over the blocks the loss uses, put back on every block."""
    kept = [k for k, (_, b) in enumerate(blocks) if not _ignored_block(b, ignored)]
    found = structured_search(loss, tuple(blocks[k] for k in kept), data, seed=seed)
    coords = _coordinates(blocks, explicit=True)
    members = on_every_block(found.members, blocks, kept, ignored, coords)
    return SymmetryAlgebra(coords, blocks, members, "structured", ignored, found.searched)


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


def _written_out(loss, blocks: tuple, data: tuple) -> tuple:
    """(scalar loss, explicit blocks, flat data, entry of each symbol): MatrixSymbol layers
    and data written out entry by entry, each entry W[i, j] a real Symbol."""
    matrices = {b for _, b in blocks if isinstance(b, sp.MatrixSymbol)}
    matrices |= {d for d in data if isinstance(d, sp.MatrixSymbol)}
    matrices |= {m for m in getattr(loss, "free_symbols", set()) if isinstance(m, sp.MatrixSymbol)}
    entries = {}
    for matrix in sorted(matrices, key=str):
        rows, cols = map(int, matrix.shape)
        for i in range(rows):
            for j in range(cols):
                entries[matrix[i, j]] = sp.Dummy(f"{matrix.name}_{i}{j}", real=True)
    explicit_of = {
        m: sp.ImmutableMatrix(m.shape[0], m.shape[1], lambda i, j, m=m: entries[m[i, j]])
        for m in matrices
    }
    scalar = _explicit_scalar(loss, explicit_of).xreplace(entries)
    left = [m for m in scalar.free_symbols if isinstance(m, sp.MatrixSymbol | MatrixElement)]
    if left:
        raise NotSupportedError(
            f"the loss could not be written out entry by entry (it keeps {left[0]}); pass "
            "mode='structured', or declare the layers with sn.matrix_coordinates"
        )
    explicit = tuple((name, explicit_of.get(b, b)) for name, b in blocks)
    explicit = tuple(
        (name, sp.Matrix(b) if isinstance(b, sp.ImmutableMatrix) else b) for name, b in explicit
    )
    flat = []
    for d in data:
        flat.extend(explicit_of[d] if isinstance(d, sp.MatrixSymbol) else [d])
    return scalar, explicit, tuple(flat), {v: k for k, v in entries.items()}


def _general_on_entries(written: tuple, blocks: tuple, seed: int) -> SymmetryAlgebra:
    """The general search on MatrixSymbol layers written out (:func:`_written_out`), the
    result put back on the entries (coordinates W[i, j], families on the layers)."""
    scalar, explicit, data, back = written
    algebra = general_search(scalar, explicit, data, seed=seed)
    return _renamed_algebra(algebra, back, blocks)


EXPANSION_LIMIT = 10**5
"""Most terms (an upper bound, :func:`expansion_bound`) of a MatrixSymbol loss written out
entry by entry for which auto mode runs the general search."""


def expansion_bound(expr: sp.Expr) -> int:
    """An upper bound on the number of monomials of ``expr`` expanded (1 for a function
    application: only its polynomial structure counts).

    Examples
    --------
    >>> x, y, z = sp.symbols("x y z")
    >>> expansion_bound((x + y + z) ** 2), expansion_bound((x + y) * (x + z) + 1)
    (6, 5)
    """
    if isinstance(expr, sp.Add):
        return sum(expansion_bound(a) for a in expr.args)
    if isinstance(expr, sp.Mul):
        out = 1
        for a in expr.args:
            out *= expansion_bound(a)
        return out
    if isinstance(expr, sp.Pow) and expr.exp.is_Integer and expr.exp > 0:
        k = int(expr.exp)
        return comb(expansion_bound(expr.base) + k - 1, k)
    return 1


def _explicit_scalar(loss, explicit_of: dict) -> sp.Expr:
    """A scalar loss in the entries of its matrices: each MatrixSymbol replaced by the
    explicit matrix ``explicit_of[M]`` and the products multiplied out (far faster than
    SymPy's ``as_explicit``, which sums index by index)."""
    if isinstance(loss, sp.MatrixExpr):
        value = loss.xreplace(explicit_of).doit()
        return sp.Matrix(value)[0, 0] if hasattr(value, "shape") else value
    value = loss.xreplace(explicit_of).doit()
    leftover = [e for e in value.atoms(MatrixElement) if not isinstance(e.parent, sp.MatrixSymbol)]
    if leftover:  # an element of a product: written out through as_explicit
        value = value.xreplace({e: e.parent.as_explicit()[e.i, e.j] for e in leftover})
    return value


def _renamed_algebra(algebra: SymmetryAlgebra, back: dict, blocks: tuple) -> SymmetryAlgebra:
    """``algebra`` with each entry symbol replaced by its MatrixElement (``back``) and the
    families put on the original ``blocks``."""
    coords = tuple(back.get(q, q) for q in algebra.coords)
    column = (("q", sp.ImmutableMatrix(coords)),)

    def symmetry(s: Symmetry) -> Symmetry:
        return dataclasses.replace(s, coords=coords, blocks=column)

    members = []
    for member in algebra.members:
        if isinstance(member, Symmetry):
            members.append(symmetry(member))
        elif isinstance(member, TranslationModule):
            factors = tuple(back.get(q, q) for q in member.factors)
            translations = tuple(symmetry(t) for t in member.translations)
            members.append(
                dataclasses.replace(
                    member, translations=translations, factors=factors, coords=coords, blocks=column
                )
            )
        else:
            members.append(dataclasses.replace(member, coords=coords, blocks=blocks))
    ignored = [back.get(q, q) for q in algebra.ignored]
    for _, block in blocks:  # a layer the loss ignores whole is named whole
        if isinstance(block, sp.MatrixSymbol):
            entries = list(block.as_explicit())
            if set(entries) <= set(ignored):
                at = ignored.index(entries[0])
                ignored = [q for q in ignored if q not in set(entries)]
                ignored.insert(at, block)
    ignored = tuple(ignored)
    return dataclasses.replace(
        algebra, coords=coords, blocks=column, members=tuple(members), ignored=ignored
    )
