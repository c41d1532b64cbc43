"""Numerical validation of the laws of reference/RESULTS.md (issue 4).

Sources: Tanaka & Kunin, "Noether's Learning Dynamics" (NeurIPS 2021,
arXiv:2105.02716); Kunin et al., "Neural Mechanics" (ICLR 2021, arXiv:2012.04728).
Expected values are the closed forms and exact discrete identities of those
papers, re-derived in the comments here, or an independent method (a hand-written
gradient, sympy.lambdify). Orders: the Lagrangian of a constant-metric rule models
its optimizer to O(η²) (rules.py), gradient flow models gradient descent to O(η).

Compile time dominates: two systems are compiled with numba (module fixtures);
the other laws run through the NumPy backend, the same generated source.
"""

from __future__ import annotations

import dataclasses
import importlib
import math

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.errors import DivergenceError, InvalidInputError, ValidationFailedError
from symnoether.numerics.validate import validate, validate_discrete

# the module, not sn.validate (the function of the same name shadows it)
validation = importlib.import_module("symnoether.numerics.validate")

eta = sp.Symbol("eta", positive=True)
# β = 0 is gradient descent and λ = 0 no decay: both are declared nonnegative, since a
# value must satisfy its symbol's assumptions (a positive β at 0 is refused)
beta, lam = sp.symbols("beta lam", nonnegative=True)


pytestmark = pytest.mark.usefixtures("isolated_caches")


# -- the rescale pair under heavy ball + weight decay (numba) -------------------
# V = ½(y − w1 w2 x)², ψ = (w1, −w2). β = 0 is gradient descent, λ = 0 no decay.

PAIR = models.scalar_pair()
X, Y = 0.4, 0.5  # small x: slow dynamics, so the charge moves for the whole run


@pytest.fixture(scope="module")
def pair():
    system = PAIR.system(sn.rules.momentum(eta, beta), [sn.rules.weight_decay(lam)])
    law = sn.noether(system, PAIR.generators["rescale"])
    return system, law, validation.compile(system, [law])


def pair_params(step=0.05, momentum=0.0, decay=0.0):
    return {eta: step, beta: momentum, lam: decay, "x": X, "y": Y}


def pair_gradient(w):
    """∇V_loss by hand: ∂V/∂w1 = −(y − w1w2x) w2 x, ∂V/∂w2 = −(y − w1w2x) w1 x."""
    residual = Y - w[..., 0] * w[..., 1] * X
    return np.stack([-residual * w[..., 1] * X, -residual * w[..., 0] * X], axis=-1)


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.0, 0.1), (0.5, 0.1)])
def test_rescale_law_holds_along_trajectories(pair, momentum, decay):
    system, law, kernels = pair
    report = validate(
        system, law, [1.5, 0.3], [0.2, -0.1], params=pair_params(0.05, momentum, decay),
        t_end=20.0, kernels=kernels,
    )  # fmt: skip
    assert report.passed, report
    assert report.max_residual < 1e-7
    assert report.charge.shape == report.predicted.shape == (len(report.t), 1)
    assert report.t[0] == 0.0 and report.t[-1] == 20.0


def test_rk4_agrees(pair):
    system, law, kernels = pair
    report = validate(
        system, law, [1.5, 0.3], params=pair_params(0.05), t_end=5.0, method="rk4",
        dt=0.005, kernels=kernels,
    )  # fmt: skip
    assert report.passed and report.method == "rk4"


@pytest.mark.parametrize("momentum, decay", [(0.0, 0.0), (0.0, 0.1), (0.5, 0.1)])
def test_optimizer_follows_the_law_at_second_order(pair, momentum, decay):
    system, law, kernels = pair
    report = validate_discrete(
        system, law, [1.5, 0.3], params=pair_params(0.05, momentum, decay), steps=400,
        kernels=kernels,
    )  # fmt: skip
    assert report.passed, report
    assert report.expected_order == 2
    # Errors are relative to the charge's own scale (issue 11). Without weight decay
    # the rescale charge of GD is itself O(η) (ψ·q̇ = −ψ·∇V + O(η) and ψ·∇V = 0) and
    # its absolute error O(η³): against the charge that is order 2, as predicted
    # (measured against |q̇||Mψ| instead, it looked like a superconvergent order 3).
    assert abs(report.order - 2) < 0.4, report
    assert report.identity_residual < 1e-12


@pytest.mark.parametrize("decay", [0.0, 0.1])
def test_rescale_exact_discrete_identity(pair, decay):
    """RESULTS.md §3: (|w1|²−|w2|²)_{k+1} = (1−ηλ)²(…)_k + η²(|g1|²−|g2|²), g = ∇V_loss.

    From w_{k+1} = (1−ηλ)w_k − ηg_k and w1g1 − w2g2 = 0 (the symmetry).
    """
    system, law, kernels = pair
    step = 0.05
    report = validate_discrete(
        system, law, [1.5, 0.3], params=pair_params(step, 0.0, decay), steps=200, levels=3,
        kernels=kernels,
    )  # fmt: skip
    w = report.iterates
    charge = w[:, 0] ** 2 - w[:, 1] ** 2
    g = pair_gradient(w[:-1])
    predicted = (1 - step * decay) ** 2 * charge[:-1] + step**2 * (g[:, 0] ** 2 - g[:, 1] ** 2)
    np.testing.assert_allclose(charge[1:], predicted, rtol=0, atol=1e-14)
    assert abs(charge[-1] - charge[0]) > 1e-4  # the identity is not trivially satisfied


def test_flipped_rate_fails(pair):
    """A law whose rate has the wrong sign must fail both validations."""
    system, law, kernels = pair
    wrong = dataclasses.replace(law, kinetic_breaking=-law.kinetic_breaking)
    wrong_kernels = validation.compile(system, [wrong], backend="numpy")
    params = pair_params(0.05, 0.0, 0.1)
    report = validate(system, wrong, [1.5, 0.3], params=params, t_end=20.0, kernels=wrong_kernels)
    assert not report.passed
    assert report.max_residual > 1e-3
    assert "law is wrong" in report.message
    with pytest.raises(ValidationFailedError, match="rate"):
        validate(system, wrong, [1.5, 0.3], params=params, t_end=20.0, kernels=wrong_kernels,
                 throw=True)  # fmt: skip
    discrete = validate_discrete(system, wrong, [1.5, 0.3], params=params, steps=400,
                                 kernels=wrong_kernels)  # fmt: skip
    assert not discrete.passed
    assert discrete.order < 1


def test_state_below_atol_over_rtol_is_judged_against_the_integrators_noise():
    """Gradient flow on V = ½(1 − w1w2)² from q0 = (1e-13, 2e-13), next to the saddle
    at 0: ½(w1² − w2²) is conserved, but atol = 1e-12 bounds the error of q only in
    absolute terms, so relative to |q||Mψ| ≈ 1e-26 round-off once looked like a 1e-4
    violation. A wrong law at a small (but resolved) scale must still fail.

    Before the floor atol·|Mψ| on the scale, the first run failed with residual 1.6e-4."""
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (w1, -w2))
    report = validate(flow, law, [1e-13, 2e-13], t_end=5.0, backend="numpy")
    assert report.passed, report
    gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta))
    right = sn.noether(gd, (w1, -w2))
    wrong = dataclasses.replace(right, kinetic_breaking=-right.kinetic_breaking)
    run = dict(params={eta: 0.1}, t_end=5.0, backend="numpy")
    passed = validate(gd, right, [1e-4, 2e-4], [1e-4, -1e-4], **run)
    failed = validate(gd, wrong, [1e-4, 2e-4], [1e-4, -1e-4], **run)
    assert passed.passed and not failed.passed
    assert failed.max_residual > 1e4 * passed.max_residual


def test_batch_is_parallel_seeded_and_reproducible(pair):
    system, law, kernels = pair
    params = pair_params(0.05, 0.5, 0.1)
    run = dict(params=params, t_end=5.0, kernels=kernels, batch=64, seed=3, spread=0.2)
    first = validate(system, law, [1.5, 0.3], [0.0, 0.0], **run)
    second = validate(system, law, [1.5, 0.3], [0.0, 0.0], **run)
    assert first.passed and first.residuals.shape == (64, 1)
    np.testing.assert_array_equal(first.residuals, second.residuals)
    other = validate(system, law, [1.5, 0.3], [0.0, 0.0], **{**run, "seed": 4})
    assert not np.array_equal(first.residuals, other.residuals)
    # member 0 of an explicit batch equals a single run from the same state
    rng = np.random.default_rng(3)
    q = np.array([1.5, 0.3]) + 0.2 * rng.standard_normal((64, 2))
    single = validate(system, law, q[0], params=params, t_end=5.0, kernels=kernels)
    assert single.residuals[0] == pytest.approx(
        validate(system, law, q[:1], params=params, t_end=5.0, kernels=kernels).residuals[0, 0],
        rel=1e-12,
    )


def test_divergent_optimizer_names_time_and_state(pair):
    system, law, kernels = pair
    with pytest.raises(DivergenceError, match=r"step \d+ .*w1="):
        validate_discrete(system, law, [30.0, 30.0], params=pair_params(5.0), steps=50,
                          kernels=kernels)  # fmt: skip


def test_plot_writes_a_file(pair, tmp_path):
    system, law, kernels = pair
    report = validate(system, law, [1.5, 0.3], params=pair_params(0.05), t_end=2.0,
                      kernels=kernels)  # fmt: skip
    report.plot(tmp_path / "law.png")
    assert (tmp_path / "law.png").stat().st_size > 1000
    assert "PASSED" in str(report) and report._repr_latex_().startswith("$$")


def test_bad_input_is_named(pair):
    system, law, kernels = pair
    with pytest.raises(InvalidInputError, match="missing lam"):
        validate(system, law, [1.0, 1.0], params={eta: 0.1, beta: 0, "x": 1, "y": 1},
                 kernels=kernels)  # fmt: skip
    with pytest.raises(InvalidInputError, match="q0 has shape"):
        validate(system, law, [1.0, 1.0, 1.0], params=pair_params(), kernels=kernels)
    with pytest.raises(InvalidInputError, match="NaN"):
        validate(system, law, [math.nan, 1.0], params=pair_params(), kernels=kernels)


# -- gradient flow: closed forms and order 1 against gradient descent (numpy) ----


@pytest.fixture(scope="module")
def pair_flow():
    system = PAIR.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    law = sn.noether(system, PAIR.generators["rescale"])
    return system, law, validation.compile(system, [law], backend="numpy")


def test_rescale_decays_as_exp_minus_two_lambda_t(pair_flow):
    """RESULTS.md §3: under gradient flow with weight decay, ½(|w1|²−|w2|²) ∝ e^{−2λt}."""
    system, law, kernels = pair_flow
    decay = 0.3
    report = validate(system, law, [1.5, 0.3], params={lam: decay, "x": X, "y": Y},
                      t_end=4.0, kernels=kernels)  # fmt: skip
    assert report.passed
    closed = 0.5 * (1.5**2 - 0.3**2) * np.exp(-2 * decay * report.t)
    np.testing.assert_allclose(report.charge[:, 0], closed, rtol=1e-7)


def test_gradient_descent_approaches_gradient_flow_at_first_order(pair_flow):
    system, law, kernels = pair_flow
    report = validate_discrete(system, law, [1.5, 0.3], params={lam: 0.1, "x": X, "y": Y},
                               lr=0.02, steps=200, kernels=kernels)  # fmt: skip
    assert report.passed and report.expected_order == 1
    assert abs(report.order - 1) < 0.25, report
    assert report.identity_residual < 1e-12


# -- scale symmetry before a normalization (numpy backend) -----------------------


@pytest.fixture(scope="module")
def normalized():
    model = models.normalized_unit(2)
    system = model.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    law = sn.noether(system, model.generators["scale"])
    return model, system, law, validation.compile(system, [law], backend="numpy")


def test_scale_law_continuous_and_discrete(normalized):
    model, system, law, kernels = normalized
    params = {eta: 0.05, lam: 0.05, "x1": 1.0, "x2": 0.3, "y": 0.2}
    report = validate(system, law, [1.0, 0.5], params=params, t_end=10.0, kernels=kernels)
    assert report.passed, report
    discrete = validate_discrete(system, law, [1.0, 0.5], params=params, steps=200,
                                 kernels=kernels)  # fmt: skip
    assert discrete.passed and abs(discrete.order - 2) < 0.4, discrete


def test_scale_exact_identity_with_weight_decay(normalized):
    """RESULTS.md §1: |w_{k+1}|² = (1−ηλ)²|w_k|² + η²|g_k|² (g the loss gradient).

    The gradient comes from sympy.lambdify, independently of codegen.
    """
    model, system, law, kernels = normalized
    step, decay = 0.1, 0.2
    params = {eta: step, lam: decay, "x1": 1.0, "x2": 0.3, "y": 0.2}
    report = validate_discrete(system, law, [1.0, 0.5], params=params, steps=100, levels=3,
                               kernels=kernels)  # fmt: skip
    w = report.iterates
    gradient = sp.lambdify(
        [system.coords, system.data],
        [sp.diff(system.loss, q) for q in system.coords],
    )
    g = np.array([gradient(wk, (1.0, 0.3, 0.2)) for wk in w[:-1]])
    norm = (w**2).sum(axis=1)
    predicted = (1 - step * decay) ** 2 * norm[:-1] + step**2 * (g**2).sum(axis=1)
    np.testing.assert_allclose(norm[1:], predicted, rtol=1e-14)
    assert report.identity_residual < 1e-12


# -- translation symmetry of softmax logits (numpy backend) ----------------------


@pytest.fixture(scope="module")
def softmax():
    model = models.softmax_regression(3, 1)
    translation = model.generators["translation"]
    flow = model.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(lam)])
    gd = model.system(sn.rules.gradient_descent(eta), [sn.rules.weight_decay(lam)])
    flow_law, gd_law = sn.noether(flow, translation), sn.noether(gd, translation)
    return (
        (flow, flow_law, validation.compile(flow, [flow_law], backend="numpy")),
        (gd, gd_law, validation.compile(gd, [gd_law], backend="numpy")),
    )


Q0_SOFTMAX = [0.3, -0.2, 0.1, 0.5, -0.4, 0.2]  # W (3×1), then b


def test_translation_charge_decays_as_exp_minus_lambda_t(softmax):
    """RESULTS.md §2 / Neural Mechanics: ⟨θ(t), 1⟩ = e^{−λt}⟨θ(0), 1⟩ under gradient flow."""
    system, law, kernels = softmax[0]
    report = validate(system, law, Q0_SOFTMAX, params={lam: 0.2, "x1": 1.0}, t_end=5.0,
                      kernels=kernels)  # fmt: skip
    assert report.passed
    np.testing.assert_allclose(report.charge[:, 0], 0.3 * np.exp(-0.2 * report.t), rtol=1e-7)


def test_translation_under_gradient_descent(softmax):
    """Discrete GD with weight decay: 𝟙·b_{k+1} = (1 − ηλ) 𝟙·b_k exactly; order 2 otherwise."""
    system, law, kernels = softmax[1]
    params = {eta: 0.05, lam: 0.2, "x1": 1.0}
    assert validate(system, law, Q0_SOFTMAX, params=params, t_end=5.0, kernels=kernels).passed
    report = validate_discrete(system, law, Q0_SOFTMAX, params=params, steps=200,
                               kernels=kernels)  # fmt: skip
    assert report.passed and abs(report.order - 2) < 0.4, report
    total = report.iterates[:, 3:].sum(axis=1)
    np.testing.assert_allclose(total[1:], (1 - 0.05 * 0.2) * total[:-1], rtol=1e-13)


def test_translation_without_decay_is_exact(softmax):
    """No weight decay: 𝟙·b is conserved exactly by GD, the charge is 0 to round-off."""
    system, law, kernels = softmax[1]
    report = validate_discrete(system, law, Q0_SOFTMAX, params={eta: 0.05, lam: 0.0, "x1": 1.0},
                               steps=100, kernels=kernels)  # fmt: skip
    assert report.passed and math.isnan(report.order)
    assert max(report.errors) < 1e-11


# -- GL(r) of a two-layer linear network (numpy backend) -------------------------


def test_gl_symmetric_charge_conserved_under_gradient_flow():
    """RESULTS.md §4: W1W1ᵀ − W2ᵀW2 conserved; its (1,2) entry is the charge of A = E12 + E21."""
    model = models.linear_network(2, 2, 1)
    flow = model.system(sn.rules.gradient_flow())
    W1, W2 = model.coords
    A = sp.Matrix([[0, 1], [1, 0]])
    law = sn.noether(flow, (A * W1, -W2 * A))
    q0 = [0.5, -0.3, 0.2, 0.8, 0.7, -0.4]
    params = {"x1": 1.0, "x2": 0.5, "y1": 1.0}
    report = validate(flow, law, q0, params=params, t_end=10.0, backend="numpy")
    assert report.passed
    w1 = np.array(q0[:4]).reshape(2, 2)
    w2 = np.array(q0[4:]).reshape(1, 2)
    balance = w1 @ w1.T - w2.T @ w2
    np.testing.assert_allclose(report.charge[:, 0], balance[0, 1], rtol=1e-8)
    discrete = validate_discrete(flow, law, q0, params=params, lr=0.02, steps=200,
                                 backend="numpy")  # fmt: skip
    assert discrete.passed and abs(discrete.order - 1) < 0.25, discrete


def test_gl_antisymmetric_charge_under_gradient_descent():
    """Antisymmetric A: no kinetic breaking, Q_A conserved exactly in continuous time."""
    model = models.linear_network(2, 2, 1)
    gd = model.system(sn.rules.gradient_descent(eta))
    W1, W2 = model.coords
    A = sp.Matrix([[0, 1], [-1, 0]])
    law = sn.noether(gd, (A * W1, -W2 * A))
    assert law.conserved
    q0 = [0.5, -0.3, 0.2, 0.8, 0.7, -0.4]
    params = {eta: 0.05, "x1": 1.0, "x2": 0.5, "y1": 1.0}
    v0 = [0.1, 0.0, -0.2, 0.1, 0.0, 0.3]
    assert validate(gd, law, q0, v0, params=params, t_end=5.0, backend="numpy").passed
    # GD keeps it exactly: ψ_A(q_k)·Δ_k = −ηψ_A·∇V = 0 and Δᵀ(Dψ_A)Δ = 0 (antisymmetric)
    discrete = validate_discrete(gd, law, q0, params=params, steps=200, backend="numpy")
    assert discrete.passed and math.isnan(discrete.order), discrete
    assert max(discrete.errors) < 1e-11


# -- preconditioned rules and physics (numpy backend) ----------------------------


def test_preconditioned_constant_metric_is_second_order():
    rule = sn.rules.preconditioned(eta, sp.diag(1, 3))
    system = PAIR.system(rule, [sn.rules.weight_decay(lam)])
    law = sn.noether(system, PAIR.generators["rescale"])
    params = {eta: 0.05, lam: 0.1, "x": X, "y": Y}
    report = validate_discrete(system, law, [1.5, 0.3], params=params,
                               steps=200, backend="numpy")  # fmt: skip
    assert report.passed and abs(report.order - 2) < 0.4, report
    assert report.identity_residual is None  # the one-step identity needs G = I


def test_kepler_angular_momentum():
    model = models.kepler(2)
    system = model.system()
    law = sn.noether(system, model.generators["rotation_12"])
    report = validate(system, law, [1.0, 0.0], [0.0, 1.2], params={"k": 1.0}, t_end=20.0,
                      rtol=1e-10, backend="numpy")  # fmt: skip
    assert report.passed and report.max_residual < 1e-7
    np.testing.assert_allclose(report.charge[:, 0], 1.2, rtol=1e-8)  # q1 q̇2 − q2 q̇1
    with pytest.raises(sn.NotSupportedError, match="models no optimizer"):
        validate_discrete(system, law, [1.0, 0.0], params={"k": 1.0}, backend="numpy")


def test_blow_up_raises_with_time_and_state():
    """q̇ = q³ (V = −q⁴/4) blows up at t = 1/(2q0²) = 0.5: never a hang or a pass."""
    (q,) = sn.coordinates("q")
    system = sn.LearningSystem((q,), -(q**4) / 4, rule=sn.rules.gradient_flow())
    law = sn.noether(system, (sp.Integer(1),))
    with pytest.raises(DivergenceError, match=r"at t = 0\.(49|5);.* q="):
        validate(system, law, [1.0], params={}, t_end=2.0, backend="numpy")


# -- bad arguments: named, and raised before anything is integrated ----------------


@pytest.fixture
def no_hang():
    """Turn a hang into a failure (the NumPy backend is interruptible)."""
    import signal

    def expire(*_):
        pytest.fail("hung: the bad argument was not rejected before integrating")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 20.0)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0.0)
    signal.signal(signal.SIGALRM, previous)


NORMALIZED_PARAMS = {eta: 0.05, lam: 0.05, "x1": 1.0, "x2": 0.3, "y": 0.2}


@pytest.mark.parametrize(
    "options, match",
    [
        ({"rtol": 0, "atol": 0}, "rtol = 0 .*floor"),  # the step size used to go NaN: a hang
        ({"atol": 0.0}, "atol = 0.0 .*floor"),  # 0/0 in the error weights of a zero state
        ({"method": "rk4", "dt": 0.0}, "dt = 0.0 must be positive"),
        ({"method": "rk4", "dt": 1e-9}, r"dt = 1e-09 takes 1e\+10 steps .*max_steps"),
    ],
    ids=["rtol=atol=0", "atol=0", "dt=0", "dt-over-max_steps"],
)
def test_integrator_settings_that_would_hang_are_rejected(normalized, no_hang, options, match):
    _, system, law, kernels = normalized
    with pytest.raises(InvalidInputError, match=match):
        validate(system, law, [1.0, 0.5], params=NORMALIZED_PARAMS, t_end=10.0, kernels=kernels,
                 **options)  # fmt: skip


@pytest.mark.parametrize(
    "options, match",
    [
        ({"levels": 30}, "levels = 30 must be an integer from 3 to 8"),  # 2^29·steps steps
        ({"steps": 10**7}, r"steps·2\^\(levels−1\) = 40000000 .*lower steps or levels"),
    ],
    ids=["levels=30", "steps=1e7"],
)
def test_discrete_runs_that_would_hang_are_rejected(normalized, no_hang, options, match):
    _, system, law, kernels = normalized
    with pytest.raises(InvalidInputError, match=match):
        validate_discrete(system, law, [1.0, 0.5], params=NORMALIZED_PARAMS, kernels=kernels,
                          **options)  # fmt: skip


@pytest.mark.parametrize(
    "change, match",
    [
        ({"params": [1, 2]}, "params is a list, not a mapping; pass a dict"),
        ({"t_end": "5"}, "t_end = '5' is not a finite number; pass e.g. t_end="),
        ({"t_end": math.inf}, "t_end = inf is not a finite number"),
        ({"batch": 2.5}, r"batch = 2\.5 must be an integer ≥ 1; pass e\.g\. batch="),
        ({"max_steps": 0}, "max_steps = 0 must be an integer ≥ 1"),
        ({"law": None}, "law = None is not a NoetherLaw; pass sn.noether"),
        ({"law": []}, r"law = \[\] is not a NoetherLaw"),
        ({"system": None}, "system is a NoneType, not a LearningSystem; pass sn.LearningSystem"),
        ({"kernels": "compiled"}, "kernels is a str; pass the result of"),
    ],
    ids=["params-list", "t_end-str", "t_end-inf", "batch-float", "max_steps-0", "law-None",
         "law-empty", "system-None", "kernels-str"],
)  # fmt: skip
def test_bad_continuous_argument_is_named(normalized, change, match):
    _, system, law, kernels = normalized
    arguments = {"system": system, "law": law, "q0": [1.0, 0.5], "params": NORMALIZED_PARAMS,
                 "t_end": 1.0, "kernels": kernels, **change}  # fmt: skip
    with pytest.raises(InvalidInputError, match=match):
        validate(**arguments)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"steps": 100.5}, r"steps = 100\.5 must be an integer ≥ 10"),
        ({"params": {**NORMALIZED_PARAMS, eta: "x"}}, "params\\[eta\\] = 'x' is not a finite"),
        ({"params": ((eta, 0.05),)}, "params is a tuple, not a mapping"),
        ({"system": None}, "system is a NoneType, not a LearningSystem"),
        # gradient ascent: it used to "pass" (the optimizer runs backwards in time)
        ({"params": {**NORMALIZED_PARAMS, eta: -0.05}}, "eta = -0.05 is not positive"),
        ({"params": {**NORMALIZED_PARAMS, eta: math.nan}}, "params\\[eta\\] = nan"),
        # one optimizer: a second row used to be dropped silently
        ({"q0": [[1.0, 0.5], [0.3, 0.2]]}, r"q0 has shape \(2, 2\); .*shape \(2,\)"),
    ],
    ids=["steps-float", "eta-str", "params-tuple", "system-None", "eta-negative", "eta-nan",
         "q0-2d"],
)  # fmt: skip
def test_bad_discrete_argument_is_named(normalized, change, match):
    _, system, law, kernels = normalized
    arguments = {"system": system, "law": law, "q0": [1.0, 0.5], "params": NORMALIZED_PARAMS,
                 "steps": 100, "kernels": kernels, **change}  # fmt: skip
    with pytest.raises(InvalidInputError, match=match):
        validate_discrete(**arguments)


@pytest.mark.parametrize(
    "momentum, match",
    [
        (1.0, r"momentum beta = 1 .*\[0, 1\)"),
        # β is declared nonnegative: the declaration is checked first, and named
        (-0.5, r"beta = -0.5 is not nonnegative, but beta is declared nonnegative=True"),
    ],
)
def test_heavy_ball_momentum_outside_unit_interval_is_rejected(pair, momentum, match):
    system, law, kernels = pair
    with pytest.raises(InvalidInputError, match=match):
        validate_discrete(system, law, [1.5, 0.3], params=pair_params(0.05, momentum),
                          steps=100, kernels=kernels)  # fmt: skip


def test_compile_rejects_a_non_system(pair):
    _, law, _ = pair
    with pytest.raises(InvalidInputError, match="system is a NoneType"):
        validation.compile(None, [law], backend="numpy")


def test_latex_names_the_measured_residual(normalized):
    """The residual is |Q̃ − P| over the charge's scale max(|Q̃|, |P|, |u||Mψ|) (module doc)."""
    _, system, law, kernels = normalized
    report = validate(system, law, [1.0, 0.5], params=NORMALIZED_PARAMS, t_end=1.0,
                      kernels=kernels)  # fmt: skip
    latex = report._repr_latex_()
    assert r"|\tilde Q - P|" in latex and r"|u||M\psi|" in latex
    assert "Q(0)" not in latex
    assert latex.endswith(f"{sp.latex(sp.Float(report.max_residual, 3))}$$")


def test_constants_of_the_generator_are_parameters():
    """ψ = (a w₁, −a w₂): the constant a lives only in the law; it is a kernel
    parameter (given → used; missing → drawn, reported, and reproducible from the
    report). A missing hyper-parameter of the system is still an error."""
    w1, w2 = sn.coordinates("w1 w2")
    a = sp.Symbol("a")
    gd = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_descent(eta))
    law = sn.noether(gd, (a * w1, -a * w2))
    fixed = {"t_end": 3.0, "method": "rk4", "dt": 0.001, "backend": "numpy"}  # same times
    report = validate(gd, law, [1.5, 0.2], params={eta: 0.1, a: 2.0}, **fixed)
    assert report.passed and report.drawn == {}
    drawn = validate(gd, law, [1.5, 0.2], params={eta: 0.1}, **fixed)
    assert drawn.passed and list(drawn.drawn) == [a] and 0.5 <= abs(drawn.drawn[a]) <= 1.5
    # Q = a·(η/2)(w1ẇ1 − w2ẇ2)e^{2t/η}: linear in a, so Q̃(a)/Q̃(2) = a/2 at every time
    expected = report.charge * drawn.drawn[a] / 2.0
    np.testing.assert_allclose(drawn.charge, expected, rtol=1e-9, atol=1e-12 * abs(expected).max())
    again = validate(gd, law, [1.5, 0.2], params={eta: 0.1, **drawn.drawn}, **fixed)
    np.testing.assert_array_equal(again.charge, drawn.charge)
    with pytest.raises(InvalidInputError, match="missing eta"):
        validate(gd, law, [1.5, 0.2], params={a: 1.0}, t_end=3.0, backend="numpy")
