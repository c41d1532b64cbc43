r"""Numerical validation of Noether laws: along trajectories, and against the optimizer.

**Continuous** (:func:`validate`). The first-order equations of motion are
integrated in compiled code together with one extra state per law,
P' = R̃ − P/τ, P(0) = Q̃(0), where Q̃ = e^{−t/τ}Q and R̃ = e^{−t/τ}dQ/dt are the
charge and rate with the damping factor divided out (e^{t/τ} overflows for
τ = η/2). Then Q̃(t) − P(t) = e^{−t/τ}(Q(t) − Q(0) − ∫₀ᵗ dQ/dt ds): the law's
residual. It is reported relative to the scale of the charge,
max_t max(|Q̃|, |P|, |u||Mψ|, (atol/tolerance)|Mψ|) (u = q̇, or q for
gradient flow; |u||Mψ| bounds the terms of q̇ᵀMψ and keeps a charge that is
itself small, such as (η/2)q̇·w for a scale symmetry, from turning round-off
into a failure; the last term keeps a discrepancy below atol·|Mψ|, what one
absolute-tolerance error in u makes of the charge, from failing a state that
is itself of round-off size).
Integrators: Dormand–Prince 5(4) with error control, or fixed-step RK4.

**Discrete** (:func:`validate_discrete`, in :mod:`symnoether.numerics.discrete`). The
optimizer the rule stands for runs on the compiled gradient; its charge,
taken with centred velocities, is compared with the continuous law at
η, η/2, η/4, the observed order must match the modified-equation analysis,
and exact one-step identities must hold to round-off.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716.
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728.
.. [3] J. R. Dormand and P. J. Prince, J. Comput. Appl. Math. 6 (1980) 19–26.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> from symnoether.numerics.validate import validate
>>> w1, w2 = sn.coordinates("w1 w2")
>>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
>>> law = sn.noether(flow, (w1, -w2))             # ½(w1² − w2²) conserved
>>> report = validate(flow, law, [1.5, 0.2], params={}, t_end=5.0, backend="numpy")
>>> report.passed
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import InvalidInputError
from .arguments import check_params, count, initial_states, positive, resolve_params
from .codegen import Kernels
from .compiled import TABLEAUS, check_status, compile, flat_state, prepare
from .discrete import validate_discrete
from .reports import DiscreteReport, ValidationReport, law_names

__all__ = ["compile", "validate", "validate_discrete", "ValidationReport", "DiscreteReport"]

# Below these the error test of Dormand–Prince asks for less than round-off (rtol) or
# overflows its weights (atol); the step size then never settles.
_RTOL_FLOOR, _ATOL_FLOOR = 1e-14, 1e-20
# Stored trajectory values (times × state entries): 4096 times up to 1024 entries (32 MB),
# fewer times for the 24,576 entries of a width-64 three-layer network under momentum.
_STORED = 4096 * 1024


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
    names: Sequence[str] | None = None,
) -> ValidationReport:
    """Check Q(t) − Q(0) = ∫₀ᵗ rate along trajectories of ``system``.

    Parameters
    ----------
    system : LearningSystem or MatrixSystem
    law : NoetherLaw or sequence of them (MatrixNoetherLaw for a MatrixSystem)
    q0 : array, shape (n,) or (batch, n); or dict of arrays
        Initial coordinates (ordered as ``system.coords``); 2-D for a batch. For a
        MatrixSystem, ``{W1: array, ...}`` (one array of the layer's shape per layer), or
        the flat vector of their entries, layer by layer, row-major.
    v0 : array or dict of arrays, optional
        Initial velocities (second-order systems; default 0). Ignored for gradient flow.
    params : dict
        Values of the hyper-parameters and data symbols (by Symbol or name; arrays of
        the declared shapes for MatrixSymbols, named with both shapes when not). Each must
        satisfy its symbol's declared assumptions (``positive=True``, ``integer=True``,
        …), else :class:`InvalidParameterError`; a symbol the system does not use is
        ignored with an :class:`UnusedParameterWarning`. A constant only the laws
        mention (an entry of A in ψ_A) may be left out: it is drawn (seeded by
        ``seed``) and reported in ``report.drawn``.
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
        seeded, and validate them in parallel. ``seed`` also seeds the constants
        drawn for the laws.
    parallel : bool
        Use all cores (numba ``prange``) for a batch.
    kernels : Kernels, optional
        Reuse kernels from :func:`compile` (must contain ``law``).
    backend : {'numba', 'numpy'}
    throw : bool
        Raise :class:`ValidationFailedError` when the law fails.
    names : sequence of str, optional
        One name per law, shown in the report's table and plot legends (default
        ``psi1, psi2, …``; :meth:`Derivation.validate` passes the derivation's names).

    Returns
    -------
    ValidationReport

    Raises
    ------
    InvalidInputError
        An argument of the wrong type or out of range (named in the message), checked
        before anything is integrated; :class:`InvalidParameterError` for a parameter
        value that contradicts its symbol's assumptions (``eta = -0.01`` for a
        positive η).
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
    check_params(params)
    if not isinstance(method, str) or method not in TABLEAUS:
        raise InvalidInputError(f"method {method!r} is unknown; use 'dopri5' or 'rk4'")
    t_end = positive(t_end, "t_end", "10.0")
    rtol = positive(rtol, "rtol", "1e-9", least=_RTOL_FLOOR)
    atol = positive(atol, "atol", "1e-12", least=_ATOL_FLOOR)
    max_steps = count(max_steps, "max_steps", "1_000_000")
    adaptive = method == "dopri5"
    h = 0.0 if dt is None else positive(dt, "dt", "0.001")
    if not adaptive:
        h = h or t_end / 10_000
        if t_end / h > max_steps:
            raise InvalidInputError(
                f"dt = {h:g} takes {t_end / h:.3g} steps to reach t_end = {t_end:g}, more "
                f"than max_steps = {max_steps}; raise dt (or max_steps), or shorten t_end"
            )
    if batch is not None:
        batch = count(batch, "batch", "100")
    seed = count(seed, "seed", "0", low=0)
    spread = positive(spread, "spread", "0.1", least=0.0)
    if tolerance is not None:
        tolerance = positive(tolerance, "tolerance", "1e-6")
    laws, kernels, index = prepare(system, law, kernels, backend)
    names = law_names(names, len(laws))
    values, drawn = resolve_params(kernels, params, seed=seed)
    p = kernels.pack(values)
    ns, nl = len(kernels.state), len(kernels.laws)
    q0, v0 = flat_state(kernels, q0, "q0"), flat_state(kernels, v0, "v0")
    Y0 = initial_states(kernels, q0, v0, batch, seed, spread)
    tableau = TABLEAUS[method]
    if tolerance is None:
        tolerance = max(1e3 * rtol, 1e-10) if adaptive else 1e-6
    module = kernels.module
    if Y0.shape[0] == 1 and batch is None and np.ndim(q0) == 1:
        cap = min(4096, max(16, _STORED // (ns + nl)))  # a wide matrix system stores fewer
        out_t, out_z, out_q = np.empty(cap), np.empty((cap, ns + nl)), np.empty((cap, nl))
        stats, info, zlast = np.empty((5, nl)), np.empty(5), np.empty(ns + nl)
        module.drive_integrate(
            *tableau, 0.0, float(t_end), Y0[0], p, rtol, atol, h, max_steps,
            out_t, out_z, out_q, stats, info, zlast,
        )  # fmt: skip
        check_status(info, zlast, kernels)
        rows = int(info[4])
        t, charge, predicted = out_t[:rows], out_q[:rows, index], out_z[:rows, ns:][:, index]
        scale = _scale(stats[:, index], atol / tolerance)
        residuals = stats[0, index] / scale
        steps = int(info[2])
    else:
        S = np.empty((Y0.shape[0], 5, nl))
        info = np.empty((Y0.shape[0], 5))
        Z = np.empty((Y0.shape[0], ns + nl))
        driver = module.drive_batch_parallel if parallel else module.drive_batch
        driver(*tableau, 0.0, float(t_end), Y0, p, rtol, atol, h, max_steps, S, info, Z)
        for b in range(Y0.shape[0]):
            check_status(info[b], Z[b], kernels, member=b)
        scale = _scale(np.moveaxis(S[:, :, index], 1, 0), atol / tolerance)
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
        names=names,
        drawn=drawn,
    )
    return report.raise_if_failed() if throw else report


def _scale(stats: np.ndarray, floor: float) -> np.ndarray:
    """max(|Q̃|, |P|, |u||Mψ|, floor·|Mψ|), never 0. With ``floor`` = atol/tolerance,
    a discrepancy below atol·|Mψ| (what one absolute-tolerance error in u does to
    the charge) never fails the law."""
    scale = np.maximum(np.maximum(stats[1], stats[2]), np.maximum(stats[3], floor * stats[4]))
    return np.where(scale > 0, scale, 1.0)


def _continuous_message(passed, worst, tolerance, laws, method, rtol) -> str:
    try:
        charges = _charges_text(laws)
    except TypeError:  # a law with an unhashable field, built by hand: print it each time
        charges = _charges_text.__wrapped__(laws)
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
