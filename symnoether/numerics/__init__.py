"""Stage 2b, numbers: compiled kernels and the numerical validation of every law.

Owns the code generator (SymPy → numba or NumPy source, :mod:`~symnoether.numerics.codegen`,
with the printer in :mod:`~symnoether.numerics.kernel_source` and the on-disk
cache in :mod:`~symnoether.numerics.kernel_cache`; for a MatrixSystem the kernels work
on the layer arrays: :mod:`~symnoether.numerics.matrix_codegen`, printed by
:mod:`~symnoether.numerics.matrix_printer`, compiled into
:class:`~symnoether.numerics.matrix_kernels.MatrixKernels`), the integrators and
optimizers the kernels are compiled with (:mod:`~symnoether.numerics.drivers`),
the checks of validation arguments (:mod:`~symnoether.numerics.arguments`), the
compiled kernels with their drivers (:mod:`~symnoether.numerics.compiled`), the
continuous validation (:mod:`~symnoether.numerics.validate`), the real
optimizers (:mod:`~symnoether.numerics.discrete`), the reports
(:mod:`~symnoether.numerics.reports`) and the Monte Carlo validation of SGD laws
(:mod:`~symnoether.numerics.stochastic_mc`, its drivers and report).

May import: :mod:`symnoether.errors`, :mod:`symnoether.budget`,
:mod:`symnoether.core`. It never imports :mod:`symnoether.symmetry`.

Examples
--------
>>> import sympy as sp
>>> from symnoether.core import LearningSystem, coordinates, noether, rules
>>> from symnoether.numerics import validate
>>> w1, w2 = coordinates("w1 w2")
>>> system = LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=rules.gradient_flow())
>>> validate(system, noether(system, (w1, -w2)), [1.5, 0.2], t_end=2.0).passed
True
"""

from .codegen import Kernels, cache_dir, compile_kernels
from .compiled import TABLEAUS
from .drivers import DRIVERS
from .matrix_kernels import MatrixKernels
from .reports import DiscreteReport, ValidationReport
from .stochastic_mc import SGDReport, validate_sgd
from .sweep_grid import Grid, geomspace, grid, linspace
from .sweeps import sweep
from .validate import compile, validate, validate_discrete

__all__ = [
    "compile",
    "compile_kernels",
    "Kernels",
    "MatrixKernels",
    "cache_dir",
    "validate",
    "validate_discrete",
    "validate_sgd",
    "ValidationReport",
    "DiscreteReport",
    "SGDReport",
    "TABLEAUS",
    "DRIVERS",
    "Grid",
    "grid",
    "geomspace",
    "linspace",
    "sweep",
]
