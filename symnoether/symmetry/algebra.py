r"""The results of a symmetry search: generators, families, their Lie algebra.

Every generator found is an exact affine action ψ(B) = L B + B R + C on the
coordinate blocks (:mod:`symnoether.symmetry.actions`, which also defines the
bracket). A :class:`SymmetryAlgebra` holds a verified basis, its structure
constants and, for a learning system, which symmetries the rule or a
regularizer breaks (:class:`SymmetryBreaking`).

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716 (which symmetries a learning rule breaks, and how).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether.symmetry import find_symmetries
>>> q1, q2 = sn.coordinates("q1 q2")
>>> algebra = find_symmetries(-1 / sp.sqrt(q1**2 + q2**2), (q1, q2))
>>> algebra.dimension, algebra[0].kind
(1, 'rotation')
>>> algebra[0].generator.T
Matrix([[q2, -q1]])
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..core.display import aligned_latex, table_text, vector_latex, vector_text
from .actions import (
    BlockAction,
    action_key,
    bracket_actions,
    classify,
    combine,
    rational,
)

__all__ = [
    "Symmetry",
    "SymmetryFamily",
    "SymmetryAlgebra",
    "SymmetryBreaking",
]

# -- results ------------------------------------------------------------------------


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
            matrix = _as_matrix(block)
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
            rows, cols = _shape(self.blocks[index][1])
            parts[index] = BlockAction(rows, cols, left=dict(matrix))
        rows, cols = _shape(self.blocks[self.right_block][1])
        parts[self.right_block] = BlockAction(
            rows, cols, right={key: -v for key, v in matrix.items()}
        )
        return tuple(parts)

    def basis_element(self, k: int) -> Symmetry:
        """ψ_{E_ij} for k = i·r + j (0-based)."""
        i, j = divmod(k, self.rank)
        action = self.basis_action(k)
        label = f"{self.name.split(' ')[0]}[E_{i + 1}{j + 1}]"
        return Symmetry(label, classify(action), self.coords, self.blocks, action, self.verified)

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
            matrix = _as_matrix(block)
            if index in self.left_blocks:
                entries.extend(list(A * matrix))
            elif index == self.right_block:
                entries.extend(list(-matrix * A))
            else:
                entries.extend([sp.S.Zero] * len(matrix))
        return sp.ImmutableMatrix(entries)

    def __str__(self) -> str:
        shown = ", ".join(sp.sstr(a) for a in self.action if a != 0)
        return f"{self.name} (dimension {self.dimension}): psi_A = ({shown})"

    def _repr_latex_(self) -> str:
        shown = ", ".join(sp.latex(a) for a in self.action if a != 0)
        return rf"$$\psi_{{A}} = \left({shown}\right),\quad A \in \mathfrak{{gl}}({self.rank})$$"


@dataclass(frozen=True)
class SymmetryBreaking:
    """How a learning system moves the charge of one symmetry generator.

    Terms are the parts of d/dt of the *undamped* charge p·ψ (p = Mq̇) on shell:
    ``kinetic`` = pr ψ(T) (kinetic symmetry breaking), ``damping`` = −(1/τ) q̇ᵀMψ,
    and one −ψ·∇R per regularizer R. For gradient flow only regularizers act.

    References
    ----------
    Tanaka & Kunin (2021), Eq. 9 and Sec. 4; Kunin et al. (2021), Sec. 4–5.
    """

    symmetry: Symmetry
    kinetic: sp.Expr
    damping: sp.Expr
    regularizers: tuple  # ((name, term), ...)

    @property
    def broken_by(self) -> tuple[str, ...]:
        causes = []
        if self.kinetic != 0:
            causes.append("kinetic term")
        if self.damping != 0:
            causes.append("damping")
        causes.extend(name for name, term in self.regularizers if term != 0)
        return tuple(causes)

    @property
    def broken(self) -> bool:
        return bool(self.broken_by)

    def __str__(self) -> str:
        rows = [("generator", vector_text(self.symmetry.generator)), ("pr psi(T)", self.kinetic)]
        rows.append(("damping", self.damping))
        rows.extend((name, term) for name, term in self.regularizers)
        status = ", ".join(self.broken_by) if self.broken else "nothing (conserved)"
        rows.append(("broken by", status))
        return table_text(f"symmetry breaking of {self.symmetry.name}", rows)

    def _repr_latex_(self) -> str:
        rows = [(r"\mathrm{pr}\,\psi(T)", self.kinetic), (r"\text{damping}", self.damping)]
        rows.extend((rf"\text{{{name}}}", term) for name, term in self.regularizers)
        return aligned_latex(rows)


def _as_matrix(block: object) -> sp.MatrixBase:
    if isinstance(block, sp.MatrixBase):
        return block
    if isinstance(block, sp.MatrixExpr):
        return block.as_explicit()
    return sp.Matrix([[block]])


def _shape(block: object) -> tuple[int, int]:
    if isinstance(block, sp.MatrixBase | sp.MatrixExpr):
        return tuple(int(s) for s in block.shape)
    return (1, 1)


@dataclass(frozen=True)
class SymmetryAlgebra:
    """The Lie algebra of affine symmetries found for a loss: a basis, verified.

    Iterating yields one :class:`Symmetry` per basis element (families such as
    gl(r) are expanded lazily, E_ij by E_ij); ``len`` is the dimension.

    Attributes
    ----------
    coords : tuple
        The flattened coordinates every generator is a column over.
    blocks : tuple
        (name, block) pairs of the coordinate blocks.
    members : tuple
        :class:`Symmetry` and :class:`SymmetryFamily` objects, in basis order.
    mode : str
        'general' or 'structured', the search that produced it.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> from symnoether.symmetry import find_symmetries
    >>> q = sn.coordinates("q1:4")
    >>> so3 = find_symmetries(-1 / sp.sqrt(sum(c**2 for c in q)), q)
    >>> so3.dimension, so3.kinds
    (3, ('rotation', 'rotation', 'rotation'))
    >>> so3.commutator(0, 1)
    (0, 0, -1)
    """

    coords: tuple = field(repr=False)
    blocks: tuple = field(repr=False)
    members: tuple
    mode: str = "general"

    @property
    def dimension(self) -> int:
        return sum(m.dimension for m in self.members)

    def __len__(self) -> int:
        return self.dimension

    def __iter__(self) -> Iterator[Symmetry]:
        for member in self.members:
            if isinstance(member, SymmetryFamily):
                yield from member
            else:
                yield member

    def __getitem__(self, k: int) -> Symmetry:
        member, offset = self._locate(k)
        return member.basis_element(offset) if isinstance(member, SymmetryFamily) else member

    @property
    def families(self) -> tuple[SymmetryFamily, ...]:
        return tuple(m for m in self.members if isinstance(m, SymmetryFamily))

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(s.kind for s in self)

    def _locate(self, k: int) -> tuple:
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"basis index {k!r} is not an int")
        n = self.dimension
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"basis index {k} out of range for an algebra of dimension {n}")
        start = 0
        for member in self.members:
            if k < start + member.dimension:
                return member, k - start
            start += member.dimension
        raise IndexError(k)  # pragma: no cover

    def _action(self, k: int) -> tuple:
        member, offset = self._locate(k)
        if isinstance(member, SymmetryFamily):
            return member.basis_action(offset)
        return member.action

    def commutator(self, i: int, j: int) -> tuple:
        """The bracket [ψ_i, ψ_j] = Dψ_i ψ_j − Dψ_j ψ_i in this basis (structure constants).

        Returns the tuple (c_k) with [ψ_i, ψ_j] = Σ_k c_k ψ_k, exact rationals.
        Within a gl(r) family these are gl(r)'s: [E_pq, E_rs] = δ_qr E_ps − δ_sp E_rq.
        """
        n = self.dimension
        coefficients = [sp.S.Zero] * n
        bracket = bracket_actions(self._action(i), self._action(j))
        if all(part is None for part in bracket):
            return tuple(coefficients)
        (mi, oi), (mj, oj) = self._locate(i), self._locate(j)
        if isinstance(mi, SymmetryFamily) and mi is mj:
            start = self._start(mi)
            r = mi.rank
            (p, q), (s, t) = divmod(oi, r), divmod(oj, r)
            if q == s:
                coefficients[start + p * r + t] += 1
            if t == p:
                coefficients[start + s * r + q] -= 1
            return tuple(coefficients)
        return tuple(rational(c) for c in self._decompose(bracket))

    def _start(self, family: SymmetryFamily) -> int:
        start = 0
        for member in self.members:
            if member is family:
                return start
            start += member.dimension
        raise ValueError(family)  # pragma: no cover

    def _decompose(self, target: tuple) -> list:
        import numpy as np

        from ..errors import NotSupportedError, VerificationError

        n = self.dimension
        if n > 600:
            raise NotSupportedError(
                f"expressing a bracket across families in an algebra of dimension {n} is "
                "not supported yet; brackets within one gl(r) family are"
            )
        vectors = [_flat_action(self._action(k)) for k in range(n)]
        goal = _flat_action(target)
        keys = sorted(set(goal).union(*vectors))
        index = {key: row for row, key in enumerate(keys)}
        basis = np.zeros((len(keys), n))
        for col, vec in enumerate(vectors):
            for key, value in vec.items():
                basis[index[key], col] = float(value)
        rhs = np.zeros(len(keys))
        for key, value in goal.items():
            rhs[index[key]] = float(value)
        solution = np.linalg.lstsq(basis, rhs, rcond=None)[0]
        coefficients = [Fraction(float(c)).limit_denominator(10**6) for c in solution]
        rebuilt = combine([self._action(k) for k in range(n)], coefficients)
        if rebuilt is None or action_key(rebuilt) != action_key(target):
            raise VerificationError(
                "a bracket of two symmetries is not in the span of the basis found; "
                "the algebra is incomplete — please report this loss"
            )
        return coefficients

    def broken_by(self, system: object) -> tuple[SymmetryBreaking, ...]:
        """For each generator, what in ``system`` breaks it, in closed form.

        Kinetic symmetry breaking pr ψ(T), damping −(1/τ) q̇ᵀMψ, and −ψ·∇R for
        each regularizer R (see :class:`SymmetryBreaking`).

        Examples
        --------
        >>> import sympy as sp
        >>> import symnoether as sn
        >>> from symnoether.symmetry import find_symmetries
        >>> w1, w2 = sn.coordinates("w1 w2")
        >>> eta = sp.Symbol("eta", positive=True)
        >>> system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2,
        ...                            rule=sn.rules.gradient_descent(eta))
        >>> (report,) = find_symmetries(system.loss, system.coords).broken_by(system)
        >>> report.kinetic, report.broken_by
        (eta*(wdot1**2 - wdot2**2)/2, ('kinetic term', 'damping'))
        """
        from ..core.jet import is_zero, prolonged_action, readable
        from ..errors import InvalidGeneratorError

        if tuple(getattr(system, "coords", ())) != tuple(self.coords):
            raise InvalidGeneratorError(
                "the system's coordinates differ from those the symmetries were found for; "
                "search the symmetries of this system's loss (find_symmetries(system.loss, "
                "system.coords, data=system.data))"
            )
        coords, vels = system.coords, system.velocities
        reports = []
        for symmetry in self:
            psi = symmetry.generator
            kinetic = damping = sp.S.Zero
            if system.order == 2:
                kinetic = prolonged_action(system.kinetic, psi, coords, vels)
                kinetic = sp.S.Zero if is_zero(kinetic) else readable(kinetic)
                if system.tau != sp.oo:
                    v = sp.Matrix(vels)
                    damping = readable(-(v.T * system.mass_matrix * psi)[0] / system.tau)
            terms = []
            for regularizer in system.regularizers:
                potential = regularizer.potential(coords)
                term = -sp.Add(*[p * sp.diff(potential, q) for p, q in zip(psi, coords)])
                terms.append(
                    (
                        regularizer.name.replace("_", " "),
                        sp.S.Zero if is_zero(term) else readable(term),
                    )
                )
            reports.append(SymmetryBreaking(symmetry, kinetic, damping, tuple(terms)))
        return tuple(reports)

    def __str__(self) -> str:
        lines = [f"symmetry algebra of dimension {self.dimension} ({self.mode} search)"]
        for member in self.members:
            lines.append("  " + str(member))
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        rows = []
        for member in self.members:
            if isinstance(member, SymmetryFamily):
                rows.append((rf"\mathfrak{{gl}}({member.rank})", member._repr_latex_().strip("$")))
            else:
                rows.append((rf"\psi_{{\mathrm{{{member.kind}}}}}", vector_latex(member.generator)))
        if not rows:
            return r"$$\text{no continuous symmetry}$$"
        return aligned_latex(rows)


def _flat_action(action: tuple) -> dict:
    out = {}
    for b, part in enumerate(action):
        if part is None:
            continue
        for label, matrix in (("L", part.left), ("R", part.right), ("C", part.shift)):
            for (i, j), v in matrix.items():
                out[(b, label, i, j)] = v
    return out
