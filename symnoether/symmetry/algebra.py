r"""The results of a symmetry search: generators, families, their Lie algebra.

Every generator found is an exact affine action ψ(B) = L B + B R + C on the
coordinate blocks (:mod:`symnoether.symmetry.actions`, which also defines the
bracket). A :class:`SymmetryAlgebra` holds a verified basis, its structure
constants and, for a learning system, which symmetries the rule or a
regularizer breaks (:mod:`symnoether.symmetry.breaking`).

An algebra is presented by families where it has them: gl(r) at a hidden
interface is one :class:`SymmetryFamily` of dimension r², and the translations t
(constant generators) together with every f(q)·t, f an affine function of the
coordinates, are one :class:`TranslationModule` of dimension dim T·(n + 1). Their
elements are still the algebra's basis: iterating an algebra yields one
:class:`Symmetry` per basis element. Coordinates the loss does not depend on are
reported apart (``algebra.ignored``): every vector field on them is a symmetry.

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

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import sympy as sp

from ..core.display import aligned_latex, vector_latex
from .actions import (
    action_key,
    action_vector,
    bracket_actions,
    combine,
    flatten_action,
    rational,
)
from .breaking import SymmetryBreaking, SymmetryBreakingTable
from .members import Symmetry, SymmetryFamily, TranslationModule, block_shape
from .products import ProductFamily

__all__ = [
    "Symmetry",
    "SymmetryFamily",
    "ProductFamily",
    "TranslationModule",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "SymmetryBreakingTable",
]


@dataclass(frozen=True)
class SymmetryAlgebra:
    """The Lie algebra of affine symmetries found for a loss: a basis, verified.

    Iterating yields one :class:`Symmetry` per basis element (families such as
    gl(r) are expanded lazily, E_ij by E_ij); ``len`` is the dimension and
    ``algebra[k]`` the k-th element. ``print(algebra)`` shows the families first
    (:attr:`families`), then the single generators (:attr:`generators`), then the
    coordinates the loss ignores.

    Attributes
    ----------
    coords : tuple
        The flattened coordinates every generator is a column over.
    blocks : tuple
        (name, block) pairs of the blocks the generators' actions act on.
    members : tuple
        :class:`SymmetryFamily`, :class:`TranslationModule` and :class:`Symmetry`
        objects, in basis order.
    mode : str
        'general' or 'structured', the search that produced it.
    searched : str
        What was searched: ``'all affine generators'`` (general search), or the
        structured families tried. See :attr:`complete`.
    discrete : DiscreteSymmetries or None
        The discrete symmetries (signed permutations) when searched with
        ``find_symmetries(..., discrete=True)``, else None.
    ignored : tuple
        Coordinates (Symbols, or whole MatrixSymbol layers) the loss does not depend
        on. They are not searched and not counted: every vector field on them is a
        symmetry of the loss, and so is every translation of the algebra times any
        function of them.

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
    ignored: tuple = ()
    searched: str = ""
    discrete: object = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.mode not in ("general", "structured"):
            raise ValueError(f"mode = {self.mode!r} is not 'general' or 'structured'")
        if not self.searched:
            default = ALL_AFFINE if self.mode == "general" else "structured families"
            object.__setattr__(self, "searched", default)

    @property
    def complete(self) -> bool:
        """True only when the whole affine class was searched (the general search): then
        every affine generator ψ = A q + b with ψ·∇V ≡ 0 whose coefficients are the same
        for every value of the data and hyper-parameters is in the span of this basis
        (the coordinates in :attr:`ignored` apart). False for a structured search, which
        tries only the families listed in :attr:`searched`: other symmetries may exist.
        """
        return self.mode == "general"

    @property
    def dimension(self) -> int:
        return sum(m.dimension for m in self.members)

    def __len__(self) -> int:
        return self.dimension

    def __iter__(self) -> Iterator[Symmetry]:
        for member in self.members:
            if isinstance(member, Symmetry):
                yield member
            else:
                yield from member

    def __getitem__(self, k: int) -> Symmetry:
        member, offset = self._locate(k)
        return member if isinstance(member, Symmetry) else member.basis_element(offset)

    @property
    def symmetries(self) -> tuple[Symmetry, ...]:
        """The element basis: one :class:`Symmetry` per dimension (as iterating gives)."""
        return tuple(self)

    @property
    def families(self) -> tuple:
        """The families: gl(r) (:class:`SymmetryFamily`) and translations times affine
        functions (:class:`TranslationModule`)."""
        return tuple(m for m in self.members if not isinstance(m, Symmetry))

    @property
    def generators(self) -> tuple[Symmetry, ...]:
        """The basis elements that belong to no family."""
        return tuple(m for m in self.members if isinstance(m, Symmetry))

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
        """Basis element k as an action on this algebra's blocks, or on the column of all
        coordinates when a member moves one block by another (cross generators)."""
        member, offset = self._locate(k)
        flat = self._flat
        if isinstance(member, Symmetry):
            if flat and len(member.action) != 1:
                shapes = [block_shape(block) for _, block in member.blocks]
                return (flatten_action(member.action, shapes),)
            return member.action
        if isinstance(member, SymmetryFamily | ProductFamily) and (
            flat or member.blocks != self.blocks
        ):
            return member.flat_action(offset)
        return member.basis_action(offset)

    @property
    def _flat(self) -> bool:
        return any(isinstance(m, ProductFamily) and m.cross for m in self.members)

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

    def _start(self, family: object) -> int:
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
        vectors = [action_vector(self._action(k)) for k in range(n)]
        goal = action_vector(target)
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

    def broken_by(self, system: object) -> SymmetryBreakingTable:
        """For each generator, what in ``system`` breaks it, in closed form: a table.

        The convention is that of :func:`symnoether.noether` and of the papers: the
        charge is the damped Q = e^{t/τ} q̇ᵀMψ, and dQ/dt = e^{t/τ} pr ψ(T) − e^{t/τ} ψ·∇R
        on shell (kinetic symmetry breaking, and one term per regularizer R). Damping
        is absorbed in e^{t/τ}: it is never a cause (see
        :mod:`symnoether.symmetry.breaking`).

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
        (eta*(wdot1**2 - wdot2**2)*exp(2*t/eta)/2, ('kinetic term',))
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
        factor = system.damping_factor if system.order == 2 else sp.S.One
        reports = []
        for symmetry in self:
            psi = symmetry.generator
            kinetic = sp.S.Zero
            if system.order == 2:
                kinetic = prolonged_action(system.kinetic, psi, coords, vels)
                kinetic = sp.S.Zero if is_zero(kinetic) else factor * readable(kinetic)
            terms = []
            for regularizer in system.regularizers:
                potential = regularizer.potential(coords)
                term = -sp.Add(*[p * sp.diff(potential, q) for p, q in zip(psi, coords)])
                term = sp.S.Zero if is_zero(term) else factor * readable(term)
                terms.append((regularizer.name.replace("_", " "), term))
            reports.append(SymmetryBreaking(symmetry, kinetic, tuple(terms), factor))
        rule = system.rule.name if system.rule is not None else "a hand-written kinetic term"
        return SymmetryBreakingTable(tuple(reports), rule, system.order)

    def __str__(self) -> str:
        lines = [f"symmetry algebra of dimension {self.dimension} ({self.mode} search)"]
        lines.extend(
            textwrap.wrap(self.completeness, 88, initial_indent="  ", subsequent_indent="    ")
        )
        for member in (*self.families, *self.generators):
            lines.extend("  " + line for line in str(member).splitlines())
        if self.ignored:
            names = ", ".join(map(str, self.ignored))
            lines.append(
                f"  ignored: the loss does not depend on {names}; every vector field on "
                "them is a symmetry too (not counted)"
            )
        return "\n".join(lines)

    @property
    def completeness(self) -> str:
        """One sentence: complete or not, and what was searched."""
        if self.complete:
            return f"complete: {self.searched} searched"
        return (
            f"NOT complete: searched only {self.searched}; other affine symmetries may "
            "exist (mode='general' searches them all)"
        )

    def _repr_latex_(self) -> str:
        rows = []
        for member in (*self.families, *self.generators):
            if isinstance(member, Symmetry):
                rows.append((rf"\psi_{{\mathrm{{{member.kind}}}}}", vector_latex(member.generator)))
            else:
                rows.append(member.latex_row())
        if self.ignored:
            names = ", ".join(sp.latex(q) for q in self.ignored)
            rows.append((rf"\psi_{{{names}}}", r"\text{any: the loss does not depend on them}"))
        note = rf"\text{{{_latex_text(self.completeness)}}}"
        if not rows:
            what = "no continuous symmetry" if self.complete else "no symmetry in these families"
            return rf"$$\text{{{what}}}\quad {note}$$"
        return aligned_latex([*rows, (r"\text{search}", note)])


ALL_AFFINE = "all affine generators"


def _latex_text(text: str) -> str:
    """Plain text for \\text{...}: LaTeX's special characters escaped."""
    for char, escaped in (
        ("\\", r"\textbackslash{}"),
        ("_", r"\_"),
        ("&", r"\&"),
        ("%", r"\%"),
        ("#", r"\#"),
        ("^", r"\^{}"),
        ("$", r"\$"),
    ):
        text = text.replace(char, escaped)
    return text
