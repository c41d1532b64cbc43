"""Matrix kernels under the other rules: gradient flow (first order, its conserved
rescaling charge ½(|W1|² − |W2|²) and the exact one-step identity of gradient
descent), a scalar preconditioner g (folded into the optimizer's step η/g, never an
n×n metric), and gradient descent with the identity
φ(q_{k+1}) − φ(q_k) = ψ(q_k)·r_k + ½ Δ_kᵀ A Δ_k checked to round-off (Kunin et al. 2021).
"""

import numpy as np
import pytest
import sympy as sp

import symnoether as sn

W1, W2 = sn.layers(W1=(3, 2), W2=(2, 3))
x, y = sn.layers(x=(2, 1), y=(2, 1), data=True)
LOSS = (y - W2 * W1 * x).T * (y - W2 * W1 * x) / 2
RNG = np.random.default_rng(0)
Q0 = {W1: RNG.standard_normal((3, 2)) / 2, W2: RNG.standard_normal((2, 3)) / 2}
DATA = {x: RNG.standard_normal((2, 1)), y: RNG.standard_normal((2, 1))}


def test_gradient_flow_conserves_the_rescaling_charge():
    flow = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.gradient_flow(), data=(x, y))
    law = sn.noether(flow, (W1, -W2))
    kernels = sn.compile(flow, law, backend="numpy")
    assert len(kernels.state) == 12 and kernels.affine == (True,)  # y = q only
    q = kernels.pack_state(Q0)
    out = np.empty(1)
    kernels.phi(q, kernels.pack(DATA), out)
    assert out[0] == pytest.approx(0.5 * (np.sum(Q0[W1] ** 2) - np.sum(Q0[W2] ** 2)))
    assert sn.validate(flow, law, Q0, params=DATA, t_end=2.0, backend="numpy").passed
    report = sn.validate_discrete(flow, law, Q0, params=DATA, lr=0.01, steps=40,
                                  backend="numpy")  # fmt: skip
    assert report.passed, report
    assert report.identity_residual < 1e-12


def test_a_scalar_preconditioner_is_folded_into_the_step():
    eta, g, lam = sp.symbols("eta g lam", positive=True)
    system = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.preconditioned(eta, g), data=(x, y),
                               regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip
    law = sn.noether(system, (W1, -W2))
    params = {**DATA, eta: 0.01, g: 2.0, lam: 0.1}
    kernels = sn.compile(system, law, backend="numpy")
    metric = np.full(3, np.nan)
    kernels.metric(np.zeros(24), kernels.pack(params), metric)
    assert metric[0] == 2.0 and np.isnan(metric[1:]).all()  # one number, never n×n
    assert sn.validate(system, law, Q0, params=params, t_end=0.5, backend="numpy").passed
    report = sn.validate_discrete(system, law, Q0, params=params, steps=60, backend="numpy")
    assert report.passed, report
    assert report.expected_order == 2 and report.order > 1.65
    # the optimizer really took steps η/g: with g = 1 the iterates differ
    other = sn.validate_discrete(system, law, Q0, params={**params, g: 1.0}, steps=60,
                                 backend="numpy")  # fmt: skip
    assert not np.allclose(other.iterates[5], report.iterates[5])


def test_gradient_descent_keeps_the_one_step_identity():
    eta = sp.Symbol("eta", positive=True)
    gd = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.gradient_descent(eta), data=(x, y))
    law = sn.noether(gd, (W1, -W2))
    report = sn.validate_discrete(gd, law, Q0, params={**DATA, eta: 0.005}, steps=200,
                                  backend="numpy")  # fmt: skip
    assert report.identity_residual is not None and report.identity_residual < 1e-12
    assert report.passed, report


def test_a_symmetric_gl_generator_is_affine_and_keeps_the_identity():
    # ψ_S = (S W1, −W2 S) with S = (A + Aᵀ)/2: linear and self-adjoint, so
    # φ = ½⟨W, ψ_S(W)⟩ = ½[tr(W1ᵀ S W1) − tr(W2ᵀ W2 S)] (hand derivation), and the
    # one-step identity of gradient descent holds to round-off for any A.
    A = sp.MatrixSymbol("A", 3, 3)
    S = (A + A.T) / 2
    eta = sp.Symbol("eta", positive=True)
    gd = sn.LearningSystem((W1, W2), LOSS, rule=sn.rules.gradient_descent(eta), data=(x, y))
    law = sn.noether(gd, (S * W1, -W2 * S))
    generic = sn.noether(gd, (A * W1, -W2 * A))
    kernels = sn.compile(gd, [law, generic], backend="numpy")
    assert kernels.affine == (True, False)
    a = RNG.standard_normal((3, 3))
    s = (a + a.T) / 2
    out = np.empty(2)
    kernels.phi(kernels.pack_state(Q0), kernels.pack({**DATA, eta: 0.01, A: a}), out)
    w1, w2 = Q0[W1], Q0[W2]
    expected = 0.5 * (np.trace(w1.T @ s @ w1) - np.trace(w2.T @ w2 @ s))
    assert out.tolist() == pytest.approx([expected, 0.0], rel=1e-12)
    report = sn.validate_discrete(gd, law, Q0, params={**DATA, eta: 0.005, A: a}, steps=200,
                                  backend="numpy")  # fmt: skip
    assert report.identity_residual < 1e-12
    assert report.passed, report
