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

from . import models, rules
from .codegen import Kernels
from .derivation import Derivation, derive
from .dynamics import EquationsOfMotion, FirstOrderSystem, equations_of_motion
from .errors import (
    BudgetExceededError,
    DerivationScriptError,
    DivergenceError,
    FirstOrderRuleError,
    InvalidCoordinatesError,
    InvalidGeneratorError,
    InvalidInputError,
    InvalidKineticError,
    InvalidLossError,
    InvalidRuleError,
    KernelCacheWarning,
    NoFirstOrderChargeError,
    NonDifferentiableLossError,
    NotASymmetryError,
    NotSupportedError,
    OutputPathError,
    SearchTooLargeError,
    SpecFileError,
    SymnoetherError,
    SymnoetherWarning,
    UndeclaredSymbolWarning,
    ValidationFailedError,
    VerificationError,
)
from .export import to_latex, write_latex, write_markdown
from .latex_python import loss_from_function
from .noether import NoetherLaw, noether
from .spec import (
    TIME,
    LearningSystem,
    coordinates,
    data,
    matrix_coordinates,
    velocities,
    velocity,
)
from .specfile import SpecFile, load, loads
from .symmetry import (
    Symmetry,
    SymmetryAlgebra,
    SymmetryBreaking,
    SymmetryFamily,
    find_symmetries,
)
from .validate import (
    DiscreteReport,
    ValidationReport,
    compile,
    validate,
    validate_discrete,
)

__version__ = "0.1.0"

__all__ = [
    # symbols and systems
    "TIME",
    "coordinates",
    "data",
    "matrix_coordinates",
    "velocities",
    "velocity",
    "LearningSystem",
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
    "noether",
    "NoetherLaw",
    "find_symmetries",
    "Symmetry",
    "SymmetryFamily",
    "SymmetryAlgebra",
    "SymmetryBreaking",
    "derive",
    "Derivation",
    # kernels and validation
    "compile",
    "Kernels",
    "validate",
    "validate_discrete",
    "ValidationReport",
    "DiscreteReport",
    # export
    "to_latex",
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
    "BudgetExceededError",
    "SymnoetherWarning",
    "UndeclaredSymbolWarning",
    "KernelCacheWarning",
]
