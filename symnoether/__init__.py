"""symnoether: derive the learning dynamics of neural networks as mechanics.

Declare a loss (the potential) and a learning rule (the kinetic term and
damping) with SymPy; get the Euler–Lagrange equations and, for each symmetry
generator, the Noether charge and its closed-form law with kinetic symmetry
breaking (Tanaka & Kunin, NeurIPS 2021).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> eta = sp.Symbol("eta", positive=True)
>>> system = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
...                            rule=sn.rules.gradient_descent(eta))
>>> law = sn.noether(system, (w1, -w2))          # rescale symmetry
>>> law.loss_breaking, law.conserved
(0, False)
>>> law.kinetic_breaking
eta*(wdot1**2 - wdot2**2)*exp(2*t/eta)/2
"""

import sys as _sys

from . import core, io, numerics, symmetry
from .core import (
    TIME,
    ChargeEquation,
    Collapse,
    EquationsOfMotion,
    FirstOrderSystem,
    LearningSystem,
    MatrixChargeEquation,
    MatrixEquationsOfMotion,
    MatrixNoetherLaw,
    MatrixSystem,
    NoetherLaw,
    NoiseEquilibrium,
    Stability,
    charge_equation,
    coordinates,
    data,
    equations_of_motion,
    layers,
    matrix_coordinates,
    matrix_gradient,
    matrix_latex,
    matrix_noether,
    matrix_text,
    matrix_velocity,
    models,
    noether,
    noise_covariance,
    noise_equilibrium,
    rules,
    stability,
    time_derivative,
    trace_canonical,
    trace_identity,
    velocities,
    velocity,
)
from .errors import (
    BudgetExceededError,
    DerivationScriptError,
    DivergenceError,
    FirstOrderRuleError,
    IgnoredCoordinateWarning,
    InvalidCoordinatesError,
    InvalidDatasetError,
    InvalidGeneratorError,
    InvalidInputError,
    InvalidKineticError,
    InvalidLossError,
    InvalidParameterError,
    InvalidRuleError,
    KernelCacheWarning,
    NoFirstOrderChargeError,
    NonDifferentiableLossError,
    NotAFixedPointError,
    NotASymmetryError,
    NotSupportedError,
    OutputPathError,
    SchedulerError,
    SearchTooLargeError,
    SpecFileError,
    SweepMismatchError,
    SymnoetherError,
    SymnoetherWarning,
    UndeclaredSymbolWarning,
    UnusedParameterWarning,
    ValidationFailedError,
    VerificationError,
)
from .io import (
    Derivation,
    SpecFile,
    derive,
    load,
    loads,
    loss_from_function,
    plot_phase,
    to_latex,
    write_latex,
    write_markdown,
)
from .numerics import (
    DiscreteReport,
    Grid,
    Kernels,
    MatrixKernels,
    SGDReport,
    ValidationReport,
    compile,
    geomspace,
    grid,
    linspace,
    sweep,
    validate,
    validate_discrete,
    validate_sgd,
)
from .symmetry import (
    BrokenDirection,
    ChargeForm,
    ConservationLaws,
    DiscreteSymmetries,
    DiscreteSymmetry,
    MatrixConservationLaws,
    ProductFamily,
    Symmetry,
    SymmetryAlgebra,
    SymmetryBreaking,
    SymmetryBreakingTable,
    SymmetryFamily,
    TranslationModule,
    conservation_laws,
    find_discrete_symmetries,
    find_symmetries,
)

# Module paths of releases before the stage sub-packages, kept importable
# (``from symnoether.jet import is_zero`` keeps working); new code imports from
# ``symnoether`` or from a stage sub-package (``symnoether.core``, ...).
MOVED_MODULES = {
    "vocabulary": "core.vocabulary",
    "rules": "core.rules",
    "models": "core.models",
    "spec": "core.system",
    "jet": "core.jet",
    "dynamics": "core.dynamics",
    "noether": "core.noether",
    "codegen": "numerics.codegen",
    "validate": "numerics.validate",
    "derivation": "io.derivation",
    "export": "io.export",
    "latex_python": "io.latex_python",
    "specfile": "io.specfile",
}
for _old, _new in MOVED_MODULES.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _sys.modules[f"{__name__}.{_new}"])
del _old, _new


def __getattr__(name: str):
    """``symnoether.jet`` and the other moved module paths, as attributes too."""
    if name in MOVED_MODULES:
        return _sys.modules[f"{__name__}.{MOVED_MODULES[name]}"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
    # the stages, in the order of the data flow
    "core",
    "symmetry",
    "numerics",
    "io",
    # symbols and systems
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
    "rules",
    "models",
    "load",
    "loads",
    "SpecFile",
    "loss_from_function",
    # derivation
    "equations_of_motion",
    "EquationsOfMotion",
    "FirstOrderSystem",
    "MatrixEquationsOfMotion",
    "matrix_gradient",
    "time_derivative",
    "trace_identity",
    "trace_canonical",
    "noether",
    "NoetherLaw",
    "charge_equation",
    "ChargeEquation",
    "MatrixChargeEquation",
    "matrix_noether",
    "MatrixNoetherLaw",
    "noise_covariance",
    "noise_equilibrium",
    "NoiseEquilibrium",
    "stability",
    "Stability",
    "Collapse",
    "find_symmetries",
    "find_discrete_symmetries",
    "DiscreteSymmetry",
    "DiscreteSymmetries",
    "Symmetry",
    "SymmetryFamily",
    "ProductFamily",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "SymmetryBreakingTable",
    "TranslationModule",
    "conservation_laws",
    "ConservationLaws",
    "MatrixConservationLaws",
    "BrokenDirection",
    "ChargeForm",
    "derive",
    "Derivation",
    # kernels and validation
    "compile",
    "Kernels",
    "MatrixKernels",
    "validate",
    "validate_discrete",
    "validate_sgd",
    "ValidationReport",
    "DiscreteReport",
    "SGDReport",
    # sweeps
    "grid",
    "Grid",
    "geomspace",
    "linspace",
    "sweep",
    "plot_phase",
    # export
    "to_latex",
    "matrix_text",
    "matrix_latex",
    "write_latex",
    "write_markdown",
    # errors and warnings
    "SymnoetherError",
    "InvalidInputError",
    "InvalidCoordinatesError",
    "InvalidLossError",
    "InvalidKineticError",
    "InvalidRuleError",
    "InvalidGeneratorError",
    "InvalidDatasetError",
    "NotAFixedPointError",
    "NotASymmetryError",
    "NoFirstOrderChargeError",
    "NonDifferentiableLossError",
    "FirstOrderRuleError",
    "VerificationError",
    "NotSupportedError",
    "DerivationScriptError",
    "SearchTooLargeError",
    "DivergenceError",
    "ValidationFailedError",
    "OutputPathError",
    "SpecFileError",
    "InvalidParameterError",
    "SweepMismatchError",
    "SchedulerError",
    "BudgetExceededError",
    "SymnoetherWarning",
    "UndeclaredSymbolWarning",
    "KernelCacheWarning",
    "UnusedParameterWarning",
    "IgnoredCoordinateWarning",
]
