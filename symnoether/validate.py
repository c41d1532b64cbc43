r"""Numerical validation of Noether laws: along trajectories, and against the optimizer.

**Continuous** (:func:`validate`). The first-order equations of motion are
integrated in compiled code together with one extra state per law,
P' = R̃ − P/τ, P(0) = Q̃(0), where Q̃ = e^{−t/τ}Q and R̃ = e^{−t/τ}dQ/dt are the
charge and rate with the damping factor divided out (e^{t/τ} overflows for
τ = η/2). Then Q̃(t) − P(t) = e^{−t/τ}(Q(t) − Q(0) − ∫₀ᵗ dQ/dt ds): the law's
residual. It is reported relative to the scale of the charge,
max_t max(|Q̃|, |P|, |u||Mψ|) (u = q̇, or q for gradient flow; |u||Mψ| bounds
the terms of q̇ᵀMψ and keeps a charge that is itself small, such as
(η/2)q̇·w for a scale symmetry, from turning round-off into a failure).
Integrators: Dormand–Prince 5(4) with error control, or fixed-step RK4.

**Discrete** (:func:`validate_discrete`). The optimizer the rule stands for
(gradient descent, heavy ball, preconditioned, with weight decay in the
potential) runs on the compiled gradient from q₀ at rest (q₋₁ = q₀). Its
charge is evaluated with the centred velocity v_k = (q_{k+1} − q_{k−1})/(2η),
which is second-order accurate for the smooth curve interpolating the
iterates (a forward difference is first order only: for GD it equals
q̇ + (η/2)q̈, i.e. −∇V, not q̇). After a burn-in of k₀ steps (1 for one-step
methods; for heavy ball, until β^{k₀} < 10⁻¹⁴ so the parasitic mode has
died), the continuous law is started from (q_{k₀}, v_{k₀}) and integrated to
the grid t_k = kη (RK4, 8 substeps); the error
E(η) = max_k |Q̃_k − P(t_k)| / max_k |v_k||Mψ(q_k)| is measured for η, η/2,
η/4 over the same time span. The observed order log₂(E(η)/E(η/2)) must match
``rule.modified_equation_order`` (2 for constant metrics; gradient flow
compared with gradient descent: 1). For an affine generator ψ = Aq + b (A
symmetric) that is a symmetry of the loss, the exact one-step identity

    φ(q_{k+1}) − φ(q_k) = ψ(q_k)·r_k + ½ Δ_kᵀ A Δ_k,   φ = ½qᵀAq + bᵀq,

with Δ_k = q_{k+1} − q_k and r_k = Δ_k + η∇V_loss(q_k) the part of the step
that is not the loss gradient, is checked to round-off (identity metric
only). For a scale symmetry with weight decay it reads
|w_{k+1}|² = (1 − ηλ)²|w_k|² + η²|g_k|² (Tanaka & Kunin 2021; Kunin et al. 2021).

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716.
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728.
.. [3] J. R. Dormand and P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19–26.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> from symnoether.validate import validate
>>> w1, w2 = sn.coordinates("w1 w2")
>>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
>>> law = sn.noether(flow, (w1, -w2))             # ½(w1² − w2²) conserved
>>> report = validate(flow, law, [1.5, 0.2], params={}, t_end=5.0, backend="numpy")
>>> report.passed
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import sympy as sp

from . import _drivers
from .codegen import Kernels, compile_kernels
from .errors import DivergenceError, InvalidInputError, NotSupportedError, ValidationFailedError
from .noether import NoetherLaw
from .spec import LearningSystem

__all__ = ["compile", "validate", "validate_discrete", "ValidationReport", "DiscreteReport"]

_MEMO: dict = {}

# Dormand & Prince (1980), RK5(4)7M: nodes c, matrix A, 5th-order weights b
# (= the last row of A: first same as last) and error weights e = b − b̂.
_DOPRI_C = np.array([0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0])
_DOPRI_A = np.zeros((7, 7))
_DOPRI_A[1, :1] = [1 / 5]
_DOPRI_A[2, :2] = [3 / 40, 9 / 40]
_DOPRI_A[3, :3] = [44 / 45, -56 / 15, 32 / 9]
_DOPRI_A[4, :4] = [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729]
_DOPRI_A[5, :5] = [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656]
_DOPRI_A[6, :6] = [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84]
_DOPRI_B = _DOPRI_A[6].copy()
_DOPRI_E = np.array([71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40])
# Classical fourth-order Runge–Kutta.
_RK4_C = np.array([0.0, 0.5, 0.5, 1.0])
_RK4_A = np.array([[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]])
_RK4_B = np.array([1 / 6, 1 / 3, 1 / 3, 1 / 6])
_TABLEAUS = {
    "dopri5": (_DOPRI_A, _DOPRI_B, _DOPRI_E, _DOPRI_C, True),
    "rk4": (_RK4_A, _RK4_B, np.empty(0), _RK4_C, False),
}
# Below these the error test of Dormand–Prince asks for less than round-off (rtol) or
# overflows its weights (atol); the step size then never settles.
_RTOL_FLOOR, _ATOL_FLOOR = 1e-14, 1e-20
# Optimizer steps of validate_discrete at its smallest η: steps·2^(levels−1).
_MAX_OPTIMIZER_STEPS = 10**7
_STATUS = {
    1: "the step budget max_steps ran out",
    2: "the step size underflowed",
    3: "the state became non-finite or exploded",
}


def compile(  # noqa: A001 - exported as sn.compile, like re.compile
    system: LearningSystem, laws: Sequence[NoetherLaw] | NoetherLaw = (), *, backend="numba"
) -> Kernels:
    """Compiled kernels of ``system`` and ``laws``, with the validation drivers.

    See :mod:`symnoether.codegen` for the kernels and their argument order.
    Results are memoized within the process and cached on disk across processes.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (q,) = sn.coordinates("q")
    >>> k = compile(sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow()),
    ...             backend="numpy")
    >>> k.parameters
    ()
    """
    _check_system(system)
    laws = _check_laws(laws, "laws", allow_empty=True)
    try:
        key = (system, laws, backend)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _MEMO:
        return _MEMO[key]
    kernels = compile_kernels(system, laws, backend=backend, drivers=_drivers.DRIVERS)
    if key is not None:
        _MEMO[key] = kernels
    return kernels


@dataclass(frozen=True, eq=False)
class ValidationReport:
    """Outcome of a continuous validation: charge vs the law's prediction.

    Attributes
    ----------
    passed : bool
    max_residual : float
        max over time, laws (and batch members) of |Q̃ − P| / scale.
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
        """|Q̃(t) − P(t)| / scale at the stored times, shape (times, laws)."""
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
        return _plot(self.t, self.charge, self.predicted, self.residual, "t", path, str(self))


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
        return _plot(
            self.t,
            self.charge_discrete,
            self.charge_predicted,
            residual,
            "t = k eta",
            path,
            str(self),
        )


# -- continuous -------------------------------------------------------------------


@np.errstate(all="ignore")  # the NumPy backend: overflow is caught as divergence
def validate(
    system: LearningSystem,
    law: NoetherLaw | Sequence[NoetherLaw],
    q0,
    v0=None,
    *,
    params: Mapping | None = None,
    t_end: float = 10.0,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    method: str = "dopri5",
    dt: float | None = None,
    tolerance: float | None = None,
    max_steps: int = 1_000_000,
    batch: int | None = None,
    seed: int = 0,
    spread: float = 0.1,
    parallel: bool = True,
    kernels: Kernels | None = None,
    backend: str = "numba",
    throw: bool = False,
) -> ValidationReport:
    """Check Q(t) − Q(0) = ∫₀ᵗ rate along trajectories of ``system``.

    Parameters
    ----------
    system : LearningSystem
    law : NoetherLaw or sequence of them
    q0 : array, shape (n,) or (batch, n)
        Initial coordinates (ordered as ``system.coords``); 2-D for a batch.
    v0 : array, optional
        Initial velocities (second-order systems; default 0). Ignored for gradient flow.
    params : dict
        Values of the hyper-parameters and data symbols (by Symbol or name).
    t_end : float
    rtol, atol : float
        Tolerances of Dormand–Prince 5(4); at least 10⁻¹⁴ and 10⁻²⁰ (below, the
        error test asks for less than round-off and the step size never settles).
    method : {'dopri5', 'rk4'}
        ``'rk4'`` takes the fixed step ``dt`` (default t_end/10⁴); t_end/dt must not
        exceed ``max_steps``.
    max_steps : int
        Budget of accepted steps (per batch member).
    tolerance : float, optional
        Pass threshold on the relative residual (default max(10³·rtol, 10⁻¹⁰);
        10⁻⁶ for RK4).
    batch, seed, spread : optional
        Draw ``batch`` initial conditions q0 + spread·N(0, 1) (and v0 likewise),
        seeded, and validate them in parallel.
    parallel : bool
        Use all cores (numba ``prange``) for a batch.
    kernels : Kernels, optional
        Reuse kernels from :func:`compile` (must contain ``law``).
    backend : {'numba', 'numpy'}
    throw : bool
        Raise :class:`ValidationFailedError` when the law fails.

    Returns
    -------
    ValidationReport

    Raises
    ------
    InvalidInputError
        An argument of the wrong type or out of range (named in the message), checked
        before anything is integrated.
    DivergenceError
        The trajectory diverged (NaN/inf, step-size underflow): names time and state.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> eta = sp.Symbol("eta", positive=True)
    >>> gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
    ...                        rule=sn.rules.gradient_descent(eta))
    >>> law = sn.noether(gd, (w1, -w2))   # broken by the kinetic term
    >>> validate(gd, law, [1.5, 0.2], params={eta: 0.1}, t_end=3.0, backend="numpy").passed
    True
    """
    _check_params(params)
    if not isinstance(method, str) or method not in _TABLEAUS:
        raise InvalidInputError(f"method {method!r} is unknown; use 'dopri5' or 'rk4'")
    t_end = _positive(t_end, "t_end", "10.0")
    rtol = _positive(rtol, "rtol", "1e-9", least=_RTOL_FLOOR)
    atol = _positive(atol, "atol", "1e-12", least=_ATOL_FLOOR)
    max_steps = _count(max_steps, "max_steps", "1_000_000")
    adaptive = method == "dopri5"
    h = 0.0 if dt is None else _positive(dt, "dt", "0.001")
    if not adaptive:
        h = h or t_end / 10_000
        if t_end / h > max_steps:
            raise InvalidInputError(
                f"dt = {h:g} takes {t_end / h:.3g} steps to reach t_end = {t_end:g}, more "
                f"than max_steps = {max_steps}; raise dt (or max_steps), or shorten t_end"
            )
    if batch is not None:
        batch = _count(batch, "batch", "100")
    seed = _count(seed, "seed", "0", low=0)
    spread = _positive(spread, "spread", "0.1", least=0.0)
    if tolerance is not None:
        tolerance = _positive(tolerance, "tolerance", "1e-6")
    laws, kernels, index = _prepare(system, law, kernels, backend)
    p = kernels.pack(params)
    ns, nl = len(kernels.state), len(kernels.laws)
    Y0 = _initial_states(kernels, q0, v0, batch, seed, spread)
    tableau = _TABLEAUS[method]
    if tolerance is None:
        tolerance = max(1e3 * rtol, 1e-10) if adaptive else 1e-6
    module = kernels.module
    if Y0.shape[0] == 1 and batch is None and np.ndim(q0) == 1:
        cap = 4096
        out_t, out_z, out_q = np.empty(cap), np.empty((cap, ns + nl)), np.empty((cap, nl))
        stats, info, zlast = np.empty((4, nl)), np.empty(5), np.empty(ns + nl)
        module.drive_integrate(
            *tableau, 0.0, float(t_end), Y0[0], p, rtol, atol, h, max_steps,
            out_t, out_z, out_q, stats, info, zlast,
        )  # fmt: skip
        _check_status(info, zlast, kernels)
        rows = int(info[4])
        t, charge, predicted = out_t[:rows], out_q[:rows, index], out_z[:rows, ns:][:, index]
        scale = _scale(stats[:, index])
        residuals = stats[0, index] / scale
        steps = int(info[2])
    else:
        S = np.empty((Y0.shape[0], 4, nl))
        info = np.empty((Y0.shape[0], 5))
        Z = np.empty((Y0.shape[0], ns + nl))
        driver = module.drive_batch_parallel if parallel else module.drive_batch
        driver(*tableau, 0.0, float(t_end), Y0, p, rtol, atol, h, max_steps, S, info, Z)
        for b in range(Y0.shape[0]):
            _check_status(info[b], Z[b], kernels, member=b)
        scale = _scale(np.moveaxis(S[:, :, index], 1, 0))
        residuals = S[:, 0, index] / scale
        t = np.empty(0)
        charge = predicted = np.empty((0, len(index)))
        steps = int(info[:, 2].sum())
    worst = float(np.max(residuals)) if residuals.size else 0.0
    passed = bool(worst <= tolerance)
    message = _continuous_message(passed, worst, tolerance, laws, method, rtol)
    report = ValidationReport(
        laws=laws,
        passed=passed,
        max_residual=worst,
        tolerance=float(tolerance),
        residuals=residuals,
        t=t,
        charge=charge,
        predicted=predicted,
        scale=scale,
        method=method,
        steps=steps,
        message=message,
    )
    return report.raise_if_failed() if throw else report


def _prepare(system, law, kernels, backend):
    _check_system(system)
    laws = _check_laws(law, "law")
    if kernels is None:
        kernels = compile(system, laws, backend=backend)
    elif not isinstance(kernels, Kernels):
        raise InvalidInputError(
            f"kernels is a {type(kernels).__name__}; pass the result of "
            "symnoether.validate.compile(system, laws), or omit kernels="
        )
    if kernels.system != system:
        raise InvalidInputError("kernels were compiled for another system; pass matching ones")
    index = []
    for item in laws:
        if item not in kernels.laws:
            raise InvalidInputError(
                f"the law with charge {item.charge} is not among the compiled laws; "
                "compile(system, laws) with it, or omit kernels="
            )
        index.append(kernels.laws.index(item))
    if not hasattr(kernels.module, "drive_integrate"):
        raise InvalidInputError(
            "kernels lack the validation drivers; build them with symnoether.validate.compile"
        )
    return laws, kernels, np.array(index, dtype=np.int64)


def _check_system(system) -> None:
    if not isinstance(system, LearningSystem):
        raise InvalidInputError(
            f"system is a {type(system).__name__}, not a LearningSystem; pass "
            "sn.LearningSystem(coords, loss, rule=...)"
        )


def _check_laws(law, name, allow_empty=False) -> tuple:
    laws = (law,) if isinstance(law, NoetherLaw) else law
    if isinstance(laws, Iterable) and not isinstance(laws, (str, bytes, Mapping)):
        laws = tuple(laws)
        if all(isinstance(item, NoetherLaw) for item in laws) and (laws or allow_empty):
            return laws
    raise InvalidInputError(
        f"{name} = {law!r} is not a NoetherLaw; pass sn.noether(system, ψ), or a list of them"
    )


def _check_params(params) -> None:
    if params is not None and not isinstance(params, Mapping):
        raise InvalidInputError(
            f"params is a {type(params).__name__}, not a mapping; pass a dict "
            "{symbol or name: value}, e.g. params={eta: 0.01, 'x': 1.0}"
        )


def _real(value, name: str, example: str) -> float:
    """``value`` as a finite float, or InvalidInputError naming ``name``."""
    if not isinstance(value, (str, bytes, bool)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
        else:
            if math.isfinite(number):
                return number
    raise InvalidInputError(f"{name} = {value!r} is not a finite number; pass e.g. {example}")


def _positive(value, name: str, example: str, least: float | None = None) -> float:
    """A finite float > 0 (or ≥ ``least``)."""
    number = _real(value, name, f"{name}={example}")
    if least is None and number <= 0:
        raise InvalidInputError(f"{name} = {value!r} must be positive; pass e.g. {name}={example}")
    if least is not None and number < least:
        raise InvalidInputError(
            f"{name} = {value!r} is below its floor {least:g}; pass e.g. {name}={example}"
        )
    return number


def _count(value, name: str, example: str, low: int = 1, high: int | None = None) -> int:
    """An int in [low, high]."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if low <= value and (high is None or value <= high):
            return int(value)
    bound = f"≥ {low}" if high is None else f"from {low} to {high}"
    raise InvalidInputError(
        f"{name} = {value!r} must be an integer {bound}; pass e.g. {name}={example}"
    )


def _initial_states(kernels, q0, v0, batch, seed, spread) -> np.ndarray:
    nq = len(kernels.coords)
    second = len(kernels.state) > nq
    q = _as_array(q0, "q0", nq)
    v = np.zeros_like(q) if v0 is None or not second else _as_array(v0, "v0", nq)
    if v.shape[0] == 1 and q.shape[0] > 1:
        v = np.repeat(v, q.shape[0], axis=0)
    if v.shape != q.shape:
        raise InvalidInputError(f"v0 has shape {v.shape} but q0 has {q.shape}; match them")
    if batch is not None:
        if batch < 1 or q.shape[0] != 1:
            raise InvalidInputError("batch= needs one q0 (shape (n,)) and batch ≥ 1")
        rng = np.random.default_rng(seed)
        q = q + spread * rng.standard_normal((batch, nq))
        if second:
            v = v + spread * rng.standard_normal((batch, nq))
        else:
            v = np.repeat(v, batch, axis=0)
    states = np.concatenate([q, v], axis=1) if second else q
    return np.ascontiguousarray(states, dtype=np.float64)


def _as_array(values, name, n, batch=True) -> np.ndarray:
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} is not numeric; pass {n} floats") from None
    if not batch and array.ndim > 1:
        raise InvalidInputError(
            f"{name} has shape {array.shape}; validate_discrete runs one optimizer: pass "
            f"{n} values (one per coordinate), shape ({n},)"
        )
    array = np.atleast_2d(array)
    if array.ndim != 2 or array.shape[1] != n:
        raise InvalidInputError(
            f"{name} has shape {np.shape(values)}; pass {n} values (one per coordinate), "
            f"or an array of shape (batch, {n})"
        )
    if not np.all(np.isfinite(array)):
        raise InvalidInputError(f"{name} contains NaN or inf; pass finite values")
    return array


def _scale(stats: np.ndarray) -> np.ndarray:
    """max(|Q̃|, |P|, |u||Mψ|), never 0."""
    scale = np.maximum(np.maximum(stats[1], stats[2]), stats[3])
    return np.where(scale > 0, scale, 1.0)


def _check_status(info, zlast, kernels, member=None) -> None:
    status = int(info[0])
    if status == 0:
        return
    names = [str(s) for s in kernels.state]
    shown = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, zlast[: len(names)]))
    who = "" if member is None else f" (batch member {member})"
    fix = (
        "raise max_steps, or shorten t_end"
        if status == 1
        else "the trajectory diverges: lower the learning rate or the initial velocity, "
        "check the parameters, or shorten t_end"
    )
    raise DivergenceError(f"{_STATUS[status]} at t = {info[1]:.6g}{who}; state {shown}. {fix}")


def _continuous_message(passed, worst, tolerance, laws, method, rtol) -> str:
    charges = _charges_text(laws)
    if passed:
        return f"Q(t) − Q(0) = ∫ rate holds to {worst:.1e} for Q = {charges}"
    return (
        f"Q(t) − Q(0) − ∫ rate reaches {worst:.2e} (tolerance {tolerance:.1e}) for Q = "
        f"{charges}. If the residual does not shrink when rtol is tightened "
        f"(now {rtol:g} with {method}), the law is wrong for this system: check the "
        "generator and the rule, and report it if sn.noether derived it."
    )


@lru_cache(maxsize=128)
def _charges_text(laws: tuple) -> str:
    """The laws' charges as text, printed once per tuple of laws (SymPy's printer
    would otherwise cost more than a short validation)."""
    return "; ".join(str(law.charge) for law in laws)


# -- discrete ---------------------------------------------------------------------


@np.errstate(all="ignore")  # the NumPy backend: overflow is caught as divergence
def validate_discrete(
    system: LearningSystem,
    law: NoetherLaw | Sequence[NoetherLaw],
    q0,
    *,
    params: Mapping | None = None,
    steps: int = 2000,
    lr: float | None = None,
    levels: int = 3,
    order_tolerance: float = 0.35,
    identity_tolerance: float = 1e-10,
    kernels: Kernels | None = None,
    backend: str = "numba",
    throw: bool = False,
) -> DiscreteReport:
    """Run the optimizer the rule models and compare its charge with the continuous law.

    Parameters
    ----------
    system : LearningSystem
        Its rule gives the optimizer; a Symbol step size ``rule.lr`` is halved
        ``levels − 1`` times (its value, > 0, comes from ``params``, as does a
        Symbol momentum β, 0 ≤ β < 1).
    law : NoetherLaw or sequence of them
    q0 : array (n,)
        One initial point (no batch).
    params : dict
    steps : int
        Steps at the largest η, ≥ 10 (the time span steps·η is kept as η halves,
        so the smallest η takes steps·2^(levels−1) ≤ 10⁷ steps).
    lr : float, optional
        Gradient flow only: the step of the gradient descent compared with it.
    levels : int
        Number of step sizes, 2 to 8.
    order_tolerance : float
        The observed order must be at least expected − order_tolerance (a
        higher one means the charge converges faster than the trajectory).
    identity_tolerance : float
        Allowed relative residual of the exact one-step identity.

    Returns
    -------
    DiscreteReport

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> eta = sp.Symbol("eta", positive=True)
    >>> gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
    ...                        rule=sn.rules.gradient_descent(eta))
    >>> law = sn.noether(gd, (w1, -w2))
    >>> report = validate_discrete(gd, law, [1.5, 0.2], params={eta: 0.02}, steps=100,
    ...                            backend="numpy")
    >>> report.expected_order, report.passed, report.order > 1.65
    (2, True, True)
    """
    _check_params(params)
    steps = _count(steps, "steps", "2000", low=10)
    levels = _count(levels, "levels", "3", low=2, high=8)
    if steps * 2 ** (levels - 1) > _MAX_OPTIMIZER_STEPS:
        raise InvalidInputError(
            f"steps·2^(levels−1) = {steps * 2 ** (levels - 1)} optimizer steps at the smallest "
            f"η exceed {_MAX_OPTIMIZER_STEPS:.0e}; lower steps or levels"
        )
    if lr is not None:
        lr = _positive(lr, "lr", "0.01")
    order_tolerance = _positive(order_tolerance, "order_tolerance", "0.35", least=0.0)
    identity_tolerance = _positive(identity_tolerance, "identity_tolerance", "1e-10")
    laws, kernels, index = _prepare(system, law, kernels, backend)
    rule = system.rule
    if rule is None:
        raise NotSupportedError(
            "a hand-written kinetic term models no optimizer; validate_discrete needs a "
            "learning rule (rules.gradient_descent, momentum, preconditioned)"
        )
    params = dict(params or {})
    eta_symbol, eta0, beta, expected = _optimizer(system, params, lr)
    q0 = _as_array(q0, "q0", len(kernels.coords), batch=False)[0]
    precondition = rule.preconditioner is not None
    burn_in = 1 if beta <= 0 else max(1, math.ceil(math.log(1e-14) / math.log(beta)))
    etas, errors, runs = [], [], []
    for level in range(levels):
        eta = eta0 / 2**level
        values = dict(params)
        if eta_symbol is not None:
            values[eta_symbol] = eta
        runs.append(
            _discrete_run(
                kernels, values, q0, eta, beta, steps * 2**level, burn_in * 2**level, precondition
            )
        )
        etas.append(eta)
        errors.append(runs[-1]["error"][index].max())
    order, orders, exact = _orders(errors)
    identity = None
    if precondition is False and all(kernels.affine[i] and kernels.laws[i].is_symmetry
                                     for i in index):  # fmt: skip
        identity = float(runs[0]["identity"][index].max())
    ok_order = exact or order >= expected - order_tolerance
    ok_identity = identity is None or identity <= identity_tolerance
    passed = bool(ok_order and ok_identity)
    message = _discrete_message(passed, ok_order, ok_identity, order, expected, identity, exact)
    first = runs[0]
    report = DiscreteReport(
        laws=laws,
        passed=passed,
        order=order,
        expected_order=expected,
        orders=tuple(orders),
        etas=tuple(etas),
        errors=tuple(float(e) for e in errors),
        identity_residual=identity,
        t=first["t"],
        charge_discrete=first["discrete"][:, index],
        charge_predicted=first["predicted"][:, index],
        iterates=first["iterates"],
        message=message,
        scale=first["scale"][index],
    )
    return report.raise_if_failed() if throw else report


def _optimizer(system, params, lr):
    """(η symbol or None, η value, β value, expected order)."""
    rule = system.rule
    values = {sp.Symbol(str(k)) if isinstance(k, str) else k: v for k, v in params.items()}
    by_name = {str(k): v for k, v in values.items()}

    def number(expr, what):
        expr = sp.sympify(expr)
        known = {s: by_name[str(s)] for s in expr.free_symbols if str(s) in by_name}
        for s, v in known.items():
            known[s] = _real(v, f"params[{s}]", f"params={{{s}: 0.1}}")
        value = expr.subs(known)
        if value.free_symbols:
            raise InvalidInputError(f"{what} = {expr} needs a value for {value.free_symbols}")
        return _real(value, what, "a real value")

    if rule.order == 1:
        if lr is None:
            raise InvalidInputError(
                "gradient flow is compared with gradient descent: pass its step, e.g. lr=0.01"
            )
        return None, float(lr), 0.0, 1
    if not isinstance(rule.lr, sp.Symbol):
        raise InvalidInputError(
            f"the step size {rule.lr} is a number, so it cannot be halved; declare it as a "
            "Symbol, e.g. eta = sympy.Symbol('eta', positive=True), and pass params={eta: 0.01}"
        )
    if str(rule.lr) not in by_name:
        raise InvalidInputError(f"params is missing the step size {rule.lr}; pass a value")
    eta = number(rule.lr, f"the step size {rule.lr}")
    if eta <= 0:
        raise InvalidInputError(
            f"the step size {rule.lr} = {eta:g} is not positive (a negative one is gradient "
            f"ascent); pass e.g. params={{{rule.lr}: 0.01}}"
        )
    beta = number(rule.beta, f"the momentum {rule.beta}") if rule.beta is not None else 0.0
    if not 0 <= beta < 1:
        raise InvalidInputError(
            f"the momentum {rule.beta} = {beta:g} is outside [0, 1): heavy ball needs "
            f"0 ≤ β < 1 to forget old gradients; pass e.g. params={{{rule.beta}: 0.9}}"
        )
    return rule.lr, eta, beta, rule.modified_equation_order


def _discrete_run(kernels, params, q0, eta, beta, n, k0, precondition) -> dict:
    module = kernels.module
    p = kernels.pack(params)
    nq, ns, nl = len(kernels.coords), len(kernels.state), len(kernels.laws)
    if k0 + 10 > n:
        raise InvalidInputError(f"steps = {n} is shorter than the burn-in of {k0} steps")
    iterates = np.empty((n + 2, nq))
    done = module.drive_optimizer(q0, p, eta, beta, n + 1, precondition, iterates)
    if done < n + 2:
        state = ", ".join(f"{s}={v:.6g}" for s, v in zip(kernels.coords, iterates[done - 1]))
        raise DivergenceError(
            f"the optimizer diverged at step {done} (t = {done * eta:.6g}) with η = {eta:g}; "
            f"last finite state {state}. Lower the learning rate or start closer to a minimum"
        )
    count = n - k0 + 1
    discrete, size = np.empty((count, nl)), np.empty((count, nl))
    module.drive_discrete_charge(iterates, p, eta, k0, discrete, size)
    y0 = np.empty(ns)
    y0[:nq] = iterates[k0]
    if ns > nq:
        y0[nq:] = (iterates[k0 + 1] - iterates[k0 - 1]) / (2 * eta)
    grid = np.empty((count, ns + nl))
    if module.drive_grid(_RK4_A, _RK4_B, _RK4_C, k0 * eta, y0, p, eta, 8, grid) < count:
        raise DivergenceError(
            f"the continuous model diverged from t = {k0 * eta:g} with η = {eta:g}; "
            "lower the learning rate"
        )
    predicted = grid[:, ns:]
    scale = np.maximum(size.max(axis=0), np.abs(predicted).max(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    identity = np.empty((n, 2, nl))
    module.drive_identity(iterates, p, eta, identity)
    size_identity = np.maximum(identity[:, 1, :].max(axis=0), 1e-300)
    ident = np.abs(identity[:, 0, :]).max(axis=0) / size_identity
    return {
        "error": np.abs(discrete - predicted).max(axis=0) / scale,
        "t": eta * np.arange(k0, n + 1),
        "discrete": discrete,
        "predicted": predicted,
        "scale": scale,
        "iterates": iterates,
        "identity": ident,
    }


def _orders(errors) -> tuple[float, list, bool]:
    exact = max(errors) < 1e-11
    orders = []
    for a, b in zip(errors, errors[1:]):
        orders.append(math.log2(a / b) if a > 0 and b > 0 else float("nan"))
    return (float("nan") if exact else orders[-1]), orders, exact


def _discrete_message(passed, ok_order, ok_identity, order, expected, identity, exact) -> str:
    if passed:
        how = "exactly (errors at round-off)" if exact else f"at order {order:.2f}"
        note = ""
        if not exact and order > expected + 0.5:
            note = "; faster than predicted: this charge is superconvergent"
        return f"the optimizer follows the continuous law {how} (expected {expected}){note}"
    parts = []
    if not ok_order:
        parts.append(
            f"observed order {order:.2f} is below the expected {expected}: if the errors "
            "stall, η is too large for the asymptotic regime (lower it or raise steps); if "
            "they do not shrink at all, the law does not describe this optimizer"
        )
    if not ok_identity:
        parts.append(
            f"the exact one-step identity fails by {identity:.1e}: ψ is not a symmetry of "
            "the loss along this run, or the gradient is wrong"
        )
    return "; ".join(parts)


def _plot(t, charge, predicted, residual, xlabel, path, title):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

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
