r"""What a learning system does to the Noether charge of each symmetry of its loss.

:meth:`SymmetryAlgebra.broken_by <symnoether.symmetry.algebra.SymmetryAlgebra.broken_by>`
returns a :class:`SymmetryBreakingTable`, one :class:`SymmetryBreaking` row per
generator ψ of the algebra.

Convention (the same as :class:`~symnoether.core.noether.NoetherLaw`, and as the
papers): the charge is the *damped* one, Q = ∂L/∂q̇·ψ = e^{t/τ} q̇ᵀMψ, whose law on
shell is

    dQ/dt = e^{t/τ} pr ψ(T)  −  e^{t/τ} ψ·∇R   (ψ a symmetry of the loss, R the regularizers).

Damping enters only through the factor e^{t/τ}: it is never a cause of breaking
(the undamped p·ψ decays under damping even for a conserved Q). Under gradient
flow there is no kinetic term and no factor: dQ/dt = −ψ·∇R.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716, Theorem 1 and Sec. 4 (the damped charge; kinetic symmetry breaking).
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 4–5.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> eta, lam = sp.symbols("eta lambda", positive=True)
>>> system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2, rule=sn.rules.gradient_descent(eta),
...                            regularizers=[sn.rules.weight_decay(lam)])
>>> print(system.symmetries().broken_by(system))
symmetry breaking under gradient_descent (the terms of e^{-t/tau} dQ/dt)
  generator  psi        pr psi(T)                    weight decay             broken by
  rescale_1  (w1, -w2)  eta*(wdot1**2 - wdot2**2)/2  lambda*(-w1**2 + w2**2)
  kinetic term, weight decay
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sympy as sp

from ..core.display import aligned_latex, table_text, vector_latex, vector_text

__all__ = ["SymmetryBreaking", "SymmetryBreakingTable"]


@dataclass(frozen=True)
class SymmetryBreaking:
    """How a learning system moves the damped charge Q = e^{t/τ} q̇ᵀMψ of one generator.

    The terms are those of dQ/dt on shell, each with its factor e^{t/τ} — the same
    convention and the same values as :class:`~symnoether.core.noether.NoetherLaw`
    (``kinetic`` is its ``kinetic_breaking``): damping is absorbed in e^{t/τ} and is
    never a cause. For gradient flow only regularizers act (no factor).

    Attributes
    ----------
    symmetry : Symmetry
    kinetic : sympy expression
        e^{t/τ} pr ψ(T), the kinetic symmetry breaking (0 for gradient flow).
    regularizers : tuple
        (name, −e^{t/τ} ψ·∇R) per regularizer R.
    factor : sympy expression
        e^{t/τ} (1 without damping or for gradient flow).

    References
    ----------
    Tanaka & Kunin (2021), Theorem 1 and Sec. 4; Kunin et al. (2021), Sec. 4–5.
    """

    symmetry: object
    kinetic: sp.Expr
    regularizers: tuple  # ((name, term), ...)
    factor: sp.Expr = sp.S.One

    @property
    def broken_by(self) -> tuple[str, ...]:
        """What moves Q: 'kinetic term' and/or regularizer names (as NoetherLaw.broken_by)."""
        causes = ["kinetic term"] if self.kinetic != 0 else []
        for name, term in self.regularizers:
            if term != 0 and name not in causes:
                causes.append(name)
        return tuple(causes)

    @property
    def broken(self) -> bool:
        return bool(self.broken_by)

    @property
    def rate(self) -> sp.Expr:
        """dQ/dt on shell: the sum of the terms."""
        return self.kinetic + sp.Add(*(term for _, term in self.regularizers))

    def undamped(self, term: sp.Expr) -> sp.Expr:
        """``term`` ÷ e^{t/τ}, for display."""
        if self.factor == 1 or term == 0:
            return term
        if isinstance(term, sp.Mul) and self.factor in term.args:
            return sp.Mul(*(a for a in term.args if a != self.factor))
        return sp.powsimp(term / self.factor)

    def __str__(self) -> str:
        rows = [("generator", vector_text(self.symmetry.generator))]
        rows.append(("pr psi(T)", self.undamped(self.kinetic)))
        rows.extend((name, self.undamped(term)) for name, term in self.regularizers)
        status = ", ".join(self.broken_by) if self.broken else "nothing (conserved)"
        rows.append(("broken by", status))
        unit = "" if self.factor == 1 else " (terms of dQ/dt / e^{t/tau})"
        return table_text(f"symmetry breaking of {self.symmetry.name}{unit}", rows)

    def _repr_latex_(self) -> str:
        rows = [(r"\psi", vector_latex(self.symmetry.generator))]
        rows.append((r"\dot{Q}^{\mathrm{kin}}", self.kinetic))
        rows.extend((rf"\dot{{Q}}^{{\text{{{name}}}}}", term) for name, term in self.regularizers)
        return aligned_latex(rows)


@dataclass(frozen=True)
class SymmetryBreakingTable:
    """What breaks each generator of an algebra, as a table (a sequence of
    :class:`SymmetryBreaking` rows: iterate, index or unpack it).

    Attributes
    ----------
    rows : tuple of SymmetryBreaking
    rule : str
        The learning rule's name ('hand-written kinetic term' for physics).
    order : int
        2 for a Lagrangian system, 1 for gradient flow.
    """

    rows: tuple
    rule: str = ""
    order: int = 2

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SymmetryBreaking]:
        return iter(self.rows)

    def __getitem__(self, k: int) -> SymmetryBreaking:
        return self.rows[k]

    @property
    def broken(self) -> tuple[SymmetryBreaking, ...]:
        """The rows whose charge moves."""
        return tuple(row for row in self.rows if row.broken)

    @property
    def conserved(self) -> tuple[SymmetryBreaking, ...]:
        """The rows whose charge is conserved."""
        return tuple(row for row in self.rows if not row.broken)

    def _regularizer_names(self) -> list[str]:
        names: list[str] = []
        for row in self.rows:
            for name, _ in row.regularizers:
                if name not in names:
                    names.append(name)
        return names

    def _title(self) -> str:
        damped = any(row.factor != 1 for row in self.rows)
        terms = "e^{-t/tau} dQ/dt" if damped else "dQ/dt"
        return f"symmetry breaking under {self.rule} (the terms of {terms})"

    def __str__(self) -> str:
        names = self._regularizer_names()
        header = ["generator", "psi"]
        if self.order == 2:
            header.append("pr psi(T)")
        header += names + ["broken by"]
        table = [header]
        for row in self.rows:
            terms = dict(row.regularizers)
            cells = [row.symmetry.name, vector_text(row.symmetry.generator)]
            if self.order == 2:
                cells.append(sp.sstr(row.undamped(row.kinetic)))
            cells += [sp.sstr(row.undamped(terms.get(name, sp.S.Zero))) for name in names]
            cells.append(", ".join(row.broken_by) or "nothing (conserved)")
            table.append(cells)
        if not self.rows:
            return self._title() + "\n  (no symmetry)"
        widths = [max(len(line[c]) for line in table) for c in range(len(header))]
        lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                 for line in table]  # fmt: skip
        return "\n".join([self._title(), *lines])

    def _repr_latex_(self) -> str:
        names = self._regularizer_names()
        header = [r"\text{generator}", r"\psi"]
        if self.order == 2:
            header.append(r"\mathrm{pr}\,\psi(T)")
        header += [rf"-\psi\cdot\nabla R_{{\text{{{name}}}}}" for name in names]
        header.append(r"\text{broken by}")
        if self.order == 2:
            law = r"\dot{Q} = e^{t/\tau}\left(\mathrm{pr}\,\psi(T) - \psi\cdot\nabla R\right)"
        else:
            law = r"\dot{Q} = -\psi\cdot\nabla R"
        lines = [" & ".join(header) + r" \\ \hline"]
        for row in self.rows:
            terms = dict(row.regularizers)
            cells = [rf"\mathrm{{{_tex_name(row.symmetry.name)}}}"]
            cells.append(vector_latex(row.symmetry.generator))
            if self.order == 2:
                cells.append(sp.latex(row.undamped(row.kinetic)))
            cells += [sp.latex(row.undamped(terms.get(name, sp.S.Zero))) for name in names]
            cells.append(rf"\text{{{', '.join(row.broken_by) or 'conserved'}}}")
            lines.append(" & ".join(cells) + r" \\")
        body = "\n".join(lines)
        table = f"\\begin{{array}}{{{'l' * len(header)}}}\n{body}\n\\end{{array}}"
        return f"$$\\begin{{gathered}}\n{law} \\\\\n{table}\n\\end{{gathered}}$$"


def _tex_name(text: str) -> str:
    """A generator's name for math-mode ``\\mathrm``: underscores escaped, symbols kept."""
    return "".join("\\_" if c == "_" else c for c in text if c.isalnum() or c in "_*[]() ")
