"""Minibatch SGD: the noise covariance, the stochastic Noether law of a first-order charge,
and the exact one-step expectation of SGD against the expected rate.

Expected forms are derived by hand below. The scalar pair ℓ = (y − u w x)²/2 has
∇ℓ_i = −a_i (w, u) with a_i = (y_i − u w x_i) x_i, so with ā the dataset mean of a_i

    Σ = (1/B) Var(a) (w, u)(w, u)ᵀ,   Var(a) = mean a² − ā²,

(times (N − B)/(N − 1) without replacement). For the rescaling ψ = (u, −w),
Q = ½(u² − w²), ∇²Q = diag(1, −1): noise drift (η/2)(Σ_uu − Σ_ww) =
(η/2)(Var(a)/B)(w² − u²), and ∇Q = (u, −w) ⟂ (w, u): no diffusion.

Reference: Ziyin, Li and Ueda, "Law of balance and stationary distribution of stochastic
gradient descent" (2023), arXiv:2308.06671 — the law of balance for rescaling.
"""

from __future__ import annotations

import itertools

import pytest
import sympy as sp

import symnoether as sn
from symnoether.core.stochastic import noise_covariance, stochastic_terms
from symnoether.errors import (
    InvalidDatasetError,
    InvalidRuleError,
    NoFirstOrderChargeError,
    NotSupportedError,
)

eta, lam = sp.symbols("eta lam", positive=True)
x, y = sn.data("x y")
u, w = sn.coordinates("u w")
w1, w2 = sn.coordinates("w1 w2")
PAIR = (y - u * w * x) ** 2 / 2
HALF = sp.Rational(1, 2)


def pair(dataset, **rule):
    return sn.LearningSystem(
        (u, w), PAIR, rule=sn.rules.sgd(eta, **rule), data=(x, y), dataset=dataset
    )


def same(a, b) -> bool:
    return sp.expand(a - b) == 0


# -- the rescale noise drift, by hand -------------------------------------------------


def test_two_point_rescale_drift_and_covariance():
    # x = (1, 2), y = (0, 1): a_1 = −uw, a_2 = 2(1 − 2uw) = 2 − 4uw;
    # with two points Var(a) = ((a_1 − a_2)/2)² = ((3uw − 2)/2)².
    system = pair({x: [1, 2], y: [0, 1]})
    var = (3 * u * w - 2) ** 2 / 4
    expected = var * sp.Matrix([[w**2, u * w], [u * w, u**2]])
    assert (noise_covariance(system) - expected).applyfunc(sp.expand).is_zero_matrix
    law = sn.noether(system, (u, -w))
    assert same(law.charge, (u**2 - w**2) / 2)
    assert same(law.noise_drift, eta / 2 * var * (w**2 - u**2))
    assert law.noise_diffusion == 0


def test_three_point_rescale_drift_with_and_without_replacement():
    # x = (1/2, −1, 3), y = (2, 1, −1), p = uw:
    # a = (1 − p/4, −1 − p, −3 − 9p), ā = −1 − 41p/12, deviations
    # (2 + 19p/6, 29p/12, −2 − 67p/12) (they sum to 0); squares summed:
    # 8 + 35p + 1129p²/24, so Var(a) = 8/3 + 35p/3 + 1129p²/72.
    p = u * w
    var = sp.Rational(8, 3) + sp.Rational(35, 3) * p + sp.Rational(1129, 72) * p**2
    samples = {x: [HALF, -1, 3], y: [2, 1, -1]}
    with_replacement = sn.noether(pair(samples), (u, -w))
    assert same(with_replacement.noise_drift, eta / 2 * var * (w**2 - u**2))
    # B = 2 of N = 3 without replacement: Σ = (Var/2)·(3 − 2)/(3 − 1) = Var/4.
    without = sn.noether(pair(samples, batch_size=2, replacement=False), (u, -w))
    assert same(without.noise_drift, eta / 2 * var / 4 * (w**2 - u**2))
    assert with_replacement.noise_diffusion == 0 == without.noise_diffusion
    # a per-sample symmetry: the loss part of the rate is exactly 0
    assert with_replacement.loss_breaking == 0


def test_rate_is_the_sum_of_its_terms_with_weight_decay():
    # finite step −(η/2)∇Qᵀ∇²V∇V, V = mean ℓ + (λ/2)(u² + w²): computed here from V.
    system = sn.LearningSystem(
        (u, w), PAIR, rule=sn.rules.sgd(eta), data=(x, y),
        dataset={x: [1, 2], y: [0, 1]}, regularizers=[sn.rules.weight_decay(lam)],
    )  # fmt: skip
    V = ((0 - u * w) ** 2 + (1 - 2 * u * w) ** 2) / 4 + lam * (u**2 + w**2) / 2
    gradV = sp.Matrix([V.diff(u), V.diff(w)])
    gradQ = sp.Matrix([u, -w])
    law = sn.noether(system, (u, -w))
    assert same(law.kinetic_breaking, -eta / 2 * (gradQ.T * sp.hessian(V, (u, w)) * gradV)[0])
    assert same(law.regularizer_breaking, -lam * (u**2 - w**2))
    var = (3 * u * w - 2) ** 2 / 4
    assert same(law.noise_drift, eta / 2 * var * (w**2 - u**2))
    assert same(law.rate, law.kinetic_breaking + law.potential_breaking + law.noise_drift)
    assert not law.conserved
    assert law.broken_by == ("finite step", "weight decay", "SGD noise")
    text = str(law)
    assert "noise drift" in text and "noise diffusion" in text and "E[dQ]/dt" in text
    latex = law._repr_latex_()
    assert r"\mathbb{E}[dQ]/dt" in latex and "noise drift" in latex


# -- a symmetry of the mean loss only: the charge diffuses ---------------------------


def test_mean_only_symmetry_has_nonzero_diffusion():
    # ℓ = (w1 w2 − 1)²/2 + x (w1² − w2²), x ∈ {−1, 1}: V = (w1 w2 − 1)²/2 is invariant
    # under ψ = (w1, −w2), no single ℓ_i is. ∇ℓ_i = ∇V + 2x_i (w1, −w2), mean x² = 1, so
    # Σ = 4 (w1, −w2)(w1, −w2)ᵀ; Q = (w1² − w2²)/2, ∇Q = (w1, −w2):
    # diffusion η·4(w1² + w2²)², drift (η/2)·4(w1² − w2²).
    loss = (w1 * w2 - 1) ** 2 / 2 + x * (w1**2 - w2**2)
    system = sn.LearningSystem(
        (w1, w2), loss, rule=sn.rules.sgd(eta), data=(x,), dataset={x: [-1, 1]}
    )
    law = sn.noether(system, (w1, -w2))
    assert law.loss_breaking == 0  # a symmetry of the training loss V
    assert same(law.noise_diffusion, 4 * eta * (w1**2 + w2**2) ** 2)
    assert same(law.noise_drift, 2 * eta * (w1**2 - w2**2))
    assert not law.conserved


# -- the exact one-step expectation of SGD ---------------------------------------------


def one_step_expectation(system, Q, point, replacement, batch):
    """E[Q(θ_{k+1}) − Q(θ_k) | θ_k = point] by averaging over every minibatch."""
    coords = system.coords
    grads = [sp.Matrix([system.loss.subs(s).diff(q) for q in coords]) for s in system.samples]
    regularizer = system.potential - system.training_loss
    grad_r = sp.Matrix([regularizer.diff(q) for q in coords])
    n = len(grads)
    if replacement:
        batches = list(itertools.product(range(n), repeat=batch))
    else:
        batches = list(itertools.combinations(range(n), batch))
    theta = sp.Matrix(coords)
    total = 0
    for chosen in batches:
        step = sum((grads[i] for i in chosen), sp.zeros(len(coords), 1)) / batch + grad_r
        moved = theta - eta * step
        total += Q.subs(dict(zip(coords, moved, strict=True)), simultaneous=True) - Q
    return sp.expand((total / len(batches)).subs(point))


@pytest.mark.parametrize(("replacement", "batch"), [(True, 1), (True, 2), (False, 2)])
def test_one_step_expectation_matches_rate_to_order_eta(replacement, batch):
    # For quadratic Q (Hessian H), Δ = −η(ĝ + ∇R) with E ĝ = ∇V, Cov ĝ = Σ:
    #   E[ΔQ] = −η∇Q·∇V + (η²/2)(∇VᵀH∇V + tr(HΣ))   (exact), while the SDE rate is
    #   −∇Q·∇V − (η/2)∇Qᵀ∇²V∇V + (η/2)tr(ΣH), so
    #   E[ΔQ]/η − rate = (η/2)(∇VᵀH∇V + ∇Qᵀ∇²V∇V)  exactly: O(η).
    system = sn.LearningSystem(
        (u, w), PAIR, rule=sn.rules.sgd(eta, batch, replacement=replacement), data=(x, y),
        dataset={x: [HALF, -1, 3], y: [2, 1, -1]}, regularizers=[sn.rules.weight_decay(lam)],
    )  # fmt: skip
    law = sn.noether(system, (u, -w))
    point = {u: sp.Rational(3, 5), w: sp.Rational(-2, 7), lam: sp.Rational(1, 10)}
    exact = one_step_expectation(system, law.charge, point, replacement, batch)
    V, Q = system.potential, law.charge
    gradV = sp.Matrix([V.diff(q) for q in (u, w)])
    gradQ = sp.Matrix([Q.diff(q) for q in (u, w)])
    correction = (
        eta
        / 2
        * (gradV.T * sp.hessian(Q, (u, w)) * gradV + gradQ.T * sp.hessian(V, (u, w)) * gradV)[0]
    )
    mismatch = sp.expand(exact / eta - law.rate.subs(point))
    assert sp.expand(mismatch - correction.subs(point)) == 0
    assert mismatch != 0  # the noise drift is needed: without it the identity fails
    assert sp.expand(exact / eta - (law.rate - law.noise_drift).subs(point) - mismatch) != 0
    # the mismatch shrinks ∝ η
    small, smaller = (abs(float(mismatch.subs(eta, h))) for h in (0.1, 0.05))
    assert small / smaller == pytest.approx(2, rel=1e-9)


def test_stochastic_terms_of_a_quadratic_charge():
    # ℓ = (w − x)²/2, x ∈ {−1, 1}: ∇ℓ = w − x, ∇V = w, Σ = mean x² = 1; Q = w²/2:
    # drift η/2, diffusion η w², finite step −(η/2)·w·1·w.
    (v,) = sn.coordinates("v")
    system = sn.LearningSystem(
        (v,), (v - x) ** 2 / 2, rule=sn.rules.sgd(eta), data=(x,), dataset={x: [-1, 1]}
    )
    terms = stochastic_terms(system, v**2 / 2)
    assert terms.noise_drift == eta / 2
    assert same(terms.noise_diffusion, eta * v**2)
    assert same(terms.finite_step, -eta * v**2 / 2)


def test_symbolic_dataset_values():
    # x = (a, −a): ∇ℓ = w − x, Σ = a² (batch 1, with replacement)
    a = sp.Symbol("a", positive=True)
    (v,) = sn.coordinates("v")
    system = sn.LearningSystem(
        (v,), (v - x) ** 2 / 2, rule=sn.rules.sgd(eta), data=(x,), dataset={x: [a, -a]}
    )
    assert noise_covariance(system) == sp.Matrix([[a**2]])


def test_gradient_descent_laws_have_no_noise_terms():
    system = sn.LearningSystem(
        (u, w), PAIR, rule=sn.rules.gradient_flow(), data=(x, y), dataset={x: [1], y: [2]}
    )
    law = sn.noether(system, (u, -w))
    assert law.noise_drift == 0 == law.noise_diffusion
    assert law.conserved


# -- bad input -------------------------------------------------------------------------


def test_sgd_without_a_dataset():
    with pytest.raises(InvalidDatasetError, match="rules.sgd needs a finite training set"):
        sn.LearningSystem((u, w), PAIR, rule=sn.rules.sgd(eta), data=(x, y))


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ({x: [], y: []}, r"dataset\[x\] is empty"),
        ({x: [1, 2], y: [1]}, r"dataset is ragged \(x: 2, y: 1 values\)"),
        ({x: [1, 2]}, "no values for the data symbol y"),
        ({x: [1], y: [1], sp.Symbol("z"): [1]}, "dataset key z is not one of the data symbols"),
        ([1, 2], "dataset is a list"),
        ({x: 1, y: [1]}, r"dataset\[x\] = 1 is not a list"),
        ({x: ["a"], y: [1]}, r"dataset\[x\] holds 'a'"),
        ({x: [float("nan")], y: [1]}, "not finite"),
        ({x: [u], y: [1]}, r"depends on u, a coordinate"),
    ],
)
def test_bad_datasets(dataset, message):
    with pytest.raises(InvalidDatasetError, match=message):
        pair(dataset)


def test_batch_larger_than_the_dataset_without_replacement():
    with pytest.raises(InvalidDatasetError, match=r"batch_size = 3 is larger than the dataset"):
        pair({x: [1, 2], y: [0, 1]}, batch_size=3, replacement=False)
    # with replacement a batch may be larger than the dataset
    assert pair({x: [1, 2], y: [0, 1]}, batch_size=3).rule.batch_size == 3


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_bad_batch_size(batch):
    with pytest.raises(InvalidRuleError, match="batch_size = .* is not a positive integer"):
        sn.rules.sgd(eta, batch_size=batch)


def test_noise_covariance_needs_sgd():
    system = sn.LearningSystem((u, w), PAIR, rule=sn.rules.gradient_flow(), data=(x, y))
    with pytest.raises(InvalidRuleError, match="needs a minibatch SGD system"):
        noise_covariance(system)


def test_no_first_order_charge_under_sgd():
    with pytest.raises(NoFirstOrderChargeError, match="not a gradient field"):
        sn.noether(pair({x: [1, 2], y: [0, 1]}), (-w, u))


def test_a_dataset_system_prints_its_sample_loss_and_training_loss():
    system = pair({x: [1, 2], y: [0, 1]})
    text = str(system)
    assert "sample loss  l = (-u*w*x + y)**2/2" in text
    assert "dataset      2 samples; V = mean of l over them" in text
    latex = system._repr_latex_()
    assert r"\ell &=" in latex and "mean of the 2 samples' loss" in latex
    # V = ((0 − uw)² + (1 − 2uw)²)/4, by hand
    assert same(system.potential, ((u * w) ** 2 + (1 - 2 * u * w) ** 2) / 4)
    assert system.samples == ({x: 1, y: 0}, {x: 2, y: 1})


def test_deterministic_validation_refuses_an_sgd_law():
    system = pair({x: [1, 2], y: [0, 1]})
    law = sn.noether(system, (u, -w))
    with pytest.raises(NotSupportedError, match="expectations over the batch noise"):
        sn.validate(system, law, [0.5, 0.2], params={eta: 0.1}, t_end=1.0, backend="numpy")
