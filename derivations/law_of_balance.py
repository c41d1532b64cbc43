"""Law of balance: SGD noise drives |u|² − |w|² to balance, even without weight decay.

Two-layer networks whose layers meet through a product, f = u·w·x (scalar) or
f = Σ_j u_j w_j x_j (diagonal linear network), trained by minibatch SGD on a finite
dataset. Each unit's rescaling ψ_j = (u_j, −w_j) is a symmetry of every sample's loss
ℓ_i = ½(y_i − f(x_i))², so its charge Q_j = ½(u_j² − w_j²) has no diffusion: it moves
deterministically (the Noether flow). With r_i = y_i − f(x_i) and a_ij = r_i x_ij,
∇_{(u_j, w_j)} ℓ_i = −a_ij (w_j, u_j), so the minibatch covariance is
Σ_j = (Var_i(a_ij)/B)(w_j, u_j)(w_j, u_j)ᵀ and, derived by hand,

    noise drift  (η/2) tr(Σ ∇²Q_j) = (η/2)(Var(a_j)/B)(w_j² − u_j²) = −η (Var(a_j)/B) Q_j,
    finite step  −(η/2)∇Q_jᵀ∇²V∇V = −η (ā_j² + λ²) Q_j

(ψ_j·∇V_ℓ ≡ 0 for the data term V_ℓ gives ∇²V_ℓψ_j = −A_j∇V_ℓ, so
ψ_jᵀ∇²V_ℓ∇V_ℓ = −∇V_ℓᵀA_j∇V_ℓ = 2ā_j²Q_j; weight decay adds λ²ψ_jᵀθ = 2λ²Q_j and
cross terms that vanish). With the weight-decay term −2λQ_j, the expected rate is

    E[dQ_j]/dt = −(η(ā_j² + Var(a_j)/B) + 2λ + ηλ²) Q_j,

which for B = 1 is −(η·mean_i a_ij² + 2λ + ηλ²)Q_j: the imbalance decays even at λ = 0,
driven by the gradient noise, at the rate η·Var(a_j)/B at a minimum of V (where ā_j = 0):
the law of balance of Ziyin, Li and Ueda. The real optimizer obeys the exact identity
Q_{k+1} = ((1 − ηλ)² − η²â_j²) Q_k, â_j the batch mean of a_ij, whose expectation is the
law to O(η²). On the orbit (u e^s, w e^{−s}) the rate vanishes only at Q = 0: the noise
equilibrium is the balanced point |u| = |w| = √|u₀w₀|.

Everything below is derived by symnoether and asserted (the laws and, through
``sn.charge_equation``, their equations for D = u² − w²), and the laws are checked by
Monte Carlo runs of minibatch SGD (``sn.validate_sgd``): run
``python derivations/law_of_balance.py`` for 4096 runs × 2000 steps in numba.

References
----------
L. Ziyin, H. Li and M. Ueda, "Law of balance and stationary distribution of stochastic
gradient descent", 2023, arXiv:2308.06671 (the law of balance). L. Ziyin, M. Wang, H. Li
and L. Wu, "Parameter symmetry and noise equilibrium of stochastic gradient descent",
NeurIPS 2024, arXiv:2402.07193 (Noether flow, noise equilibria). Q. Li, C. Tai and W. E,
"Stochastic modified equations and adaptive stochastic gradient algorithms", ICML 2017
(the continuous model).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether.core import is_zero

ETA, LAM = sp.symbols("eta lambda", positive=True)
X, Y = sn.data("x y")
U, W = sn.coordinates("u w")
SCALAR_DATA = {X: [sp.Rational(1, 2), -1, 3], Y: [2, 1, -1]}
X1, X2 = sn.data("x1 x2")
U1, U2, W1, W2 = sn.coordinates("u1 u2 w1 w2")
DIAGONAL_DATA = {X1: [1, 0, 2, -1], X2: [0, 1, 1, 1], Y: [1, -1, 2, 0]}
MC = {"runs": 64, "steps": 200, "backend": "numpy"}  # the tests' budget; see __main__


def scalar_system(batch: int = 1, decay: bool = True) -> sn.LearningSystem:
    regularizers = [sn.rules.weight_decay(LAM)] if decay else []
    loss = (Y - U * W * X) ** 2 / 2
    return sn.LearningSystem((U, W), loss, rule=sn.rules.sgd(ETA, batch), data=(X, Y),
                             dataset=SCALAR_DATA, regularizers=regularizers)  # fmt: skip


def diagonal_system(batch: int = 2) -> sn.LearningSystem:
    f = U1 * W1 * X1 + U2 * W2 * X2
    return sn.LearningSystem((U1, U2, W1, W2), (Y - f) ** 2 / 2, rule=sn.rules.sgd(ETA, batch),
                             data=(X1, X2, Y), dataset=DIAGONAL_DATA)  # fmt: skip


def _a(samples: list[dict], model: sp.Expr, x: sp.Symbol) -> list[sp.Expr]:
    """a_i = r_i x_i, r_i = y_i − f(x_i), one per sample (by hand from the dataset)."""
    return [(s[Y] - model.subs(s)) * s[x] for s in samples]


def _rows(data: dict) -> list[dict]:
    return [dict(zip(data, row, strict=True)) for row in zip(*data.values(), strict=True)]


def _balance_rate(a: list[sp.Expr], batch: int, decay: sp.Expr) -> sp.Expr:
    """−(η(ā² + Var(a)/B) + 2λ + ηλ²): the hand-derived rate of Q per unit Q."""
    n = len(a)
    mean = sp.Add(*a) / n
    variance = sp.Add(*[v**2 for v in a]) / n - mean**2
    return -(ETA * (mean**2 + variance / batch) + 2 * decay + ETA * decay**2)


def derivation() -> sn.Derivation:
    """Derive the balance laws (scalar and diagonal networks), the noise equilibrium,
    the exact discrete identity, and check the laws by Monte Carlo."""
    system = scalar_system()
    deriv = sn.derive(system, {"rescale": (U, -W)}, title=__doc__.splitlines()[0])
    law = deriv.law("rescale")
    balance = _scalar_law(law, batch=1, decay=LAM)
    free = _scalar_law(sn.noether(scalar_system(decay=False), (U, -W)), batch=1, decay=0)
    batched = _scalar_law(sn.noether(scalar_system(batch=2), (U, -W)), batch=2, decay=LAM)
    diagonal = _diagonal_laws()
    equilibrium = _equilibrium()
    _check_discrete_identity()
    _monte_carlo()
    return (
        deriv.with_result("SGD, B = 1: expected rate of Q", balance)
        .with_result("without weight decay (noise alone balances)", free)
        .with_result("B = 2", batched)
        .with_result("diagonal network, unit 1", diagonal)
        .with_result("noise equilibrium from (u, w) = (2, 1/2)", equilibrium)
    )


def _scalar_law(law: sn.NoetherLaw, *, batch: int, decay) -> sp.Eq:
    """E[dQ]/dt = −(η(ā² + Var(a)/B) + 2λ + ηλ²)Q, no diffusion: the law of balance."""
    assert law.is_symmetry and law.noise_diffusion == 0, "a per-sample symmetry: no noise on Q"
    charge = (U**2 - W**2) / 2
    assert is_zero(law.charge - charge)
    a = _a(_rows(SCALAR_DATA), U * W * X, X)
    rate = _balance_rate(a, batch, decay)
    assert is_zero(law.rate - rate * charge), law.rate
    n = len(a)
    variance = sp.Add(*[v**2 for v in a]) / n - (sp.Add(*a) / n) ** 2
    assert is_zero(law.noise_drift + ETA * variance / batch * charge)
    _check_charge_equation(law, U**2 - W**2, rate, decay)
    q = sp.Function("Q")(sn.TIME)
    return sp.Eq(q.diff(sn.TIME), sp.factor(rate.subs(U * W, sp.Symbol("p"))) * q)


def _check_charge_equation(law: sn.NoetherLaw, quantity: sp.Expr, rate: sp.Expr, decay) -> None:
    """``sn.charge_equation`` writes the law for D = 2Q = u² − w²: with E[dQ]/dt = rate·Q,
    ½D' + λD = (rate + 2λ)·D/2, the weight decay −λD on the left, the rest (finite step and
    noise) a coordinate-dependent multiple of D on the right."""
    found = sn.charge_equation(law)
    D = found.function
    assert found.expected and found.quantity == quantity
    assert sp.expand(found.equation.lhs - (D.diff(sn.TIME) / 2 + decay * D)) == 0
    assert is_zero(found.source - (rate + 2 * decay) * quantity / 2), found.source


def _diagonal_laws() -> sp.Eq:
    """Per unit j of f = u₁w₁x₁ + u₂w₂x₂: E[dQ_j]/dt = −η(ā_j² + Var(a_j)/B)Q_j, no diffusion."""
    system = diagonal_system(batch=2)
    model = U1 * W1 * X1 + U2 * W2 * X2
    rows = _rows(DIAGONAL_DATA)
    results = []
    for u, w, x in ((U1, W1, X1), (U2, W2, X2)):
        generator = [u if q == u else -w if q == w else 0 for q in system.coords]
        law = sn.noether(system, generator)
        charge = (u**2 - w**2) / 2
        assert is_zero(law.charge - charge) and law.noise_diffusion == 0
        rate = _balance_rate(_a(rows, model, x), 2, 0)
        assert is_zero(law.rate - rate * charge), law.rate
        _check_charge_equation(law, u**2 - w**2, rate, 0)
        results.append(rate)
    q = sp.Function("Q_1")(sn.TIME)
    return sp.Eq(q.diff(sn.TIME), sp.factor(results[0]) * q)


def _equilibrium() -> sp.Eq:
    """On the orbit (2e^s, e^{−s}/2) the noise equilibrium is the balanced u = w = 1."""
    system = scalar_system(decay=False)
    law = sn.noether(system, (U, -W))
    found = sn.noise_equilibrium(system, law, {U: 2, W: sp.Rational(1, 2)}, params={ETA: 0.1})
    assert found.exists
    point = found.points[0]
    assert abs(point[U] - 1) < 1e-9 and abs(point[W] - 1) < 1e-9, point
    return sp.Eq(sp.Tuple(U, W), sp.Tuple(1, 1))


def _check_discrete_identity(steps: int = 200) -> None:
    """Q_{k+1} = ((1 − ηλ)² − η²â²)Q_k exactly, â the batch mean of a_i = (y_i − uwx_i)x_i."""
    rng = np.random.default_rng(5)
    xs = np.array([float(v) for v in SCALAR_DATA[X]])
    ys = np.array([float(v) for v in SCALAR_DATA[Y]])
    eta, lam = 0.05, 0.1
    u, w = 1.5, -0.4
    for _ in range(steps):
        batch = rng.integers(0, 3, size=2)
        a = np.mean((ys[batch] - u * w * xs[batch]) * xs[batch])
        before = (u**2 - w**2) / 2
        u, w = (1 - eta * lam) * u + eta * a * w, (1 - eta * lam) * w + eta * a * u
        predicted = ((1 - eta * lam) ** 2 - eta**2 * a**2) * before
        assert abs((u**2 - w**2) / 2 - predicted) <= 1e-12 * (1 + abs(predicted))


def _monte_carlo(**budget) -> list:
    """Minibatch SGD runs against the laws (exact one-step expectation, z-score ≤ 4)."""
    budget = {**MC, **budget}
    reports = []
    system = scalar_system(decay=False)
    law = sn.noether(system, (U, -W))
    report = sn.validate_sgd(system, law, [2.0, 0.5], params={ETA: 0.05}, **budget)
    assert report.passed, report
    assert report.mean_charge[-1] < 0.9 * report.mean_charge[0], "noise balances the layers"
    reports.append(report)
    diagonal = diagonal_system()
    for generator in ((U1, 0, -W1, 0), (0, U2, 0, -W2)):
        law = sn.noether(diagonal, generator)
        report = sn.validate_sgd(diagonal, law, [1.0, 0.8, 0.3, -0.5], params={ETA: 0.05},
                                 **budget)  # fmt: skip
        assert report.passed, report
        reports.append(report)
    return reports


def validation() -> dict:
    """Inputs for ``symnoether run --validate`` and the gallery test."""
    return {"q0": [2.0, 0.5], "params": {"eta": 0.05, "lambda": 0.01}}


if __name__ == "__main__":
    print(derivation())
    for item in _monte_carlo(runs=4096, steps=2000, backend="numba"):
        print(item)
