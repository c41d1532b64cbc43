"""The derivation bundle: a system, its equations of motion, its Noether laws,
and the closed-form results a derivation script obtains from them.

:func:`derive` composes the stages, one line each; the CLI and the export
consume the :class:`Derivation` it returns.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether import models
>>> pair = models.scalar_pair()
>>> eta = sp.Symbol("eta", positive=True)
>>> deriv = sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators)
>>> [law.conserved for law in deriv.laws]
[False]
>>> deriv.law("rescale").kinetic_breaking
eta*(wdot1**2 - wdot2**2)*exp(2*t/eta)/2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import sympy as sp

from ..budget import check, time_budget
from ..core.charge_equation import charge_equation
from ..core.display import table_text
from ..core.dynamics import EquationsOfMotion, equations_of_motion
from ..core.matrix_display import matrix_text
from ..core.matrix_system import MatrixSystem
from ..core.noether import NoetherLaw, noether
from ..core.system import LearningSystem
from ..errors import InvalidGeneratorError, InvalidInputError, NotSupportedError
from ..numerics.validate import validate, validate_discrete
from ..symmetry.laws import conservation_laws
from .export import (
    derivation_blocks,
    latex_document,
    markdown_document,
    write_latex,
    write_markdown,
)

__all__ = ["Derivation", "derive"]


@dataclass(frozen=True)
class Derivation:
    """A derivation: system, equations of motion, Noether laws, derived results.

    Attributes
    ----------
    title : str
    system : LearningSystem
    equations : EquationsOfMotion
    names : tuple of str
        One name per law (e.g. ``'scale'``).
    laws : tuple of NoetherLaw
    results : tuple of (str, sympy object)
        Further closed forms derived from the laws (an ODE, its solution),
        each labelled; added with :meth:`with_result`.
    notes : tuple of str
        What the derivation left out and why (e.g. generators without a
        first-order charge), and the bound on the number of laws.
    reports : tuple
        Numerical validation reports attached by :meth:`validate`.
    matrix_forms : tuple of (str, str, ImmutableMatrix)
        The conserved charges of a symmetry family assembled as the papers write
        them (plain formula, LaTeX formula, matrix), e.g. ``W1*W1.T - W2.T*W2``;
        filled when :func:`derive` finds the symmetries itself.
    """

    title: str
    system: LearningSystem
    equations: EquationsOfMotion
    names: tuple[str, ...]
    laws: tuple[NoetherLaw, ...]
    results: tuple[tuple[str, sp.Basic], ...] = ()
    notes: tuple[str, ...] = ()
    reports: tuple = ()
    matrix_forms: tuple = ()

    def validate(self, q0, v0=None, *, params=None, discrete: bool = False, **options):
        """A copy with validation reports attached: every law checked along the
        continuous trajectory (:func:`symnoether.validate`) and, with
        ``discrete=True``, against the real optimizer
        (:func:`symnoether.validate_discrete`, finite-step rules only).

        The reports name the laws as the derivation does; ``print(report)`` shows one
        table row per law, and ``str(derivation)`` ends with those tables. Constants
        only the laws mention (the entries of A in ψ_A) may be left out of ``params``:
        they are drawn once, used by both runs and listed in ``report.drawn``.

        Examples
        --------
        >>> import sympy as sp, symnoether as sn
        >>> from symnoether import models
        >>> eta = sp.Symbol("eta", positive=True)
        >>> pair = models.scalar_pair()
        >>> deriv = sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators)
        >>> values = {eta: 0.1, sn.data("x")[0]: 1.0, sn.data("y")[0]: 0.5}
        >>> checked = deriv.validate([1.5, 0.2], params=values, t_end=3.0, backend="numpy")
        >>> [report.passed for report in checked.reports]
        [True]
        """
        names = options.pop("names", self.names)
        continuous = validate(self.system, self.laws, q0, v0, params=params, names=names,
                              **options)  # fmt: skip
        reports = [continuous]
        if discrete:
            kept = {k: v for k, v in options.items() if k in ("backend", "throw", "seed")}
            # the constants drawn for the continuous run, so both runs check the same laws
            same = {**continuous.drawn, **dict(params or {})}
            reports.append(
                validate_discrete(self.system, self.laws, q0, params=same, names=names, **kept)
            )
        return replace(self, reports=(*self.reports, *reports))

    def law(self, name: str) -> NoetherLaw:
        """The law of the generator called ``name``."""
        if name not in self.names:
            raise InvalidInputError(f"no law named {name!r}; the laws are {', '.join(self.names)}")
        return self.laws[self.names.index(name)]

    def with_result(self, label: str, result: sp.Basic) -> Derivation:
        """A copy with one more labelled closed-form result."""
        return replace(self, results=(*self.results, (label, result)))

    def with_charge_equations(self) -> Derivation:
        """A copy with, for each law of a linear-symmetric generator, its quadratic D and the
        closed ODE of D among the results (and D(t) where it closes), as
        :func:`~symnoether.core.charge_equation.charge_equation` derives them; the other
        laws are named in a note.

        Examples
        --------
        >>> import sympy as sp, symnoether as sn
        >>> from symnoether import models
        >>> pair = models.scalar_pair()
        >>> deriv = sn.derive(pair.system(sn.rules.gradient_flow()), pair.generators)
        >>> deriv.with_charge_equations().result("rescale: D(t)")
        Eq(D(t), D_0)
        """
        result, skipped = self, []
        for name, law in zip(self.names, self.laws, strict=True):
            try:
                found = charge_equation(law)
            except (InvalidGeneratorError, NotSupportedError):
                skipped.append(name)
                continue
            quantity = sp.Eq(sp.Symbol("D"), found.quantity, evaluate=False)
            result = result.with_result(f"{name}: quadratic", quantity)
            result = result.with_result(f"{name}: charge equation", found.equation)
            if found.solution is not None:
                result = result.with_result(f"{name}: D(t)", found.solution)
        if not skipped:
            return result
        note = (f"no quadratic charge equation for {', '.join(skipped)}: the generator is not "
                "ψ = Aq with symmetric MA (see sn.charge_equation)")  # fmt: skip
        return replace(result, notes=(*result.notes, note))

    def result(self, label: str) -> sp.Basic:
        """The result called ``label``."""
        for name, value in self.results:
            if name == label:
                return value
        raise InvalidInputError(f"no result labelled {label!r}")

    def __str__(self) -> str:
        rule = "=" * len(self.title)
        sections = [f"{self.title}\n{rule}", "system\n" + _indent(str(self.system))]
        sections.append(_indent(str(self.equations), first=False))
        for name, law in zip(self.names, self.laws, strict=True):
            sections.append(f"[{name}] " + str(law))
        if self.matrix_forms:
            rows = [(f, _matrix_text(m, self.system)) for f, _, m in self.matrix_forms]
            sections.append(table_text("matrix forms of the conserved charges", rows))
        if self.results:
            rows = [(label, _plain(value)) for label, value in self.results]
            sections.append(table_text("derived results", rows))
        if self.notes:
            sections.append("notes\n" + "\n".join(f"  {note}" for note in self.notes))
        if self.reports:  # each report is a short table, one row per law
            sections.append("\n\n".join(["numerical validation", *map(str, self.reports)]))
        return "\n\n".join(sections)

    def _repr_latex_(self) -> str:
        """The system (loss, M, τ), the equations of motion, every law and result."""
        return "\n".join(f"$${block}$$" for block in derivation_blocks(self, env="aligned"))

    def to_latex(self, path: str | None = None, **options: object) -> str:
        """The standalone LaTeX document (compiles with pdflatex); written to ``path``
        atomically when given. Options: see :func:`symnoether.io.export.latex_document`."""
        if path is None:
            return latex_document(self, **options)
        return write_latex(self, path, **options)

    def to_markdown(self, path: str | None = None, **options: object) -> str:
        """The derivation as Markdown with ``$$``-math; written to ``path`` when given.
        Options: see :func:`symnoether.io.export.latex_document`."""
        if path is None:
            return markdown_document(self, **options)
        return write_markdown(self, path, **options)

    def _repr_markdown_(self) -> str:
        return markdown_document(self, kernels=False)


def derive(
    system: LearningSystem,
    generators: Mapping[str, object] | Sequence[object] | None = None,
    *,
    title: str | None = None,
    timeout: float | None = None,
) -> Derivation:
    """Derive equations of motion and the Noether law of each generator.

    Parameters
    ----------
    system : LearningSystem or MatrixSystem
        A matrix-level system (``MatrixSymbol`` layers) derives at matrix level: laws
        in trace form, and, without ``generators``, one law per piece of each symmetry
        family (:func:`~symnoether.symmetry.matrix_laws.matrix_conservation_laws`).
    generators : mapping name → generator, or a sequence of generators, optional
        The symmetries to derive laws for (names default to ``psi1, psi2, …``).
        When omitted, the symmetries of the loss are found
        (``system.symmetries()``) and a law is derived for each; under gradient
        flow the generators without a first-order charge are listed in
        ``notes`` instead.
    title : str, optional
    timeout : float, optional
        Time budget in seconds for the whole derivation — symmetry search,
        equations of motion, simplification and verification of every law.
        Default None: no budget (the gallery derives in seconds); see
        :mod:`symnoether.budget`.

    Returns
    -------
    Derivation

    Raises
    ------
    BudgetExceededError
        The derivation ran out of its ``timeout``; the message names the stage
        that was running.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> q1, q2 = sn.coordinates("q1 q2")
    >>> flow = sn.LearningSystem((q1, q2), (q1 + q2) ** 2, rule=sn.rules.gradient_flow())
    >>> sn.derive(flow, {"antidiagonal": (1, -1)}).law("antidiagonal").charge
    q1 - q2
    """
    with time_budget(timeout, "derive()"):
        return _derive(system, generators, title)


def _derive(system: LearningSystem, generators: object, title: str | None) -> Derivation:
    if not isinstance(system, LearningSystem | MatrixSystem):
        raise InvalidInputError(
            f"derive() needs a LearningSystem, got a {type(system).__name__}; build one with "
            "sn.LearningSystem(coords, loss, rule=...)"
        )
    forms: tuple = ()
    if generators is None and isinstance(system, MatrixSystem):
        names, laws, notes, forms = _discovered_pieces(system)
    elif generators is None:
        names, laws, notes, forms = _discovered(system)
    else:
        names, laws, notes = _given(system, _named(generators))
    with time_budget(None, "the equations of motion", hint="simplify the loss"):
        equations = equations_of_motion(system)
    return Derivation(
        title=title or "symnoether derivation",
        system=system,
        equations=equations,
        names=tuple(names),
        laws=tuple(laws),
        notes=tuple(notes),
        matrix_forms=forms,
    )


def _given(system: LearningSystem, named: dict) -> tuple[list, list, list]:
    """The law of each generator the user chose (a missing charge raises)."""
    names, laws = [], []
    for name, generator in named.items():
        check()
        with time_budget(None, f"the Noether law of {name!r}"):
            laws.append(noether(system, generator))
        names.append(name)
    return names, laws, []


def _discovered(system: LearningSystem) -> tuple[list, list, list, tuple]:
    """The symmetries of the loss, found by :func:`find_symmetries`, and the laws of the
    whole algebra (:func:`conservation_laws`): the conserved subspace and the broken
    directions that have a charge become laws, named after the basis elements they
    combine; the directions without a first-order charge, the bound and its status
    go to the notes; the family matrix forms are kept."""
    algebra = system.symmetries()
    if algebra.dimension > MAX_DISCOVERED_LAWS:
        raise NotSupportedError(
            f"the loss has a {algebra.dimension}-dimensional symmetry algebra, too many laws "
            f"to derive one by one (limit {MAX_DISCOVERED_LAWS}); pick generators: "
            "derive(system, {name: generator}) with elements of system.symmetries()"
        )
    found = conservation_laws(system, algebra)
    basis = [symmetry.name for symmetry in algebra]
    names = [direction_name(basis, vector) for vector in found.coefficients]
    laws = list(found.laws)
    notes = [
        f"generators found by symmetry search: dimension {algebra.dimension} "
        f"({algebra.completeness}); "
        f"{len(found.laws)} conserved combinations"
    ]
    for direction in found.broken:
        name = direction_name(basis, direction.coefficients)
        if direction.law is None:
            notes.append(f"{name}: no first-order charge under gradient flow (Mψ not a gradient)")
        else:
            names.append(name)
            laws.append(direction.law)
    for law in found.polynomial_laws:  # no generator: not a Noether law
        notes.append(f"conserved, found by a polynomial ansatz (no affine symmetry): {law}")
    notes.append(_bound_note(found))
    forms = tuple((form.formula, form.latex, form.matrix) for form in found.forms)
    return names, laws, notes, forms


def _bound_note(found: object) -> str:
    """The bound on the number of laws and whether the laws found reach it."""
    if found.bound is None:
        return found.bound_note
    if found.complete is None:
        return f"bound: {found.bound_note}"
    status = "complete" if found.complete else "INCOMPLETE: some laws are missing"
    return f"bound: {found.bound_note} ({status})"


def _discovered_pieces(system: MatrixSystem) -> tuple[list, list, list, tuple]:
    """A matrix-level system: the conserved and broken pieces of its symmetry families
    (:func:`~symnoether.symmetry.matrix_laws.matrix_conservation_laws`), one law per
    piece that has a charge, named ``'<family>, <piece>'``; the rest goes to the notes."""
    found = conservation_laws(system)
    names, laws = [], []
    notes = [
        f"generators found by the structured search (dimension {found.algebra.dimension}, "
        f"not known to be complete); {found.conserved_dimension} conserved directions; "
        f"searched: {found.searched}"
    ]
    for piece in (*found.conserved, *found.broken):
        if piece.law is None:
            notes.append(f"{piece.family}, {piece.piece} piece: {piece.reason}")
        else:
            names.append(f"{piece.family}, {piece.piece}")
            laws.append(piece.law)
    notes += [f"not derived at matrix level: {name}" for name in found.skipped]
    notes.append(_bound_note(found))
    forms = tuple(
        (f"C [{name}] (Q = tr(A^T C))", rf"C\ \text{{[{name}]}}", matrix)
        for name, matrix in found.matrix_forms.items()
    )
    return names, laws, notes, forms


MAX_DISCOVERED_LAWS = 32
"""Most laws :func:`derive` derives from a discovered algebra without being asked."""


def direction_name(basis: Sequence[str], vector: Sequence[int]) -> str:
    """A readable name for Σ c_k ψ_k from the basis names: ``'gl(2)[E_12 + E_21]'`` when
    the terms share a family prefix, ``'rescale_1 - rescale_2'`` otherwise.

    Examples
    --------
    >>> direction_name(["gl(2)[E_11]", "gl(2)[E_12]", "gl(2)[E_21]"], (0, 1, -1))
    'gl(2)[E_12 - E_21]'
    >>> direction_name(["a", "b"], (2, 0))
    '2 a'
    """
    terms = [(c, name) for c, name in zip(vector, basis, strict=True) if c]
    heads = {name.partition("[")[0] for _, name in terms}
    family = len(heads) == 1 and all(n.endswith("]") and "[" in n for _, n in terms)
    if family:
        terms = [(c, name.partition("[")[2][:-1]) for c, name in terms]
    text = ""
    for k, (c, name) in enumerate(terms):
        sign = "-" if c < 0 else "+"
        size = "" if abs(c) == 1 else f"{abs(c)} "
        lead = ("-" if c < 0 else "") if k == 0 else f" {sign} "
        text += f"{lead}{size}{name}"
    return f"{heads.pop()}[{text}]" if family else text


def _named(generators: Mapping[str, object] | Sequence[object]) -> dict[str, object]:
    if isinstance(generators, Mapping):
        return dict(generators)
    if isinstance(generators, str) or not isinstance(generators, Sequence):
        raise InvalidInputError(
            f"generators = {generators!r}: pass a mapping name → generator or a list of generators"
        )
    return {f"psi{i + 1}": generator for i, generator in enumerate(generators)}


def _matrix_text(matrix: object, system: object) -> str:
    """An explicit matrix as nested lists; a matrix expression in trace notation."""
    if isinstance(matrix, sp.MatrixExpr) and not isinstance(matrix, sp.ImmutableMatrix):
        return matrix_text(matrix, order=system.layers, tau=system.tau)
    return sp.sstr(matrix.tolist())


def _indent(text: str, first: bool = True) -> str:
    lines = text.splitlines()
    return "\n".join(("  " + line) if (first or i) else line for i, line in enumerate(lines))


def _plain(value: sp.Basic) -> str:
    if isinstance(value, sp.Equality):
        return f"{sp.sstr(value.lhs)} = {sp.sstr(value.rhs)}"
    return sp.sstr(value)
