r"""Minibatch SGD: the gradient-noise covariance and the stochastic terms of a charge's law.

With a finite dataset of N samples, per-sample loss ℓ_i(θ) and training loss
V = (1/N) Σ_i ℓ_i, one SGD step draws a batch of B samples and moves
θ_{k+1} = θ_k − η ĝ, ĝ = (1/B) Σ_{i∈batch} ∇ℓ_i (plus the regularizers' exact
gradient). ĝ is unbiased, E ĝ = ∇V, with covariance

    Σ(θ) = (1/B) ( (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ − ∇V ∇Vᵀ )                  (with replacement),
    Σ(θ) = (1/B) (N − B)/(N − 1) ( (1/N) Σ_i ∇ℓ_i ∇ℓ_iᵀ − ∇V ∇Vᵀ )  (without),

the variance of the mean of B draws from the N gradients (with replacement: B
independent draws; without: the finite-population correction).

Continuous model, the stochastic modified equation in t = kη (Li, Tai and E 2017):
dθ = −∇Ṽ dt + √(ηΣ) dW [1]_ with Ṽ = V + (η/4)‖∇V‖² (V here with its regularizers). For
a function Q(θ), Itô's formula gives the expected rate and the quadratic variation

    E[dQ]/dt = −∇Q·∇V − (η/2) ∇Qᵀ∇²V∇V + (η/2) tr(Σ ∇²Q),    d⟨Q⟩/dt = η ∇QᵀΣ∇Q.
               └ gradient flow ┘ └── finite step ──┘ └ noise drift ┘

Order of accuracy: for a quadratic Q the exact one-step expectation of SGD is
E[Q_{k+1} − Q_k | θ] = −η∇Q·∇V + (η²/2)(∇Vᵀ∇²Q∇V + tr(Σ∇²Q)), and that of the model over
a time η is η·rate + (η²/2)·(d/dt)(−∇Q·∇V) + O(η³) along gradient flow, the same to
O(η³): the rate is that of the discrete expectation per step divided by η, up to O(η).

Heavy-ball SGD (:func:`~symnoether.core.rules.sgd_momentum`), θ_{k+1} = θ_k − ηĝ_k +
β(θ_k − θ_{k−1}). Write v_k = θ_k − θ_{k−1}, so
v_{k+1} = βv_k − ηĝ_k and v_{k+1} = β^{k+1}v_0 − η Σ_{j≤k} β^{k−j} ĝ_j: once the
initial velocity has decayed (after ~1/(1 − β) steps) each minibatch gradient moves
θ by η Σ_m β^m = η/(1 − β) in all. Over n steps, 1/(1 − β) ≪ n and nη ≪ 1, the
displacement is −(η/(1 − β)) Σ_j ĝ_j: mean −nη∇V/(1 − β), covariance
nη²Σ/(1 − β)², Σ the covariance of ĝ (:func:`symnoether.core.stochastic.noise_covariance`,
the same as for plain SGD). Per unit time t = nη:

    dθ = −(1/(1 − β)) ∇Ṽ dt + (1/(1 − β)) √(ηΣ) dW,
    Ṽ = V + η(1 + β)/(4(1 − β)²) ‖∇V‖²,

i.e. the drift of SGD scaled by 1/(1 − β) and its noise covariance by 1/(1 − β)²
(plain SGD with the effective step η/(1 − β), run in the time kη/(1 − β)). The O(η)
term of Ṽ is that of the deterministic heavy ball: eliminating q̈ from its modified
equation (η(1 + β)/2) q̈ + (1 − β) q̇ = −∇V (:func:`~symnoether.core.rules.momentum`) with
q̈ = H∇V/(1 − β)² + O(η) gives q̇ = −∇V/(1 − β) − η(1 + β)/(2(1 − β)³) H∇V, the
gradient of Ṽ above (β = 0: SGD's V + (η/4)‖∇V‖²). Check: for V = hθ²/2 and noise
variance σ² the discrete AR(2) iteration has the stationary variance
(1 + β)ησ²/((1 − β) h (2(1 + β) − ηh)) = ησ²/(2h(1 − β)) + O(η²), the variance
D/(2k) of the Ornstein–Uhlenbeck process above (k = h/(1 − β), D = ησ²/(1 − β)²).

As a first-order system this is gradient flow with the metric (1 − β)·I, so the
charge of ψ is the potential of (1 − β)ψ (e.g. (1 − β)·½θᵀAθ), its expected rate
has the potential breaking −ψ·∇V, the finite-step term
−η(1 + β)/(2(1 − β)³) ∇QᵀH∇V and the noise drift (η/(2(1 − β)²)) tr(Σ∇²Q), and its
quadratic variation is (η/(1 − β)²) ∇QᵀΣ∇Q per unit time. The Monte Carlo runs of
:func:`symnoether.validate_sgd` start on the slow manifold,
θ_{−1} = θ_0 + η∇V(θ_0)/(1 − β), so that no initial layer (a lag of
ηβ/(1 − β)² ∇V) separates them from the continuous model.

Measured (tests/numerics/test_stochastic_mc.py): the Monte Carlo stationary variance
matches the discrete formula and rejects SGD's noise factor; the continuous model's
O(η²) error in the expected rate adds up at stationarity (O(η²t) in E[Q]), as for SGD.

When ψ is a symmetry of every sample's loss (ψ·∇ℓ_i ≡ 0), the first-order charge Q
with ∇Q = ψ has Σ∇Q = 0: no diffusion, the charge moves deterministically (the
"Noether flow" of Ziyin et al. 2024 [2]_; for rescaling the law of balance of Ziyin et
al. 2023 [3]_). A symmetry of the mean V only leaves the noise acting on Q.

References
----------
.. [1] Q. Li, C. Tai and W. E, "Stochastic modified equations and adaptive stochastic
   gradient algorithms", ICML 2017, arXiv:1511.06251.
.. [2] L. Ziyin, M. Wang, H. Li and L. Wu, "Parameter symmetry and noise equilibrium of
   stochastic gradient descent", NeurIPS 2024, arXiv:2402.07193.
.. [3] L. Ziyin, H. Li and M. Ueda, "Law of balance and stationary distribution of
   stochastic gradient descent", 2023, arXiv:2308.06671.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
>>> eta = sp.Symbol("eta", positive=True)
>>> system = sn.LearningSystem((w,), (w - x) ** 2 / 2, rule=sn.rules.sgd(eta),
...                            data=(x,), dataset={x: [-1, 1]})
>>> noise_covariance(system)          # ∇ℓ = w ∓ 1 around ∇V = w: variance 1
Matrix([[1]])
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..budget import check
from ..errors import InvalidRuleError
from .jet import is_zero, readable

__all__ = ["noise_covariance", "StochasticTerms", "stochastic_terms", "sme_coefficients"]


def noise_covariance(system: object) -> sp.ImmutableMatrix:
    """Σ(θ), the covariance of the minibatch gradient of an SGD system, in closed form.

    Parameters
    ----------
    system : LearningSystem
        Built with ``rule=sn.rules.sgd(...)`` and a ``dataset=``.

    Returns
    -------
    ImmutableMatrix
        Σ over ``system.coords``: (1/B)(mean ∇ℓ∇ℓᵀ − ∇V∇Vᵀ), times (N − B)/(N − 1)
        when batches are drawn without replacement (see the module docstring).
        Regularizers enter the update exactly and carry no noise.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
    >>> system = sn.LearningSystem((w,), (w - x) ** 2 / 2, rule=sn.rules.sgd(0.1, 2,
    ...     replacement=False), data=(x,), dataset={x: [-1, 0, 1]})
    >>> noise_covariance(system)          # (1/2)·(2/3)·(3 − 2)/(3 − 1)
    Matrix([[1/6]])
    """
    rule = _require_sgd(system)
    coords = system.coords
    samples = system.samples
    n = len(samples)
    grads = [sp.Matrix([sp.diff(system.loss.subs(s), q) for q in coords]) for s in samples]
    mean = sum(grads, sp.zeros(len(coords), 1)) / n
    second = sp.zeros(len(coords), len(coords))
    for g in grads:
        check()
        second += g * g.T
    covariance = _batch_factor(rule, n) * (second / n - mean * mean.T)
    return sp.ImmutableMatrix(covariance.applyfunc(sp.expand))


@dataclass(frozen=True)
class StochasticTerms:
    """The SGD terms of a first-order charge's expected rate, and its diffusion.

    Attributes
    ----------
    finite_step : sympy expression
        −(η/2)∇Qᵀ∇²V∇V, V the potential (loss mean plus regularizers).
    noise_drift : sympy expression
        (η/2)·tr(Σ∇²Q), the Itô term.
    noise_diffusion : sympy expression
        η∇QᵀΣ∇Q, the charge's quadratic variation per unit time.

    Under heavy-ball SGD η/2 and η become the coefficients of :func:`sme_coefficients`.

    Examples
    --------
    >>> StochasticTerms(sp.S.Zero, sp.S.One, sp.S.Zero).noise_drift
    1
    """

    finite_step: sp.Expr
    noise_drift: sp.Expr
    noise_diffusion: sp.Expr


def stochastic_terms(system: object, charge: sp.Expr) -> StochasticTerms:
    """The finite-step, noise-drift and diffusion terms of ``charge`` Q(θ) under SGD.

    Parameters
    ----------
    system : LearningSystem
        An SGD system (``rules.sgd`` with a ``dataset``).
    charge : sympy expression
        Q, a function of the coordinates (and hyper-parameters).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
    >>> eta = sp.Symbol("eta", positive=True)
    >>> system = sn.LearningSystem((w,), (w - x) ** 2 / 2, rule=sn.rules.sgd(eta),
    ...                            data=(x,), dataset={x: [-1, 1]})
    >>> terms = stochastic_terms(system, w**2 / 2)
    >>> terms.noise_drift, terms.noise_diffusion, terms.finite_step
    (eta/2, eta*w**2, -eta*w**2/2)
    """
    rule = _require_sgd(system)
    coords = system.coords
    finite, noise = sme_coefficients(rule)
    # Σ is never formed (n² entries over N samples): tr(ΣH) and ∇QᵀΣ∇Q are per-sample
    # scalars, c·(mean gᵢᵀHgᵢ − ḡᵀHḡ) and c·(mean (∇Q·gᵢ)² − (∇Q·ḡ)²), c the batch factor.
    grad_q = [sp.diff(charge, q) for q in coords]
    hess_q = sp.hessian(charge, coords)
    grads = [[sp.diff(system.loss.subs(s), q) for q in coords] for s in system.samples]
    n = len(grads)
    mean = [sp.Add(*column) / n for column in zip(*grads, strict=True)]
    factor = _batch_factor(rule, n)
    check()
    second = sp.Add(*[_quadratic(hess_q, g) for g in grads]) / n - _quadratic(hess_q, mean)
    drift = noise / 2 * factor * second
    along = [_dot(grad_q, g) for g in grads]
    diffusion = noise * factor * (sp.Add(*[a**2 for a in along]) / n - _dot(grad_q, mean) ** 2)
    # ∇QᵀH_V∇V = ∇V·∇(∇Q·∇V) − ∇VᵀH_Q∇V: one scalar derivative instead of the Hessian of V
    grad_v = [sp.diff(system.potential, q) for q in coords]
    flux = sp.expand(_dot(grad_q, grad_v))
    check()
    bend = _dot(grad_v, [sp.diff(flux, q) for q in coords]) - _quadratic(hess_q, grad_v)
    finite_step = -finite * bend
    return StochasticTerms(*(_tidy(term) for term in (finite_step, drift, diffusion)))


def _batch_factor(rule: object, n: int) -> sp.Expr:
    """1/B, times (N − B)/(N − 1) for batches drawn without replacement."""
    factor = sp.Rational(1, rule.batch_size)
    if not rule.replacement:
        factor *= sp.Rational(n - rule.batch_size, n - 1) if n > 1 else 0
    return factor


def _dot(a: list, b: list) -> sp.Expr:
    return sp.Add(*[x * y for x, y in zip(a, b, strict=True) if x != 0 and y != 0])


def _quadratic(hessian: sp.MatrixBase, g: list) -> sp.Expr:
    """gᵀHg over the non-zero entries of H."""
    n = hessian.shape[0]
    return sp.Add(*[hessian[i, j] * g[i] * g[j] for i in range(n) for j in range(n)
                    if hessian[i, j] != 0])  # fmt: skip


def sme_coefficients(rule: object) -> tuple[sp.Expr, sp.Expr]:
    """(c_f, c_n) of the stochastic modified equation dθ = −M⁻¹∇V dt − c_f ∇²V∇V dt +
    √(c_n Σ) dW: (η/2, η) for SGD, (η(1 + β)/(2(1 − β)³), η/(1 − β)²) for heavy-ball
    SGD (derived in :func:`symnoether.core.rules.sgd_momentum`).

    Examples
    --------
    >>> import sympy as sp
    >>> from symnoether.core import rules
    >>> eta, beta = sp.symbols("eta beta", positive=True)
    >>> sme_coefficients(rules.sgd(eta))
    (eta/2, eta)
    >>> sme_coefficients(rules.sgd_momentum(eta, sp.Rational(1, 2)))
    (6*eta, 4*eta)
    """
    eta = rule.lr
    beta = sp.S.Zero if rule.beta is None else rule.beta
    return eta * (1 + beta) / (2 * (1 - beta) ** 3), eta / (1 - beta) ** 2


def _tidy(expr: sp.Expr) -> sp.Expr:
    check()
    expanded = sp.expand(expr)
    if expanded == 0 or is_zero(expanded):
        return sp.S.Zero
    return readable(expanded)


def _require_sgd(system: object) -> object:
    rule = getattr(system, "rule", None)
    if not getattr(rule, "stochastic", False) or not getattr(system, "samples", ()):
        raise InvalidRuleError(
            "the gradient-noise covariance needs a minibatch SGD system: build it with "
            "rule=sn.rules.sgd(eta, batch_size=B) and dataset={x: [...], ...}"
        )
    return rule
