r"""Exact affine actions of symmetry generators on coordinate blocks, their bracket
and their kind (translation, scale, rescale, rotation, general).

Every generator found is an affine vector field acting block by block on the
coordinate blocks B (a matrix, a column, or one scalar):

    ψ(B) = L B + B R + C,

with exact rational L (rows×rows), R (cols×cols) and C (rows×cols). The general
search uses one block, the column of all coordinates, so ψ(q) = A q + b; the
structured search uses the layers' own matrices, which is how a gl(r) family
acting on a 64-wide layer stays small (L = E_ij, not a 12k×12k matrix).

The bracket is the commutator of the generators as affine maps,

    [ψ₁, ψ₂] = Dψ₁ ψ₂ − Dψ₂ ψ₁      (= −(Lie bracket of vector fields)),

chosen so that ψ_A = (A W₁, −W₂ A) is a homomorphism gl(r) → aff(n): the
structure constants are gl(r)'s own, [E_ij, E_kl] = δ_jk E_il − δ_li E_kj.

References
----------
.. [1] P. J. Olver, "Applications of Lie Groups to Differential Equations",
   2nd ed., Springer 1993, Sec. 1.4 and 2.2 (infinitesimal generators).
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3
   (translation, scale, rescale symmetries of networks).

Examples
--------
>>> from fractions import Fraction
>>> x = BlockAction(2, 1, left={(0, 1): Fraction(1)})       # ψ(q) = E₁₂ q
>>> y = BlockAction(2, 1, left={(1, 0): Fraction(1)})       # ψ(q) = E₂₁ q
>>> x.bracket(y).left == {(0, 0): Fraction(1), (1, 1): Fraction(-1)}   # [E₁₂, E₂₁]
True
>>> classify((BlockAction(2, 1, shift={(0, 0): Fraction(1)}),))
'translation'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

__all__ = [
    "BlockAction",
    "classify",
    "combine",
    "add_actions",
    "bracket_actions",
    "action_key",
    "rational",
    "flatten_action",
    "action_vector",
    "Span",
    "KINDS",
]

KINDS = ("translation", "scale", "rescale", "rotation", "general")
"""The kinds a generator is classified into."""

_Sparse = dict  # {(i, j): Fraction}


# -- exact sparse affine actions ------------------------------------------------


def _mul(x: _Sparse, y: _Sparse) -> _Sparse:
    by_row: dict = {}
    for (k, j), value in y.items():
        by_row.setdefault(k, []).append((j, value))
    out: dict = {}
    for (i, k), value in x.items():
        for j, other in by_row.get(k, ()):
            out[(i, j)] = out.get((i, j), 0) + value * other
    return {key: v for key, v in out.items() if v != 0}


def _add(*terms: tuple) -> _Sparse:
    out: dict = {}
    for sign, matrix in terms:
        for key, value in matrix.items():
            out[key] = out.get(key, 0) + sign * value
    return {key: v for key, v in out.items() if v != 0}


@dataclass(frozen=True)
class BlockAction:
    """ψ(B) = L B + B R + C on one rows×cols block, exact and sparse.

    ``left``, ``right``, ``shift`` map (i, j) (0-based) to non-zero Fractions.
    The pair (L, R) is normalized so that tr R = 0 (L B + B R is unchanged by
    L → L + λI, R → R − λI), making the representation unique.
    """

    rows: int
    cols: int
    left: dict = field(default_factory=dict)
    right: dict = field(default_factory=dict)
    shift: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        trace = sum((v for (i, j), v in self.right.items() if i == j), Fraction(0))
        if trace != 0:
            lam = trace / self.cols
            eye_r = {(i, i): lam for i in range(self.rows)}
            eye_c = {(i, i): lam for i in range(self.cols)}
            object.__setattr__(self, "left", _add((1, self.left), (1, eye_r)))
            object.__setattr__(self, "right", _add((1, self.right), (-1, eye_c)))

    @property
    def is_zero(self) -> bool:
        return not (self.left or self.right or self.shift)

    def bracket(self, other: BlockAction) -> BlockAction:
        """Dψ₁ψ₂ − Dψ₂ψ₁ = [L₁,L₂]B − B[R₁,R₂] + L₁C₂ − L₂C₁ + C₂R₁ − C₁R₂."""
        l1, r1, c1 = self.left, self.right, self.shift
        l2, r2, c2 = other.left, other.right, other.shift
        return BlockAction(
            self.rows,
            self.cols,
            _add((1, _mul(l1, l2)), (-1, _mul(l2, l1))),
            _add((1, _mul(r2, r1)), (-1, _mul(r1, r2))),
            _add((1, _mul(l1, c2)), (-1, _mul(l2, c1)), (1, _mul(c2, r1)), (-1, _mul(c1, r2))),
        )

    def scaled(self, factor: Fraction) -> BlockAction:
        return BlockAction(
            self.rows,
            self.cols,
            {k: v * factor for k, v in self.left.items()},
            {k: v * factor for k, v in self.right.items()},
            {k: v * factor for k, v in self.shift.items()},
        )

    def plus(self, other: BlockAction) -> BlockAction:
        return BlockAction(
            self.rows,
            self.cols,
            _add((1, self.left), (1, other.left)),
            _add((1, self.right), (1, other.right)),
            _add((1, self.shift), (1, other.shift)),
        )

    def key(self) -> tuple:
        return (
            tuple(sorted(self.left.items())),
            tuple(sorted(self.right.items())),
            tuple(sorted(self.shift.items())),
        )

    def apply(self, block: sp.MatrixBase) -> sp.Matrix:
        """The explicit entries of ψ(B)."""
        out = sp.zeros(self.rows, self.cols)
        for (i, k), v in self.left.items():
            for j in range(self.cols):
                out[i, j] += rational(v) * block[k, j]
        for (k, j), v in self.right.items():
            for i in range(self.rows):
                out[i, j] += rational(v) * block[i, k]
        for (i, j), v in self.shift.items():
            out[i, j] += rational(v)
        return out

    def entry_coefficients(self) -> dict:
        """{(i, j): coefficient of B_ij in ψ(B)_ij}, the diagonal of the flattened action."""
        out: dict = {}
        for (i, k), v in self.left.items():
            if i == k:
                for j in range(self.cols):
                    out[(i, j)] = out.get((i, j), 0) + v
        for (k, j), v in self.right.items():
            if k == j:
                for i in range(self.rows):
                    out[(i, j)] = out.get((i, j), 0) + v
        return {key: v for key, v in out.items() if v != 0}

    def is_flat_diagonal(self) -> bool:
        return all(i == k for i, k in self.left) and all(k == j for k, j in self.right)

    def is_flat_antisymmetric(self) -> bool:
        def antisym(m: dict) -> bool:
            return all(m.get((j, i), 0) == -v for (i, j), v in m.items())

        return antisym(self.left) and antisym(self.right)


def rational(value: Fraction) -> sp.Rational:
    """A Fraction as a SymPy Rational."""
    return sp.Rational(value.numerator, value.denominator)


def combine(actions: list, coefficients: list) -> tuple:
    """Σ cₖ·actionₖ for actions given block by block."""
    total = None
    for action, c in zip(actions, coefficients, strict=True):
        if c == 0:
            continue
        scaled = tuple(None if a is None else a.scaled(c) for a in action)
        total = scaled if total is None else add_actions(total, scaled)
    return total


def add_actions(x: tuple, y: tuple) -> tuple:
    """The sum of two actions, block by block."""
    out = []
    for a, b in zip(x, y, strict=True):
        if a is None or b is None:
            out.append(b if a is None else a)
        else:
            s = a.plus(b)
            out.append(None if s.is_zero else s)
    return tuple(out)


def bracket_actions(x: tuple, y: tuple) -> tuple:
    """[x, y] of two actions, block by block (see BlockAction.bracket)."""
    out = []
    for a, b in zip(x, y, strict=True):
        if a is None or b is None:
            out.append(None)
        else:
            s = a.bracket(b)
            out.append(None if s.is_zero else s)
    return tuple(out)


def action_key(action: tuple) -> tuple:
    """A hashable key of an action (to compare generators)."""
    return tuple(None if a is None or a.is_zero else a.key() for a in action)


def classify(action: tuple) -> str:
    """'translation' | 'scale' | 'rescale' | 'rotation' | 'general' for an action."""
    parts = [a for a in action if a is not None and not a.is_zero]
    linear = any(a.left or a.right for a in parts)
    shifted = any(a.shift for a in parts)
    if shifted:
        return "general" if linear else "translation"
    if all(a.is_flat_diagonal() for a in parts):
        signs = {v > 0 for a in parts for v in a.entry_coefficients().values()}
        return "scale" if len(signs) == 1 else "rescale"
    if all(a.is_flat_antisymmetric() for a in parts):
        return "rotation"
    return "general"


# -- one column, and exact linear algebra on actions ----------------------------------


def flatten_action(action: tuple, shapes: list) -> BlockAction:
    """The same affine field as one action on the column of all coordinates, block after
    block, row by row (how the general search represents generators).

    Examples
    --------
    >>> psi = (BlockAction(1, 2, left={(0, 0): Fraction(1)}), None)  # ψ(W) = W on 1×2 W
    >>> flatten_action(psi, [(1, 2), (1, 1)]).left == {(0, 0): 1, (1, 1): 1}
    True
    """
    n = sum(rows * cols for rows, cols in shapes)
    left: dict = {}
    shift: dict = {}
    offset = 0
    for part, (rows, cols) in zip(action, shapes, strict=True):
        if part is not None:
            for (i, k), v in part.left.items():
                for j in range(cols):
                    key = (offset + i * cols + j, offset + k * cols + j)
                    left[key] = left.get(key, 0) + v
            for (k, j), v in part.right.items():
                for i in range(rows):
                    key = (offset + i * cols + j, offset + i * cols + k)
                    left[key] = left.get(key, 0) + v
            for (i, j), v in part.shift.items():
                shift[(offset + i * cols + j, 0)] = v
        offset += rows * cols
    return BlockAction(n, 1, {k: v for k, v in left.items() if v != 0}, {}, shift)


def action_vector(action: tuple) -> dict:
    """The coefficients of an action as one sparse vector {(block, part, i, j): Fraction}."""
    out = {}
    for b, part in enumerate(action):
        if part is None:
            continue
        for label, matrix in (("L", part.left), ("R", part.right), ("C", part.shift)):
            for (i, j), v in matrix.items():
                out[(b, label, i, j)] = Fraction(v)
    return out


class Span:
    """An exact, growing span of sparse vectors ({key: Fraction}), kept in reduced
    echelon form with respect to the order ``order`` of the keys.

    Examples
    --------
    >>> span = Span()
    >>> span.add({"x": Fraction(1), "y": Fraction(1)}), span.add({"x": Fraction(2), "y": 2})
    (True, False)
    >>> span.contains({"x": Fraction(-3), "y": Fraction(-3)}), span.dimension
    (True, 1)
    """

    def __init__(self, order: object = repr) -> None:
        self._order = order  # sort key of the entries: each row's pivot is its first entry
        self._rows: list = []  # (pivot key, vector with 1 at the pivot)

    @property
    def rows(self) -> list:
        """The reduced rows: each a dict, 1 at its pivot, 0 at the other rows' pivots,
        and 0 at every key ordered before its pivot."""
        return [row for _, row in self._rows]

    @property
    def dimension(self) -> int:
        return len(self._rows)

    def copy(self) -> Span:
        twin = Span(self._order)
        twin._rows = list(self._rows)
        return twin

    def reduce(self, vector: dict) -> dict:
        """``vector`` minus its components along the pivots (0 iff it is in the span)."""
        out = {k: Fraction(v) for k, v in vector.items() if v != 0}
        for pivot, row in self._rows:
            c = out.get(pivot)
            if c:
                for k, v in row.items():
                    value = out.get(k, 0) - c * v
                    if value:
                        out[k] = value
                    else:
                        out.pop(k, None)
        return out

    def contains(self, vector: dict) -> bool:
        return not self.reduce(vector)

    def add(self, vector: dict) -> bool:
        """Add ``vector``; False (and nothing added) when it is already in the span."""
        rest = self.reduce(vector)
        if not rest:
            return False
        pivot = min(rest, key=self._order)
        scale = rest[pivot]
        row = {k: v / scale for k, v in rest.items()}
        for index, (other, existing) in enumerate(self._rows):
            c = existing.get(pivot)
            if c:
                updated = dict(existing)
                for k, v in row.items():
                    value = updated.get(k, 0) - c * v
                    if value:
                        updated[k] = value
                    else:
                        updated.pop(k, None)
                self._rows[index] = (other, updated)
        self._rows.append((pivot, row))
        return True
