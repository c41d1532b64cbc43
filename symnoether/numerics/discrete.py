r"""Discrete validation: the optimizer a rule models, against the continuous law.

**Discrete** (:func:`validate_discrete`). The optimizer the rule stands for
(gradient descent, heavy ball, preconditioned, with weight decay in the
potential) runs on the compiled gradient from q₀ at rest (q₋₁ = q₀). Its
charge is evaluated with the centred velocity v_k = (q_{k+1} − q_{k−1})/(2η),
which is second-order accurate for the smooth curve interpolating the
iterates (a forward difference is first order only: for GD it equals
q̇ + (η/2)q̈, i.e. −∇V, not q̇). After a burn-in of k₀ steps (1 for one-step
methods; for heavy ball, until β^{k₀} < 10⁻¹⁴ so the parasitic mode has
died), the continuous law is started from (q_{k₀}, v_{k₀}) and integrated to
the grid t_k = kη (RK4, 8 substeps).

The verdict rests on the charge's own scale S(η) = max_k max(|Q̃_k|, |P(t_k)|)
over that window: the error is e(η) = max_k |Q̃_k − P(t_k)| / S(η), at η, η/2,
η/4, … (at least three step sizes). A law passes when

* the charge carries signal: S(η) is well above the round-off of the
  centred-difference charge (about 10⁻¹⁶·|q|/η·|Mψ|). A charge that stays at
  round-off, as the law predicts, while the parameters move (|q̇||Mψ| well
  above it) is kept exactly; otherwise the report is *inconclusive*
  (``status``), never passed — typically the momentum transient outlived the
  charge's motion, and a smaller η separates them;
* every pair of step sizes shrinks the error at the predicted order (within
  ``order_tolerance``), pairs already at round-off excepted; and
* the error at the smallest η is below ``relative_tolerance`` whatever the
  order (a large relative error is never a pass).

Errors at round-off at every η with signal present mean the optimizer keeps
the law exactly. ``rule.modified_equation_order`` is 2 for constant metrics
(gradient flow compared with gradient descent: 1). For an affine generator ψ = Aq + b (A
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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import sympy as sp

from ..core.noether import NoetherLaw
from ..core.system import LearningSystem
from ..errors import DivergenceError, InvalidInputError, NotSupportedError
from .arguments import as_array, check_params, count, finite_real, positive, resolve_params
from .codegen import Kernels
from .compiled import RK4_A, RK4_B, RK4_C, flat_state, prepare, state_text
from .matrix_kernels import MatrixKernels
from .reports import DiscreteReport, law_names

__all__ = ["validate_discrete"]

# Optimizer steps of validate_discrete at its smallest η: steps·2^(levels−1).
_MAX_OPTIMIZER_STEPS = 10**7


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
    relative_tolerance: float = 0.05,
    identity_tolerance: float = 1e-10,
    kernels: Kernels | None = None,
    backend: str = "numba",
    throw: bool = False,
    seed: int = 0,
    names: Sequence[str] | None = None,
    keep_iterates: bool | None = None,
) -> DiscreteReport:
    """Run the optimizer the rule models and compare its charge with the continuous law.

    Parameters
    ----------
    system : LearningSystem
        Its rule gives the optimizer; a Symbol step size ``rule.lr`` is halved
        ``levels − 1`` times (its value, > 0, comes from ``params``, as does a
        Symbol momentum β, 0 ≤ β < 1).
    law : NoetherLaw or sequence of them
    q0 : array (n,), or dict of arrays for a MatrixSystem
        One initial point (no batch); ``{W1: array, ...}`` for a MatrixSystem.
    params : dict
        Values by Symbol or name, checked as in :func:`~symnoether.numerics.validate.validate`
        (declared assumptions, unused symbols ignored with a warning, constants only the
        laws mention drawn with ``seed`` and reported in ``report.drawn``).
    steps : int
        Steps at the largest η, ≥ 10 (the time span steps·η is kept as η halves,
        so the smallest η takes steps·2^(levels−1) ≤ 10⁷ steps).
    lr : float, optional
        Gradient flow only: the step of the gradient descent compared with it.
    levels : int
        Number of step sizes, 3 to 8 (an order needs at least three to be seen).
    order_tolerance : float
        Every observed order must be at least expected − order_tolerance (a
        higher one means the charge converges faster than the trajectory).
    relative_tolerance : float
        Largest error, relative to the charge's own scale, allowed at the
        smallest η whatever the order.
    identity_tolerance : float
        Allowed relative residual of the exact one-step identity.
    seed : int
        Seeds the constants drawn for the laws.
    names : sequence of str, optional
        One name per law for the report (default ``psi1, psi2, …``).
    keep_iterates : bool, optional
        Keep the iterates of the largest η in ``report.iterates``. By default they are
        kept when they fit in 64 MiB; otherwise (e.g. 12,288 parameters over 2000
        steps) every run streams its iterates in chunks of 32 MiB and
        ``report.iterates`` is None, so memory does not grow with ``steps``.

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
    check_params(params)
    steps = count(steps, "steps", "2000", low=10)
    levels = count(levels, "levels", "3", low=3, high=8)
    if steps * 2 ** (levels - 1) > _MAX_OPTIMIZER_STEPS:
        raise InvalidInputError(
            f"steps·2^(levels−1) = {steps * 2 ** (levels - 1)} optimizer steps at the smallest "
            f"η exceed {_MAX_OPTIMIZER_STEPS:.0e}; lower steps or levels"
        )
    if lr is not None:
        lr = positive(lr, "lr", "0.01")
    order_tolerance = positive(order_tolerance, "order_tolerance", "0.35", least=0.0)
    relative_tolerance = positive(relative_tolerance, "relative_tolerance", "0.05")
    identity_tolerance = positive(identity_tolerance, "identity_tolerance", "1e-10")
    seed = count(seed, "seed", "0", low=0)
    laws, kernels, index = prepare(system, law, kernels, backend)
    names = law_names(names, len(laws))
    rule = system.rule
    if rule is None:
        raise NotSupportedError(
            "a hand-written kinetic term models no optimizer; validate_discrete needs a "
            "learning rule (rules.gradient_descent, momentum, preconditioned)"
        )
    params, drawn = resolve_params(kernels, params, seed=seed)
    eta_symbol, eta0, beta, expected = _optimizer(system, params, lr)
    if isinstance(kernels, MatrixKernels) and rule.order == 2:
        # a constant scalar metric keeps the second order (the rule of a MatrixSystem
        # does not know its layers, so rule.modified_equation_order cannot tell)
        layers = set(kernels.spec.layers)
        expected = 1 if kernels.spec.metric.free_symbols & layers else 2
    q0 = as_array(flat_state(kernels, q0, "q0"), "q0", len(kernels.coords), batch=False)[0]
    precondition = rule.preconditioner is not None
    if keep_iterates is None:
        keep_iterates = (steps + 2) * len(q0) * 8 <= _KEEP_BYTES
    burn_in = 1 if beta <= 0 else max(1, math.ceil(math.log(1e-14) / math.log(beta)))
    etas, runs = [], []
    for level in range(levels):
        eta = eta0 / 2**level
        values = dict(params)
        if eta_symbol is not None:
            values[eta_symbol] = eta
        runs.append(
            _discrete_run(
                kernels, values, q0, eta, beta, steps * 2**level, burn_in * 2**level,
                precondition, keep=bool(keep_iterates) and level == 0,
            )  # fmt: skip
        )
        etas.append(eta)
    verdict = _verdict(runs, index, expected, order_tolerance, relative_tolerance)
    identity = None
    if precondition is False and all(kernels.affine[i] and kernels.laws[i].is_symmetry
                                     for i in index):  # fmt: skip
        identity = float(runs[0]["identity"][index].max())
    ok_identity = identity is None or identity <= identity_tolerance
    status = verdict["status"]
    if status == "passed" and not ok_identity:
        status = "failed"
    passed = status == "passed"
    message = _discrete_message(status, verdict, expected, identity, ok_identity, burn_in, beta)
    errors, order, orders = verdict["errors"], verdict["order"], verdict["orders"]
    law_errors = np.array(verdict["law_errors"]).T  # (levels, laws)
    verdicts = tuple(  # law by law, for the table's "passed" column
        s in ("passed", "exact")
        and (identity is None or runs[0]["identity"][i] <= identity_tolerance)
        for s, i in zip(verdict["law_statuses"], index)
    )
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
        status=status,
        names=names,
        drawn=drawn,
        law_errors=law_errors,
        law_verdicts=verdicts,
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
            known[s] = finite_real(v, f"params[{s}]", f"params={{{s}: 0.1}}")
        value = expr.subs(known)
        if value.free_symbols:
            raise InvalidInputError(f"{what} = {expr} needs a value for {value.free_symbols}")
        return finite_real(value, what, "a real value")

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


def _discrete_run(kernels, params, q0, eta, beta, n, k0, precondition, keep) -> dict:
    """One optimizer run of n + 1 steps at step η, compared with the continuous law.

    The iterates are produced and consumed chunk by chunk (:func:`_chunk_rows` rows at a
    time), so memory does not grow with the number of steps; with ``keep`` they are made
    in one chunk and returned (``iterates``, rows q_0 … q_{n+1})."""
    module = kernels.module
    p = kernels.pack(params)
    nq, ns, nl = len(kernels.coords), len(kernels.state), len(kernels.laws)
    if k0 + 10 > n:
        raise InvalidInputError(f"steps = {n} is shorter than the burn-in of {k0} steps")
    step, precondition = _step(kernels, module, q0, p, eta, precondition)
    count = n - k0 + 1
    discrete, size = np.empty((count, nl)), np.empty((count, nl))
    identity = np.empty((n, 2, nl))
    y0 = np.empty(ns)
    rows = n + 1 if keep else _chunk_rows(nq)
    # window[0] is q_{s−1}, window[1 + i] is q_{s+i}; the run starts at rest (q₋₁ = q₀)
    window = np.empty((min(rows, n + 1) + 2, nq))
    window[0], window[1] = q0, q0
    speed = reach = 0.0
    s = 0
    while s <= n:
        chunk = min(rows, n + 1 - s)
        view = window[: chunk + 2]
        done = module.drive_optimizer(view[1], view[0], p, step, beta, chunk, precondition,
                                      view[1:])  # fmt: skip
        if done < chunk + 1:
            state = state_text(kernels.coords, view[done])
            raise DivergenceError(
                f"the optimizer diverged at step {s + done} (t = {(s + done) * eta:.6g}) with "
                f"η = {eta:g}; last finite state {state}. Lower the learning rate or start "
                "closer to a minimum"
            )
        # rows q_{s−1} … q_{s+chunk}: identities for k = s … s+chunk−1 (k < n), charges
        # for k = max(s, k0) … s+chunk−1 (k ≤ n), with centred velocities
        last = min(s + chunk, n)
        module.drive_identity(view[1:], p, eta, identity[s:last])
        first = max(s, k0)
        if first < s + chunk:
            module.drive_discrete_charge(
                view, p, eta, first - s + 1, discrete[first - k0 : s + chunk - k0],
                size[first - k0 : s + chunk - k0],
            )  # fmt: skip
            speed = max(speed, _largest_step(view, first - s, chunk) / (2 * eta))
        if s <= k0 < s + chunk:
            y0[:nq] = view[k0 - s + 1]
            if ns > nq:
                y0[nq:] = (view[k0 - s + 2] - view[k0 - s]) / (2 * eta)
        reach = max(reach, view[1:].max(), -view[1:].min())
        s += chunk
        if s <= n:  # the next chunk starts from (q_{s−1}, q_s)
            window[0], window[1] = view[chunk], view[chunk + 1]
    z = np.empty(ns + nl)  # the continuous model's state and its integrated charges
    z[:ns] = y0
    module.charge(y0, p, z[ns:])
    predicted = np.empty((count, nl))
    if module.drive_grid(RK4_A, RK4_B, RK4_C, k0 * eta, z, p, eta, 8, predicted) < count:
        raise DivergenceError(
            f"the continuous model diverged from t = {k0 * eta:g} with η = {eta:g}; "
            "lower the learning rate"
        )
    scale = np.maximum(np.abs(discrete).max(axis=0), np.abs(predicted).max(axis=0))
    # Round-off of the centred-difference charge: |δv| ≈ ε|q|/η, times |Mψ| = size/|v|.
    floor = 10 * np.finfo(float).eps * size.max(axis=0) * max(1.0, reach / (eta * speed or 1.0))
    size_identity = np.maximum(identity[:, 1, :].max(axis=0), 1e-300)
    ident = np.abs(identity[:, 0, :]).max(axis=0) / size_identity
    return {
        "absolute": np.abs(discrete - predicted).max(axis=0),
        "floor": floor,
        "t": eta * np.arange(k0, n + 1),
        "discrete": discrete,
        "predicted": predicted,
        "scale": np.where(scale > 0, scale, 1.0),
        "signal": scale,
        "motion": size.max(axis=0),
        "iterates": window[1 : n + 3] if keep else None,
        "identity": ident,
    }


_KEEP_BYTES = 64 * 2**20
"""The largest iterates kept in a report by default (64 MiB)."""

_CHUNK_BYTES = 32 * 2**20
"""Iterates held at once by a streamed optimizer run (32 MiB)."""


def _chunk_rows(nq: int) -> int:
    """Optimizer steps per chunk of a streamed run: :data:`_CHUNK_BYTES` of iterates."""
    return max(64, _CHUNK_BYTES // (8 * nq))


def _largest_step(view, lo: int, hi: int, block: int = 64) -> float:
    """max |view[k + 2] − view[k]| over k = lo … hi − 1, a block of rows at a time (no
    temporary as large as the chunk)."""
    largest = 0.0
    for k in range(lo, hi, block):
        end = min(k + block, hi)
        largest = max(largest, float(np.abs(view[k + 2 : end + 2] - view[k:end]).max()))
    return largest


def _step(kernels, module, q0, p, eta, precondition) -> tuple[float, bool]:
    """The driver's (step, precondition): a MatrixSystem's constant scalar metric g is
    folded into the step, q − η g⁻¹∇V being gradient descent with step η/g (never n×n)."""
    if not (isinstance(kernels, MatrixKernels) and precondition):
        return eta, precondition
    if kernels.spec.metric.free_symbols & set(kernels.spec.layers):
        raise NotSupportedError(
            f"the preconditioner {kernels.spec.metric} depends on the layers; "
            "validate_discrete on matrix layers takes a constant scalar preconditioner"
        )
    g = np.empty(1)
    module.metric(q0, p, g)
    return eta / float(g[0]), False


_SIGNAL = 1e4
"""The charge's scale must exceed its round-off floor this many times to carry signal."""


def _verdict(runs, index, expected, order_tolerance, relative_tolerance) -> dict:
    """Status, per-η relative errors and observed orders of the selected laws.

    The worst law decides: each law is judged on its own scale, the report keeps
    the largest relative error per η and the smallest order per pair.
    """
    levels = len(runs)
    statuses, errors, orders = [], np.zeros(levels), np.full(levels - 1, np.inf)
    law_errors = []
    for j in index:
        absolute = np.array([run["absolute"][j] for run in runs])
        signal = np.array([run["signal"][j] for run in runs])
        floor = np.array([run["floor"][j] for run in runs])
        if np.any(signal <= _SIGNAL * floor):
            motion = np.array([run["motion"][j] for run in runs])
            # The charge stays at round-off. That confirms the law only while the
            # parameters move (a wrong rate would then move the prediction).
            still = np.all(absolute <= 10 * floor) and np.all(motion > _SIGNAL * floor)
            statuses.append("exact" if still else "inconclusive")
            law_errors.append(absolute / np.maximum(motion, 1e-300))
            errors = np.maximum(errors, law_errors[-1])
            continue
        relative = absolute / signal
        law_errors.append(relative)
        errors = np.maximum(errors, relative)
        at_floor = absolute <= 10 * floor
        if at_floor.all():
            statuses.append("exact")
            continue
        law_orders = np.full(levels - 1, np.inf)
        for i in range(levels - 1):
            if not at_floor[i + 1]:
                law_orders[i] = math.log2(relative[i] / relative[i + 1])
        orders = np.minimum(orders, law_orders)
        ok = law_orders.min() >= expected - order_tolerance
        small = relative[-1] <= relative_tolerance
        statuses.append("passed" if ok and small else "failed")
    for worst in ("inconclusive", "failed", "passed", "exact"):
        if worst in statuses:
            break
    finite = [float(o) for o in orders if math.isfinite(o)]
    order = min(finite) if finite else float("nan")
    status = "passed" if worst == "exact" else worst
    return {
        "status": status,
        "exact": worst == "exact",
        "errors": tuple(float(e) for e in errors),
        "orders": tuple(float(o) if math.isfinite(o) else float("nan") for o in orders),
        "order": order,
        "relative_tolerance": relative_tolerance,
        "order_tolerance": order_tolerance,
        "law_statuses": tuple(statuses),
        "law_errors": tuple(law_errors),
    }


def _discrete_message(status, verdict, expected, identity, ok_identity, burn_in, beta) -> str:
    order, errors = verdict["order"], verdict["errors"]
    if status == "passed":
        if verdict["exact"]:
            return (
                "the optimizer's charge agrees with the law to round-off at every η (largest "
                f"relative error {max(errors):.1e}), so no order {expected} can be observed"
            )
        note = ""
        if order > expected + 0.5:
            note = "; faster than predicted: this charge is superconvergent"
        return (
            f"the optimizer follows the continuous law at order {order:.2f} (expected "
            f"{expected}), relative error {errors[-1]:.1e} at the smallest η{note}"
        )
    if status == "inconclusive":
        why = (
            f"the momentum transient (β^k, {burn_in} steps of burn-in at the largest η) "
            "outlived the charge's motion"
            if beta > 0
            else "the charge is at round-off over the run"
        )
        return (
            "inconclusive: the charge carries no signal where the comparison starts "
            f"({why}), so its errors are round-off and prove nothing; lower η so that the "
            "optimizer's transient and the charge's motion separate, or start farther from "
            "a minimum"
        )
    parts = []
    if not math.isfinite(order) or order < expected - verdict["order_tolerance"]:
        parts.append(
            f"the error does not shrink at the predicted order {expected} (smallest observed "
            f"order {order:.2f}, errors {', '.join(f'{e:.1e}' for e in errors)}): if the "
            "errors stall, η is too large for the asymptotic regime (lower it or raise "
            "steps); if they do not shrink at all, the law does not describe this optimizer"
        )
    if errors[-1] > verdict["relative_tolerance"]:
        parts.append(
            f"the relative error at the smallest η is {errors[-1]:.2f} (allowed "
            f"{verdict['relative_tolerance']:g}): the law misses the optimizer's charge"
        )
    if not ok_identity:
        parts.append(
            f"the exact one-step identity fails by {identity:.1e}: ψ is not a symmetry of "
            "the loss along this run, or the gradient is wrong"
        )
    return "; ".join(parts) or "failed"
