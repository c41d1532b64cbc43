r"""Equations of motion of a learning system.

For L = e^{t/τ}(½q̇ᵀMq̇ − V) the Euler–Lagrange equations, divided by e^{t/τ},
read

    M q̈ = f,   f = −(Ṁ − ½∂_q(q̇ᵀMq̇)) q̇ − (1/τ) M q̇ − ∇V.

They are derived here from the Lagrangian itself: the momenta p = ∂T/∂q̇ are
checked to be M q̇ (the mass matrix the equations read off, the coefficient of q̈
in d/dt ∂L/∂q̇, is the system's), and f collects the rest of
d/dt ∂L/∂q̇ − ∂L/∂q: −Σⱼ q̇ⱼ ∂p/∂qⱼ + ∂T/∂q − (1/τ) M q̇ − ∇V. Derivatives are taken
once per expression for all symbols (:func:`symnoether.core.jet.derivatives`), and
M⁻¹f follows the structure of M: diagonal entries divide, diagonal blocks (the
connected components of M's sparsity pattern: block-diagonal and Kronecker I⊗B or
B⊗I, after a permutation) are solved one by one, never one dense LU of the whole.
Gradient flow is first order: M q̇ = −∇V with M the metric.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> (q,) = sn.coordinates("q")
>>> eta = sp.Symbol("eta", positive=True)
>>> eom = sn.equations_of_motion(sn.LearningSystem((q,), q**2 / 2,
...                                                rule=sn.rules.gradient_descent(eta)))
>>> eom.accelerations
Matrix([[2*(-q - qdot)/eta]])
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import sympy as sp

from ..errors import FirstOrderRuleError, InvalidInputError, VerificationError
from .dag import free_symbols
from .display import Notation, table_text, text, vector_text
from .jet import derivatives, is_zero, readable
from .matrix_system import MatrixEquationsOfMotion, MatrixSystem
from .system import TIME, LearningSystem, velocity
from .typeset import aligned, equation_rows

__all__ = [
    "EquationsOfMotion",
    "FirstOrderSystem",
    "equations_of_motion",
    "accelerations",
    "solve_structured",
]


def accelerations(coords: tuple) -> tuple[sp.Symbol, ...]:
    """Symbols for the accelerations q̈ (``w1`` → ``wddot1``), used while deriving.

    Examples
    --------
    >>> import symnoether as sn
    >>> accelerations(sn.coordinates("w1 w2"))
    (wddot1, wddot2)
    """
    return tuple(sp.Symbol(velocity(q).name.replace("dot", "ddot", 1), real=True) for q in coords)


@dataclass(frozen=True)
class FirstOrderSystem:
    """The state-space form ẏ = F(t, y) of the equations of motion.

    Attributes
    ----------
    state : tuple of Symbols
        (q, q̇) for a second-order system, q for gradient flow.
    rhs : ImmutableMatrix
        F, a column over ``state``.
    time : Symbol
    """

    state: tuple
    rhs: sp.ImmutableMatrix
    time: sp.Symbol

    def __str__(self) -> str:
        rows = [(f"d{s}/dt =", value) for s, value in zip(self.state, self.rhs, strict=True)]
        return table_text("first-order form", rows)


@dataclass(frozen=True)
class EquationsOfMotion:
    """M·q^{(order)} = forcing: the Euler–Lagrange equations (or gradient flow).

    Attributes
    ----------
    system : LearningSystem
    order : int
        2: M q̈ = forcing; 1 (gradient flow): M q̇ = forcing.
    mass_matrix : ImmutableMatrix
    forcing : ImmutableMatrix
        Column f of generalized forces (damping, curvature of M, −∇V).
    """

    system: LearningSystem
    order: int
    mass_matrix: sp.ImmutableMatrix
    forcing: sp.ImmutableMatrix

    @cached_property
    def accelerations(self) -> sp.ImmutableMatrix:
        """q̈ = M⁻¹ f, simplified (second-order systems only)."""
        if self.order == 1:
            raise FirstOrderRuleError(
                "gradient flow is first order: it has velocities q̇ = −M⁻¹∇V, not "
                "accelerations; use .first_order().rhs"
            )
        return sp.ImmutableMatrix([readable(entry) for entry in self.solved])

    @cached_property
    def solved(self) -> sp.ImmutableMatrix:
        """M⁻¹ f as computed (not simplified): accelerations, or for gradient flow
        the velocity field. Use this in further derivations; it is cheaper."""
        return solve_structured(self.mass_matrix, self.forcing)

    def first_order(self) -> FirstOrderSystem:
        """The state-space form: y = (q, q̇), ẏ = (q̇, M⁻¹f); for gradient flow
        y = q, ẏ = M⁻¹f.

        Examples
        --------
        >>> import symnoether as sn
        >>> (q,) = sn.coordinates("q")
        >>> flow = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow())
        >>> sn.equations_of_motion(flow).first_order().rhs
        Matrix([[-q]])
        """
        system = self.system
        if self.order == 1:
            return FirstOrderSystem(system.coords, self.solved, TIME)
        rhs = sp.ImmutableMatrix([*system.velocities, *self.solved])
        return FirstOrderSystem((*system.coords, *system.velocities), rhs, TIME)

    def __str__(self) -> str:
        derivative = "q''" if self.order == 2 else "q'"
        letter = Notation(self.system).role_text("M" if self.order == 2 else "G")
        rows = [
            (f"{letter} =", text(self.mass_matrix)),
            (f"{letter} {derivative} =", vector_text(self.forcing)),
        ]
        return table_text(f"equations of motion (order {self.order})", rows)

    def _repr_latex_(self) -> str:
        return aligned(equation_rows(self, Notation(self.system), mass=True))


@lru_cache(maxsize=64)
def equations_of_motion(system: LearningSystem) -> EquationsOfMotion:
    """The equations of motion of ``system``, derived from its Lagrangian.

    Parameters
    ----------
    system : LearningSystem

    Returns
    -------
    EquationsOfMotion
        ``mass_matrix``, ``forcing``, ``accelerations``, ``first_order()``; for a
        :class:`~symnoether.core.matrix_system.MatrixSystem`, a
        :class:`~symnoether.core.matrix_system.MatrixEquationsOfMotion` (per layer).

    References
    ----------
    Tanaka & Kunin (2021), Eq. 5 (damped Euler–Lagrange equation).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> eta = sp.Symbol("eta", positive=True)
    >>> system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
    ...                            rule=sn.rules.gradient_descent(eta))
    >>> sn.equations_of_motion(system).forcing.T
    Matrix([[w2*(-w1*w2 + 1) - wdot1, w1*(-w1*w2 + 1) - wdot2]])
    """
    if isinstance(system, MatrixSystem):
        return MatrixEquationsOfMotion.of(system)
    if not isinstance(system, LearningSystem):
        raise InvalidInputError(
            f"equations_of_motion() needs a LearningSystem, got a {type(system).__name__}; "
            "build one with sn.LearningSystem(coords, loss, rule=...)"
        )
    if system.order == 1:
        gradient = sp.Matrix([sp.diff(system.potential, q) for q in system.coords])
        forcing = sp.ImmutableMatrix([readable(-g, effort="low") for g in gradient])
        return EquationsOfMotion(system, 1, system.mass_matrix, forcing)
    mass, forcing = _euler_lagrange(system)
    return EquationsOfMotion(system, 2, mass, forcing)


def solve_structured(mass: sp.MatrixBase, rhs: sp.MatrixBase) -> sp.ImmutableMatrix:
    """M⁻¹ b, following the structure of M: a diagonal entry divides its row, and each
    connected component of the sparsity pattern of M (a diagonal block, up to a
    permutation: block-diagonal and Kronecker I⊗B or B⊗I matrices) is solved by its
    own LU; a dense M is one block (SymPy's ``LUsolve``, as before).

    Examples
    --------
    >>> import sympy as sp
    >>> m, k, a, b, c = sp.symbols("m k a b c", positive=True)
    >>> solve_structured(sp.diag(m, sp.Matrix([[2, 1], [1, 2]])), sp.Matrix([a, b, c])).T
    Matrix([[a/m, 2*b/3 - c/3, -b/3 + 2*c/3]])
    """
    n = mass.shape[0]
    entries = _nonzero_entries(mass)
    rhs = list(rhs)
    out = [sp.S.Zero] * n
    for block in _components(n, entries):
        if len(block) == 1:
            (i,) = block
            out[i] = rhs[i] / entries[(i, i)]
            continue
        sub = sp.Matrix(len(block), len(block), lambda r, c: entries.get((block[r], block[c]), 0))
        solved = sub.LUsolve(sp.Matrix([rhs[i] for i in block]))
        for i, value in zip(block, solved, strict=True):
            out[i] = value
    return sp.ImmutableMatrix(out)


def _nonzero_entries(mass: sp.MatrixBase) -> dict:
    """{(i, j): M_ij} over the entries of M that are not 0."""
    return {key: value for key, value in mass.todok().items() if value != 0}


def _components(n: int, entries: dict) -> list[list[int]]:
    """The connected components of the graph i ~ j ⇔ M_ij ≠ 0 or M_ji ≠ 0, each sorted
    (in order of their first index)."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in entries:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    blocks: dict = {}
    for i in range(n):
        blocks.setdefault(root(i), []).append(i)
    return list(blocks.values())


def _euler_lagrange(system: LearningSystem) -> tuple[sp.ImmutableMatrix, sp.ImmutableMatrix]:
    """M and f of d/dt ∂L/∂q̇ − ∂L/∂q = e^{t/τ}(M q̈ − f), derived from T and V.

    With L = e^{t/τ}(T − V): d/dt ∂L/∂q̇ = e^{t/τ}(D_t p + p/τ), p = ∂T/∂q̇, and
    D_t p = Σⱼ q̇ⱼ ∂p/∂qⱼ + Σⱼ q̈ⱼ ∂p/∂q̇ⱼ. T is quadratic in q̇ (checked when the system
    was built), so p is linear in q̇: p = M q̇ is checked entry by entry, which makes
    ∂p/∂q̇ = M the coefficient of q̈. Then f = −Σⱼ q̇ⱼ ∂p/∂qⱼ + ∂T/∂q − (M/τ) q̇ − ∇V.
    """
    mass = system.mass_matrix
    coords, vels = list(system.coords), list(system.velocities)
    n = len(coords)
    slopes = derivatives(system.kinetic, [*vels, *coords])
    momenta, kinetic_forces = slopes[:n], slopes[n:]
    rows: list[list] = [[] for _ in range(n)]
    for (i, j), entry in _nonzero_entries(mass).items():
        rows[i].append((j, entry))
    for i, momentum in enumerate(momenta):
        expected = sp.Add(*[entry * vels[j] for j, entry in rows[i]])
        if momentum != expected and not is_zero(momentum - expected):
            raise VerificationError(
                f"the momentum ∂T/∂{vels[i]} = {momentum} is not row {i + 1} of M q̇; the "
                "mass matrix read off the Euler–Lagrange equations differs from the "
                "system's: please report this system"
            )
    coordinate_set = set(coords)
    rate = dict(zip(coords, vels, strict=True))
    tidy: dict = {}
    damped = system.tau != sp.oo
    potential_slopes = derivatives(system.potential, coords)
    forcing = []
    for i, momentum in enumerate(momenta):
        free = free_symbols(momentum) & coordinate_set
        moving = [q for q in coords if q in free]
        slopes = derivatives(momentum, moving)
        geometric = [rate[q] * d for q, d in zip(moving, slopes, strict=True)]
        if kinetic_forces[i] != 0:
            geometric.append(-kinetic_forces[i])
        damping = []
        if damped:
            for j, entry in rows[i]:
                if entry not in tidy:
                    tidy[entry] = readable(entry / system.tau)
                damping.append(tidy[entry] * vels[j])
        geometric_term = readable(sp.Add(*geometric), effort="low") if geometric else 0
        forcing.append(-geometric_term - sp.Add(*damping) - potential_slopes[i])
    return mass, sp.ImmutableMatrix(forcing)
