"""Results of validation: :class:`ValidationReport` (continuous) and
:class:`DiscreteReport` (the real optimizer), frozen, with a plain ``__str__``,
``_repr_latex_`` for notebooks, ``raise_if_failed()`` and ``plot()``.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
>>> law = sn.noether(flow, (w1, -w2))             # ½(w1² − w2²) conserved
>>> report = sn.validate(flow, law, [1.5, 0.2], t_end=2.0, backend="numpy")
>>> str(report).splitlines()[0].startswith("validation PASSED"), report.raise_if_failed() is report
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..errors import ValidationFailedError

__all__ = ["ValidationReport", "DiscreteReport", "plot_charges"]


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Outcome of a continuous validation: charge vs the law's prediction.

    Attributes
    ----------
    passed : bool
    max_residual : float
        max over time, laws (and batch members) of ``|Q̃ − P| / scale``.
    tolerance : float
    residuals : ndarray
        Per law (shape ``(laws,)``), or per member and law for a batch.
    t, charge, predicted : ndarray
        Stored times (≤ 4096, thinned evenly) and Q̃, P there, shape (times, laws);
        empty for a batch.
    scale : ndarray
        The scale of each charge (per member for a batch).
    method : str
    steps : int
        Accepted steps (summed over a batch).
    message : str
        Why it passed or failed, and what to try.
    """

    laws: tuple
    passed: bool
    max_residual: float
    tolerance: float
    residuals: np.ndarray
    t: np.ndarray
    charge: np.ndarray
    predicted: np.ndarray
    scale: np.ndarray
    method: str
    steps: int
    message: str

    @property
    def residual(self) -> np.ndarray:
        """``|Q̃(t) − P(t)| / scale`` at the stored times, shape (times, laws)."""
        return np.abs(self.charge - self.predicted) / self.scale

    def __str__(self) -> str:
        status = "PASSED" if self.passed else "FAILED"
        return (
            f"validation {status}: max residual {self.max_residual:.3e} "
            f"(tolerance {self.tolerance:.1e}, {self.method}, {self.steps} steps)\n{self.message}"
        )

    def _repr_latex_(self) -> str:
        status = r"\text{passed}" if self.passed else r"\text{failed}"
        return (
            rf"$${status}:\ \max_t |\tilde Q - P| \,/\, \max_t(|\tilde Q|, |P|, |u||M\psi|) = "
            rf"{sp.latex(sp.Float(self.max_residual, 3))}$$"
        )

    def raise_if_failed(self) -> ValidationReport:
        """Raise :class:`ValidationFailedError` when the law failed; else return self."""
        if not self.passed:
            raise ValidationFailedError(self.message)
        return self

    def plot(self, path: str | None = None):
        """Charge vs prediction, and the residual (log scale); saved when ``path`` is given.

        Returns the matplotlib Figure.
        """
        return plot_charges(
            self.t, self.charge, self.predicted, self.residual, "t", path, str(self)
        )


@dataclass(frozen=True, eq=False)
class DiscreteReport:
    """Outcome of a discrete validation: the real optimizer vs the continuous law.

    Attributes
    ----------
    passed : bool
    order : float
        Observed order log₂(E(η/2^{L−2}) / E(η/2^{L−1})) of the last pair (nan when
        the charge is conserved exactly and errors are round-off).
    expected_order : int
    orders : tuple of float
        Orders of successive pairs.
    etas, errors : tuple of float
        Step sizes and errors E(η) (relative to the charge's scale).
    identity_residual : float or None
        Max relative residual of the exact one-step identity (None if it does not apply).
    t, charge_discrete, charge_predicted : ndarray
        At the largest η: times kη (k ≥ k₀), discrete charges Q̃_k and prediction P(t_k).
    iterates : ndarray
        q_k at the largest η, k = 0..N+1.
    message : str
    """

    laws: tuple
    passed: bool
    order: float
    expected_order: int
    orders: tuple
    etas: tuple
    errors: tuple
    identity_residual: float | None
    t: np.ndarray
    charge_discrete: np.ndarray
    charge_predicted: np.ndarray
    iterates: np.ndarray
    message: str
    scale: np.ndarray = field(repr=False, default=None)
    status: str = ""
    """'passed', 'failed' or 'inconclusive' (no signal to compare: never passed)."""

    def __str__(self) -> str:
        status = "PASSED" if self.passed else "FAILED"
        pairs = ", ".join(f"eta={e:.3g}: {err:.2e}" for e, err in zip(self.etas, self.errors))
        ident = "n/a" if self.identity_residual is None else f"{self.identity_residual:.1e}"
        return (
            f"discrete validation {status}: observed order {self.order:.2f} "
            f"(expected {self.expected_order}); errors {pairs}; exact identity {ident}\n"
            f"{self.message}"
        )

    def _repr_latex_(self) -> str:
        status = r"\text{passed}" if self.passed else r"\text{failed}"
        observed = rf"p_{{\mathrm{{obs}}}} = {self.order:.2f}"
        return rf"$${status}:\ {observed},\ p = {self.expected_order}$$"

    def raise_if_failed(self) -> DiscreteReport:
        """Raise :class:`ValidationFailedError` when it failed; else return self."""
        if not self.passed:
            raise ValidationFailedError(self.message)
        return self

    def plot(self, path: str | None = None):
        """Discrete charge vs the continuous prediction, and their difference."""
        residual = np.abs(self.charge_discrete - self.charge_predicted) / self.scale
        return plot_charges(
            self.t,
            self.charge_discrete,
            self.charge_predicted,
            residual,
            "t = k eta",
            path,
            str(self),
        )


def plot_charges(t, charge, predicted, residual, xlabel, path, title):
    """Charge vs prediction (top) and the residual on a log scale (bottom); saved to
    ``path`` when given. Returns the Figure."""
    import matplotlib.pyplot as plt  # the caller's backend: inline in Jupyter, Agg in the CLI

    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5))
    for j in range(charge.shape[1]):
        top.plot(t, charge[:, j], label=f"charge {j}")
        top.plot(t, predicted[:, j], "--", label=f"prediction {j}")
        bottom.semilogy(t, np.maximum(residual[:, j], 1e-17), label=f"law {j}")
    top.set_ylabel("charge (e^{-t/tau} Q)")
    top.legend(fontsize="small")
    bottom.set_ylabel("relative residual")
    bottom.set_xlabel(xlabel)
    figure.suptitle(title.splitlines()[0], fontsize="small")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return figure
