r"""Readable matrix forms of conservation laws: the charges of a family assembled into the
matrix the papers write.

* **Matrix families** — gl(r) at an interface W_a → W_b, gl(r) shared by two blocks
  (WᵢᵀWⱼ, WᵢWⱼᵀ), so(r) families, and a pair of cross families (Wᵢ += J Wⱼ, Wⱼ ± J Wᵢ).
  ψ_A is linear in A, and q̇·ψ_A = ⟨A, P⟩ (Frobenius) with P = Σ ±Ẇ_t W_sᵀ (a left term
  A·W_s moving W_t) or Σ ±W_sᵀ Ẇ_t (a right term), transposed for a term in Aᵀ. Under
  gradient flow the charge of a gradient ψ_A is ½ q·ψ_A = ½⟨A, P(q)⟩: the symmetric A
  of a gl family give sym(P) (the balancedness W₁W₁ᵀ − W₂ᵀW₂, UᵀU − VᵀV of matrix
  factorization), the antisymmetric J of a cross pair its antisymmetric part
  (W_qW_kᵀ − W_kW_qᵀ). Under a second-order rule the conserved antisymmetric J give
  e^{t/τ} m ⟨J, P(q̇)⟩: the matrix P − Pᵀ.

The per-unit rescalings' and translations' vector forms are in
:mod:`~symnoether.symmetry.vectorforms`, whose ``charge_forms`` gathers both kinds.

A form is returned only when its family's directions all lie in the conserved subspace
and every entry equals its proved charge (up to :func:`form_factor`), checked exactly
here: a metric other than m·I, say, gives no form rather than a wrong one.

Examples
--------
>>> import symnoether as sn
>>> from symnoether import models
>>> net = models.linear_network(3, 2, 2).system(sn.rules.gradient_flow())
>>> (form,) = sn.conservation_laws(net).forms
>>> form.formula, form.latex
('W1*W1.T - W2.T*W2', 'W_{1} W_{1}^{\\top} - W_{2}^{\\top} W_{2}')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..budget import check
from ..core.display import aligned_latex, scalar_identity
from ..core.system import LearningSystem
from .members import SymmetryFamily, as_matrix
from .products import ProductFamily
from .rational import in_span

__all__ = [
    "ChargeForm",
    "FormContext",
    "matrix_family_forms",
    "form_factor",
    "named",
]


@dataclass(frozen=True)
class ChargeForm:
    """Charges assembled as the papers write them.

    Attributes
    ----------
    name : str
        The family, e.g. ``'gl(2) at W1 -> W2'``, ``'rescalings per unit'``,
        ``'translations'``.
    formula : str
        Plain text, e.g. ``'W1*W1.T - W2.T*W2'`` or ``'|W[j,:]|^2 + b_j^2 - a_j^2 for j = 1..2'``.
    latex : str
        The same in LaTeX.
    matrix : ImmutableMatrix
        Its value; a column for a vector form. Each entry is a charge of the family (or
        a combination of them) divided by :func:`form_factor`.

    Examples
    --------
    >>> import symnoether as sn
    >>> from symnoether import models
    >>> net = models.linear_network(2, 2, 2).system(sn.rules.gradient_flow())
    >>> (form,) = sn.conservation_laws(net).forms
    >>> form.name, form.formula
    ('gl(2) at W1 -> W2', 'W1*W1.T - W2.T*W2')
    >>> form.matrix[0, 0]
    W1_11**2 + W1_12**2 - W2_11**2 - W2_21**2
    """

    name: str
    formula: str
    latex: str
    matrix: sp.ImmutableMatrix

    @property
    def is_vector(self) -> bool:
        """Whether the form is a vector (rescalings, translations; matrix families have
        r ≥ 2)."""
        return self.matrix.shape[1] == 1

    def __str__(self) -> str:
        shown = list(self.matrix) if self.is_vector else self.matrix.tolist()
        return f"{self.name}: {self.formula} = {sp.sstr(shown)}"

    def _repr_latex_(self) -> str:
        return aligned_latex([(self.latex, self.matrix)])


@dataclass(frozen=True)
class FormContext:
    """What a form is checked against: the system, the algebra, the conserved subspace
    ``span`` (a basis of integer vectors) and ``law_of(vector)``, the proved law of
    Σ c_k ψ_k for each basis vector."""

    system: LearningSystem
    algebra: object
    span: list
    law_of: object
    _charges: dict = field(default_factory=dict, repr=False, compare=False)

    def charge(self, vector: tuple) -> sp.Expr | None:
        """The charge of Σ c_k ψ_k divided by the form factor, or None when ``vector`` is
        not in the conserved subspace. Charges are linear in the generator (q̇ᵀMψ, or the
        potential of Mψ without a constant), so it is the same combination of the proved
        charges of the subspace's basis: no new proof is needed."""
        weights = _weights(vector, self.span)
        if weights is None:
            return None
        total = sp.S.Zero
        for k, weight in enumerate(weights):
            if weight:
                if k not in self._charges:
                    law = self.law_of(tuple(self.span[k]))
                    self._charges[k] = bare(self.system, law.charge)
                total += weight * self._charges[k]
        return sp.expand(total)


def _weights(vector: tuple, span: list) -> list | None:
    """w with Σ w_k span_k = vector (exact), or None when there is none."""
    if not span:
        return None if any(vector) else []
    basis = sp.Matrix(span).T
    try:
        solution, free = basis.gauss_jordan_solve(sp.Matrix(vector))
    except ValueError:  # not in the span
        return None
    return list(solution.subs({p: 0 for p in free}))


# -- matrix families ------------------------------------------------------------------


@dataclass(frozen=True)
class _Family:
    """A matrix family: ψ_A = Σ over ``terms`` of sign·op(A)·W_source moving W_target (a
    left term) or sign·W_source·op(A) (a right term), placed in the algebra's basis by
    ``members`` = ((member, start, weight), …)."""

    name: str
    rank: int
    algebra: str
    terms: tuple
    blocks: tuple
    members: tuple

    def vector(self, matrix: dict, n: int) -> tuple:
        out = [0] * n
        for member, start, weight in self.members:
            for k, c in _coordinates_of(member, matrix).items():
                out[start + k] += weight * c
        return tuple(out)


def _coordinates_of(member: object, matrix: dict) -> dict:
    """A sparse r×r matrix over the member's own basis (E_ij, or E_ij − E_ji for so(r))."""
    r = member.rank
    if getattr(member, "algebra", "gl") == "gl":
        return {i * r + j: v for (i, j), v in matrix.items()}
    pairs = [(i, j) for i in range(r) for j in range(i + 1, r)]
    return {pairs.index((i, j)): v for (i, j), v in matrix.items() if i < j}


def _terms(member: object) -> tuple:
    if isinstance(member, SymmetryFamily):
        left = tuple((a, a, "left", 1, False) for a in member.left_blocks)
        return (*left, (member.right_block, member.right_block, "right", -1, False))
    return tuple(member.terms)


def matrix_family_forms(context: FormContext) -> list:
    """The :class:`ChargeForm` of every matrix family (and cross pair) of the algebra whose
    form's directions are all conserved."""
    forms = []
    for family in _matrix_families(context.algebra):
        check()
        form = _matrix_form(context, family)
        if form is not None:
            forms.append(form)
    return forms


def _matrix_families(algebra: object) -> list:
    """The gl(r), shared and so(r) families, then each pair of cross families
    (Wᵢ += J Wⱼ, Wⱼ += ε J Wᵢ) with ε = −1 and +1."""
    out, cross = [], []
    for member in algebra.families:
        if not isinstance(member, SymmetryFamily | ProductFamily):
            continue
        start = algebra._start(member)
        kind = getattr(member, "algebra", "gl")
        terms = _terms(member)
        out.append(
            _Family(member.name, member.rank, kind, terms, member.blocks, ((member, start, 1),))
        )
        if isinstance(member, ProductFamily) and kind == "so" and len(terms) == 1:
            (target, source, side, sign, transposed) = terms[0]
            if target != source and sign == 1 and not transposed:
                cross.append((member, start, target, source, side))
    for k, (first, s1, t1, u1, side1) in enumerate(cross):
        for second, s2, t2, u2, side2 in cross[k + 1 :]:
            if (t2, u2, side2) != (u1, t1, side1) or first.rank != second.rank:
                continue
            names = [first.blocks[t1][0], first.blocks[u1][0]]
            for weight in (-1, 1):
                moved = ("J*{}" if side1 == "left" else "{}*J").format
                op = "-=" if weight < 0 else "+="
                name = (
                    f"so({first.rank}) cross pair {names[0]}, {names[1]} "
                    f"({names[0]} += {moved(names[1])}, {names[1]} {op} {moved(names[0])})"
                )
                terms = ((t1, u1, side1, 1, False), (u1, t1, side1, weight, False))
                members = ((first, s1, 1), (second, s2, weight))
                out.append(_Family(name, first.rank, "so", terms, first.blocks, members))
    return out


def _matrix_form(context: FormContext, family: _Family) -> ChargeForm | None:
    """The form of one matrix family, when every direction it needs is conserved and its
    charges are ½⟨A, P(q)⟩ (gradient flow) or ⟨A, P(q̇)⟩ times the form factor."""
    system, n, r = context.system, context.algebra.dimension, family.rank
    symmetric = system.order == 1 and family.algebra == "gl"
    if symmetric:
        basis = [
            {(i, j): 1, (j, i): 1} if i != j else {(i, i): 1} for i in range(r) for j in range(i, r)
        ]
    else:
        basis = [{(i, j): 1, (j, i): -1} for i in range(r) for j in range(i + 1, r)]
    if not basis or _alone_conserved(context, family):
        return None
    P = _p_matrix(system, family)
    if P is None:
        return None
    half = sp.Rational(1, 2) if system.order == 1 else 1
    for matrix in basis:
        check()
        charge = context.charge(family.vector(matrix, n))
        expected = half * sum(v * P[i, j] for (i, j), v in matrix.items())
        if charge is None or sp.expand(charge - expected) != 0:
            return None
    if system.order == 2:
        value, wrap = P - P.T, "P - P{t}"
    elif symmetric:
        value = (P + P.T) / 2
        wrap = "" if (P - P.T).expand() == sp.zeros(r, r) else "(P + P{t})/2"
    else:
        value = (P - P.T) / 2
        wrap = "" if (P + P.T).expand() == sp.zeros(r, r) else "(P - P{t})/2"
    plain = _p_text(family, system.order, wrap, latex=False)
    latex = _p_text(family, system.order, wrap, latex=True)
    return ChargeForm(family.name, plain, latex, sp.ImmutableMatrix(value.applyfunc(sp.expand)))


def _alone_conserved(context: FormContext, family: _Family) -> bool:
    """A cross pair whose two families are each conserved: each has its own form."""
    if len(family.members) == 1:
        return False
    n = context.algebra.dimension
    for member, start, _ in family.members:
        single = _Family(member.name, member.rank, "so", (), (), ((member, start, 1),))
        if in_span(single.vector({(0, 1): 1, (1, 0): -1}, n), context.span):
            return True
    return False


def _p_matrix(system: LearningSystem, family: _Family) -> sp.Matrix | None:
    """P = Σ sign·op(X), X = Ẇ_t W_sᵀ (left) or W_sᵀ Ẇ_t (right); W for Ẇ under gradient
    flow. None when a block has no velocity (not a coordinate of the system)."""
    moving = dict(zip(system.coords, system.velocities, strict=True))
    P = sp.zeros(family.rank, family.rank)
    for target, source, side, sign, transposed in family.terms:
        Wt, Ws = as_matrix(family.blocks[target][1]), as_matrix(family.blocks[source][1])
        if system.order == 2:
            if not all(q in moving for q in Wt):
                return None
            Wt = Wt.applyfunc(lambda q: moving[q])
        X = Wt * Ws.T if side == "left" else Ws.T * Wt
        P += sign * (X.T if transposed else X)
    return P


def _p_text(family: _Family, order: int, wrap: str, latex: bool) -> str:
    """P written from the blocks' names, inside ``wrap`` ('' for P itself)."""
    t, star = (r"^{\top}", " ") if latex else (".T", "*")

    def name(k: int) -> str:
        return named(family.blocks[k][0], latex, False)

    def dot(k: int) -> str:
        return named(family.blocks[k][0], latex, order == 2)

    text = ""
    for target, source, side, sign, transposed in family.terms:
        if side == "left":
            factors = (
                (name(source), dot(target) + t) if transposed else (dot(target), name(source) + t)
            )
        else:
            factors = (
                (dot(target) + t, name(source)) if transposed else (name(source) + t, dot(target))
            )
        term = star.join(factors)
        text += (" - " if sign < 0 else " + ") + term if text else ("-" if sign < 0 else "") + term
    if not wrap:
        return text
    return wrap.format(t=t) + f", P = {text}"


def named(name: str, latex: bool, dot: bool) -> str:
    """A block's name in plain text or LaTeX, dotted (its velocity) when ``dot``."""
    if latex:
        base = sp.latex(sp.Symbol(name))
        return rf"\dot{{{base}}}" if dot else base
    return f"{name}dot" if dot else name


# -- the common factor ------------------------------------------------------------------


def bare(system: LearningSystem, charge: sp.Expr) -> sp.Expr:
    """A charge without the common factor e^{t/τ}·m of a second-order rule (M = m·I)."""
    return sp.expand(sp.cancel(sp.powsimp(charge / form_factor(system), combine="exp")))


def form_factor(system: LearningSystem) -> sp.Expr:
    """The scalar c with charge = c · (form entry): g for gradient flow with metric g·I
    (1 for the Euclidean one), e^{t/τ}·m for a second-order rule with M = m·I (else 1,
    e^{t/τ}: the forms are then checked against charges they do not match, and dropped)."""
    mass = scalar_identity(system.mass_matrix)
    if system.order == 1:
        return mass if mass is not None else sp.S.One
    return sp.powsimp(system.damping_factor * (mass if mass is not None else 1))
