r"""Conservation laws of a matrix-level system: the conserved pieces of each family.

For a :class:`~symnoether.core.matrix_system.MatrixSystem` the structured search
(:mod:`symnoether.symmetry.structured`) returns families of generators ψ_A, one
parameter matrix A each (gl(r) at a hidden interface: ψ_A = (A W_a, −W_b A); the product
families of :class:`~symnoether.symmetry.products.ProductFamily`). The charge and the
rate are linear in A, and gl(r) splits into two pieces that the rules treat
differently, the symmetric matrices S = (A + Aᵀ)/2 and the antisymmetric ones
J = (A − Aᵀ)/2:

* gradient flow — ψ_A has a first-order charge only for symmetric A (ψ_S is the
  gradient of ½Σ tr(W_Bᵀ ψ_S(W))); for a linear network it is conserved, and its
  matrix form is the balancedness W_a W_aᵀ − W_bᵀ W_b (Du, Hu and Lee 2018; Kunin et
  al. 2021);
* second-order rules (GD, momentum) — the kinetic term breaks the symmetric piece
  (its rate is m e^{t/τ} tr(S(Ẇ_aẆ_aᵀ − Ẇ_bᵀẆ_b))) and keeps the antisymmetric one:
  Q_J = m e^{t/τ} tr(Jᵀ(W_aẆ_aᵀ − W_bᵀẆ_b)) is conserved, with weight decay too.

Each piece is derived once, with a generic A, by :func:`symnoether.noether` (so the
charge, its rate and the proof are those of
:class:`~symnoether.core.matrix_noether.MatrixNoetherLaw`), never entry by entry: the
cost does not grow with the widths. A piece is *conserved* only when its law was
proved conserved; two cross families (Wᵢ += J Wⱼ, Wⱼ += J Wᵢ), each broken alone, are
also tried together with both signs (the attention score's (JK, −JQ) under gradient flow).
A piece reported broken may still hold a smaller conserved subspace, and other
combinations of pieces are not tried (``complete`` stays None). Other
members of the algebra (scalings, translations, single generators) are listed in
``skipped``: derive them with ``sn.noether`` or on ``system.explicit()``.

References
----------
.. [1] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3–5.
.. [2] S. Du, W. Hu and J. Lee, "Algorithmic regularization in learning deep homogeneous
   models", NeurIPS 2018 (balancedness under gradient flow).
.. [3] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021, Sec. 5.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> W1, W2 = sn.layers(W1=(16, 8), W2=(4, 16))
>>> x, y = sn.layers(x=(8, 1), y=(4, 1), data=True)
>>> e = y - W2 * W1 * x
>>> flow = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(x, y))
>>> laws = sn.conservation_laws(flow)
>>> [(piece.family, piece.piece, piece.dimension) for piece in laws.conserved]
[('gl(16) at W1 -> W2', 'symmetric', 136)]
>>> laws.matrix_forms["gl(16) at W1 -> W2"]
(1/2)*W1*W1.T - (1/2)*W2.T*W2
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sympy as sp

from ..budget import check, time_budget
from ..core.display import aligned_latex, table_text
from ..core.matrix_noether import MatrixNoetherLaw, matrix_noether
from ..core.matrix_system import MatrixSystem, substitute
from ..core.vocabulary import TIME
from ..errors import InvalidInputError, NoFirstOrderChargeError, VerificationError
from .lawbound import functional_rank
from .lierank import lie_bound
from .members import SymmetryFamily
from .products import ProductFamily

__all__ = ["MatrixConservationLaws", "FamilyPiece", "matrix_conservation_laws"]

PIECES = {
    "symmetric": lambda A: (A + A.T) / 2,
    "antisymmetric": lambda A: (A - A.T) / 2,
}
"""The pieces of gl(r) the search tries, as expressions of the family's parameter A."""

SEARCHED = (
    "the symmetric and antisymmetric pieces of every gl(r) family and the so(r) families "
    "the structured search found, and the pairs of cross families (Wi += J*Wj, Wj -= or "
    "+= J*Wi); other combinations of pieces, and a smaller conserved subspace inside a "
    "broken piece, would not be found (conservation_laws(system.explicit()) solves for "
    "every combination at a small width)"
)


@dataclass(frozen=True)
class FamilyPiece:
    """One piece of a family's parameter space with its law.

    Attributes
    ----------
    family : str
        The family's name, e.g. ``'gl(64) at W1 -> W2'``.
    piece : str
        ``'symmetric'`` or ``'antisymmetric'``.
    dimension : int
        r(r + 1)/2 or r(r − 1)/2.
    generator : tuple
        ψ per layer, written with the piece's expression of A.
    law : MatrixNoetherLaw or None
        None when the piece has no first-order charge (gradient flow).
    reason : str
        Why the piece is broken ('' when conserved).
    """

    family: str
    piece: str
    dimension: int
    generator: tuple
    law: MatrixNoetherLaw | None
    reason: str = ""

    @property
    def conserved(self) -> bool:
        """True when the piece's law was proved conserved."""
        return self.law is not None and self.law.conserved

    def __str__(self) -> str:
        head = f"{self.family}, {self.piece} piece (dimension {self.dimension})"
        if self.conserved:
            return f"{head}: conserved, Q = {sp.sstr(self.law.charge)}"
        return f"{head}: broken ({self.reason})"


@dataclass(frozen=True)
class MatrixConservationLaws:
    """The conserved and broken pieces of a matrix-level system's symmetry families.

    Attributes
    ----------
    system : MatrixSystem
    algebra : SymmetryAlgebra
    conserved : tuple of FamilyPiece
        The pieces whose charge is proved conserved.
    broken : tuple of FamilyPiece
        The pieces whose charge moves (with what breaks it) or that have no charge.
    matrix_forms : dict
        Family name → C with charge = tr(Aᵀ C) on the conserved piece (the balancedness
        ½(W_aW_aᵀ − W_bᵀW_b) of gl(r) under gradient flow).
    skipped : tuple of str
        Members of the algebra not derived at matrix level (scalings, translations).
    searched : str
        What was searched; the result is not known to be complete.
    bound : int or None
        Gradient flow on at most :data:`MATRIX_BOUND_SIZE` entries: the number of
        independent conservation laws for every value of the data (Marcotte, Gribonval
        and Peyré 2023), counted on the explicit entries (``system.explicit()``). None
        otherwise, with the reason in ``bound_note``.
    complete : bool or None
        True when the entries of the conserved pieces' matrix forms have a Jacobian of
        rank ``bound`` (no law is missing); None without a bound.
    bound_note : str
    """

    system: MatrixSystem = field(repr=False)
    algebra: object = field(repr=False)
    conserved: tuple
    broken: tuple
    matrix_forms: dict
    skipped: tuple = ()
    searched: str = SEARCHED
    bound: int | None = None
    complete: bool | None = None
    bound_note: str = "no bound computed"

    @property
    def laws(self) -> tuple:
        """The conserved laws (one :class:`MatrixNoetherLaw` per conserved piece)."""
        return tuple(piece.law for piece in self.conserved)

    @property
    def charges(self) -> tuple:
        """The conserved charges, in trace form."""
        return tuple(law.charge for law in self.laws)

    @property
    def conserved_dimension(self) -> int:
        """How many independent charges the conserved pieces hold."""
        return sum(piece.dimension for piece in self.conserved)

    def __str__(self) -> str:
        rule = self.system.rule.name
        title = (
            f"conservation laws under {rule} (matrix level): {self.conserved_dimension} "
            f"conserved directions in an algebra of dimension {self.algebra.dimension}"
        )
        rows: list = [(f"matrix form [{k}]", v) for k, v in self.matrix_forms.items()]
        rows += [("conserved", str(piece)) for piece in self.conserved]
        rows += [("broken", str(piece)) for piece in self.broken]
        rows += [("not derived", name) for name in self.skipped]
        rows += [("searched", self.searched), ("bound", self.bound_note)]
        if self.complete is not None:
            rows.append(("complete", "yes: no law is missing" if self.complete else "no"))
        return table_text(title, rows)

    def _repr_latex_(self) -> str:
        rows = [(rf"C\ \text{{[{k}]}}", v) for k, v in self.matrix_forms.items()]
        rows += [(rf"Q\ \text{{[{p.family}, {p.piece}]}}", p.law.charge) for p in self.conserved]
        return aligned_latex(rows) if rows else r"$$\text{no conservation law}$$"


def matrix_conservation_laws(
    system: MatrixSystem, algebra: object = None, *, seed: int = 0, timeout: float | None = None
) -> MatrixConservationLaws:
    """The conserved pieces of every family of ``system``'s symmetries, at matrix level.

    Parameters
    ----------
    system : MatrixSystem
    algebra : SymmetryAlgebra, optional
        Default: the structured search on ``system.loss`` and ``system.layers``.
    seed : int
    timeout : float, optional
        Time budget in seconds.

    Returns
    -------
    MatrixConservationLaws

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> W1, W2 = sn.layers(W1=(6, 3), W2=(2, 6))
    >>> x, y = sn.layers(x=(3, 1), y=(2, 1), data=True)
    >>> eta, beta = sp.symbols("eta beta", positive=True)
    >>> e = y - W2 * W1 * x
    >>> heavy = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.momentum(eta, beta),
    ...                           data=(x, y))
    >>> laws = matrix_conservation_laws(heavy)
    >>> [(p.piece, p.dimension) for p in laws.conserved], [p.piece for p in laws.broken]
    ([('antisymmetric', 15)], ['symmetric'])
    """
    if not isinstance(system, MatrixSystem):
        raise InvalidInputError(
            f"matrix_conservation_laws() needs a MatrixSystem, got {type(system).__name__}; "
            "use sn.conservation_laws(system), which takes either kind"
        )
    with time_budget(timeout, "the matrix-level conservation laws", hint="pass a smaller model"):
        if algebra is None:
            from .search import find_symmetries

            algebra = find_symmetries(
                system.loss, system.layers, data=system.data, mode="structured", seed=seed
            )
        conserved, broken, forms, skipped = [], [], {}, []
        for member in algebra.members:
            if not isinstance(member, SymmetryFamily | ProductFamily):
                skipped.append(getattr(member, "name", str(member)))
                continue
            for piece in _pieces(system, member):
                check()
                (conserved if piece.conserved else broken).append(piece)
                if piece.conserved:
                    form = piece.law.matrix_charges.get(member.parameter)
                    if form is not None:
                        forms[member.name] = form
        for piece in _cross_pairs(system, algebra.members, {p.family for p in conserved}):
            check()
            conserved.append(piece)
            form = piece.law.matrix_charges.get(piece.parameter)
            if form is not None:
                forms[piece.family] = form
        bound, complete, note = _bound(system, conserved, seed)
    return MatrixConservationLaws(
        system=system, algebra=algebra, conserved=tuple(conserved), broken=tuple(broken),
        matrix_forms=forms, skipped=tuple(skipped), bound=bound, complete=complete,
        bound_note=note,
    )  # fmt: skip


MATRIX_BOUND_SIZE = 64
"""The most entries for which a matrix-level result counts its laws on explicit entries
(the Lie-algebra rank grows about as the entries to the power 2.3: about 3 s at 64)."""


def _bound(system: MatrixSystem, conserved: list, seed: int) -> tuple:
    """(bound, complete, note): the Marcotte et al. count on the explicit entries, and
    the rank of the conserved pieces' matrix forms written out entry by entry."""
    if system.order != 1:
        return None, None, "no bound: Marcotte et al.'s count is for gradient flow"
    if system.size > MATRIX_BOUND_SIZE:
        return (
            None,
            None,
            (
                f"no bound: {system.size} entries exceed the {MATRIX_BOUND_SIZE} up to which the "
                "count runs at matrix level; run conservation_laws(system.explicit()) on a "
                "narrower instance of the model"
            ),
        )
    matrices = system.explicit_matrices()
    charges = []
    for piece in conserved:
        if not piece.law.matrix_charges:
            charges = None
            break
        for form in piece.law.matrix_charges.values():
            entries = substitute(form.subs(TIME, 0), matrices)
            charges += list(sp.Matrix(entries)) if isinstance(entries, sp.MatrixBase) else [entries]
    explicit = system.explicit()
    result = lie_bound(explicit, seed=seed)
    if result.bound is None:
        return None, None, f"no bound: {result.note}"
    note = f"{result.bound} independent laws ({result.note}), counted on the {system.size} entries"
    if charges is None:
        return result.bound, None, note + "; a conserved piece has no matrix form to count"
    rank = functional_rank(charges, explicit, random.Random(seed))
    if rank is None:
        return result.bound, None, note + "; the forms' Jacobian is not rational"
    if rank > result.bound:
        raise VerificationError(
            f"{rank} independent charges exceed the bound {result.bound} on the number of "
            "conservation laws; please report this system"
        )
    if rank < result.bound:
        note += (
            f"; the matrix forms give {rank}: {result.bound - rank} not found at matrix level "
            "(conservation_laws(system.explicit()) also tries every affine generator and "
            "polynomial laws)"
        )
    return result.bound, rank == result.bound, note


def _pieces(system: MatrixSystem, family: object) -> list[FamilyPiece]:
    A = family.parameter
    r = family.rank
    names = ("antisymmetric",) if getattr(family, "algebra", "gl") == "so" else tuple(PIECES)
    out = []
    for name in names:
        generator = family_generator(system, family, PIECES[name](A))
        dimension = r * (r + 1) // 2 if name == "symmetric" else r * (r - 1) // 2
        if dimension == 0:
            continue
        try:
            law = matrix_noether(system, generator)
        except NoFirstOrderChargeError:
            reason = "no first-order charge: m ψ is not a gradient field on this piece"
            out.append(FamilyPiece(family.name, name, dimension, generator, None, reason))
            continue
        reason = "" if law.conserved else "broken by " + " and ".join(law.broken_by)
        out.append(FamilyPiece(family.name, name, dimension, generator, law, reason))
    return out


def _cross_pairs(system: MatrixSystem, members: tuple, conserved: set) -> list:
    """The conserved combinations ψ = (J Wj on Wi) + ε (J Wi on Wj), ε = ±1, of two cross
    families neither of which is conserved alone (the attention score's (JK, −JQ) under
    gradient flow, (JK, JQ) under momentum), each proved by :func:`matrix_noether`."""
    crosses = [
        m
        for m in members
        if isinstance(m, ProductFamily)
        and m.algebra == "so"
        and len(m.terms) == 1
        and m.terms[0][0] != m.terms[0][1]
        and m.terms[0][3:] == (1, False)
    ]
    out = []
    for k, first in enumerate(crosses):
        target, source, side = first.terms[0][:3]
        for second in crosses[k + 1 :]:
            if second.terms[0][:3] != (source, target, side) or second.rank != first.rank:
                continue
            if first.name in conserved or second.name in conserved:
                continue
            J = first.parameter
            one = family_generator(system, first, PIECES["antisymmetric"](J))
            other = family_generator(system, second, PIECES["antisymmetric"](J))
            names = [first.blocks[target][0], first.blocks[source][0]]
            moved = ("J*{}" if side == "left" else "{}*J").format
            for sign in (-1, 1):
                check()
                psi = tuple(a + sign * b for a, b in zip(one, other, strict=True))
                try:
                    law = matrix_noether(system, psi)
                except NoFirstOrderChargeError:
                    continue
                if law.conserved:
                    op = "-=" if sign < 0 else "+="
                    name = (
                        f"so({first.rank}) cross pair {names[0]}, {names[1]} ({names[0]} += "
                        f"{moved(names[1])}, {names[1]} {op} {moved(names[0])})"
                    )
                    dimension = first.rank * (first.rank - 1) // 2
                    out.append(_CrossPiece(name, "antisymmetric", dimension, psi, law, "", J))
    return out


@dataclass(frozen=True)
class _CrossPiece(FamilyPiece):
    """A conserved cross pair, with the parameter J its matrix charge is written in."""

    parameter: sp.MatrixSymbol = None


def family_generator(system: MatrixSystem, family: object, P: sp.MatrixExpr) -> tuple:
    """ψ_P per layer of ``system`` for a gl(r) family (A W_a on the left blocks, −W_b A on
    the right one) or a product family (its terms), with P in place of A.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> from symnoether.symmetry import find_symmetries
    >>> W1, W2 = sn.layers(W1=(3, 2), W2=(2, 3))
    >>> x = sp.MatrixSymbol("x", 2, 1)
    >>> algebra = find_symmetries(x.T * W2 * W1 * x, (W1, W2), data=(x,), mode="structured")
    >>> family = algebra.families[0]
    >>> family.name
    'gl(3) at W1 -> W2'
    >>> S = sp.MatrixSymbol("S", 3, 3)
    >>> family_generator(None, family, S)
    (S*W1, -W2*S)
    """
    blocks = [block for _, block in family.blocks]
    psi: list = [sp.ZeroMatrix(*block.shape) for block in blocks]
    if isinstance(family, SymmetryFamily):
        for k in family.left_blocks:
            psi[k] = psi[k] + P * blocks[k]
        if family.right_block is not None:
            k = family.right_block
            psi[k] = psi[k] - blocks[k] * P
    else:
        for target, source, side, sign, transposed in family.terms:
            op = P.T if transposed else P
            term = op * blocks[source] if side == "left" else blocks[source] * op
            psi[target] = psi[target] + sign * term
    if system is None:
        return tuple(psi)
    by_layer = {block: entry for block, entry in zip(blocks, psi, strict=True)}
    return tuple(by_layer.get(W, 0) for W in system.layers)
