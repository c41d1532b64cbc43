r"""Monte Carlo validation of a Noether law under minibatch SGD: :func:`validate_sgd`.

Thousands of independent SGD runs from θ_0 (numba ``prange`` across cores; each run
draws its minibatches from its own counter-based stream, so the numbers depend on
``seed`` only, never on the thread count: :mod:`~symnoether.numerics.stochastic_drivers`)
test the law's expectation. Each run r accumulates, beside its charge Q_k = Q(θ_k), the
increments d_k the law predicts, and ends with the residual

    M_r = Q_K − Q_0 − Σ_{k<K} d_k .

Two predictions:

* ``'exact'``: the exact one-step expectation of SGD, for a quadratic charge (an affine
  generator ψ = Aθ + b with A symmetric) under plain SGD. With g = ∇V (regularizers
  included) and Σ the minibatch covariance,
  E[Q_{k+1} − Q_k | θ_k] = −ηψ·g + (η²/2)(gᵀAg + tr(AΣ)) = η(potential breaking +
  noise drift + (η/2)gᵀAg): the law's closed-form potential breaking and noise drift,
  plus the second-order term of the plain gradient step, compiled as one expression,
  d_k = η·(that)(θ_k). E[M] = 0 exactly (M is a martingale), so any error in the law's
  noise drift or potential breaking shows.
* ``'rate'``: the expected-rate ODE, d_k = (η/2)(rate(θ_k) + rate(θ_{k+1})) (the law's
  full expected rate, finite-step term included; any charge; the only choice under
  heavy-ball SGD, whose one-step expectation depends on the velocity). The continuous
  model matches SGD's one-step expectation to O(η³), so E[M] = O(η²·t): with a small
  diffusion (a symmetry of every sample's loss) the standard error can fall below this
  modelling error; ``atol`` then allows for it.

``'auto'`` takes ``'exact'`` where it applies. The test statistic is z = mean(M)/SE,
SE = std(M)/√runs, at least the round-off floor 10⁻¹²·steps·max abs(Q) (a run of a law
with no noise at all has SE = 0); the law passes when abs(z) ≤ z_max + atol/SE. For a
correct law z is close to a standard normal; with z_max = 4 a correct law fails with
probability about 6·10⁻⁵.

Collapse experiment (``collapse=``): the fraction of runs whose distance to the
symmetric subspace at the end is at most ``collapse_tol`` (default 10⁻³·max(1, norm(θ_0))):
the subspace given by an orthogonal projector P onto it (distance norm(θ − Pθ)) or by a
set of points (distance to the nearest).

References
----------
.. [1] Q. Li, C. Tai and W. E, "Stochastic modified equations and adaptive stochastic
   gradient algorithms", ICML 2017, arXiv:1511.06251.
.. [2] F. Chen, D. Kunin, A. Yamamura and S. Ganguli, "Stochastic collapse: how gradient
   noise attracts SGD dynamics towards simpler subnetworks", NeurIPS 2023,
   arXiv:2306.04251.

Examples
--------
>>> import sympy as sp, symnoether as sn
>>> x, y = sn.data("x y")
>>> u, w = sn.coordinates("u w")
>>> system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(0.05),
...                            data=(x, y), dataset={x: [1, 2], y: [0, 1]})
>>> law = sn.noether(system, (u, -w))                 # the law of balance
>>> report = validate_sgd(system, law, [1.0, 0.3], runs=256, steps=200, backend="numpy")
>>> report.passed, report.prediction
(True, 'exact one-step expectation')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import sympy as sp

from ..core.noether import NoetherLaw
from ..core.rules import gradient_flow
from ..core.system import LearningSystem
from ..errors import IgnoredCoordinateWarning, InvalidInputError, NotSupportedError
from . import stochastic_drivers
from .arguments import (
    as_array,
    check_assumptions,
    check_system,
    count,
    finite_real,
    positive,
    resolve_params,
)
from .codegen import Kernels, compile_kernels
from .stochastic_report import SGDReport

__all__ = ["validate_sgd", "SGDReport", "sgd_kernels", "stream_keys"]

MEMO: dict = {}
"""Kernels by (system, law, exact, backend), for this process."""

_PREDICTIONS = {"exact": "exact one-step expectation", "rate": "expected-rate ODE (trapezoid)"}


def sgd_kernels(
    system: LearningSystem, law: NoetherLaw | None, *, exact: bool = False, backend: str = "numba"
):
    """Kernels for the Monte Carlo runs of ``system`` (memoized per process).

    They are compiled for the auxiliary system with the per-sample loss ℓ + R (R the
    regularizers) and no noise model, whose ``loss_grad`` with a sample's data is the
    sample's whole update direction, and ``grad`` = ∇V. The one law's ``rate`` is the
    predicted increment per unit time: the law's expected rate, or with ``exact`` the
    exact one-step expectation of plain SGD divided by η, potential breaking + noise
    drift + (η/2)∇VᵀA∇V (A = ∇²Q, a quadratic charge).

    Examples
    --------
    >>> import symnoether as sn
    >>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
    >>> system = sn.LearningSystem((w,), (w - x) ** 2 / 2, rule=sn.rules.sgd(0.1),
    ...                            data=(x,), dataset={x: [-1, 1]})
    >>> sgd_kernels(system, None, backend="numpy").parameters
    (x,)
    """
    key = (system, law, exact, backend)
    if key in MEMO:
        return MEMO[key]
    regularizers = system.potential - system.training_loss
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IgnoredCoordinateWarning)
        aux = LearningSystem(
            tuple(system.coords),
            system.loss + regularizers,
            rule=gradient_flow(),
            data=tuple(system.data),
            dataset={symbol: list(values) for symbol, values in system.dataset},
        )
    if law is None:  # a collapse experiment: the charge kernels compute 0
        compiled = NoetherLaw(aux, sp.ImmutableMatrix([0] * len(system.coords)),
                              sp.S.Zero, sp.S.Zero, sp.S.Zero, sp.S.Zero, 1)  # fmt: skip
    elif exact:
        coords = system.coords
        A = sp.hessian(law.charge, coords)
        grad = [sp.diff(system.potential, q) for q in coords]
        bend = sp.Add(*[A[i, j] * grad[i] * grad[j] for i in range(len(coords))
                        for j in range(len(coords)) if A[i, j] != 0])  # fmt: skip
        compiled = replace(law, system=aux, kinetic_breaking=system.rule.lr / 2 * bend)
    else:
        compiled = replace(law, system=aux)
    kernels = compile_kernels(aux, (compiled,), backend=backend,
                              drivers=stochastic_drivers.DRIVERS)  # fmt: skip
    MEMO[key] = kernels
    return kernels


def stream_keys(seed: int) -> np.ndarray:
    """The four 32-bit round keys of the counter-based stream, from a seed in [0, 2⁶⁴).

    Examples
    --------
    >>> stream_keys(0).tolist() != stream_keys(1).tolist()
    True
    """
    mix = stochastic_drivers.mix32
    low, high = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    keys = []
    state = mix(low ^ 0x9E3779B9)
    for i in range(4):
        state = mix(state ^ high ^ (0x85EBCA6B * (i + 1) & 0xFFFFFFFF))
        keys.append(state)
    return np.array(keys, dtype=np.int64)


@np.errstate(all="ignore")  # the NumPy backend: overflow shows as divergence
def validate_sgd(
    system: LearningSystem,
    law: NoetherLaw | None,
    q0,
    *,
    params: Mapping | None = None,
    runs: int = 4096,
    steps: int = 2000,
    seed: int = 0,
    prediction: str = "auto",
    z_max: float = 4.0,
    atol: float = 0.0,
    checkpoints: int = 64,
    collapse=None,
    collapse_tol: float | None = None,
    parallel: bool = True,
    backend: str = "numba",
    throw: bool = False,
) -> SGDReport:
    """Check an SGD law's expectation against Monte Carlo runs of the real optimizer.

    Parameters
    ----------
    system : LearningSystem
        Built with ``rules.sgd`` or ``rules.sgd_momentum`` and a ``dataset``.
    law : NoetherLaw or None
        ``sn.noether(system, ψ)``; None for a collapse experiment alone.
    q0 : array, shape (n,)
        θ_0, ordered as ``system.coords``; every run starts there.
    params : dict
        Values of the hyper-parameters (η, β, λ, ...) by Symbol or name; the data come
        from the dataset.
    runs, steps : int
        Independent runs, and SGD steps per run (t = steps·η).
    seed : int
        In [0, 2⁶⁴): the whole result is a function of it (and of the inputs).
    prediction : {'auto', 'exact', 'rate'}
        See the module docstring.
    z_max : float
        Pass threshold on abs(z) (default 4: a correct law fails with probability ~6·10⁻⁵).
    atol : float
        Allowed absolute mean residual beyond z_max standard errors (the O(η²t) modelling error
        of ``'rate'``; default 0).
    checkpoints : int
        Times at which the mean charge and prediction are kept (for ``plot()``).
    collapse : square matrix or sequence of points, optional
        The symmetric subspace: an orthogonal projector P onto it (n×n, P² = P = Pᵀ),
        or points (each n values, or a {coordinate: value} dict).
    collapse_tol : float, optional
        Distance under which a run counts as collapsed (default 10⁻³·max(1, norm(θ_0))).
    parallel : bool
        Spread the runs over numba's threads (``prange``); bit-identical to serial.
    backend : {'numba', 'numpy'}
    throw : bool
        Raise :class:`ValidationFailedError` when it fails.

    Returns
    -------
    SGDReport

    Raises
    ------
    InvalidInputError
        Bad arguments (named), a system without SGD, a law of another system.
    NotSupportedError
        ``prediction='exact'`` for a charge that is not quadratic, or under momentum.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
    >>> eta = sp.Symbol("eta", positive=True)
    >>> system = sn.LearningSystem((w,), (w - x) ** 2 / 2, rule=sn.rules.sgd(eta),
    ...                            data=(x,), dataset={x: [-1, 1]})
    >>> law = sn.noether(system, (1,))                       # Q = w, not a symmetry
    >>> report = validate_sgd(system, law, [2.0], params={eta: 0.1}, runs=512, steps=100,
    ...                       backend="numpy")
    >>> report.passed, bool(abs(report.mean_charge[-1] - 2 * 0.9**100) < 0.05)
    (True, True)
    """
    check_system(system)
    rule = system.rule
    if rule is None or not rule.stochastic:
        raise InvalidInputError(
            "validate_sgd runs minibatch SGD: build the system with rule=sn.rules.sgd(eta, "
            "batch_size=B) (or sgd_momentum) and dataset={...}; validate other rules with "
            "sn.validate or sn.validate_discrete"
        )
    if law is not None and not isinstance(law, NoetherLaw):
        raise InvalidInputError(
            f"law is a {type(law).__name__}; pass sn.noether(system, generator) or None"
        )
    if law is not None and law.system != system:
        raise InvalidInputError("the law was derived for another system; pass its own law")
    if law is None and collapse is None:
        raise InvalidInputError("pass a law, or collapse=... for a collapse experiment")
    runs = count(runs, "runs", "4096", low=2)
    steps = count(steps, "steps", "2000")
    checkpoints = count(checkpoints, "checkpoints", "64")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
        raise InvalidInputError(f"seed = {seed!r} must be an integer in [0, 2**64); e.g. seed=0")
    z_max = positive(z_max, "z_max", "4.0")
    atol = finite_real(atol, "atol", "0.0")
    if atol < 0:
        raise InvalidInputError(f"atol = {atol} is negative; pass atol ≥ 0")
    if backend not in ("numba", "numpy"):
        raise InvalidInputError(f"backend {backend!r} is unknown; use 'numba' or 'numpy'")
    theta0 = as_array(q0, "q0", len(system.coords), batch=False)[0]
    mode = _mode(prediction, law, rule)
    kernels = sgd_kernels(system, law, exact=mode == 1, backend=backend)
    values = _values(kernels, system, params, seed)
    eta = _number(rule.lr, values, "the learning rate")
    beta = 0.0 if rule.beta is None else _number(rule.beta, values, "the momentum beta")
    pbase, samples = _parameter_rows(kernels, system, values)
    marks = np.unique(np.linspace(0, steps, checkpoints + 1).round().astype(np.int64))
    out_q = np.zeros((runs, marks.size))
    out_d = np.zeros((runs, marks.size))
    final = np.zeros((runs, len(system.coords)))
    status = np.zeros(runs, dtype=np.int64)
    starts = np.ascontiguousarray(np.repeat(theta0[None, :], runs, axis=0))
    drive = kernels.drive_sgd_parallel if parallel else kernels.drive_sgd
    drive(starts, samples, pbase, eta, beta, rule.batch_size, bool(rule.replacement), steps,
          mode, stream_keys(seed), marks, out_q, out_d, final, status)  # fmt: skip
    return _report(
        law, out_q, out_d, final, status, marks, eta, seed, steps, z_max, atol, mode,
        _collapse(collapse, collapse_tol, final, theta0, system), throw,
    )  # fmt: skip


def _mode(prediction: str, law, rule) -> int:
    if prediction not in ("auto", "exact", "rate"):
        raise InvalidInputError(
            f"prediction = {prediction!r}; use 'auto', 'exact' (one-step expectation) or "
            "'rate' (expected-rate ODE)"
        )
    exact_ok = law is not None and _quadratic(law) and rule.beta is None
    if prediction == "exact" and not exact_ok:
        why = (
            "heavy-ball SGD's one-step expectation depends on the velocity"
            if rule.beta is not None
            else "the charge is not quadratic (ψ is not Aθ + b with A symmetric)"
        )
        raise NotSupportedError(f"prediction='exact' does not apply: {why}; use 'rate'")
    if prediction == "rate" or (prediction == "auto" and not exact_ok):
        return 0
    return 1


def _quadratic(law: NoetherLaw) -> bool:
    """ψ = Aθ + b with A constant and symmetric: Q is quadratic, ∇²Q = A."""
    coords = law.system.coords
    A = sp.Matrix(law.generator).jacobian(list(coords))
    constant = not any(entry.free_symbols & set(coords) for entry in A)
    return constant and (A - A.T).is_zero_matrix


def _values(kernels: Kernels, system: LearningSystem, params, seed: int) -> dict:
    given = dict(params or {})
    data_names = {d.name for d in system.data}
    for key in given:
        name = key.name if hasattr(key, "name") else str(key)
        if name in data_names:
            raise InvalidInputError(
                f"params has {name}, a data symbol: its values come from the dataset; drop it"
            )
    rule = system.rule
    pieces = [rule.lr, 0 if rule.beta is None else rule.beta]
    pieces += [value for _, column in system.dataset for value in column]
    outside = {s.name: s for piece in pieces for s in sp.sympify(piece).free_symbols}
    kernel_names = {s.name for s in kernels.parameters}
    to_kernels, extra = {}, {}
    for key, value in given.items():
        name = key.name if hasattr(key, "name") else str(key)
        if name in outside and name not in kernel_names:
            extra[outside[name]] = check_assumptions(outside[name], value)
        else:
            to_kernels[key] = value
    given_names = {key.name if hasattr(key, "name") else str(key) for key in given}
    needed = {s.name for s in system.hyperparameters} | set(outside)
    missing = sorted(needed - given_names)
    if missing:  # the auxiliary system has no rule: resolve_params would draw them
        raise InvalidInputError(
            f"params is missing {', '.join(missing)}; pass a value for every "
            f"hyper-parameter, e.g. params={{{missing[0]}: 0.01, ...}}"
        )
    placeholders = {d: 0.0 for d in system.data}
    values, _ = resolve_params(kernels, {**to_kernels, **placeholders}, seed=seed)
    return {**values, **extra}


def _number(expr, values: dict, what: str) -> float:
    expr = sp.sympify(expr)
    by_name = {s.name: v for s, v in values.items()}
    missing = sorted(s.name for s in expr.free_symbols if s.name not in by_name)
    if missing:
        raise InvalidInputError(
            f"{what} {expr} needs {missing[0]}; pass params={{{missing[0]}: ...}}"
        )
    value = float(expr.subs({s: by_name[s.name] for s in expr.free_symbols}))
    if not math.isfinite(value):
        raise InvalidInputError(f"{what} {expr} is not finite at the given params")
    return value


def _parameter_rows(kernels: Kernels, system: LearningSystem, values: dict):
    """The kernels' parameter vector, and one copy per sample with its data filled in."""
    pbase = np.array([values.get(s, 0.0) for s in kernels.parameters], dtype=np.float64)
    samples = system.samples
    rows = np.repeat(pbase[None, :], len(samples), axis=0)
    index = {s: i for i, s in enumerate(kernels.parameters)}
    for r, sample in enumerate(samples):
        for symbol, value in sample.items():
            rows[r, index[symbol]] = _number(value, values, f"the dataset value of {symbol}")
    return pbase, np.ascontiguousarray(rows)


def _collapse(collapse, tol, final: np.ndarray, theta0: np.ndarray, system):
    """(fraction, binomial standard error, tolerance) of runs near the subspace, or Nones."""
    if collapse is None:
        return None
    n = final.shape[1]
    if tol is None:
        tol = 1e-3 * max(1.0, float(np.linalg.norm(theta0)))
    tol = positive(tol, "collapse_tol", "1e-3")
    if isinstance(collapse, sp.MatrixBase) or (
        isinstance(collapse, np.ndarray) and collapse.ndim == 2 and collapse.shape == (n, n)
    ):
        P = np.array(np.asarray(collapse.tolist() if isinstance(collapse, sp.MatrixBase)
                                else collapse, dtype=object), dtype=float)  # fmt: skip
        if P.shape != (n, n) or not (
            np.allclose(P @ P, P, atol=1e-12) and np.allclose(P, P.T, atol=1e-12)
        ):
            raise InvalidInputError(
                f"collapse is not an orthogonal projector on the {n} coordinates (P² = P = "
                "Pᵀ); pass the projector onto the symmetric subspace, or a list of points"
            )
        distance = np.linalg.norm(final - final @ P.T, axis=1)
    else:
        points = _points(collapse, system)
        distance = np.min(np.linalg.norm(final[:, None, :] - points[None], axis=2), axis=1)
    near = np.isfinite(distance) & (distance <= tol)
    fraction = float(near.mean())
    error = math.sqrt(fraction * (1 - fraction) / final.shape[0])
    return fraction, error, tol


def _points(collapse, system) -> np.ndarray:
    coords = system.coords
    items = [collapse] if isinstance(collapse, Mapping) else collapse
    if not isinstance(items, Sequence | np.ndarray) or isinstance(items, str):
        raise InvalidInputError(
            "collapse must be a projector matrix or a list of points (dicts or n values)"
        )
    rows = []
    for item in items:
        if isinstance(item, Mapping):
            missing = [q for q in coords if q not in item]
            if missing:
                raise InvalidInputError(f"a collapse point has no value for {missing[0]}")
            item = [item[q] for q in coords]
        rows.append(as_array(item, "a collapse point", len(coords), batch=False)[0])
    if not rows:
        raise InvalidInputError("collapse lists no point")
    return np.array(rows)


def _report(law, out_q, out_d, final, status, marks, eta, seed, steps, z_max, atol, mode,
            collapsed, throw) -> SGDReport:  # fmt: skip
    runs = out_q.shape[0]
    finite = np.isfinite(out_q).all(axis=1) & np.isfinite(out_d).all(axis=1)
    ok = (status == 0) & finite  # a charge can overflow while the state is still finite
    diverged = int(np.count_nonzero(~ok))
    t = marks * eta
    q_start = out_q[:, :1]
    residual = out_q - q_start - out_d
    kept = residual[ok] if ok.any() else residual
    mean_charge = np.mean(out_q[ok] if ok.any() else out_q, axis=0)
    predicted = np.mean((q_start + out_d)[ok] if ok.any() else q_start + out_d, axis=0)
    scale = float(np.nanmax(np.abs(out_q))) if np.isfinite(out_q).any() else 1.0
    floor = 1e-12 * steps * max(scale, 1e-300)
    count_ok = max(kept.shape[0], 1)
    band = np.std(kept, axis=0, ddof=1) / math.sqrt(count_ok) if count_ok > 1 else kept[0] * 0
    band = np.maximum(band, np.where(marks > 0, floor, 0.0))
    mean_residual = float(np.mean(kept[:, -1]))
    error = float(band[-1])
    fraction = error_c = tol = None
    if collapsed is not None:
        fraction, error_c, tol = collapsed
    if law is None:
        z = float("nan")
        passed = diverged == 0
        message = "collapse experiment" + ("" if passed else f": {diverged} runs diverged")
    else:
        z = mean_residual / error
        passed = diverged == 0 and abs(mean_residual) <= z_max * error + atol
        message = _message(passed, diverged, runs, z, z_max, mode, eta)
    report = SGDReport(
        law=law, passed=passed, status="passed" if passed else
        ("diverged" if diverged else "failed"), z=z, z_max=z_max,
        mean_residual=mean_residual, standard_error=error,
        prediction=_PREDICTIONS["exact" if mode == 1 else "rate"] if law is not None else "none",
        runs=runs, steps=steps, eta=eta, seed=seed, t=t, mean_charge=mean_charge,
        predicted=predicted, band=band, diverged=diverged, message=message,
        collapse_fraction=fraction, collapse_error=error_c, collapse_tol=tol, final=final,
    )  # fmt: skip
    return report.raise_if_failed() if throw else report


def _message(passed, diverged, runs, z, z_max, mode, eta) -> str:
    if diverged:
        return (
            f"{diverged} of {runs} runs diverged (a non-finite state): lower the learning "
            "rate or the number of steps, or start closer to a minimum"
        )
    if passed:
        return f"the mean charge agrees with the law's prediction (|z| = {abs(z):.2f} ≤ {z_max:g})"
    if mode == 0:
        return (
            f"the mean charge differs from the expected-rate prediction by z = {z:.2f} "
            f"standard errors (> {z_max:g}): the law's expected rate is wrong, or the "
            f"modelling error O(η²t) of the continuous model (η = {eta:g}) exceeds the "
            "statistical error; try prediction='exact' (plain SGD, quadratic charge), a "
            "smaller eta, or an atol"
        )
    return (
        f"the mean charge differs from the exact one-step expectation by z = {z:.2f} "
        f"standard errors (> {z_max:g}): the law's noise drift or potential breaking does "
        "not match minibatch SGD; check the dataset, batch size and replacement"
    )
