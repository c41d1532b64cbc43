"""Matrix kernels against an independent, hand-written NumPy implementation of the
same matrix ODE; gradients against finite differences of the kernel loss; the
matrix-level law on explicit entries against the element-wise kernels.

The system (hand derivation): a two-layer linear network W1 (h×d), W2 (k×h) with
V = ½|y − W2W1x|² + (λ/2)(|W1|² + |W2|²) under heavy-ball momentum, so

    G1 = −W2ᵀ e xᵀ + λW1,   G2 = −e (W1x)ᵀ + λW2,   e = y − W2W1x,
    m = η(1+β)/2,  τ = η(1+β)/(2(1−β)),  Ẅ = −Ẇ/τ − G/m,

and the gl(h) generator ψ_A = (A W1, −W2 A) (a symmetry of the loss: W2A⁻¹·AW1 = W2W1):

    Q̃ = e^{−t/τ}Q = m[tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)],
    R̃ = m[tr(Ẇ1ᵀ A Ẇ1) − tr(Ẇ2ᵀ Ẇ2 A)] − λ[tr(W1ᵀ Aᵀ W1) − tr(Aᵀ W2ᵀ W2)]

(Tanaka & Kunin 2021, Noether's learning dynamics: kinetic and weight-decay breaking).
The rescaling ψ = (W1, −W2) is linear and self-adjoint: φ = ½(|W1|² − |W2|²).
"""

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidInputError
from symnoether.numerics.matrix_kernels import MatrixKernels

H, D, K = 3, 4, 2  # non-square on purpose: a transposed index fails here
ETA, BETA, LAM = 0.05, 0.7, 0.03


def two_layer(h=H, d=D, k=K):
    W1, W2 = sn.layers(W1=(h, d), W2=(k, h))
    x, y = sn.layers(x=(d, 1), y=(k, 1), data=True)
    eta, beta, lam = sp.symbols("eta beta lam", positive=True)
    e = y - W2 * W1 * x
    system = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.momentum(eta, beta),
                               data=(x, y), regularizers=[sn.rules.weight_decay(lam)])  # fmt: skip
    A = sp.MatrixSymbol("A", h, h)
    gl = sn.noether(system, (A * W1, -W2 * A))
    rescale = sn.noether(system, (W1, -W2))
    return system, (gl, rescale), (W1, W2, x, y, A, eta, beta, lam)


@pytest.fixture(scope="module")
def net():
    return two_layer()


def draw(seed=0, h=H, d=D, k=K):
    rng = np.random.default_rng(seed)
    return {
        "W1": rng.standard_normal((h, d)), "W2": rng.standard_normal((k, h)),
        "V1": rng.standard_normal((h, d)), "V2": rng.standard_normal((k, h)),
        "x": rng.standard_normal((d, 1)), "y": rng.standard_normal((k, 1)),
        "A": rng.standard_normal((h, h)),
    }  # fmt: skip


def hand(v):
    """The hand-derived right-hand side, gradients, charges and rates (module docstring)."""
    W1, W2, V1, V2, x, y, A = (v[k] for k in ("W1", "W2", "V1", "V2", "x", "y", "A"))
    e = y - W2 @ W1 @ x
    L1, L2 = -W2.T @ e @ x.T, -e @ (W1 @ x).T
    G1, G2 = L1 + LAM * W1, L2 + LAM * W2
    m = ETA * (1 + BETA) / 2
    tau = ETA * (1 + BETA) / (2 * (1 - BETA))
    flat = lambda *ms: np.concatenate([a.ravel() for a in ms])  # noqa: E731
    return {
        "rhs": flat(V1, V2, -V1 / tau - G1 / m, -V2 / tau - G2 / m),
        "loss": 0.5 * float(np.sum(e * e)),
        "potential": 0.5 * float(np.sum(e * e)) + LAM / 2 * (np.sum(W1**2) + np.sum(W2**2)),
        "grad": flat(G1, G2),
        "loss_grad": flat(L1, L2),
        "charge": [m * (np.trace(V1.T @ A @ W1) - np.trace(V2.T @ W2 @ A)),
                   m * (np.sum(V1 * W1) - np.sum(V2 * W2))],
        "rate": [m * (np.trace(V1.T @ A @ V1) - np.trace(V2.T @ V2 @ A))
                 - LAM * (np.trace(W1.T @ A.T @ W1) - np.trace(A.T @ W2.T @ W2)),
                 m * (np.sum(V1 * V1) - np.sum(V2 * V2))
                 - LAM * (np.sum(W1 * W1) - np.sum(W2 * W2))],
        "psi": flat(A @ W1, -W2 @ A, W1, -W2),
        "mpsi": m * flat(A @ W1, -W2 @ A, W1, -W2),
        "phi": [0.0, 0.5 * (np.sum(W1**2) - np.sum(W2**2))],
        "inv_tau": 1 / tau,
    }  # fmt: skip


def evaluate(kernels, symbols, v):
    """Every kernel of ``kernels`` at the state and parameters ``v``."""
    W1, W2, x, y, A, eta, beta, lam = symbols
    p = kernels.pack({x: v["x"], y: v["y"], A: v["A"], eta: ETA, beta: BETA, lam: LAM})
    q = kernels.pack_state({W1: v["W1"], W2: v["W2"]})
    state = np.concatenate([q, kernels.pack_state({"W1": v["V1"], "W2": v["V2"]}, "v0")])
    nq, ns, nl = len(kernels.coords), len(kernels.state), len(kernels.laws)
    out = {}
    for name, size in (("rhs", ns), ("grad", nq), ("loss_grad", nq), ("charge", nl),
                       ("rate", nl), ("psi", nl * nq), ("mpsi", nl * nq), ("phi", nl)):  # fmt: skip
        out[name] = np.full(size, np.nan)
        args = (0.0, state, p, out[name]) if name == "rhs" else (state, p, out[name])
        getattr(kernels, name)(*args)
    out["loss"] = kernels.loss(state, p)
    out["potential"] = kernels.potential(state, p)
    out["inv_tau"] = kernels.inv_tau(p)
    metric = np.full(1, np.nan)
    kernels.metric(state, p, metric)
    out["metric"] = metric[0]
    return out


@pytest.fixture(scope="module")
def numpy_kernels(net):
    system, laws, _ = net
    return sn.compile(system, laws, backend="numpy")


def test_kernels_match_the_hand_written_numpy_implementation(net, numpy_kernels):
    assert isinstance(numpy_kernels, MatrixKernels)
    assert len(numpy_kernels.state) == 2 * (H * D + K * H)
    for seed in range(3):
        v = draw(seed)
        ours, theirs = evaluate(numpy_kernels, net[2], v), hand(v)
        for name, expected in theirs.items():
            np.testing.assert_allclose(ours[name], expected, rtol=1e-12, atol=1e-12,
                                       err_msg=name)  # fmt: skip
        assert ours["metric"] == 1.0
    assert numpy_kernels.affine == (False, True)


def test_gradient_is_the_derivative_of_the_kernel_potential(net, numpy_kernels):
    v = draw(5)
    W1, W2, x, y, A, eta, beta, lam = net[2]
    p = numpy_kernels.pack({x: v["x"], y: v["y"], A: v["A"], eta: ETA, beta: BETA, lam: LAM})
    q = numpy_kernels.pack_state({W1: v["W1"], W2: v["W2"]})
    state = np.concatenate([q, np.zeros_like(q)])
    grad = np.empty(len(q))
    numpy_kernels.grad(state, p, grad)
    step = 1e-6
    for i in range(len(q)):
        up, down = state.copy(), state.copy()
        up[i] += step
        down[i] -= step
        slope = (numpy_kernels.potential(up, p) - numpy_kernels.potential(down, p)) / (2 * step)
        assert slope == pytest.approx(grad[i], rel=1e-6, abs=1e-8)


def test_numba_backend_agrees_with_numpy(net, numpy_kernels):
    system, laws, symbols = net
    compiled = sn.compile(system, laws)
    assert compiled.backend == "numba" and compiled.path is not None
    v = draw(7)
    ours, theirs = evaluate(compiled, symbols, v), evaluate(numpy_kernels, symbols, v)
    for name in theirs:
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-13, atol=1e-13,
                                   err_msg=name)  # fmt: skip


def test_source_uses_matrix_products_and_no_symbol_names(numpy_kernels):
    body = numpy_kernels.source.split("\n@jit\ndef copy_row")[0]
    kernels = body[body.index("@jit") :]
    assert "np.dot(" in kernels
    code = [line.split("#")[0] for line in kernels.splitlines() if '"""' not in line]
    assert not any(name in line for line in code for name in ("W1", "W2", "Wdot", "eta", "A"))
    # matrix-level CSE: the forward pass W1 x is computed once per kernel
    rhs = kernels[: kernels.index("def loss(")]
    assert rhs.count("np.dot(a0, b4)") == 1  # x is p's 5th parameter: b4


def test_law_on_explicit_entries_agrees_with_element_wise_kernels():
    system, (gl, _), (W1, W2, x, y, A, eta, beta, lam) = two_layer(2, 2, 2)
    explicit = system.explicit()
    M = system.explicit_matrices()
    Ae = sn.matrix_coordinates("A", 2, 2)
    psi = [*(Ae * M[W1]), *(-M[W2] * Ae)]
    law = sn.noether(explicit, psi)
    element = sn.compile(explicit, [law], backend="numpy")
    matrix = sn.compile(system, [gl], backend="numpy")
    assert [str(s) for s in element.state] == [str(s) for s in matrix.state]
    rng = np.random.default_rng(3)
    for _ in range(3):
        a, xv, yv = (
            rng.standard_normal((2, 2)),
            rng.standard_normal((2, 1)),
            rng.standard_normal((2, 1)),
        )
        values = {eta: ETA, beta: BETA, lam: LAM}
        named = {**values, "x_11": xv[0, 0], "x_21": xv[1, 0], "y_11": yv[0, 0],
                 "y_21": yv[1, 0]}  # fmt: skip
        named.update({f"A_{i + 1}{j + 1}": a[i, j] for i in range(2) for j in range(2)})
        pe = element.pack(named)
        pm = matrix.pack({**values, A: a, x: xv, y: yv})
        state = rng.standard_normal(len(matrix.state))
        for name, n in (("charge", 1), ("rate", 1), ("rhs", len(state)), ("mpsi", 8)):
            ours, theirs = np.empty(n), np.empty(n)
            args = (0.0,) if name == "rhs" else ()
            getattr(matrix, name)(*args, state, pm, ours)
            getattr(element, name)(*args, state, pe, theirs)
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12, err_msg=name)


def test_arrays_of_the_wrong_shape_are_refused_naming_both_shapes(net, numpy_kernels):
    W1, W2, x, y, A, eta, beta, lam = net[2]
    with pytest.raises(InvalidInputError, match=r"q0\[W1\] has shape \(4, 3\), but W1 is 3×4"):
        numpy_kernels.pack_state({W1: np.zeros((D, H)), W2: np.zeros((K, H))})
    with pytest.raises(InvalidInputError, match="missing the layer"):
        numpy_kernels.pack_state({W1: np.zeros((H, D))})
    with pytest.raises(InvalidInputError, match="W3, which is not a layer"):
        numpy_kernels.pack_state({"W3": np.zeros((H, D))})
    with pytest.raises(InvalidInputError, match=r"params\[A\] has shape \(2, 2\), but A is 3×3"):
        numpy_kernels.pack({x: np.zeros((D, 1)), y: np.zeros((K, 1)), A: np.eye(2),
                            eta: 0.1, beta: 0.5, lam: 0.1})  # fmt: skip


def test_validate_refuses_a_wrong_shape_before_integrating(net):
    system, (gl, _), (W1, W2, x, y, A, eta, beta, lam) = net
    params = {x: np.ones((D, 1)), y: np.ones((K, 1)), eta: ETA, beta: BETA, lam: LAM}
    with pytest.raises(InvalidInputError, match=r"params\[x\] has shape \(3, 1\), but x is 4×1"):
        sn.validate(system, gl, {W1: np.ones((H, D)), W2: np.ones((K, H))},
                    params={**params, x: np.ones((3, 1))}, backend="numpy")  # fmt: skip
    with pytest.raises(InvalidInputError, match=r"v0\[W2\] has shape \(3, 2\), but W2 is 2×3"):
        sn.validate(system, gl, {W1: np.ones((H, D)), W2: np.ones((K, H))},
                    {W1: np.ones((H, D)), W2: np.ones((H, K))}, params=params,
                    backend="numpy")  # fmt: skip


def test_small_validation_passes_on_the_numpy_backend(net):
    system, laws, (W1, W2, x, y, A, eta, beta, lam) = net
    v = draw(11)
    params = {x: v["x"], y: v["y"], eta: ETA, beta: BETA, lam: LAM}
    report = sn.validate(system, laws, {W1: v["W1"] / 2, W2: v["W2"] / 2}, params=params,
                         t_end=0.3, backend="numpy")  # fmt: skip
    assert report.passed, report
    assert report.drawn[A].shape == (H, H)  # the generic gl element, drawn and reported
    assert "3×3 array" in str(report)


def test_laws_of_another_kind_or_system_are_refused(net):
    system, (gl, _), (W1, W2, *_) = net
    other, (other_gl, _), _ = two_layer(2, 2, 2)
    with pytest.raises(InvalidInputError, match="derived for another system"):
        sn.compile(system, [other_gl], backend="numpy")
    (q,) = sn.coordinates("q")
    flow = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_flow())
    with pytest.raises(InvalidInputError, match="not a MatrixNoetherLaw"):
        sn.compile(system, [sn.noether(flow, (q,))], backend="numpy")
