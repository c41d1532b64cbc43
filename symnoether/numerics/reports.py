"""Results of validation: :class:`ValidationReport` (continuous) and
:class:`DiscreteReport` (the real optimizer), frozen, with a short ``__str__`` (a
table, one row per law, and the fix-it message when a law failed), ``_repr_latex_``
for notebooks, ``raise_if_failed()`` and ``plot()``.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
>>> law = sn.noether(flow, (w1, -w2))             # ½(w1² − w2²) conserved
>>> report = sn.validate(flow, law, [1.5, 0.2], t_end=2.0, backend="numpy", names=["rescale"])
>>> print(str(report).splitlines()[0])  # doctest: +ELLIPSIS
continuous validation PASSED (dopri5, ... steps, tolerance 1.0e-06)
>>> str(report).splitlines()[2].split()[:2], report.raise_if_failed() is report
(['rescale', 'yes'], True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..core.matrix_display import matrix_text
from ..errors import InvalidInputError, ValidationFailedError

__all__ = ["ValidationReport", "DiscreteReport", "plot_charges", "law_names", "CHARGE_WIDTH"]

CHARGE_WIDTH = 48
"""Characters of a charge shown in a report's table (longer ones end with …)."""


def law_names(names: Sequence[str] | None, count: int) -> tuple[str, ...]:
    """``names`` checked (one string per law), or ``psi1, psi2, …``.

    Examples
    --------
    >>> law_names(None, 2), law_names(["scale"], 1)
    (('psi1', 'psi2'), ('scale',))
    """
    if names is None:
        return tuple(f"psi{i + 1}" for i in range(count))
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise InvalidInputError(f"names = {names!r}: pass one name per law, e.g. names=['scale']")
    names = tuple(names)
    if len(names) != count or not all(isinstance(name, str) and name for name in names):
        raise InvalidInputError(
            f"names = {list(names)!r}: pass {count} non-empty strings, one per law"
        )
    return names


@dataclass(frozen=True, eq=False, repr=False)
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
    names : tuple of str
        One name per law (``psi1, psi2, …`` unless given).
    drawn : dict
        Values drawn for constants only the laws mention (Symbol → float); pass
        them in ``params`` to repeat the run.
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
    names: tuple = ()
    drawn: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", law_names(self.names or None, len(self.laws)))

    @property
    def residual(self) -> np.ndarray:
        """``|Q̃(t) − P(t)| / scale`` at the stored times, shape (times, laws)."""
        return np.abs(self.charge - self.predicted) / self.scale

    @property
    def law_residuals(self) -> np.ndarray:
        """The largest relative residual of each law (over time and batch members)."""
        residuals = np.asarray(self.residuals, dtype=float)
        return residuals.max(axis=0) if residuals.ndim > 1 else residuals

    @property
    def law_passed(self) -> tuple[bool, ...]:
        """Per law: its residual is within the tolerance."""
        return tuple(bool(r <= self.tolerance) for r in self.law_residuals)

    def __str__(self) -> str:
        batch = np.ndim(self.residuals) > 1
        over = f", max over {np.shape(self.residuals)[0]} runs" if batch else ""
        head = (
            f"continuous validation {_status(self.passed)} ({self.method}, {self.steps} steps, "
            f"tolerance {self.tolerance:.1e}{over})"
        )
        rows = [
            (name, _yes(ok), f"{residual:.1e}", _charge_text(law))
            for name, ok, residual, law in zip(
                self.names, self.law_passed, self.law_residuals, self.laws, strict=True
            )
        ]
        table = _table(("law", "passed", "max residual", "charge Q"), rows)
        return "\n".join([head, *table, *_drawn_lines(self.drawn), *_failure(self)])

    def __repr__(self) -> str:
        return (
            f"ValidationReport(passed={self.passed}, max_residual={self.max_residual:.3g}, "
            f"tolerance={self.tolerance:.3g}, names={self.names!r}, method={self.method!r}, "
            f"steps={self.steps}, drawn={_drawn_repr(self.drawn)})"
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
        """Charge vs prediction (top) and the relative residual (bottom, log scale), one
        colour per law, legends by law name; saved when ``path`` is given.

        Returns the matplotlib Figure.
        """
        if self.t.size == 0:
            raise InvalidInputError(
                "a batch validation keeps no trajectory to plot (only each run's residual); "
                "validate one q0 (no batch=) to plot it"
            )
        return plot_charges(
            self.t,
            self.charge,
            self.predicted,
            self.residual,
            names=self.names,
            labels=("charge", "integrated rate"),
            xlabel="$t$",
            ylabel=_charge_label(self.laws),
            residual_label="relative residual",
            title=f"continuous validation {_status(self.passed).lower()}: "
            f"max residual {self.max_residual:.1e}",
            tolerance=self.tolerance,
            path=path,
        )


@dataclass(frozen=True, eq=False, repr=False)
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
        Step sizes and errors E(η) (relative to the charge's scale, max over laws).
    identity_residual : float or None
        Max relative residual of the exact one-step identity (None if it does not apply).
    t, charge_discrete, charge_predicted : ndarray
        At the largest η: times kη (k ≥ k₀), discrete charges Q̃_k and prediction P(t_k).
    iterates : ndarray or None
        q_k at the largest η, k = 0..N+1; None when the run streamed them
        (``validate_discrete(keep_iterates=...)``).
    message : str
    scale : ndarray
        The scale of each charge at the largest η.
    names : tuple of str
    drawn : dict
        Values drawn for constants only the laws mention (Symbol → float).
    law_errors : ndarray or None
        E(η) of each law, shape (step sizes, laws).
    law_verdicts : tuple of bool
        Per law, the verdict applied to its own errors (empty when not given).
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
    iterates: np.ndarray | None
    message: str
    scale: np.ndarray = None
    names: tuple = ()
    drawn: dict = field(default_factory=dict)
    law_errors: np.ndarray | None = None
    law_verdicts: tuple = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", law_names(self.names or None, len(self.laws)))

    @property
    def law_orders(self) -> tuple[float, ...]:
        """Observed order of each law, from its last two step sizes (nan at round-off)."""
        if self.law_errors is None:
            return (self.order,) * len(self.laws)
        errors = np.asarray(self.law_errors, dtype=float)
        a, b = errors[-2], errors[-1]
        with np.errstate(all="ignore"):
            orders = np.where((a > 0) & (b > 0) & (errors.max(axis=0) >= 1e-11),
                              np.log2(a / b), np.nan)  # fmt: skip
        return tuple(float(o) for o in orders)

    @property
    def law_passed(self) -> tuple[bool, ...]:
        """Per law: its own verdict when known, else the report's."""
        return tuple(self.law_verdicts) or (self.passed,) * len(self.laws)

    status: str = ""
    """'passed', 'failed' or 'inconclusive' (no signal to compare: never passed)."""

    def __str__(self) -> str:
        ident = "n/a" if self.identity_residual is None else f"{self.identity_residual:.1e}"
        head = (
            f"discrete validation {_status(self.passed)}: observed order {_order(self.order)} "
            f"(expected {self.expected_order}); exact one-step identity {ident}"
        )
        first = (
            np.asarray(self.law_errors)[0]
            if self.law_errors is not None
            else (self.errors[0],) * len(self.laws)
        )
        rows = [
            (name, _yes(ok), f"{error:.1e}", _order(order), _charge_text(law))
            for name, ok, error, order, law in zip(
                self.names, self.law_passed, first, self.law_orders, self.laws, strict=True
            )
        ]
        header = ("law", "passed", f"error at eta={self.etas[0]:.3g}", "order", "charge Q")
        steps = ", ".join(f"{e:.3g}" for e in self.etas)
        errors = ", ".join(f"{e:.1e}" for e in self.errors)
        return "\n".join(
            [
                head,
                *_table(header, rows),
                f"  step sizes eta: {steps}; max errors: {errors}",
                *_drawn_lines(self.drawn),
                *_failure(self),
            ]
        )

    def __repr__(self) -> str:
        return (
            f"DiscreteReport(passed={self.passed}, order={self.order:.3g}, "
            f"expected_order={self.expected_order}, names={self.names!r}, "
            f"etas={tuple(round(e, 6) for e in self.etas)}, drawn={_drawn_repr(self.drawn)})"
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
        """Discrete charge vs the continuous prediction (top) and their relative
        difference (bottom), one colour per law; saved when ``path`` is given."""
        scale = 1.0 if self.scale is None else self.scale
        residual = np.abs(self.charge_discrete - self.charge_predicted) / scale
        return plot_charges(
            self.t,
            self.charge_discrete,
            self.charge_predicted,
            residual,
            names=self.names,
            labels=("optimizer", "continuous law"),
            xlabel=r"$t = k\eta$",
            ylabel=_charge_label(self.laws),
            residual_label="relative difference",
            title=f"discrete validation {_status(self.passed).lower()}: "
            f"order {_order(self.order)} (expected {self.expected_order})",
            path=path,
        )


# -- text -------------------------------------------------------------------------------


def _status(passed: bool) -> str:
    return "PASSED" if passed else "FAILED"


def _order(order: float) -> str:
    """An observed order, or 'exact' when the errors were at round-off (no order)."""
    return "exact" if np.isnan(order) else f"{order:.2f}"


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def _charge_text(law) -> str:
    try:  # a matrix-level law in trace notation, tr(Ẇ1ᵀ A W1), else SymPy's text
        if hasattr(law, "matrix_charges"):
            system = law.system
            text = matrix_text(law.charge, order=system.layers, tau=system.tau)
        else:
            text = sp.sstr(law.charge)
    except Exception:  # noqa: BLE001 - a hand-built law: the table still prints
        text = "?"
    return text if len(text) <= CHARGE_WIDTH else text[: CHARGE_WIDTH - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns, two spaces apart, header first (plain ASCII and no rule
    line, which LaTeX's text mode would turn into dashes)."""
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]

    def line(cells):
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    return [line(header), *map(line, rows)]


def _drawn_lines(drawn: dict) -> list[str]:
    if not drawn:
        return []
    values = ", ".join(f"{symbol} = {_value(value)}" for symbol, value in drawn.items())
    return [f"  drawn constants (pass them in params to repeat): {values}"]


def _drawn_repr(drawn: dict) -> str:
    return "{" + ", ".join(f"{symbol}: {_value(value)}" for symbol, value in drawn.items()) + "}"


def _value(value) -> str:
    """A drawn number, or the shape of a drawn matrix (report.drawn holds it)."""
    if np.ndim(value):
        return f"<{'×'.join(map(str, np.shape(value)))} array in report.drawn>"
    return f"{value:g}"


def _failure(report) -> list[str]:
    return [] if report.passed else [report.message]


def _charge_label(laws: tuple) -> str:
    """The plotted charge: Q, or Q̃ = e^{−t/τ}Q when the system is damped."""
    tau = getattr(laws[0].system, "tau", None) if laws else None
    damped = tau is not None and tau != sp.oo  # None: gradient flow; oo: undamped
    return r"$\tilde{Q} = e^{-t/\tau}\,Q$" if damped else "$Q$"


# -- plots ------------------------------------------------------------------------------


def plot_charges(
    t,
    charge,
    predicted,
    residual,
    *,
    names: Sequence[str],
    labels: tuple[str, str] = ("charge", "prediction"),
    xlabel: str = "$t$",
    ylabel: str = "$Q$",
    residual_label: str = "relative residual",
    title: str = "",
    tolerance: float | None = None,
    path=None,
):
    """Charges (solid) and their predictions (dashed) on top, the relative residual on a
    log scale below, one colour per law in both panels; saved to ``path`` when given.

    When every moving charge has made 95 % of its change within the first 5 % of the
    window, the time axis becomes symmetric-log (linear near the start, logarithmic
    after): the transient and the long tail then share one readable panel, where a
    linear axis shows a step and a flat line, and a zoomed inset would hide the tail
    that the residual panel still needs. Returns the Figure.
    """
    import matplotlib.pyplot as plt  # the caller's backend: inline in Jupyter, Agg in the CLI

    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 5), layout="constrained")
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, name in enumerate(names):
        colour = colours[j % len(colours)]
        text = _escape(name)
        top.plot(t, charge[:, j], color=colour, label=f"{text} ({labels[0]})")
        top.plot(t, predicted[:, j], "--", color=colour, label=f"{text} ({labels[1]})")
        bottom.semilogy(t, np.maximum(residual[:, j], 1e-17), color=colour, label=text)
    if tolerance is not None:
        bottom.axhline(tolerance, color="0.4", linestyle=":", label="tolerance")
        bottom.legend(handles=bottom.lines[-1:], fontsize="small", loc="best")
    top.set_ylabel(ylabel)
    top.legend(fontsize="small", ncol=2 if len(names) > 3 else 1)
    bottom.set_ylabel(residual_label)
    bottom.set_xlabel(xlabel)
    threshold = _symlog_threshold(np.asarray(t, dtype=float), np.asarray(charge, dtype=float))
    if threshold is not None:
        bottom.set_xscale("symlog", linthresh=threshold)
        bottom.set_xlim(left=max(0.0, float(np.min(t))), right=float(np.max(t)))
        bottom.set_xlabel(f"{xlabel} (logarithmic beyond {threshold:.2g})")
    figure.suptitle(title, fontsize="medium")
    if path is not None:
        figure.savefig(path, dpi=100)
        plt.close(figure)
    return figure


def _escape(text: str) -> str:
    """A law name as literal legend text (a ``$`` would start mathtext)."""
    return text.replace("$", r"\$")


def _symlog_threshold(t: np.ndarray, charge: np.ndarray) -> float | None:
    """The linear range of a symmetric-log time axis when the charges move only early
    (95 % of the total variation of every charge that visibly moves within the first
    5 % of the window), else None."""
    if t.size < 8 or charge.size == 0:
        return None
    span = float(t[-1] - t[0])
    step = np.abs(np.diff(charge, axis=0))
    total = step.sum(axis=0)
    extent = np.ptp(charge, axis=0)
    # a charge that spans under 1 % of the panel's height is drawn flat on any axis (a
    # conserved one, or round-off): it does not decide where the action is
    moving = np.isfinite(total) & (total > 0) & (extent > 0.01 * np.nanmax(extent))
    if span <= 0 or not moving.any():
        return None
    share = np.cumsum(step[:, moving], axis=0) / total[moving]
    settled = max(int(np.searchsorted(share[:, j], 0.95)) for j in range(share.shape[1]))
    end = float(t[min(settled + 1, t.size - 1)])
    if end - t[0] >= 0.05 * span:
        return None
    positive = t[t > 0]
    return float(max(end / 10, positive.min() if positive.size else end / 10))
