r"""All the conservation laws a symmetry algebra gives: the conserved subspace.

A symmetry search returns a basis ψ_1, …, ψ_n of the algebra of affine symmetries of
the loss. The Noether charge and its rate are linear in the generator, so the laws
of the whole algebra are one linear family ψ_c = Σ c_k ψ_k, and what is conserved is a
subspace of coefficients c, usually not spanned by basis elements:

* second-order rules (L = e^{t/τ}(T − V)): Q_c = e^{t/τ}q̇ᵀMψ_c always exists and
  dQ_c/dt = e^{t/τ}[pr ψ_c(T) − ψ_c·∇R] (R the regularizers) is linear in c; the
  conserved subspace is where it vanishes identically;
* gradient flow (M q̇ = −∇V): a first-order charge exists where Mψ_c is a gradient
  field (its curl, linear in c, vanishes) and is conserved where moreover
  ψ_c·∇R ≡ 0.

Both conditions are sampled at random rational points (a linear system in c, solved
exactly), and every vector of the basis returned is then proved by
:func:`symnoether.noether`, which verifies the charge along the equations of motion.
The basis is readable: integer coefficients, from the reduced echelon form over the
algebra's basis (so aligned with its families: E_ii and E_ij + E_ji for a gl(r)
family under gradient flow). The rest of the algebra (the orthogonal complement) is
reported with what breaks it, in the damped-charge convention of
:class:`~symnoether.core.noether.NoetherLaw`.

For gradient flow, :func:`~symnoether.symmetry.lierank.lie_bound` counts the laws that
exist at all (Marcotte, Gribonval and Peyré 2023), and ``complete`` says whether the
charges found reach it (rank of their Jacobian at a random point).

Examples
--------
>>> import symnoether as sn
>>> from symnoether import models
>>> net = models.linear_network(2, 2, 2).system(sn.rules.gradient_flow())
>>> laws = sn.conservation_laws(net)
>>> len(laws.charges), laws.bound, laws.complete
(3, 3, True)
>>> B = laws.matrix_forms["gl(2) at W1 -> W2"]            # W1W1ᵀ − W2ᵀW2
>>> B[0, 0]
W1_11**2 + W1_12**2 - W2_11**2 - W2_21**2
>>> B[0, 1]
W1_11*W1_21 + W1_12*W1_22 - W2_11*W2_12 - W2_21*W2_22
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sympy as sp

from ..budget import check, time_budget
from ..core.display import (
    Notation,
    aligned_latex,
    table_text,
    vector_latex,
    vector_text,
)
from ..core.jet import prolonged_action
from ..core.matrix_system import MatrixSystem
from ..core.noether import NoetherLaw, noether
from ..core.system import LearningSystem
from ..errors import (
    InvalidInputError,
    NoFirstOrderChargeError,
    VerificationError,
)
from .lawbound import exact_value, functional_rank, law_bound, random_point, rationalized
from .matrixforms import form_factor
from .rational import complement, nullspace, unit
from .vectorforms import charge_forms

__all__ = ["ConservationLaws", "BrokenDirection", "conservation_laws"]

NO_CHARGE = "no first-order charge (Mψ is not a gradient field)"


@dataclass(frozen=True)
class BrokenDirection:
    """A direction of the algebra that is not conserved, and what breaks it.

    Attributes
    ----------
    coefficients : tuple of int
        ψ = Σ c_k ψ_k over the algebra's basis.
    generator : ImmutableMatrix
        ψ, a column over the coordinates.
    law : NoetherLaw or None
        Its charge and rate (damped-charge convention); None under gradient flow
        when Mψ is not a gradient field.
    """

    coefficients: tuple
    generator: sp.ImmutableMatrix
    law: NoetherLaw | None

    @property
    def broken_by(self) -> tuple[str, ...]:
        """What breaks it: ('kinetic term',), regularizer names, or the missing charge."""
        return (NO_CHARGE,) if self.law is None else self.law.broken_by

    def __str__(self) -> str:
        head = f"psi = {vector_text(self.generator)}"
        if self.law is None:
            return f"{head}: {NO_CHARGE}"
        causes = " and ".join(self.broken_by)
        return f"{head}: broken by {causes}; dQ/dt = {sp.sstr(self.law.rate)}"

    def _repr_latex_(self) -> str:
        lhs = r"\psi = " + vector_latex(self.generator)
        if self.law is None:
            return aligned_latex([(lhs, r"\text{no first-order charge}")])
        return aligned_latex([(lhs + r",\ \dot Q", sp.latex(self.law.rate))])


@dataclass(frozen=True, eq=False)
class ConservationLaws:
    """The conserved subspace of a symmetry algebra under a learning rule.

    Attributes
    ----------
    system : LearningSystem
    algebra : SymmetryAlgebra
    laws : tuple of NoetherLaw
        One verified, conserved law per basis vector of the conserved subspace.
    coefficients : tuple of tuple of int
        Those basis vectors, over the algebra's basis (integers).
    broken : tuple of BrokenDirection
        A basis of the rest of the algebra (the orthogonal complement of the
        conserved subspace), each with what breaks it.
    bound : int or None
        Gradient flow: the number of independent conservation laws that exist for
        every value of the data (D − dim Lie(W)(θ), Marcotte et al. 2023); None for
        other rules (``bound_note`` says why).
    bound_note : str
    complete : bool or None
        True when the charges' Jacobian has rank ``bound`` at a random point: no law
        is missing. None when there is no bound.
    polynomial_laws : tuple
        Gradient flow, when the Noether charges fall short of ``bound``: polynomial
        laws of degree ≤ 3 found by an ansatz (:mod:`~symnoether.symmetry.ansatz`),
        each raising the rank of the charges; they count toward ``complete``.
    forms : tuple of ChargeForm
        The charges of each family assembled as the papers write them, up to the factor
        ``form_factor`` (:mod:`~symnoether.symmetry.matrixforms`,
        :mod:`~symnoether.symmetry.vectorforms`): the balancedness W₁W₁ᵀ − W₂ᵀW₂ of gl(r)
        under gradient flow (UᵀU − VᵀV for a factorization UVᵀ), P − Pᵀ with
        P = Ẇ₁W₁ᵀ − W₂ᵀẆ₂ under momentum, the vector ``(|w_in,j|² + b_j² − |w_out,j|²)_j``
        of per-unit rescalings, the translations' (𝟙ᵀW, 𝟙ᵀb).
    functional_rank : int or None
        The rank of the charges' Jacobian (over the coordinates, and the velocities for
        a second-order rule), the largest at two random rational points: at most their
        generic rank and equal to it with probability 1, the count ``complete`` compares
        with ``bound`` (an underestimate could only make ``complete`` False). Below
        ``len(charges)`` when some charges appear to be functions of the others (a hidden
        layer wider than d + m). None when the charges are not rational at rational points.
    """

    system: LearningSystem = field(repr=False)
    algebra: object = field(repr=False)
    laws: tuple
    coefficients: tuple
    broken: tuple
    bound: int | None
    bound_note: str
    complete: bool | None
    forms: tuple = ()
    polynomial_laws: tuple = ()
    functional_rank: int | None = None

    @property
    def matrix_forms(self) -> dict:
        """Family name → its form's value (:attr:`forms`): a matrix for a gl(r) or
        product family, a column for rescalings and translations."""
        return {form.name: form.matrix for form in self.forms}

    @property
    def form_factor(self) -> sp.Expr:
        """The scalar factor between a charge and its entry of a matrix form."""
        return form_factor(self.system)

    @property
    def charges(self) -> tuple:
        """The conserved quantities (SymPy expressions): the Noether charges of
        :attr:`laws`, then the :attr:`polynomial_laws`."""
        return (*(law.charge for law in self.laws), *self.polynomial_laws)

    def __str__(self) -> str:
        title = self._title()
        rows: list = []
        if self.bound is not None and self.complete is None:
            rows.append(("bound", self.bound_note))
        elif self.bound is not None:
            status = "complete" if self.complete else "INCOMPLETE: laws are missing"
            rows.append(("bound", f"{self.bound} independent laws exist ({status})"))
        else:
            rows.append(("bound", self.bound_note))
        if self.functional_rank is not None and self.functional_rank < len(self.charges):
            rows.append(
                (
                    "functional rank",
                    f"the {len(self.charges)} charges' Jacobian has rank "
                    f"{self.functional_rank} at random points: the others appear to be "
                    "functions of them",
                )
            )
        for form in self.forms:
            label = "vector form" if form.is_vector else "matrix form"
            shown = list(form.matrix) if form.is_vector else form.matrix.tolist()
            rows.append((f"{label} [{form.name}]", f"{form.formula} = {sp.sstr(shown)}"))
        for k, charge in enumerate(self.charges, 1):
            rows.append((f"Q{k}", charge))
        for direction in self.broken:
            rows.append(("broken", str(direction)))
        return table_text(title, rows)

    def to_latex(self) -> str:
        """The laws as a LaTeX ``aligned`` block (matrix forms, charges, broken directions),
        in the system's notation."""
        notation = Notation(self.system)
        rows: list = []
        for form in self.forms:
            rows.append((form.latex, notation.latex(form.matrix)))
        for k, charge in enumerate(self.charges, 1):
            rows.append((f"Q_{{{k}}}", notation.latex(charge)))
        for direction in self.broken:
            lhs = r"\psi = " + vector_latex(direction.generator, notation)
            if direction.law is None:
                rows.append((lhs, r"\text{no first-order charge}"))
            else:
                rows.append((lhs + r",\ \dot Q", notation.latex(direction.law.rate)))
        if self.bound is not None:
            status = {True: "complete", False: "incomplete", None: "count of charges unknown"}
            rows.append((r"\text{bound}", rf"{self.bound}\ \text{{({status[self.complete]})}}"))
        if not rows:
            return r"$$\text{no conservation law}$$"
        return aligned_latex(rows)

    def _repr_latex_(self) -> str:
        return self.to_latex()

    def to_markdown(self) -> str:
        """The laws as Markdown: the title and the bound in text, the forms, charges and
        broken directions as ``$$``-math (:meth:`to_latex`)."""
        lines = [f"**{self._title()}**", ""]
        if self.bound is not None and self.complete is not None:
            status = "complete" if self.complete else "INCOMPLETE: laws are missing"
            lines.append(f"- bound: {self.bound} independent laws exist ({status})")
        else:
            lines.append(f"- {self.bound_note}")
        if self.functional_rank is not None and self.functional_rank < len(self.charges):
            lines.append(
                f"- functional rank: the {len(self.charges)} charges' Jacobian has rank "
                f"{self.functional_rank} at random points"
            )
        for form in self.forms:
            label = "vector form" if form.is_vector else "matrix form"
            lines.append(f"- {label} [{form.name}]: `{form.formula}`")
        lines += ["", self.to_latex()]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _title(self) -> str:
        rule = self.system.rule.name if self.system.rule is not None else "hand-written kinetic"
        return (
            f"conservation laws under {rule}: {len(self.laws)} conserved of a symmetry "
            f"algebra of dimension {self.algebra.dimension}"
        )


def conservation_laws(
    system: LearningSystem,
    algebra: object = None,
    *,
    seed: int = 0,
    timeout: float | None = None,
) -> ConservationLaws:
    """Every conservation law the symmetry algebra of ``system``'s loss gives, and a bound.

    Parameters
    ----------
    system : LearningSystem or MatrixSystem
        A matrix-level system (``MatrixSymbol`` layers) gets the conserved pieces of its
        families at matrix level
        (:func:`~symnoether.symmetry.matrix_laws.matrix_conservation_laws`).
    algebra : SymmetryAlgebra, optional
        The symmetries to use (default: ``system.symmetries()``).
    seed : int
        Seeds the random points of the linear solve and of the bound.
    timeout : float, optional
        Time budget in seconds (default None: no budget).

    Returns
    -------
    ConservationLaws (MatrixConservationLaws for a MatrixSystem)

    Raises
    ------
    InvalidInputError
        ``system`` is not a LearningSystem, or ``algebra`` was found for other coordinates.
    VerificationError
        A law of the solved subspace fails its symbolic proof (please report).

    Examples
    --------
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> x, y = sn.data("x y")
    >>> flow = sn.LearningSystem((w1, w2), (y - w1 * w2 * x) ** 2 / 2,
    ...                          rule=sn.rules.gradient_flow(), data=(x, y))
    >>> laws = sn.conservation_laws(flow)
    >>> laws.charges, laws.bound, laws.complete
    (((w1**2 - w2**2)/2,), 1, True)
    """
    if isinstance(system, MatrixSystem):
        from .matrix_laws import matrix_conservation_laws

        return matrix_conservation_laws(system, algebra, seed=seed, timeout=timeout)
    if not isinstance(system, LearningSystem):
        raise InvalidInputError(
            f"conservation_laws() needs a LearningSystem, got a {type(system).__name__}; "
            "build one with sn.LearningSystem(coords, loss, rule=...)"
        )
    if algebra is None:
        algebra = system.symmetries(seed=seed, timeout=timeout)
    elif tuple(algebra.coords) != tuple(system.coords):
        raise InvalidInputError(
            "the algebra was found for other coordinates than the system's; pass "
            "system.symmetries() or find_symmetries(system.loss, system.coords, data=...)"
        )
    with time_budget(timeout, "the conservation laws", hint="pass a smaller model"):
        return _solve(system, algebra, seed)


def _solve(system: LearningSystem, algebra: object, seed: int) -> ConservationLaws:
    generators = [s.generator for s in algebra]
    n = len(generators)
    rng = random.Random(seed)
    laws: dict = {}

    def law_of(vector: tuple) -> NoetherLaw:
        if vector not in laws:
            laws[vector] = noether(system, _combine(generators, vector))
        return laws[vector]

    # Sampling can only enlarge the subspaces (true solutions satisfy every sampled row),
    # and every law below is proved: a wrong enlargement fails its proof, then more points.
    for attempt in range(3):
        charged, conserved = _subspaces(system, generators, rng, extra=4 * attempt)
        try:
            found = tuple(law_of(v) for v in conserved)
            moved = [(v, law_of(v)) for v in complement(conserved, charged, n)]
        except NoFirstOrderChargeError:
            continue
        if all(law.conserved for law in found):
            break
    else:
        raise VerificationError(
            "a combination of symmetries sampled as conserved is not conserved; "
            "please report this system"
        )
    broken = [BrokenDirection(v, law.generator, law) for v, law in moved]
    for vector in complement(charged, [unit(k, n) for k in range(n)], n):
        broken.append(BrokenDirection(vector, _combine(generators, vector), None))
    bound, note, complete, extra, rank = law_bound(system, found, rng, seed)
    if rank is None:
        rank = functional_rank([law.charge for law in found], system, rng)
    forms = charge_forms(system, algebra, conserved, law_of)
    return ConservationLaws(
        system,
        algebra,
        found,
        tuple(conserved),
        tuple(broken),
        bound,
        note,
        complete,
        forms,
        extra,
        rank,
    )


# -- the linear conditions on the coefficients --------------------------------------


def _subspaces(system: LearningSystem, generators: list, rng: random.Random, extra: int):
    """(charged, conserved): integer bases of the coefficients with a charge (all of
    them for second-order rules; Mψ a gradient field for gradient flow) and of those
    conserved."""
    n = len(generators)
    if n == 0:
        return [], []
    coords = system.coords
    breaking_rows: list = []
    curl_rows: list = []
    rates = [_rate_core(system, psi) for psi in generators]
    samples = n + 2 + extra
    varying: list = []
    if system.order == 1:
        mass = sp.Matrix(system.mass_matrix)
        identity = mass == sp.eye(len(coords))
        curls = [_curl(psi if identity else mass * sp.Matrix(psi), coords) for psi in generators]
        for entries in zip(*curls, strict=True):  # one row per pair i < j, zero rows left out
            if all(e == 0 for e in entries):
                continue
            if all(e.is_Number for e in entries):  # the same at every point
                curl_rows.append([exact_value(e, {}) for e in entries])
            else:
                varying.append(entries)
        samples = 3 + extra
    for _ in range(samples):
        check()
        point = random_point(system, rng)
        breaking_rows.append([exact_value(rate, point) for rate in rates])
        for entries in varying:
            curl_rows.append([exact_value(e, point) for e in entries])
    charged = nullspace(curl_rows, n) if system.order == 1 else [unit(k, n) for k in range(n)]
    conserved = nullspace(curl_rows + breaking_rows, n)
    return charged, conserved


def _curl(column: sp.MatrixBase, coords: tuple) -> list:
    """J_ij − J_ji for i < j, J the Jacobian of ``column``: each entry differentiated only
    by the coordinates it contains (an affine generator's entries have a few)."""
    index = {q: k for k, q in enumerate(coords)}
    J: dict = {}
    for i, entry in enumerate(column):
        if entry != 0:
            for q in entry.free_symbols & index.keys():
                J[(i, index[q])] = sp.diff(entry, q)
    size = len(coords)
    zero = sp.S.Zero
    return [
        rationalized(J.get((i, j), zero) - J.get((j, i), zero))
        for i in range(size)
        for j in range(i + 1, size)
    ]


def _rate_core(system: LearningSystem, psi: sp.ImmutableMatrix) -> sp.Expr:
    """The undamped rate of Q_ψ: pr ψ(T) − ψ·∇R (second order) or −ψ·∇R (first), R the
    regularizers: ψ·∇V_loss ≡ 0 for every element of the algebra (proved by the search,
    and again by :func:`~symnoether.core.noether.noether` for each law returned)."""
    coords = system.coords
    regularizer = system.potential - system.loss
    rate = -sp.Add(*[p * sp.diff(regularizer, q) for p, q in zip(psi, coords) if p != 0])
    if system.order == 2:
        rate += prolonged_action(system.kinetic, psi, coords, system.velocities)
    return rationalized(sp.expand(rate))


def _combine(generators: list, vector: tuple) -> sp.ImmutableMatrix:
    total = sp.zeros(len(generators[0]), 1)
    for c, psi in zip(vector, generators, strict=True):
        if c:
            total += c * sp.Matrix(psi)
    return sp.ImmutableMatrix(total.applyfunc(sp.expand))
