r"""Learning rules as Lagrangians, and regularizers.

A learning rule is modelled, by modified-equation analysis with time t = k·η,
as the damped Lagrangian system

    L = e^{t/τ} ( ½ q̇ᵀ M q̇ − V(q) ),
    Euler–Lagrange:  M q̈ + (Ṁ − ½ ∂_q(q̇ᵀMq̇)) q̇ + (1/τ) M q̇ + ∇V = 0.

Derivation (Kunin et al. 2021 [2]_, Sec. 5; Tanaka & Kunin 2021 [1]_, Sec. 3). Expand
the discrete iterates in Taylor series about t = kη:
q_{k±1} = q ± η q̇ + (η²/2) q̈ + O(η³).

* Gradient descent q_{k+1} = q_k − η∇V(q_k): η q̇ + (η²/2) q̈ = −η∇V, i.e.
  (η/2) q̈ + q̇ = −∇V + O(η²): mass M = (η/2)·I and M/τ = I, so τ = η/2.
* Heavy ball q_{k+1} = q_k − η∇V + β(q_k − q_{k−1}):
  (ηq̇ + η²q̈/2) − β(ηq̇ − η²q̈/2) = −η∇V, i.e.
  (η(1+β)/2) q̈ + (1−β) q̇ = −∇V: M = (η(1+β)/2)·I, τ = η(1+β)/(2(1−β)).
* Preconditioned q_{k+1} = q_k − ηG⁻¹∇V: (η/2) G q̈ + G q̇ = −∇V:
  M = (η/2)·G, τ = η/2. For a state-dependent G(q) the Euler–Lagrange
  equations add (η/2)(Ġ q̇ − ½∂_q(q̇ᵀGq̇)), a term of the same order O(η) as the
  inertia, which the modified equation does not have: the Lagrangian then
  models the optimizer to O(η) only (``modified_equation_order`` = 1).
* Gradient flow q̇ = −G⁻¹∇V is the first-order limit η → 0 (no Lagrangian).
* Weight decay λ adds (λ/2)|q|² to the potential: the discrete update
  q_{k+1} = (1 − ηλ) q_k − η∇V(q_k) is gradient descent on V + (λ/2)|q|².

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
   Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716.
.. [2] D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
   "Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
   Dynamics", ICLR 2021, arXiv:2012.04728.

Examples
--------
>>> import sympy as sp
>>> from symnoether import rules
>>> eta, beta = sp.symbols("eta beta", positive=True)
>>> rule = rules.momentum(eta, beta)
>>> rule.mass_scale, rule.tau
(eta*(beta + 1)/2, eta*(beta + 1)/(2 - 2*beta))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sympy as sp

from ..errors import InvalidRuleError

__all__ = [
    "LearningRule",
    "WeightDecay",
    "gradient_flow",
    "gradient_descent",
    "momentum",
    "preconditioned",
    "sgd",
    "sgd_momentum",
    "weight_decay",
]


@dataclass(frozen=True)
class LearningRule:
    """A learning rule: its discrete update and the Lagrangian that models it.

    Build one with :func:`gradient_flow`, :func:`gradient_descent`,
    :func:`momentum` or :func:`preconditioned` rather than directly.

    Attributes
    ----------
    name : str
        ``'gradient_flow'``, ``'gradient_descent'``, ``'momentum'`` or
        ``'preconditioned'``.
    update : str
        The discrete update (or flow) the rule stands for, in plain text.
    lr : sympy expression or None
        Step size η (None for gradient flow).
    beta : sympy expression or None
        Heavy-ball momentum β (None unless ``name == 'momentum'``).
    preconditioner : ImmutableMatrix, sympy expression or None
        G of the update q_{k+1} = q_k − ηG⁻¹∇V (None means the identity).

    Examples
    --------
    >>> import sympy as sp
    >>> eta = sp.Symbol("eta", positive=True)
    >>> gradient_descent(eta).tau
    eta/2
    """

    name: str
    update: str
    lr: sp.Expr | None = None
    beta: sp.Expr | None = None
    preconditioner: sp.ImmutableMatrix | sp.Expr | None = None
    coordinates: tuple[sp.Symbol, ...] | None = field(default=None, repr=False)
    batch_size: int | None = None
    replacement: bool = True

    @property
    def stochastic(self) -> bool:
        """True for minibatch SGD, plain or heavy-ball (laws about first-order charges)."""
        return self.name in ("sgd", "sgd_momentum")

    @property
    def order(self) -> int:
        """1 for gradient flow (M q̇ = −∇V) and SGD (no velocity under noise), 2 for
        the finite-step deterministic rules."""
        return 1 if self.name in ("gradient_flow", "sgd", "sgd_momentum") else 2

    @property
    def mass_scale(self) -> sp.Expr:
        """The scalar factor m of the mass M = m·G (1 for gradient flow's and SGD's
        metric, 1 − β for heavy-ball SGD's: (1 − β) q̇ = −∇V, see :func:`sgd_momentum`)."""
        if self.name in ("gradient_flow", "sgd"):
            return sp.S.One
        if self.name == "sgd_momentum":
            return 1 - self.beta
        if self.name == "momentum":
            return self.lr * (1 + self.beta) / 2
        return self.lr / 2

    @property
    def tau(self) -> sp.Expr | None:
        """Damping time τ of L = e^{t/τ}(T − V); None for gradient flow and SGD."""
        if self.name in ("gradient_flow", "sgd", "sgd_momentum"):
            return None
        if self.name == "momentum":
            return self.lr * (1 + self.beta) / (2 * (1 - self.beta))
        return self.lr / 2

    @property
    def modified_equation_order(self) -> int:
        """Order in η to which the Lagrangian reproduces the modified equation.

        2 when the continuous law follows the optimizer up to O(η²) corrections
        (constant metric, possibly holding hyper-parameters), 1 for a
        preconditioner that depends on the coordinates. A rule not yet part of
        a LearningSystem does not know its coordinates and answers 1 for any
        symbolic G (the system's copy, ``system.rule``, knows).
        """
        metric = self.preconditioner
        if not isinstance(metric, sp.MatrixBase | sp.Expr) or not metric.free_symbols:
            return 2
        if self.coordinates is None:
            return 1
        return 1 if metric.free_symbols & set(self.coordinates) else 2

    def mass_matrix(self, coords: Sequence[sp.Symbol]) -> sp.ImmutableMatrix:
        """The mass (metric) matrix M over ``coords``.

        Examples
        --------
        >>> import sympy as sp
        >>> q = sp.symbols("q1 q2", real=True)
        >>> gradient_descent(sp.Rational(1, 10)).mass_matrix(q)
        Matrix([
        [1/20,    0],
        [   0, 1/20]])
        """
        n = len(coords)
        metric = self.preconditioner
        if metric is None:
            metric = sp.eye(n)
        elif not isinstance(metric, sp.MatrixBase):
            metric = metric * sp.eye(n)
        elif metric.shape != (n, n):
            raise InvalidRuleError(
                f"preconditioner G has shape {metric.shape[0]}×{metric.shape[1]} but the "
                f"system has {n} coordinates; pass an {n}×{n} matrix, or a scalar"
            )
        return sp.ImmutableMatrix(self.mass_scale * metric)

    def __str__(self) -> str:
        return f"{self.name}: {self.update}"


@dataclass(frozen=True)
class WeightDecay:
    """The regularizer (λ/2)|q|² over all coordinates, or those in ``on``.

    Examples
    --------
    >>> import sympy as sp
    >>> q1, q2 = sp.symbols("q1 q2", real=True)
    >>> weight_decay(sp.Symbol("lambda", positive=True)).potential((q1, q2))
    lambda*(q1**2 + q2**2)/2
    """

    strength: sp.Expr
    on: tuple[sp.Symbol, ...] | None = None

    name = "weight_decay"

    def potential(self, coords: Sequence[sp.Symbol]) -> sp.Expr:
        """The term (λ/2) Σ q_i² added to the loss."""
        decayed = coords if self.on is None else self.on
        return self.strength * sp.Add(*[q**2 for q in decayed]) / 2

    def __str__(self) -> str:
        where = "" if self.on is None else f" on {', '.join(map(str, self.on))}"
        return f"weight decay λ = {self.strength}{where}"


def gradient_flow(metric: sp.Matrix | sp.Expr | None = None) -> LearningRule:
    """Gradient flow q̇ = −G⁻¹∇V, the first-order limit of every rule.

    No inertia and no Lagrangian: Noether charges are first-order (the
    potential of Mψ) and equations of motion read G q̇ = −∇V.

    Parameters
    ----------
    metric : sympy Matrix or scalar, optional
        The metric G (identity when omitted).

    Examples
    --------
    >>> gradient_flow().order
    1
    """
    return LearningRule(
        name="gradient_flow",
        update="q̇ = −G⁻¹∇V(q)" if metric is not None else "q̇ = −∇V(q)",
        preconditioner=_metric(metric),
    )


def gradient_descent(lr: sp.Expr | float) -> LearningRule:
    """Gradient descent q_{k+1} = q_k − η∇V(q_k).

    Lagrangian (modified equation, t = kη): M = (η/2)·I, τ = η/2, i.e.
    (η/2) q̈ + q̇ = −∇V + O(η²).

    Parameters
    ----------
    lr : positive number or sympy expression
        The step size η.

    References
    ----------
    Kunin et al. (2021), Neural Mechanics, Sec. 5; Tanaka & Kunin (2021), Eq. 8.

    Examples
    --------
    >>> import sympy as sp
    >>> rule = gradient_descent(sp.Symbol("eta", positive=True))
    >>> rule.mass_scale, rule.tau
    (eta/2, eta/2)
    """
    return LearningRule(
        name="gradient_descent",
        update="q_{k+1} = q_k − η∇V(q_k)",
        lr=_positive(lr, "learning rate lr", "0.01"),
    )


def momentum(lr: sp.Expr | float, beta: sp.Expr | float) -> LearningRule:
    """Heavy-ball momentum q_{k+1} = q_k − η∇V(q_k) + β(q_k − q_{k−1}).

    Lagrangian: M = (η(1+β)/2)·I, τ = η(1+β)/(2(1−β)), i.e.
    (η(1+β)/2) q̈ + (1−β) q̇ = −∇V + O(η²).

    Parameters
    ----------
    lr : positive number or sympy expression
        The step size η.
    beta : number in [0, 1) or sympy expression
        The momentum coefficient β.

    References
    ----------
    Kunin et al. (2021), Neural Mechanics, Sec. 5 and Appendix;
    Tanaka & Kunin (2021), Sec. 3.

    Examples
    --------
    >>> rule = momentum(0.1, 0.9)
    >>> round(float(rule.tau), 6)
    0.95
    """
    return LearningRule(
        name="momentum",
        update="q_{k+1} = q_k − η∇V(q_k) + β(q_k − q_{k−1})",
        lr=_positive(lr, "learning rate lr", "0.01"),
        beta=_momentum_coefficient(beta),
    )


def preconditioned(lr: sp.Expr | float, G: sp.Matrix | sp.Expr) -> LearningRule:
    """Preconditioned gradient descent q_{k+1} = q_k − ηG⁻¹∇V(q_k).

    Lagrangian: M = (η/2)·G, τ = η/2. G may depend on the coordinates; the
    Lagrangian then models the optimizer to first order in η only (see the
    module docstring and :attr:`LearningRule.modified_equation_order`).

    Parameters
    ----------
    lr : positive number or sympy expression
        The step size η.
    G : symmetric sympy Matrix, or a positive scalar (times the identity)

    Examples
    --------
    >>> import sympy as sp
    >>> rule = preconditioned(sp.Rational(1, 10), sp.diag(1, 4))
    >>> rule.mass_matrix(sp.symbols("a b"))
    Matrix([
    [1/20,   0],
    [   0, 1/5]])
    """
    return LearningRule(
        name="preconditioned",
        update="q_{k+1} = q_k − ηG⁻¹∇V(q_k)",
        lr=_positive(lr, "learning rate lr", "0.01"),
        preconditioner=_metric(G),
    )


def sgd(lr: sp.Expr | float, batch_size: int = 1, *, replacement: bool = True) -> LearningRule:
    """Minibatch SGD θ_{k+1} = θ_k − (η/B) Σ_{i∈batch} ∇ℓ_i(θ_k) on a finite dataset.

    Needs ``LearningSystem(..., dataset=...)``: the system's ``loss`` is then the
    per-sample loss ℓ and the training loss V its dataset mean. Continuous model
    (stochastic modified equation, t = kη; Li, Tai and E 2017):
    dθ = −∇(V + (η/4)‖∇V‖²) dt + √(ηΣ) dW with the gradient-noise covariance
    Σ(θ) = (1/B)(mean ∇ℓ∇ℓᵀ − ∇V∇Vᵀ) for batches drawn with replacement, times
    (N − B)/(N − 1) without (:func:`symnoether.core.stochastic.noise_covariance`).
    Under noise there is no velocity: Noether laws are about first-order charges.

    Parameters
    ----------
    lr : positive number or sympy expression
        The step size η.
    batch_size : int
        B ≥ 1 (at most the dataset size N when ``replacement`` is False).
    replacement : bool
        Draw the B samples of a batch with replacement (default) or without.

    References
    ----------
    Q. Li, C. Tai and W. E, "Stochastic modified equations and adaptive stochastic
    gradient algorithms", ICML 2017, arXiv:1511.06251.

    Examples
    --------
    >>> import sympy as sp
    >>> rule = sgd(sp.Symbol("eta", positive=True), batch_size=2)
    >>> rule.order, rule.batch_size, rule.replacement
    (1, 2, True)
    """
    how = _batching(batch_size, replacement)
    return LearningRule(
        name="sgd",
        update=f"q_{{k+1}} = q_k − (η/B) Σ_batch ∇ℓ_i(q_k), B = {batch_size} drawn {how} "
        "replacement",
        lr=_positive(lr, "learning rate lr", "0.01"),
        batch_size=batch_size,
        replacement=replacement,
    )


def sgd_momentum(
    lr: sp.Expr | float, beta: sp.Expr | float, batch_size: int = 1, *, replacement: bool = True
) -> LearningRule:
    r"""Heavy-ball minibatch SGD θ_{k+1} = θ_k − η ĝ_k + β(θ_k − θ_{k−1}).

    ĝ_k = (1/B) Σ_{i∈batch} ∇ℓ_i(θ_k) (plus the regularizers' exact gradient), batches
    drawn as for :func:`sgd`; needs ``LearningSystem(..., dataset=...)``.

    Continuous model (t = kη; derived in :mod:`symnoether.core.stochastic`): SGD's drift
    scaled by 1/(1 − β) and its noise covariance by 1/(1 − β)²,

        dθ = −(1/(1 − β)) ∇Ṽ dt + (1/(1 − β)) √(ηΣ) dW,
        Ṽ = V + η(1 + β)/(4(1 − β)²) ‖∇V‖²,

    i.e. gradient flow with the metric (1 − β)·I: the charge of ψ is the potential of
    (1 − β)ψ, and its expected rate has the noise drift (η/(2(1 − β)²)) tr(Σ∇²Q).

    Parameters
    ----------
    lr : positive number or sympy expression
        The step size η.
    beta : number in [0, 1) or sympy expression
        The momentum coefficient β (0 is plain SGD).
    batch_size : int
        B ≥ 1 (at most the dataset size N when ``replacement`` is False).
    replacement : bool
        Draw the B samples of a batch with replacement (default) or without.

    References
    ----------
    Q. Li, C. Tai and W. E, "Stochastic modified equations and dynamics of stochastic
    gradient algorithms I: mathematical foundations", JMLR 20 (2019), arXiv:1811.01558
    (SMEs of SGD and of momentum SGD). D. Kunin et al., "Rethinking the limiting
    dynamics of SGD: modified loss, phase space oscillations, and anomalous diffusion",
    arXiv:2107.09133 (2021) (heavy-ball SGD: effective step η/(1 − β), noise covariance
    amplified by 1/(1 − β)²). A. Ghosh, H. Lyu, X. Zhang and R. Wang, "Implicit
    regularization in heavy-ball momentum accelerated stochastic gradient descent",
    ICLR 2023, arXiv:2302.00849 (the modified loss of heavy ball).

    Examples
    --------
    >>> import sympy as sp
    >>> eta, beta = sp.symbols("eta beta", positive=True)
    >>> rule = sgd_momentum(eta, beta, batch_size=4)
    >>> rule.order, rule.mass_scale, rule.stochastic
    (1, 1 - beta, True)
    """
    how = _batching(batch_size, replacement)
    return LearningRule(
        name="sgd_momentum",
        update=f"q_{{k+1}} = q_k − (η/B) Σ_batch ∇ℓ_i(q_k) + β(q_k − q_{{k−1}}), B = "
        f"{batch_size} drawn {how} replacement",
        lr=_positive(lr, "learning rate lr", "0.01"),
        beta=_momentum_coefficient(beta),
        batch_size=batch_size,
        replacement=replacement,
    )


def _batching(batch_size: object, replacement: object) -> str:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidRuleError(
            f"batch_size = {batch_size!r} is not a positive integer; pass the number of "
            "samples per minibatch, e.g. batch_size=1"
        )
    if not isinstance(replacement, bool):
        raise InvalidRuleError(f"replacement = {replacement!r} is not True or False")
    return "with" if replacement else "without"


def weight_decay(lam: sp.Expr | float, on: Iterable | None = None) -> WeightDecay:
    """Weight decay: the regularizer (λ/2)|q|² added to the loss.

    The discrete update q_{k+1} = (1 − ηλ)q_k − η∇V(q_k) is gradient descent
    on V + (λ/2)|q|², so the rule's Lagrangian is unchanged and the potential
    gains (λ/2)|q|².

    Parameters
    ----------
    lam : positive number or sympy expression
        The decay strength λ.
    on : iterable of coordinate Symbols or Matrices, optional
        Decay only these coordinates (default: all).

    Examples
    --------
    >>> weight_decay(0.001).strength
    0.00100000000000000
    """
    decayed = None
    if on is not None:
        decayed = tuple(_flatten_symbols(on))
    return WeightDecay(strength=_positive(lam, "weight decay lam", "1e-4"), on=decayed)


def _flatten_symbols(items: Iterable) -> list:
    if isinstance(items, sp.Basic) and not isinstance(items, sp.MatrixBase):
        items = [items]
    flat = []
    for item in items:
        if isinstance(item, sp.MatrixBase):
            flat.extend(item)
        else:
            flat.append(item)
    for item in flat:
        if not isinstance(item, sp.Symbol | sp.MatrixSymbol):
            raise InvalidRuleError(
                f"weight_decay(on=...) got {item!r}, which is not a coordinate Symbol; "
                "pass the coordinates (or coordinate matrices, or MatrixSymbol layers) to decay"
            )
    return flat


def _hyperparameter(value: object, name: str, example: str) -> sp.Expr:
    if isinstance(value, bool) or not isinstance(value, int | float | sp.Expr):
        raise InvalidRuleError(
            f"{name} = {value!r} is a {type(value).__name__}, not a number or SymPy "
            f"expression; pass e.g. {example} or sympy.Symbol('eta', positive=True)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRuleError(f"{name} = {value} is not finite; pass e.g. {example}")
    expr = sp.sympify(value)
    if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InvalidRuleError(f"{name} = {value} is not finite; pass e.g. {example}")
    return expr


def _positive(value: object, name: str, example: str) -> sp.Expr:
    expr = _hyperparameter(value, name, example)
    if expr.is_positive is False or (expr.is_number and not expr.is_positive):
        raise InvalidRuleError(
            f"{name} = {value} is not positive; pass a positive step size such as {example}"
            if name.startswith("learning rate")
            else f"{name} = {value} is not positive; pass a positive value such as {example}"
        )
    return expr


def _momentum_coefficient(value: object) -> sp.Expr:
    expr = _hyperparameter(value, "momentum beta", "0.9")
    below_zero = expr.is_negative is True
    at_least_one = (expr - 1).is_nonnegative is True
    if below_zero or at_least_one:
        raise InvalidRuleError(
            f"momentum beta = {value} is outside [0, 1); heavy-ball momentum needs "
            "0 ≤ β < 1 (β = 0 is plain gradient descent), e.g. 0.9"
        )
    return expr


def _definitely_indefinite(G: sp.MatrixBase) -> bool:
    """True when G is provably not positive definite (even if symbolic)."""
    if any(d.is_positive is False or (d.is_number and not d.is_positive) for d in G.diagonal()):
        return True
    return not G.free_symbols and G.is_positive_definite is False


def _metric(G: object) -> sp.ImmutableMatrix | sp.Expr | None:
    if G is None:
        return None
    if isinstance(G, sp.MatrixBase):
        if any(sp.sympify(entry).has(sp.nan, sp.zoo, sp.oo, -sp.oo) for entry in G):
            raise InvalidRuleError(
                "preconditioner G has a non-finite entry (nan or oo); pass finite entries"
            )
        if G.shape[0] != G.shape[1]:
            raise InvalidRuleError(
                f"preconditioner G has shape {G.shape[0]}×{G.shape[1]}; it must be square"
            )
        if not (G - G.T).is_zero_matrix:
            raise InvalidRuleError(
                "preconditioner G is not symmetric; the kinetic term ½q̇ᵀGq̇ sees only "
                "its symmetric part, so pass (G + G.T)/2 if that is what you mean"
            )
        if G.det() == 0:
            raise InvalidRuleError(
                "preconditioner G is singular (det G = 0); the update q − ηG⁻¹∇V needs "
                "an invertible, positive-definite G"
            )
        if _definitely_indefinite(G):
            raise InvalidRuleError(
                f"preconditioner G = {G.tolist()} is not positive definite; "
                "a metric must be, e.g. a diagonal of positive step scales"
            )
        return sp.ImmutableMatrix(G)
    return _positive(G, "preconditioner G", "2")
