r"""Families of generators built from products of blocks, and the candidates a search
proposes for them.

A loss that sees its blocks through products WᵢᵀWⱼ or WᵢWⱼᵀ (attention scores,
Gram matrices, |W x|²) has families the consecutive-layer gl(r) does not cover:

* **shared gl(r)** — ψ_A = (A Wᵢ, −Aᵀ Wⱼ) keeps WᵢᵀWⱼ (ψ_A = (Wᵢ A, −Wⱼ Aᵀ) keeps
  WᵢWⱼᵀ): the query/key GL of attention;
* **so(r) rotating both** — ψ_J = (J Wᵢ, J Wⱼ), J antisymmetric, when only the
  products among Wᵢ, Wⱼ matter but A is not free;
* **so(r) rotating one block** — ψ_J = J W (or W J): |W x|² = xᵀWᵀWx;
* **so(r) at an interface** — ψ_J = (J W_a, −W_b J) of a product W_b W_a, when only
  the antisymmetric part of gl(r) survives (weight decay on W_a: tr(W_aᵀJW_a) = 0);
* **so(r) cross generators** — ψ_J moves Wᵢ by J Wⱼ (or Wⱼ J), J antisymmetric:
  δ(WᵢᵀWⱼ) = −WⱼᵀJWⱼ is antisymmetric, invisible to a loss that sees the product
  only through its symmetric part (the score xᵀWᵢᵀWⱼx).

:func:`propose` lists them for given block shapes, in order, and asks a test
(numeric at random points in the structured search, exact span membership in the
presentation of the general search) which to keep.

Examples
--------
>>> kept = propose([(2, 2), (2, 2)], ["Q", "K"], lambda c: c.algebra == "gl")
>>> [c.name for c in kept]
['gl(2) shared by Q, K (Q^T*K)', 'gl(2) shared by Q, K (Q*K^T)']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..core.display import aligned_latex
from .actions import BlockAction, classify
from .members import Symmetry, as_matrix, block_shape

__all__ = ["ProductFamily", "Candidate", "propose", "independent"]


@dataclass(frozen=True)
class Candidate:
    """A proposed family: terms (target, source, side, sign, transposed) as for
    :class:`ProductFamily`, and for an interface W_a -> W_b, (left blocks, right block)."""

    name: str
    rank: int
    terms: tuple
    algebra: str = "gl"
    interface: tuple | None = None
    kind: str = "general"


def propose(shapes: list, names: list, accept: Callable) -> list:
    """The product families of blocks of these ``shapes`` that ``accept(candidate)`` keeps,
    in order: rotations of one block; so(r) at an interface W_a -> W_b (the part of gl(r)
    that survives, e.g., weight decay on one layer); for two blocks of the same rows (columns) the
    shared gl(r), else rotating both (unless one of them rotates alone); then the cross
    generators of two blocks of the same shape."""
    kept: list = []
    rotating = set()

    def dim(k: int, side: str) -> int:
        return shapes[k][0] if side == "left" else shapes[k][1]

    def offer(candidate: Candidate) -> bool:
        if accept(candidate):
            kept.append(candidate)
            return True
        return False

    for k in range(len(shapes)):
        for side in ("left", "right"):
            r = dim(k, side)
            terms = ((k, k, side, 1, False),)
            name = f"so({r}) rotating {names[k]} from the {side}"
            if r >= 2 and offer(Candidate(name, r, terms, "so", kind="rotation")):
                rotating.add((k, side))
    for a in range(len(shapes)):
        for b in range(len(shapes)):
            r = shapes[a][0]
            if a != b and r >= 2 and shapes[b][1] == r and shapes[a][1] > 1:
                terms = ((a, a, "left", 1, False), (b, b, "right", -1, False))
                name = f"so({r}) at {names[a]} -> {names[b]}"
                offer(Candidate(name, r, terms, "so", kind="rotation"))
    for i in range(len(shapes)):
        for j in range(i + 1, len(shapes)):
            for side in ("left", "right"):
                r = dim(i, side)
                if r < 2 or dim(j, side) != r:
                    continue
                ni, nj = names[i], names[j]
                product = f"{ni}^T*{nj}" if side == "left" else f"{ni}*{nj}^T"
                shared = ((i, i, side, 1, False), (j, j, side, -1, True))
                if offer(Candidate(f"gl({r}) shared by {ni}, {nj} ({product})", r, shared)):
                    continue
                if (i, side) in rotating or (j, side) in rotating:
                    continue  # with one block's rotations, rotating both is the other's
                both = ((i, i, side, 1, False), (j, j, side, 1, False))
                name = f"so({r}) rotating {ni}, {nj} together"
                offer(Candidate(name, r, both, "so", kind="rotation"))
    for i in range(len(shapes)):
        for j in range(len(shapes)):
            if i == j or shapes[i] != shapes[j]:
                continue
            for side in ("left", "right"):
                r = dim(i, side)
                moved = f"J*{names[j]}" if side == "left" else f"{names[j]}*J"
                terms = ((i, j, side, 1, False),)
                if r >= 2:
                    offer(Candidate(f"so({r}) cross {names[i]} += {moved}", r, terms, "so"))
    return kept


@dataclass(frozen=True)
class ProductFamily:
    r"""A family of generators built from products of blocks: ψ_A acts on each block it
    names by ±op(A)·B (left) or ±B·op(A) (right), B that block or another one, op(A)
    = A or Aᵀ; A any r×r matrix (gl(r)) or any antisymmetric one (so(r)).

    The families the structured search proposes for a product WᵢᵀWⱼ, WᵢWⱼᵀ in the
    loss: A shared by the two blocks (ψ_A = (A Wᵢ, −Aᵀ Wⱼ): WᵢᵀWⱼ is unchanged),
    rotations of one block (ψ_J = J W for WᵀW), and the cross generators of a
    product seen only through its symmetric part (ψ_J moves Wᵢ by J Wⱼ: δ(WᵢᵀWⱼ)
    = −WⱼᵀJWⱼ is antisymmetric).

    Attributes
    ----------
    name : str
    rank : int
        r.
    terms : tuple
        (target block, source block, side 'left' | 'right', sign ±1, transposed) for
        each term: ψ_A(B_target) += sign·op(A)·B_source (left) or sign·B_source·op(A).
    algebra : str
        'gl' (dimension r²; basis E_ij, row-major) or 'so' (dimension r(r − 1)/2; basis
        E_ij − E_ji, i < j).
    parameter : MatrixSymbol
        The symbol A of the family (J for so(r)).
    verified : str
        'symbolic' or 'numeric', as for :class:`Symmetry`.

    Examples
    --------
    >>> import sympy as sp
    >>> W = sp.MatrixSymbol("W", 3, 3)
    >>> family = ProductFamily("so(3) rotating W", 3, (), (("W", W),),
    ...                        ((0, 0, "left", 1, False),), "so", sp.MatrixSymbol("J1", 3, 3))
    >>> print(family)
    so(3) rotating W (dimension 3): psi_J = (J1*W), J1 any antisymmetric 3x3 matrix
    >>> family.basis_action(0)[0].left == {(0, 1): 1, (1, 0): -1}
    True
    """

    name: str
    rank: int
    coords: tuple = field(repr=False)
    blocks: tuple = field(repr=False)
    terms: tuple = ()
    algebra: str = "gl"
    parameter: sp.MatrixSymbol = None
    verified: str = "symbolic"
    kind: str = "general"

    @property
    def dimension(self) -> int:
        r = self.rank
        return r * r if self.algebra == "gl" else r * (r - 1) // 2

    def __len__(self) -> int:
        return self.dimension

    def __iter__(self) -> Iterator[Symmetry]:
        return (self.basis_element(k) for k in range(self.dimension))

    @property
    def cross(self) -> bool:
        """Whether a block moves by another block (then actions are on one column)."""
        return any(target != source for target, source, *_ in self.terms)

    def basis_matrix(self, k: int) -> dict:
        """Basis element k of the family's Lie algebra as a sparse r×r matrix."""
        if self.algebra == "gl":
            return {divmod(k, self.rank): Fraction(1)}
        pairs = [(i, j) for i in range(self.rank) for j in range(i + 1, self.rank)]
        i, j = pairs[k]
        return {(i, j): Fraction(1), (j, i): Fraction(-1)}

    def _parts(self, matrix: dict) -> list:
        """(target, source, side, sparse sign·op(A)) for a concrete sparse A."""
        out = []
        for target, source, side, sign, transposed in self.terms:
            op = {((j, i) if transposed else (i, j)): sign * v for (i, j), v in matrix.items()}
            out.append((target, source, side, op))
        return out

    def action_of(self, matrix: dict) -> tuple:
        """ψ_A for a sparse A, per block (same-block families) or on one column (cross)."""
        shapes = [block_shape(block) for _, block in self.blocks]
        if self.cross:
            return (_flat_product_action(self._parts(matrix), shapes),)
        parts: list = [None] * len(self.blocks)
        for target, _, side, op in self._parts(matrix):
            rows, cols = shapes[target]
            add = BlockAction(rows, cols, **{side: op})
            parts[target] = add if parts[target] is None else parts[target].plus(add)
        return tuple(None if p is None or p.is_zero else p for p in parts)

    def basis_action(self, k: int) -> tuple:
        return self.action_of(self.basis_matrix(k))

    def flat_action(self, k: int) -> tuple:
        """Basis element k as one action on the column of all coordinates."""
        shapes = [block_shape(block) for _, block in self.blocks]
        return (_flat_product_action(self._parts(self.basis_matrix(k)), shapes),)

    def _column(self) -> tuple:
        return (("q", sp.ImmutableMatrix(self.coords)),)

    def basis_element(self, k: int) -> Symmetry:
        matrix = self.basis_matrix(k)
        (i, j) = min(matrix)
        label = f"{self.name.split(' ')[0]}_{self.parameter.name}[E_{i + 1}{j + 1}]"
        action = self.basis_action(k)
        blocks = self._column() if self.cross else self.blocks
        return Symmetry(label, classify(action), self.coords, blocks, action, self.verified)

    def element(self, matrix: sp.MatrixBase) -> Symmetry:
        """ψ_A for a concrete rational r×r matrix A (antisymmetric for so(r))."""
        sparse = {
            (i, j): Fraction(int(sp.Rational(v).p), int(sp.Rational(v).q))
            for (i, j), v in sp.SparseMatrix(matrix).todok().items()
        }
        action = self.action_of(sparse)
        blocks = self._column() if self.cross else self.blocks
        return Symmetry(self.name, classify(action), self.coords, blocks, action)

    def generic(self) -> sp.Matrix:
        """A with an independent Dummy per free entry (antisymmetric for so(r))."""
        r = self.rank
        if self.algebra == "gl":
            return sp.Matrix(r, r, lambda i, j: sp.Dummy(f"a{i}{j}"))
        out = sp.zeros(r, r)
        for i in range(r):
            for j in range(i + 1, r):
                out[i, j] = sp.Dummy(f"a{i}{j}")
                out[j, i] = -out[i, j]
        return out

    def explicit(self, matrix: sp.MatrixBase) -> list:
        """ψ_A as an explicit column for a symbolic or numeric r×r matrix A."""
        moved = [sp.zeros(*block_shape(block)) for _, block in self.blocks]
        for target, source, side, sign, transposed in self.terms:
            op = matrix.T if transposed else matrix
            b = as_matrix(self.blocks[source][1])
            moved[target] += sign * (op * b if side == "left" else b * op)
        return [entry for m in moved for entry in m]

    @functools.cached_property
    def generator(self) -> sp.ImmutableMatrix:
        """ψ_A as an explicit column, entries linear in the entries of A (lazy: large)."""
        return sp.ImmutableMatrix(self.explicit(self.generic()))

    def _named_action(self) -> list:
        """ψ_A per acted-on block, in the blocks' names (for a cross family, every block,
        0 where it acts not)."""
        A = self.parameter
        shown: list = [None] * len(self.blocks)
        for target, source, side, sign, transposed in self.terms:
            name, block = self.blocks[source]
            rows, cols = block_shape(block)
            named = (
                block if isinstance(block, sp.MatrixSymbol) else sp.MatrixSymbol(name, rows, cols)
            )
            op = A.T if transposed else A
            term = sign * (op * named if side == "left" else named * op)
            shown[target] = term if shown[target] is None else shown[target] + term
        if self.cross:
            return [sp.S.Zero if m is None else m for m in shown]
        return [m for m in shown if m is not None]

    def __str__(self) -> str:
        shown = ", ".join(sp.sstr(a) for a in self._named_action())
        r, a = self.rank, self.parameter
        what = "any" if self.algebra == "gl" else "any antisymmetric"
        letter = "A" if self.algebra == "gl" else "J"
        return (
            f"{self.name} (dimension {self.dimension}): psi_{letter} = ({shown}), "
            f"{a} {what} {r}x{r} matrix"
        )

    def _repr_latex_(self) -> str:
        return aligned_latex([self.latex_row()])

    def latex_row(self) -> tuple[str, str]:
        """(ψ_A, its value and range) for an ``aligned`` display."""
        shown = ", ".join(sp.latex(a) for a in self._named_action())
        a = sp.latex(self.parameter)
        space = rf"\mathfrak{{{self.algebra}}}({self.rank})"
        return (
            rf"\psi_{{{a}}}",
            rf"\left({shown}\right),\quad {a} \in {space}\quad (\dim {self.dimension})",
        )


def _flat_product_action(parts: list, shapes: list) -> BlockAction:
    """Σ sign·op(A)·B_source (left) or B_source·op(A) (right), written into the target
    blocks, as one linear action on the column of all coordinates (row by row)."""
    offsets = [0]
    for rows, cols in shapes:
        offsets.append(offsets[-1] + rows * cols)
    left: dict = {}
    for target, source, side, op in parts:
        rows, cols = shapes[target]
        source_cols = shapes[source][1]
        for (a, b), v in op.items():
            if side == "left":  # target[a, j] += op[a, b]·source[b, j]
                pairs = [((a, j), (b, j)) for j in range(cols)]
            else:  # target[i, b] += source[i, a]·op[a, b]
                pairs = [((i, b), (i, a)) for i in range(rows)]
            for (ti, tj), (si, sj) in pairs:
                key = (offsets[target] + ti * cols + tj, offsets[source] + si * source_cols + sj)
                left[key] = left.get(key, 0) + v
    return BlockAction(offsets[-1], 1, {k: v for k, v in left.items() if v != 0})


def independent(candidates: list) -> bool:
    """Whether the families ``candidates`` (each with its terms and algebra) together have
    dimension Σ dim: no element of one is a combination of the others'.

    Exact and cheap at any width. An element of a family is the linear map ψ_A; its part
    mapping block s into block t is M·B_s (left) or B_s·M (right), M = Σ sign·op(A) over
    the family's terms on (t, s, side). Maps into different (t, s) are independent, and
    left and right maps of one (t, s) meet only in the scalars λ·B_s. Writing each A as
    α + β + γI (antisymmetric, symmetric traceless, trace), with op(α) = ±α (transposed
    or not), op(β) = β and op(γI) = γI, a combination Σ_f ψ_{A_f} vanishes iff, on
    every (t, s, side), the α's, the β's and (with ±λ_ts) the γ's cancel: three small
    linear systems with scalar coefficients, one column per family.

    Examples
    --------
    >>> gl = Candidate("gl", 3, ((0, 0, "left", 1, False), (1, 1, "right", -1, False)))
    >>> so = Candidate("so", 3, gl.terms, "so")
    >>> independent([gl]), independent([gl, so])      # so(3) ⊂ gl(3) at one interface
    (True, False)
    """
    groups = sorted({(t, s, side) for c in candidates for t, s, side, *_ in c.terms})
    row = {g: k for k, g in enumerate(groups)}
    pairs = sorted({(t, s) for t, s, _ in groups})
    both = [p for p in pairs if (*p, "left") in row and (*p, "right") in row]
    antisymmetric = sp.zeros(len(groups), len(candidates))
    symmetric = sp.zeros(len(groups), len(candidates))
    trace = sp.zeros(len(groups), len(candidates) + len(both))
    for f, candidate in enumerate(candidates):
        for t, s, side, sign, transposed in candidate.terms:
            g = row[(t, s, side)]
            antisymmetric[g, f] += -sign if transposed else sign
            if candidate.algebra == "gl":
                symmetric[g, f] += sign
                trace[g, f] += sign
    for k, (t, s) in enumerate(both):
        trace[row[(t, s, "left")], len(candidates) + k] = 1
        trace[row[(t, s, "right")], len(candidates) + k] = -1
    general = [f for f, c in enumerate(candidates) if c.algebra == "gl"]
    if antisymmetric.rank() < len(candidates):
        return False
    if general and symmetric[:, general].rank() < len(general):
        return False
    scalars = trace[:, [*general, *range(len(candidates), trace.shape[1])]]
    return scalars.rank() == len(general) + trace[:, len(candidates) :].rank()
