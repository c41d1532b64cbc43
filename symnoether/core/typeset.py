r"""The rows each result shows, shared by ``_repr_latex_`` and the exported documents.

A :class:`Row` is one ``lhs = rhs`` line with a note. :func:`system_rows`,
:func:`equation_rows` and :func:`law_rows` say what a learning system, its
equations of motion and a Noether law show, in the :class:`~symnoether.core.display.Notation`
of their system; :func:`aligned` renders rows for a notebook, and
:mod:`symnoether.io.notation` renders the same rows, broken to the page, in the
LaTeX and Markdown documents. The objects are used by their attributes only.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> from symnoether.core.display import Notation
>>> w1, w2 = sn.coordinates("w1 w2")
>>> eta = sp.Symbol("eta", positive=True)
>>> gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta))
>>> print(aligned(system_rows(gd, Notation(gd))[2:4]))
$$\begin{aligned}
\mathbf{M} &= \frac{\eta}{2} I_{2} && \text{mass matrix} \\
T &= \frac{\eta \left(\dot{w}_{1}^{2} + \dot{w}_{2}^{2}\right)}{4} && \text{kinetic term}
\end{aligned}$$
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp

from .display import TAU, Notation, bold, text, vector_latex

__all__ = [
    "Row",
    "aligned",
    "system_text",
    "rule_text",
    "system_rows",
    "equation_rows",
    "law_rows",
    "generator_rows",
]


@dataclass(frozen=True)
class Row:
    """One ``lhs rel rhs`` line (continued over ``rhs`` lines) of a display, with a note."""

    lhs: str
    rhs: tuple[str, ...]
    note: str = ""
    rel: str = "="


def aligned(rows: Sequence[Row]) -> str:
    r"""``$$\begin{aligned} … \end{aligned}$$`` of ``rows``, notes in a second column
    (for notebooks; the documents break and tag them in :mod:`symnoether.io.notation`)."""
    lines = []
    for row in rows:
        note = rf" && \text{{{row.note}}}" if row.note else ""
        first, *rest = row.rhs or ("",)
        lines.append(f"{row.lhs} &{row.rel} {first}".rstrip() + note)
        lines.extend(rf"&\quad {more}" for more in rest)
    return "$$\\begin{aligned}\n" + " \\\\\n".join(lines) + "\n\\end{aligned}$$"


def system_text(system: object) -> str:
    """The plain text of a learning system (its ``__str__``)."""
    notation = Notation(system)
    V, T, L = (notation.role_text(letter) for letter in "VTL")
    lines = [f"coordinates  {', '.join(map(str, system.coords))}"]
    if system.data:
        lines.append(f"data         {', '.join(map(str, system.data))}")
    if getattr(system, "dataset", None):
        size = len(system.samples)
        lines.append(f"sample loss  l = {text(system.loss)}")
        lines.append(f"dataset      {size} samples; {V} = mean of l over them")
    else:
        lines.append(f"loss         {V} = {text(system.loss)}")
    for regularizer in system.regularizers:
        lines.append(f"regularizer  {regularizer}")
    if system.rule is not None:
        lines.append(f"rule         {rule_text(system, notation)}")
    if system.order == 2:
        lines.append(f"mass matrix  {notation.role_text('M')} = {text(system.mass_matrix)}")
        lines.append(f"kinetic      {T} = {text(system.kinetic)}")
        lines.append(f"damping      tau = {text(system.tau)}")
        lines.append(f"Lagrangian   {L} = {text(system.lagrangian)}")
    else:
        metric = notation.role_text("G")
        lines.append(
            f"flow         {metric} q' = -grad {V},  {metric} = {text(system.mass_matrix)}"
        )
    return "\n".join(lines)


def rule_text(system: object, notation: Notation) -> str:
    """The learning rule's description, its potential V renamed as in ``notation``."""
    if system.rule is None:
        return "a hand-written kinetic term"
    return str(system.rule).replace("∇V", "∇" + notation.role_text("V"))


def system_rows(system: object, notation: Notation) -> list[Row]:
    """Coordinates, data, potential, mass matrix (or metric), kinetic term, damping, L."""
    rows = []
    scalars = [b for _, b in system.blocks if not isinstance(b, sp.MatrixBase)]
    if scalars:
        rows.append(Row(r"\mathbf{q}", (vector_latex(scalars, notation),)))
    for name, block in system.blocks:
        if isinstance(block, sp.MatrixBase):
            rows.append(_block_row(name, block, notation))
    if system.data:
        data = ", ".join(notation.latex(d) for d in system.data)
        rows.append(Row(r"\text{data}", (data,), rel=":"))
    V, T = notation.role("V"), notation.role("T")
    names = ", ".join(str(r.name).replace("_", " ") for r in system.regularizers)
    note = f"loss + {names}" if system.regularizers else "loss"
    if getattr(system, "dataset", None):
        size = len(system.samples)
        rows.append(Row(r"\ell", (notation.latex(system.loss),), "per-sample loss"))
        note = f"mean of the {size} samples' loss" + (f" + {names}" if names else "")
    rows.append(Row(V, (notation.latex(system.potential),), note))
    mass = notation.latex(system.mass_matrix)
    if system.order == 1:
        G = notation.bold_role("G")
        rows.append(Row(G, (mass,), "metric"))
        rows.append(Row(rf"{G}\,\dot{{\mathbf{{q}}}}", (rf"-\nabla {V}",), "gradient flow"))
        return rows
    rows.append(Row(notation.bold_role("M"), (mass,), "mass matrix"))
    rows.append(Row(T, (notation.latex(system.kinetic),), "kinetic term"))
    L = notation.role("L")
    if notation.factor is not None:
        rows.append(Row(r"\tau", (notation.latex(system.tau),), "damping time"))
        rows.append(Row(L, (rf"{TAU} \left({T} - {V}\right)",)))
    else:
        rows.append(Row(L, (f"{T} - {V}",), "no damping"))
    return rows


def _block_row(name: str, block: sp.MatrixBase, notation: Notation) -> Row:
    """``\\mathbf{W} = [entries]``; corners and dots beyond 3×3, with the shape."""
    rows, cols = block.shape
    if max(rows, cols) <= 3:
        return Row(bold(name), (notation.latex(block),))

    def entry(i: int, j: int) -> str:
        return notation.latex(block[i, j])

    def line(i: int) -> str:
        cells = [entry(i, 0)] + ([r"\cdots", entry(i, cols - 1)] if cols > 1 else [])
        return " & ".join(cells)

    lines = [line(0)]
    if rows > 1:
        lines += [r" & ".join([r"\vdots"] + ([r"\ddots", r"\vdots"] if cols > 1 else [])),
                  line(rows - 1)]  # fmt: skip
    body = r"\\".join(lines)
    shape = rf"\in \mathbb{{R}}^{{{rows}\times{cols}}}"
    return Row(bold(name), (rf"\left[\begin{{matrix}}{body}\end{{matrix}}\right] {shape}",))


def equation_rows(equations: object, notation: Notation, *, mass: bool = False) -> list[Row]:
    r"""One row per coordinate, :math:`(M\ddot q)_i = f_i` (or :math:`(G\dot q)_i = f_i` for
    gradient flow); with ``mass``, the mass matrix (metric) first."""
    system = equations.system
    first = equations.order == 1
    rates = system.velocities if first else _accelerations(system)
    matrix = equations.mass_matrix
    rows = []
    if mass:
        letter, what = ("G", "metric") if first else ("M", "mass matrix")
        rows.append(Row(notation.bold_role(letter), (notation.latex(matrix),), what))
    diagonal = matrix.is_diagonal() and not (matrix.free_symbols & set(system.coords))
    for i, (rate, force) in enumerate(zip(rates, equations.forcing, strict=True)):
        if diagonal:
            m = matrix[i, i]
            shown = notation.latex(rate)
            lhs = shown if m == 1 else f"{notation.latex(m)} {shown}"
        else:
            lhs = notation.latex(sp.expand((matrix * sp.Matrix(rates))[i]))
        rows.append(Row(lhs, (notation.latex(force),)))
    return rows


def _accelerations(system: object) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(v.name.replace("dot", "ddot", 1), real=True) for v in system.velocities)


def law_rows(
    law: object, notation: Notation, *, name: str | None = None, define_tau: bool = True
) -> list[Row]:
    """Generator, charge, and its law split into kinetic and potential breaking; ``name``
    (the law's name in a derivation) indexes ψ and Q. A law that needed DiracDelta terms
    to vanish off a set of measure zero says it holds almost everywhere."""
    rows = _law_rows(law, notation, name=name, define_tau=define_tau)
    if getattr(law, "almost_everywhere", False):
        rows.append(Row("", (r"\text{the law holds almost everywhere}",), rel=""))
    return rows


def _law_rows(law: object, notation: Notation, *, name: str | None, define_tau: bool) -> list[Row]:
    sub = f"_{{{notation.label(name)}}}" if name else ""
    charge = f"{notation.role('Q')}{sub}"
    rows = generator_rows(law, notation, name=name)
    if define_tau and notation.factor is not None:
        rows.append(Row(r"\tau", (notation.latex(law.system.tau),), "damping time"))
    rows.append(Row(charge, (notation.damped_latex(law.charge),)))
    rate = rf"\frac{{d{charge}}}{{dt}}"
    if law.conserved:
        rows.append(Row(rate, ("0",), "conserved"))
        return rows
    broken = "broken by " + " and ".join(law.broken_by)
    rule = law.system.rule
    if rule is not None and rule.stochastic:
        return rows + _sgd_rows(law, notation, sub, broken)
    if law.order == 1:
        rows.append(Row(rate, (notation.latex(law.rate),), broken + " (gradient flow)"))
        return rows
    Q = notation.role("Q")
    kinetic, potential = (
        rf"\dot{{{Q}}}^{{\mathrm{{kin}}}}{sub}",
        rf"\dot{{{Q}}}^{{\mathrm{{pot}}}}{sub}",
    )
    rows.append(Row(rate, (f"{kinetic} + {potential}",), broken))
    rows.append(
        Row(kinetic, (notation.damped_latex(law.kinetic_breaking),), "kinetic symmetry breaking")
    )
    causes = [c for c in law.broken_by if c != "kinetic term"]
    note = "breaking by the " + " and ".join(causes) if causes else "symmetry of the loss"
    rows.append(Row(potential, (notation.damped_latex(law.potential_breaking),), note))
    return rows


def _sgd_rows(law: object, notation: Notation, sub: str, broken: str) -> list[Row]:
    """The expected rate of a charge under SGD, term by term, and its diffusion."""
    latex, Q = notation.latex, notation.role("Q")
    charge = f"{Q}{sub}"
    step, pot, noise = (rf"\dot{{{Q}}}^{{\mathrm{{{k}}}}}{sub}" for k in ("step", "pot", "noise"))
    return [
        Row(rf"\mathbb{{E}}[d{charge}]/dt", (f"{step} + {pot} + {noise}",), broken),
        Row(step, (latex(law.kinetic_breaking),), "finite step"),
        Row(pot, (latex(law.potential_breaking),), "loss and regularizers"),
        Row(noise, (latex(law.noise_drift),), "noise drift"),
        Row(rf"d\langle {charge}\rangle/dt", (latex(law.noise_diffusion),), "noise diffusion"),
    ]


def generator_rows(law: object, notation: Notation, *, name: str | None = None) -> list[Row]:
    r"""ψ as a vector (scalar coordinates) or one row per coordinate block,
    :math:`(\boldsymbol{\psi}_{\text{name}})_{\mathbf{W}_1}`."""
    psi = r"\boldsymbol{\psi}" + (f"_{{{notation.label(name)}}}" if name else "")
    blocks = law.system.blocks
    if all(not isinstance(b, sp.MatrixBase) for _, b in blocks):
        return [Row(psi, (vector_latex(law.generator, notation),))]
    rows, start = [], 0
    for block_name, block in blocks:
        matrix = isinstance(block, sp.MatrixBase)
        size = len(block) if matrix else 1
        entries = list(law.generator[start : start + size])
        start += size
        part = bold(block_name) if matrix else notation.latex(block)
        lhs = f"({psi})_{{{part}}}" if name else rf"\psi_{{{part}}}"
        value = sp.Matrix(block.rows, block.cols, entries) if matrix else entries[0]
        rows.append(Row(lhs, (notation.latex(value),)))
    return rows
