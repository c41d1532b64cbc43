r"""The result of a Monte Carlo validation of an SGD law: :class:`SGDReport`.

Frozen, with a short ``__str__``, ``_repr_latex_``, ``raise_if_failed()`` and ``plot()``
(mean charge ± band against the prediction, and the z-score over time).

Examples
--------
>>> import numpy as np
>>> report = SGDReport(law=None, passed=True, status="passed", z=0.5, z_max=4.0,
...     mean_residual=1e-4, standard_error=2e-4, prediction="exact one-step expectation",
...     runs=64, steps=10, eta=0.1, seed=0, t=np.array([0.0, 1.0]),
...     mean_charge=np.array([1.0, 0.9]), predicted=np.array([1.0, 0.9001]),
...     band=np.array([0.0, 2e-4]), diverged=0, message="ok")
>>> print(str(report).splitlines()[0])
Monte Carlo validation PASSED: z = 0.50 (|z| ≤ 4), 64 runs × 10 steps, eta = 0.1, seed 0
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import ValidationFailedError

__all__ = ["SGDReport"]


@dataclass(frozen=True, eq=False, repr=False)
class SGDReport:
    r"""Outcome of :func:`~symnoether.numerics.stochastic_mc.validate_sgd`.

    Attributes
    ----------
    law : NoetherLaw or None
        The law checked (None for a collapse experiment alone).
    passed : bool
        abs(z) ≤ ``z_max`` and no run diverged (a collapse experiment alone: no run diverged).
    status : str
        ``'passed'``, ``'failed'`` or ``'diverged'``.
    z : float
        mean residual / its standard error, at the end (nan without a law).
    z_max : float
    mean_residual, standard_error : float
        Mean over runs of Q_K − Q_0 − Σ_k d_k (d_k the predicted increment of step k)
        and its standard error (sample standard deviation / √runs, at least the
        round-off floor documented in ``validate_sgd``).
    prediction : str
        ``'exact one-step expectation'`` or ``'expected-rate ODE (trapezoid)'``.
    runs, steps : int
    eta : float
    seed : int
    t : ndarray
        Checkpoint times kη.
    mean_charge, predicted : ndarray
        Mean over runs of Q(θ_k), and of Q(θ_0) + Σ_{j<k} d_j, at the checkpoints.
    band : ndarray
        Standard error of the mean residual at each checkpoint.
    diverged : int
        Runs whose state became non-finite.
    message : str
    collapse_fraction : float or None
        Fraction of runs within ``collapse_tol`` of the symmetric subspace at the end.
    collapse_error : float or None
        Its binomial standard error √(f(1 − f)/runs).
    collapse_tol : float or None
    final : ndarray or None
        θ_K of every run, shape (runs, n).
    """

    law: object
    passed: bool
    status: str
    z: float
    z_max: float
    mean_residual: float
    standard_error: float
    prediction: str
    runs: int
    steps: int
    eta: float
    seed: int
    t: np.ndarray
    mean_charge: np.ndarray
    predicted: np.ndarray
    band: np.ndarray
    diverged: int
    message: str
    collapse_fraction: float | None = None
    collapse_error: float | None = None
    collapse_tol: float | None = None
    final: np.ndarray | None = None

    @property
    def z_scores(self) -> np.ndarray:
        """The z-score at every checkpoint (0 where the band is 0, at t = 0)."""
        with np.errstate(all="ignore"):
            z = (self.mean_charge - self.predicted) / self.band
        return np.where(self.band > 0, z, 0.0)

    def __str__(self) -> str:
        head = (
            f"Monte Carlo validation {self.status.upper()}: z = {self.z:.2f} "
            f"(|z| ≤ {self.z_max:g}), {self.runs} runs × {self.steps} steps, "
            f"eta = {self.eta:g}, seed {self.seed}"
        )
        lines = [head]
        if self.law is not None:
            lines += [
                f"  charge Q = {sp.sstr(self.law.charge)}",
                f"  prediction: {self.prediction}",
                f"  mean Q at the end {self.mean_charge[-1]:.6g}, predicted "
                f"{self.predicted[-1]:.6g}; residual {self.mean_residual:.3g} ± "
                f"{self.standard_error:.2g} (standard error)",
            ]
        if self.collapse_fraction is not None:
            lines.append(
                f"  collapse: {self.collapse_fraction:.3f} ± {self.collapse_error:.3f} of the "
                f"runs within {self.collapse_tol:.3g} of the symmetric subspace"
            )
        if self.diverged:
            lines.append(f"  {self.diverged} runs diverged")
        if not self.passed:
            lines.append(self.message)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"SGDReport(status={self.status!r}, z={self.z:.3g}, runs={self.runs}, "
            f"steps={self.steps}, eta={self.eta:g}, seed={self.seed}, "
            f"collapse_fraction={self.collapse_fraction!r})"
        )

    def _repr_latex_(self) -> str:
        status = rf"\text{{{self.status}}}"
        z = sp.latex(sp.Float(self.z, 3)) if np.isfinite(self.z) else r"\text{n/a}"
        text = rf"$${status}:\ z = {z},\ |z| \le {self.z_max:g},\ {self.runs}\ \text{{runs}}"
        if self.collapse_fraction is not None:
            text += rf",\ \text{{collapsed}}\ {self.collapse_fraction:.3f}"
        return text + "$$"

    def raise_if_failed(self) -> SGDReport:
        """Raise :class:`ValidationFailedError` when it failed; else return self."""
        if not self.passed:
            raise ValidationFailedError(self.message)
        return self

    def plot(self, path: str | None = None):
        """Mean charge (solid) against the prediction (dashed) with the band
        prediction ± z_max·standard error (top), and the z-score over time with ±z_max
        (bottom); saved when ``path`` is given. Returns the matplotlib Figure."""
        import matplotlib.pyplot as plt  # the caller's backend (Agg in tests and the CLI)

        figure, (top, bottom) = plt.subplots(
            2, 1, sharex=True, figsize=(7, 5), layout="constrained"
        )
        top.plot(self.t, self.mean_charge, color="C0", label=f"mean over {self.runs} runs")
        top.plot(self.t, self.predicted, "--", color="C1", label="prediction")
        low = self.predicted - self.z_max * self.band
        high = self.predicted + self.z_max * self.band
        top.fill_between(self.t, low, high, color="C1", alpha=0.25,
                         label=f"± {self.z_max:g} standard errors")  # fmt: skip
        top.set_ylabel("$Q$")
        top.legend(fontsize="small")
        bottom.plot(self.t, self.z_scores, color="C0")
        for sign in (-1, 1):
            bottom.axhline(sign * self.z_max, color="0.4", linestyle=":")
        bottom.set_ylabel("z-score")
        bottom.set_xlabel(r"$t = k\eta$")
        figure.suptitle(f"Monte Carlo validation {self.status}: z = {self.z:.2f}",
                        fontsize="medium")  # fmt: skip
        if path is not None:
            figure.savefig(path, dpi=100)
            plt.close(figure)
        return figure
