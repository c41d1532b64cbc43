r"""The members of a symmetry algebra: one generator, a gl(r) family, a module of
translations times affine functions.

Each is exact and verified; a family or module iterates over its basis elements,
one :class:`Symmetry` each, so an algebra's element basis stays available
(:class:`~symnoether.symmetry.algebra.SymmetryAlgebra`).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether.symmetry import find_symmetries
>>> from symnoether import models
>>> net = models.linear_network(3, 2, 2)
>>> (family,) = find_symmetries(net.loss, net.coords, data=net.data).families
>>> print(family)
gl(2) at W1 -> W2 (dimension 4): psi_A = (A1*W1, -W2*A1), A1 any 2x2 matrix
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..core.display import aligned_latex, vector_latex, vector_text
from .actions import BlockAction, classify, flatten_action

__all__ = ["Symmetry", "SymmetryFamily", "TranslationModule", "as_matrix", "block_shape"]


@dataclass(frozen=True)
class Symmetry:
    """One generator ψ of a symmetry of the loss, verified.

    Attributes
    ----------
    name : str
    kind : str
        One of :data:`symnoether.symmetry.actions.KINDS`.
    coords : tuple
        The flattened coordinates ψ is a column over.
    blocks : tuple
        (name, block) pairs: the coordinate blocks ψ acts on.
    action : tuple
        Per block, a :class:`BlockAction` (exact L, R, C) or None.
    verified : str
        'symbolic' (ψ·∇V ≡ 0 proved by :func:`symnoether.core.jet.is_zero` or by
        trace-cyclic canonicalization) or 'numeric' (random points only).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> from symnoether.symmetry import find_symmetries
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> (s,) = find_symmetries((1 - w1 * w2) ** 2, (w1, w2))
    >>> s.kind, s.generator.T
    ('rescale', Matrix([[w1, -w2]]))
    """

    name: str
    kind: str
    coords: tuple = field(repr=False)
    blocks: tuple = field(repr=False)
    action: tuple = field(repr=False)
    verified: str = "symbolic"

    @functools.cached_property
    def generator(self) -> sp.ImmutableMatrix:
        """ψ as a column over the flattened coordinates (what sn.noether takes)."""
        entries: list = []
        for (_, block), part in zip(self.blocks, self.action, strict=True):
            matrix = as_matrix(block)
            if part is None:
                entries.extend([sp.S.Zero] * len(matrix))
            else:
                entries.extend(list(part.apply(matrix)))
        return sp.ImmutableMatrix(entries)

    @property
    def dimension(self) -> int:
        return 1

    def __str__(self) -> str:
        return f"{self.name} [{self.kind}]: psi = {vector_text(self.generator)}"

    def _repr_latex_(self) -> str:
        return aligned_latex([(rf"\psi_{{\mathrm{{{self.kind}}}}}", vector_latex(self.generator))])


@dataclass(frozen=True)
class SymmetryFamily:
    """A parametrized family ψ_A = (A W_a, A b, −W_b A), A ∈ gl(r): one Lie algebra.

    It iterates lazily over its r² basis elements A = E_ij (row-major), and
    :meth:`element` gives ψ_A for any concrete r×r matrix A.

    Attributes
    ----------
    name : str
        e.g. ``'gl(2) at W1 -> W2'``.
    rank : int
        r; the dimension is r².
    left_blocks : tuple of int
        Indices of the blocks multiplied on the left by A (W_a and its bias).
    right_block : int
        Index of the block multiplied on the right by −A (W_b).
    parameter : MatrixSymbol
        The symbol A of :attr:`action`.
    verified : str
        'symbolic' or 'numeric', as for :class:`Symmetry`.
    """

    name: str
    rank: int
    coords: tuple = field(repr=False)
    blocks: tuple = field(repr=False)
    left_blocks: tuple
    right_block: int
    parameter: sp.MatrixSymbol
    verified: str = "symbolic"
    kind: str = "general"

    @property
    def dimension(self) -> int:
        return self.rank**2

    def __len__(self) -> int:
        return self.dimension

    def __iter__(self) -> Iterator[Symmetry]:
        return (self.basis_element(k) for k in range(self.dimension))

    def basis_action(self, k: int) -> tuple:
        i, j = divmod(k, self.rank)
        return self.action_of({(i, j): Fraction(1)})

    def action_of(self, matrix: dict) -> tuple:
        parts: list = [None] * len(self.blocks)
        for index in self.left_blocks:
            rows, cols = block_shape(self.blocks[index][1])
            parts[index] = BlockAction(rows, cols, left=dict(matrix))
        rows, cols = block_shape(self.blocks[self.right_block][1])
        parts[self.right_block] = BlockAction(
            rows, cols, right={key: -v for key, v in matrix.items()}
        )
        return tuple(parts)

    def flat_action(self, k: int) -> tuple:
        """ψ_{E_ij} (k = i·r + j) as one action on the column of all coordinates (the
        representation of the general search)."""
        shapes = [block_shape(block) for _, block in self.blocks]
        return (flatten_action(self.basis_action(k), shapes),)

    def basis_element(self, k: int) -> Symmetry:
        """ψ_{E_ij} for k = i·r + j (0-based)."""
        i, j = divmod(k, self.rank)
        action = self.basis_action(k)
        label = f"{self.name.split(' ')[0]}{self._suffix()}[E_{i + 1}{j + 1}]"
        return Symmetry(label, classify(action), self.coords, self.blocks, action, self.verified)

    def _suffix(self) -> str:
        """'' for the first family (parameter A1), '_k' for the k-th: unique element names."""
        index = self.parameter.name.lstrip("A")
        return "" if index in ("", "1") else f"_{index}"

    def element(self, matrix: sp.MatrixBase) -> Symmetry:
        """ψ_A for a concrete rational r×r matrix A."""
        sparse = {
            (i, j): Fraction(int(sp.Rational(v).p), int(sp.Rational(v).q))
            for (i, j), v in sp.SparseMatrix(matrix).todok().items()
        }
        action = self.action_of(sparse)
        return Symmetry(self.name, classify(action), self.coords, self.blocks, action)

    @property
    def action(self) -> tuple:
        """Per block, ψ_A as a matrix expression in :attr:`parameter` (0 where it acts not)."""
        A = self.parameter
        out = []
        for index, (_, block) in enumerate(self.blocks):
            if index in self.left_blocks:
                out.append(A * block)
            elif index == self.right_block:
                out.append(-block * A)
            else:
                out.append(sp.S.Zero)
        return tuple(out)

    @functools.cached_property
    def generator(self) -> sp.ImmutableMatrix:
        """ψ_A as an explicit column, entries linear in the entries of A (lazy: large)."""
        entries: list = []
        A = self.parameter.as_explicit()
        for index, (_, block) in enumerate(self.blocks):
            matrix = as_matrix(block)
            if index in self.left_blocks:
                entries.extend(list(A * matrix))
            elif index == self.right_block:
                entries.extend(list(-matrix * A))
            else:
                entries.extend([sp.S.Zero] * len(matrix))
        return sp.ImmutableMatrix(entries)

    def _named_action(self) -> list:
        """ψ_A per acted-on block, with each block shown by its name (W1, not its entries)."""
        A = self.parameter
        shown = []
        for index, (name, block) in enumerate(self.blocks):
            rows, cols = block_shape(block)
            named = (
                block if isinstance(block, sp.MatrixSymbol) else sp.MatrixSymbol(name, rows, cols)
            )
            if index in self.left_blocks:
                shown.append(A * named)
            elif index == self.right_block:
                shown.append(-named * A)
        return shown

    def __str__(self) -> str:
        shown = ", ".join(sp.sstr(a) for a in self._named_action())
        r, a = self.rank, self.parameter
        return (
            f"{self.name} (dimension {self.dimension}): psi_A = ({shown}), {a} any {r}x{r} matrix"
        )

    def _repr_latex_(self) -> str:
        return aligned_latex([self.latex_row()])

    def latex_row(self) -> tuple[str, str]:
        """(ψ_A, its value and range) for an ``aligned`` display."""
        shown = ", ".join(sp.latex(a) for a in self._named_action())
        a = sp.latex(self.parameter)
        gl = rf"{a} \in \mathfrak{{gl}}({self.rank})"
        return rf"\psi_{{{a}}}", rf"\left({shown}\right),\quad {gl}\quad (\dim {self.dimension})"


@dataclass(frozen=True)
class TranslationModule:
    """The translations t of a loss times every affine function f of the coordinates.

    When t is a constant symmetry (t·∇V ≡ 0), so is f(q)·t for any function f:
    f(q) t·∇V ≡ 0. Among affine generators this gives, for each independent t, the
    n + 1 generators t and q_j·t — the "(affine function)·𝟙" clutter of a softmax
    translation. This member holds them as one module of dimension dim T·(n + 1).

    Its basis: first the translations t_1 … t_m, then q_j·t_i for each i and j.

    Attributes
    ----------
    name : str
    translations : tuple of Symmetry
        A basis t_1 … t_m of the translations (constant generators), verified.
    factors : tuple of Symbols
        The coordinates f is an affine function of.
    coords : tuple
        The flattened coordinates every generator is a column over.
    blocks : tuple
        The algebra's blocks: one column of all coordinates (the general search).
    verified : str
        As the translations': f·t·∇V = f·0.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> from symnoether.symmetry import find_symmetries
    >>> b = sn.coordinates("b1:4")
    >>> algebra = find_symmetries(sp.log(sum(sp.exp(c) for c in b)) - b[0], b)
    >>> (module,) = algebra.families
    >>> module.dimension, module.translations[0].generator.T
    (4, Matrix([[1, 1, 1]]))
    """

    name: str
    translations: tuple
    factors: tuple
    coords: tuple = field(repr=False)
    blocks: tuple = field(repr=False)
    verified: str = "symbolic"
    kind: str = "translation"

    @property
    def dimension(self) -> int:
        return len(self.translations) * (len(self.factors) + 1)

    def __len__(self) -> int:
        return self.dimension

    def __iter__(self) -> Iterator[Symmetry]:
        return (self.basis_element(k) for k in range(self.dimension))

    def _split(self, k: int) -> tuple:
        """(translation index, factor index or None) of basis element k."""
        m = len(self.translations)
        if k < m:
            return k, None
        return divmod(k - m, len(self.factors))

    def basis_action(self, k: int) -> tuple:
        i, j = self._split(k)
        (shift,) = self.translations[i].action
        if j is None:
            return (shift,)
        column = self.coords.index(self.factors[j])
        left = {(row, column): v for (row, _), v in shift.shift.items()}
        return (BlockAction(shift.rows, 1, left=left),)

    def basis_element(self, k: int) -> Symmetry:
        i, j = self._split(k)
        translation = self.translations[i]
        if j is None:
            return translation
        action = self.basis_action(k)
        name = f"{self.factors[j]}*{translation.name}"
        return Symmetry(name, classify(action), self.coords, self.blocks, action, self.verified)

    def __str__(self) -> str:
        n = len(self.factors)
        lines = [
            f"{self.name} (dimension {self.dimension}): psi = f(q)*t,",
            f"  f affine in the {n} coordinates, t in the span of",
        ]
        lines += [f"  {t.name} = {vector_text(t.generator)}" for t in self.translations]
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        return aligned_latex([self.latex_row()])

    def latex_row(self) -> tuple[str, str]:
        """(ψ, f(q)·t with its range) for an ``aligned`` display."""
        ts = ", ".join(vector_latex(t.generator) for t in self.translations)
        span = rf"\mathbf{{t}} \in \operatorname{{span}}\left\{{{ts}\right\}}"
        rhs = rf"f(\mathbf{{q}})\,\mathbf{{t}},\quad {span},\ f \text{{ affine}}"
        return r"\psi", rf"{rhs}\quad (\dim {self.dimension})"


def as_matrix(block: object) -> sp.MatrixBase:
    if isinstance(block, sp.MatrixBase):
        return block
    if isinstance(block, sp.MatrixExpr):
        return block.as_explicit()
    return sp.Matrix([[block]])


def block_shape(block: object) -> tuple[int, int]:
    if isinstance(block, sp.MatrixBase | sp.MatrixExpr):
        return tuple(int(s) for s in block.shape)
    return (1, 1)
