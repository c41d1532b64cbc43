"""Errors and warnings raised by symnoether.

Every kind of bad input has its own subclass of :class:`SymnoetherError`, and
every message names the offending thing and says what to do instead. Two
families are kept apart, as latexify-py does: input that *cannot* be given a
meaning (:class:`InvalidInputError` and its subclasses) and input that is
meaningful but *not supported yet* (:class:`NotSupportedError`).

Examples
--------
>>> import symnoether as sn
>>> try:
...     sn.rules.gradient_descent(-0.1)
... except sn.InvalidRuleError as err:
...     print(err)
learning rate lr = -0.1 is not positive; pass a positive step size such as 0.01
"""

from __future__ import annotations

__all__ = [
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
    "FirstOrderRuleError",
    "VerificationError",
    "NotSupportedError",
    "DerivationScriptError",
    "SymnoetherWarning",
    "UndeclaredSymbolWarning",
]


class SymnoetherError(Exception):
    """Base class of every error symnoether raises on purpose."""


class InvalidInputError(SymnoetherError, ValueError):
    """Input that cannot be given a meaning; the message says how to fix it."""


class InvalidCoordinatesError(InvalidInputError):
    """Coordinates, velocities or data symbols that are malformed or clash."""


class InvalidLossError(InvalidInputError):
    """A loss (potential) that is not a scalar function of coordinates and data."""


class InvalidKineticError(InvalidInputError):
    """A kinetic term that is not a non-degenerate quadratic form in the velocities."""


class InvalidRuleError(InvalidInputError):
    """A learning rule or regularizer with inadmissible hyper-parameters."""


class InvalidGeneratorError(InvalidInputError):
    """A symmetry generator of the wrong shape or depending on the wrong symbols."""


class InvalidDatasetError(InvalidInputError):
    """A ``dataset=`` that is empty, ragged, misses a data symbol, or does not fit the rule."""


class NotAFixedPointError(InvalidInputError):
    """A stability point where the (mean or per-sample) gradient does not vanish."""


class NotASymmetryError(InvalidInputError):
    """Raised when a generator was required to be a symmetry of the loss and is not."""


class NoFirstOrderChargeError(SymnoetherError):
    """Gradient flow has no Noether charge for this generator.

    Under the first-order dynamics ``M q̇ = −∇V`` a generator ψ has a charge
    only when ``Mψ`` is a gradient field; for example the antisymmetric part
    of gl(r) has none.
    """


class FirstOrderRuleError(SymnoetherError):
    """A second-order notion (Lagrangian, accelerations) asked of gradient flow."""


class VerificationError(SymnoetherError):
    """A derived law failed its symbolic self-check; this is a bug to report."""


class NotSupportedError(SymnoetherError, NotImplementedError):
    """Meaningful input that symnoether does not handle yet."""


class DerivationScriptError(SymnoetherError):
    """A derivation script that is missing, unreadable or lacks ``derivation()``."""


class SymnoetherWarning(UserWarning):
    """Base class of symnoether's warnings."""


class UndeclaredSymbolWarning(SymnoetherWarning):
    """A free symbol that was not declared as coordinate, data or hyper-parameter."""


class DivergenceError(SymnoetherError):
    """A numerical run diverged (NaN/inf, step-size underflow); names time and state."""


class ValidationFailedError(SymnoetherError):
    """A law failed numerical validation and ``throw=True`` was asked for."""


__all__ += ["DivergenceError", "ValidationFailedError"]


class NonDifferentiableLossError(InvalidLossError):
    """A loss that SymPy cannot differentiate (its gradient keeps a ``Derivative``)."""


class SearchTooLargeError(SymnoetherError, MemoryError):
    """A symmetry search that would exceed memory or time; the message names the fix."""


__all__ += ["NonDifferentiableLossError", "SearchTooLargeError"]


class OutputPathError(InvalidInputError):
    """An output file that cannot be written: missing or read-only folder, or a folder there."""


__all__ += ["OutputPathError"]


class SpecFileError(InvalidInputError):
    """A spec file (TOML) or expression string that is rejected; names key and position."""


__all__ += ["SpecFileError"]


class BudgetExceededError(SymnoetherError):
    """Work that ran out of its time budget (``timeout=``, ``--timeout``) or reached its
    memory ceiling (``memory_budget``, ``--memory``).

    The message names the budget that ran out, the stage that was running and
    what to do (raise the budget, simplify the loss, pass generators, use
    structured mode). Attributes: ``stage``, ``owner``, ``seconds`` (0 for memory).
    """

    def __init__(self, message: str, *, stage: str = "", owner: str = "", seconds: float = 0.0):
        super().__init__(message)
        self.stage = stage
        self.owner = owner
        self.seconds = seconds

    def __reduce__(self):  # picklable with its keyword attributes (multiprocessing)
        return (_budget_error, (str(self), self.stage, self.owner, self.seconds))


def _budget_error(message: str, stage: str, owner: str, seconds: float) -> BudgetExceededError:
    return BudgetExceededError(message, stage=stage, owner=owner, seconds=seconds)


class KernelCacheWarning(SymnoetherWarning):
    """The kernel cache (or its key) is unwritable or unsafe: kernels were compiled in memory."""


__all__ += ["BudgetExceededError", "KernelCacheWarning"]


class InvalidParameterError(InvalidInputError):
    """A parameter or data value that contradicts its symbol's declared assumptions
    (``positive``, ``nonnegative``, ``real``, ``integer``, …) or is not a finite number."""


class UnusedParameterWarning(SymnoetherWarning):
    """A value in ``params`` for a symbol the system and its laws do not use: ignored."""


__all__ += ["InvalidParameterError", "UnusedParameterWarning"]


class IgnoredCoordinateWarning(SymnoetherWarning):
    """Coordinates the loss does not depend on: every vector field on them is a symmetry,
    so the symmetry search reports them apart (``algebra.ignored``)."""


__all__ += ["IgnoredCoordinateWarning"]


class SweepMismatchError(OutputPathError):
    """A sweep's output directory that holds another sweep (other derivation, grid, check
    or options) or files that are not a sweep's: it is never overwritten or mixed."""


class SchedulerError(SymnoetherError, ConnectionError):
    """A Dask scheduler that cannot be reached (or a client that is not one) for a sweep."""


__all__ += ["SweepMismatchError", "SchedulerError"]
