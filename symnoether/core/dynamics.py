r"""Equations of motion of a learning system.

For L = e^{t/τ}(½q̇ᵀMq̇ − V) the Euler–Lagrange equations, divided by e^{t/τ},
read

    M q̈ = f,   f = −(Ṁ − ½∂_q(q̇ᵀMq̇)) q̇ − (1/τ) M q̇ − ∇V.

They are derived here from the Lagrangian itself (d/dt ∂L/∂q̇ − ∂L/∂q with
symbolic accelerations), and the mass matrix read off them is checked against
the system's before they are returned. Gradient flow is first order:
M q̇ = −∇V with M the metric.

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
from .display import Notation, table_text, text, vector_text
from .jet import is_zero, readable, total_derivative
from .matrix_system import MatrixEquationsOfMotion, MatrixSystem
from .system import TIME, LearningSystem, velocity
from .typeset import aligned, equation_rows

__all__ = ["EquationsOfMotion", "FirstOrderSystem", "equations_of_motion", "accelerations"]


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
        return sp.ImmutableMatrix(self.mass_matrix.LUsolve(sp.Matrix(self.forcing)))

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


def _euler_lagrange(system: LearningSystem) -> tuple[sp.ImmutableMatrix, sp.ImmutableMatrix]:
    """M and f in closed form, checked against d/dt ∂L/∂q̇ − ∂L/∂q = 0 (÷ e^{t/τ})."""
    mass = system.mass_matrix
    forcing = _closed_form_forcing(system)
    coords, vels = system.coords, system.velocities
    accs = accelerations(coords)
    lagrangian, factor = system.lagrangian, system.damping_factor
    inertia = mass * sp.Matrix(accs)
    for i, (q, v) in enumerate(zip(coords, vels, strict=True)):
        momentum = sp.diff(lagrangian, v)
        equation = total_derivative(momentum, coords, vels, accs, TIME) - sp.diff(lagrangian, q)
        if not is_zero(equation / factor - (inertia[i] - forcing[i])):
            raise VerificationError(
                f"the Euler–Lagrange equation for {q} differs from M q̈ = f in closed "
                "form; please report this system"
            )
    return mass, forcing


def _closed_form_forcing(system: LearningSystem) -> sp.ImmutableMatrix:
    """f = −(Ṁ − ½∂_q(q̇ᵀMq̇)) q̇ − (1/τ) M q̇ − ∇V, the gradient kept unexpanded."""
    coords, mass = system.coords, system.mass_matrix
    v = sp.Matrix(system.velocities)
    mass_rate = sum(
        (sp.diff(mass, q) * dq for q, dq in zip(coords, v, strict=True)), sp.zeros(*mass.shape)
    )
    metric_force = sp.Matrix([(v.T * sp.diff(mass, q) * v)[0] / 2 for q in coords])
    damping = (
        sp.zeros(*mass.shape) if system.tau == sp.oo else (mass / system.tau).applyfunc(readable)
    )
    geometric = (mass_rate * v - metric_force).applyfunc(readable)
    forcing = -geometric - damping * v - sp.Matrix([sp.diff(system.potential, q) for q in coords])
    return sp.ImmutableMatrix(forcing)
