"""Stage 1, the mechanics: what a learning system is and what follows from it alone.

Owns the vocabulary (coordinates, data, velocities, time), the learning rules,
:class:`LearningSystem` and its construction checks, its matrix-level form on
``MatrixSymbol`` layers (:class:`MatrixSystem`, with the trace-cyclic canonical forms
of :mod:`symnoether.core.traces` and the matrix calculus of
:mod:`symnoether.core.matrices`), the jet calculus (total
derivative, prolongation, the zero test), the equations of motion, Noether's
learning dynamics (and its minibatch-SGD terms: the gradient-noise covariance,
:mod:`symnoether.core.stochastic`; the noise equilibrium of an exponential symmetry,
:mod:`symnoether.core.equilibrium`; the stability of a fixed point,
:mod:`symnoether.core.stability`; under SGD the top Lyapunov exponent of the random
linearized maps, :mod:`symnoether.core.collapse`), the plain-text/LaTeX display helpers
the results print with (matrix laws in the papers' notation:
:mod:`symnoether.core.matrix_display`), and the catalogue of standard systems
(:mod:`symnoether.core.models`).

May import: :mod:`symnoether.errors`, :mod:`symnoether.budget`. Nothing later,
with one documented exception: :meth:`LearningSystem.symmetries` is a shortcut
for :func:`symnoether.find_symmetries` and imports :mod:`symnoether.symmetry`
when it is called.

Examples
--------
>>> import sympy as sp
>>> from symnoether.core import LearningSystem, coordinates, noether, rules
>>> w1, w2 = coordinates("w1 w2")
>>> system = LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=rules.gradient_flow())
>>> noether(system, (w1, -w2)).conserved
True
"""

from . import models, rules
from .charge_equation import ChargeEquation, charge_equation
from .dynamics import EquationsOfMotion, FirstOrderSystem, equations_of_motion
from .equilibrium import NoiseEquilibrium, noise_equilibrium
from .jet import is_zero, prolonged_action, total_derivative
from .matrices import layers, matrix_gradient, matrix_velocity, time_derivative
from .matrix_charge_equation import MatrixChargeEquation
from .matrix_display import matrix_latex, matrix_text
from .matrix_noether import MatrixNoetherLaw, matrix_noether
from .matrix_system import MatrixEquationsOfMotion, MatrixSystem
from .noether import NoetherLaw, noether
from .stability import Collapse, Stability, stability
from .stochastic import noise_covariance
from .system import LearningSystem
from .traces import trace_canonical, trace_form, trace_identity
from .vocabulary import TIME, coordinates, data, matrix_coordinates, velocities, velocity

__all__ = [
    "TIME",
    "coordinates",
    "data",
    "matrix_coordinates",
    "velocities",
    "velocity",
    "LearningSystem",
    "layers",
    "matrix_velocity",
    "MatrixSystem",
    "MatrixEquationsOfMotion",
    "MatrixNoetherLaw",
    "matrix_noether",
    "matrix_gradient",
    "time_derivative",
    "trace_identity",
    "trace_canonical",
    "trace_form",
    "rules",
    "models",
    "equations_of_motion",
    "EquationsOfMotion",
    "FirstOrderSystem",
    "noether",
    "NoetherLaw",
    "charge_equation",
    "ChargeEquation",
    "MatrixChargeEquation",
    "noise_covariance",
    "noise_equilibrium",
    "NoiseEquilibrium",
    "stability",
    "Stability",
    "Collapse",
    "is_zero",
    "total_derivative",
    "prolonged_action",
    "matrix_text",
    "matrix_latex",
]
