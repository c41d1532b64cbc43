r"""Targeted checks of the derivations gallery, independent of the scripts' own asserts.

Each test takes a closed form a script derives and checks it against a hand
derivation written here, or against an independent method (a numerical ODE
solver, the discrete optimizer written by hand in numpy, finite differences,
matrix commutators) — never against the script's or the engine's own output.

Sources
-------
* D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
  "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3 and 5 (translation,
  rescale laws; weight decay; momentum).
* H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
  arXiv:2105.02716 (damped Lagrangian of GD and heavy ball).
* S. Arora, N. Cohen, E. Hazan, ICML 2018 (balancedness of linear networks).
* H. Goldstein, "Classical Mechanics", §9.7 (angular momentum algebra).

Hand conventions (RESULTS.md): GD with step η has mass m = η/2 and damping
time τ = η/2; heavy ball m = η(1+β)/2, τ = η(1+β)/(2(1−β)).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from scipy.integrate import quad, solve_ivp

import symnoether as sn
from symnoether import models
from symnoether.cli import load_derivation

GALLERY = Path(__file__).parent.parent / "derivations"
ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
T = sn.TIME


@pytest.fixture(scope="module")
def gallery():
    """Each script's derivation, computed once for this module."""
    cache = {}

    def get(stem: str) -> sn.Derivation:
        if stem not in cache:
            cache[stem] = load_derivation(GALLERY / f"{stem}.py")
        return cache[stem]

    return get


def _script(stem: str):
    spec = importlib.util.spec_from_file_location(f"gallery_{stem}", GALLERY / f"{stem}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _vanishes(expr: sp.Expr, samples: int = 4) -> bool:
    """This file's own zero test: exact evaluation at random rational points, 40 digits."""
    rng = np.random.default_rng(11)
    free = sorted(expr.free_symbols, key=str)
    for _ in range(samples):
        point = {s: sp.Rational(int(rng.integers(200, 2000)), 1000) for s in free}
        if abs(sp.N(expr.xreplace(point), 40)) > 1e-30:
            return False
    return True


# -- softmax_translation -------------------------------------------------------


def test_translation_position_is_the_hand_solution(gallery):
    """Q = e^{t/τ} m P' conserved ⇒ P' = V₀e^{−t/τ} ⇒ P = P₀ + τV₀(1 − e^{−t/τ})."""
    result = gallery("softmax_translation").result("𝟙·b(t)").rhs
    tau_symbol = sp.Symbol("tau", positive=True)
    tau = ETA * (1 + BETA) / (2 * (1 - BETA))
    P0, V0 = sp.symbols("P_0 V_0", real=True)
    position = result.subs(tau_symbol, tau)
    assert _vanishes(position - (P0 + tau * V0 * (1 - sp.exp(-T / tau))))
    # and it does keep e^{t/τ} m P' constant, by direct differentiation
    charge = sp.exp(T / tau) * ETA * (1 + BETA) / 2 * sp.diff(position, T)
    assert sp.simplify(sp.diff(charge, T)) == 0


def test_translation_weight_decay_matches_discrete_gd(gallery):
    """𝟙·b(t) = 𝟙·b(0)e^{−λt} under gradient flow; discrete GD on the same loss, written by
    hand (softmax − one-hot, plus λb), approaches it at first order in η."""
    result = gallery("softmax_translation").result("𝟙·b(t), gradient flow + weight decay").rhs
    P0 = sp.Symbol("P_0", real=True)
    lam, time = 0.3, 2.0
    predicted = float(result.subs({P0: 1.0, LAM: lam, T: time}))
    rng = np.random.default_rng(0)
    errors = []
    for eta in (0.02, 0.01):
        b = np.array([0.7, -0.1, 0.4])
        b *= 1.0 / b.sum()
        for _ in range(round(time / eta)):
            logits = b + rng.normal(size=3)  # W x, a fresh input each step
            softmax = np.exp(logits) / np.exp(logits).sum()
            b = b - eta * (softmax - np.eye(3)[0] + lam * b)
        errors.append(abs(b.sum() - predicted))
    assert 1.8 < errors[0] / errors[1] < 2.2


# -- homogeneous_rescale -------------------------------------------------------


def test_rescale_weight_decay_flow_against_an_ode_solver(gallery):
    """D(t) = D₀e^{−2λt}: integrate ẇ = −∇V − λw (hand gradient of ½(y − w₂w₁x)²)."""
    result = gallery("homogeneous_rescale").result("gradient flow + weight decay").rhs
    lam, x, y = 0.2, 1.3, 0.7

    def flow(_t, w):
        error = y - w[0] * w[1] * x
        return [error * w[1] * x - lam * w[0], error * w[0] * x - lam * w[1]]

    w0 = [2.0, 0.3]
    times = np.linspace(0, 5, 11)
    path = solve_ivp(flow, (0, 5), w0, t_eval=times, rtol=1e-11, atol=1e-12).y
    D0 = sp.Symbol("D_0", real=True)
    closed = sp.lambdify(T, result.subs({D0: w0[0] ** 2 - w0[1] ** 2, LAM: lam}))
    assert np.allclose(path[0] ** 2 - path[1] ** 2, closed(times), rtol=1e-8)


def test_rescale_gd_charge_ode_from_hand_equations_of_motion(gallery):
    """(η/4)D'' + ½D' + λD = (η/2)K along (η/2)ẅ + ẇ = −∇V − λw (hand Euler–Lagrange)."""
    equation = gallery("homogeneous_rescale").result("GD + weight decay: charge ODE")
    x, y = sp.symbols("x y", real=True)
    w1, w2 = sp.Function("w1")(T), sp.Function("w2")(T)
    loss = (y - w2 * w1 * x) ** 2 / 2
    accelerations = {
        w.diff(T, 2): 2 / ETA * (-w.diff(T) - sp.diff(loss, w) - LAM * w) for w in (w1, w2)
    }
    D, K = sp.Function("D"), sp.Function("K")
    along = {D(T): w1**2 - w2**2, K(T): w1.diff(T) ** 2 - w2.diff(T) ** 2}
    residual = (equation.lhs - equation.rhs).subs(along).doit().subs(accelerations)
    assert sp.expand(residual) == 0


# -- linear_network_gl ---------------------------------------------------------


def test_balancedness_is_the_hand_matrix_and_conserved_along_gradient_flow(gallery):
    """C = W₁W₁ᵀ − W₂ᵀW₂ by hand, and constant along Ẇ₁ = W₂ᵀE xᵀ, Ẇ₂ = E (W₁x)ᵀ
    (E = y − W₂W₁x, summed over a fixed data set) integrated numerically."""
    C = gallery("linear_network_gl").result("balancedness C, conserved by gradient flow")
    model = models.linear_network(3, 2, 2)
    W1, W2 = model.coords
    assert sp.expand(C - (W1 * W1.T - W2.T * W2)) == sp.zeros(2, 2)
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(3, 6)), rng.normal(size=(2, 6))

    def flow(_t, theta):
        A, B = theta[:6].reshape(2, 3), theta[6:].reshape(2, 2)
        E = Y - B @ A @ X
        return np.concatenate([(B.T @ E @ X.T).ravel(), (E @ (A @ X).T).ravel()])

    theta0 = rng.normal(size=10)
    path = solve_ivp(flow, (0, 3), theta0, rtol=1e-11, atol=1e-12).y
    balancedness = sp.lambdify([list(W1) + list(W2)], C)
    start, end = balancedness(path[:, 0]), balancedness(path[:, -1])
    assert np.allclose(start, end, atol=1e-8)
    assert np.abs(path[:, -1] - theta0).max() > 0.1


def test_balancedness_step_identity_by_hand(gallery):
    """C_{k+1} − C_k = η²(G₁G₁ᵀ − G₂ᵀG₂): evaluate the script's matrix expression on one
    hand-computed GD step of random matrices."""
    identity = gallery("linear_network_gl").result("discrete GD: C_{k+1} − C_k")
    rng = np.random.default_rng(3)
    W1, W2 = rng.normal(size=(2, 3)), rng.normal(size=(2, 2))
    x, y, eta = rng.normal(size=(3, 1)), rng.normal(size=(2, 1)), 0.1
    E = y - W2 @ W1 @ x
    G1, G2 = -W2.T @ E @ x.T, -E @ (W1 @ x).T
    N1, N2 = W1 - eta * G1, W2 - eta * G2
    change = N1 @ N1.T - N2.T @ N2 - (W1 @ W1.T - W2.T @ W2)
    values = {
        sp.MatrixSymbol("G_1", 2, 3): sp.Matrix(G1),
        sp.MatrixSymbol("G_2", 2, 2): sp.Matrix(G2),
    }
    predicted = identity.rhs.subs(values).subs(sp.Symbol("eta", positive=True), eta).doit()
    assert np.allclose(np.array(predicted, dtype=float), change, atol=1e-12)


# -- momentum_weight_decay -----------------------------------------------------


def test_oscillator_coefficients_from_mass_and_damping(gallery):
    """Q'' + (1/τ)Q' + (2λ/m)Q: 2γ = 1/τ, ω² = 2λ/m with the heavy-ball m, τ (by hand)."""
    deriv = gallery("momentum_weight_decay")
    mass, tau = ETA * (1 + BETA) / 2, ETA * (1 + BETA) / (2 * (1 - BETA))
    gamma = deriv.result("damping γ").rhs
    omega2 = deriv.result("frequency ω²").rhs
    assert sp.simplify(2 * gamma - 1 / tau) == 0
    assert sp.simplify(omega2 - 2 * LAM / mass) == 0
    critical = deriv.result("critical weight decay (scale, rescale)").rhs
    assert sp.simplify((2 * LAM / mass).subs(LAM, critical) - gamma**2) == 0


@pytest.mark.parametrize(
    "label, frequency",
    [
        ("under-damped solution (Ω² = ω² − γ²)", 1.5),
        ("critically damped solution", 0.0),
        ("over-damped solution (κ² = γ² − ω²)", 0.4),
    ],
)
def test_closed_forms_against_an_ode_solver(gallery, label, frequency):
    """Each closed form, with F(t) = cos 2t + 1, against RK45 on Q'' + 2γQ' + ω²Q = F."""
    form = gallery("momentum_weight_decay").result(label).rhs
    gamma = 0.7
    omega2 = gamma**2 + frequency**2 if "under" in label else gamma**2 - frequency**2
    u = sp.Symbol("u", positive=True)
    Q0, Q1 = sp.symbols("Q_0 Q_1", real=True)
    values = {
        sp.Symbol("gamma", positive=True): gamma,
        sp.Symbol("Omega", positive=True): frequency,
        sp.Symbol("kappa", positive=True): frequency,
        Q0: 0.5,
        Q1: -1.0,
    }
    free = sp.lambdify(T, form.subs(sp.Function("F")(u), 0).doit().subs(values))
    (integral,) = form.atoms(sp.Integral)
    kernel = sp.lambdify((T, u), integral.function.subs(sp.Function("F")(u), 1).subs(values))

    def forcing(s):
        return np.cos(2 * s) + 1

    def closed(t):
        return free(t) + quad(lambda s: kernel(t, s) * forcing(s), 0, t)[0]

    def ode(t, z):
        return [z[1], forcing(t) - 2 * gamma * z[1] - omega2 * z[0]]

    times = np.linspace(0, 6, 7)
    numeric = solve_ivp(ode, (0, 6), [0.5, -1.0], t_eval=times, rtol=1e-10, atol=1e-12).y[0]
    assert np.allclose([closed(t) for t in times], numeric, atol=1e-7)


def test_engine_decay_rate_is_the_slow_root_by_hand(gallery):
    """β = 0 translation law (η/2)P'' + P' + λP = 0: slow root (1 − √(1 − 2ηλ))/η, whose
    series λ + ηλ²/2 + η²λ³/2 agrees with discrete GD's −log(1−ηλ)/η to O(ηλ²)."""
    rate = gallery("momentum_weight_decay").result("decay rate, translation (engine)").removeO()
    hand = (1 - sp.sqrt(1 - 2 * ETA * LAM)) / ETA
    assert sp.expand(rate - sp.series(hand, ETA, 0, 3).removeO()) == 0
    assert sp.expand(rate - (LAM + ETA * LAM**2 / 2 + ETA**2 * LAM**3 / 2)) == 0


def test_decay_rate_measured_on_hand_written_gd():
    """Scalar GD with weight decay on the translation charge, P_{k+1} = (1 − ηλ)P_k, written
    by hand: the measured rate −log(P_K/P₀)/(Kη) is λ + ηλ²/2 up to O(η²)."""
    lam = 0.5
    for eta in (0.02, 0.01):
        P = 1.0
        steps = round(4.0 / eta)
        for _ in range(steps):
            P -= eta * lam * P
        measured = -np.log(P) / (steps * eta)
        assert abs(measured - (lam + eta * lam**2 / 2)) < eta**2 * lam**3
        assert abs(measured - lam) > 0.4 * eta * lam**2


# -- kepler --------------------------------------------------------------------


def test_translation_rate_is_the_force_by_finite_differences(gallery):
    """dq̇₁/dt = −∂V/∂q₁, the derivative taken by central differences of V = −k/|q|."""
    rate = gallery("kepler").result("translation e₁: dq̇₁/dt = −∂V/∂q₁").rhs
    q = sp.symbols("q1:4", real=True)
    k = sp.Symbol("k", positive=True)
    point, h = np.array([0.8, -0.5, 1.1]), 1e-5

    def potential(p):
        return -1.3 / np.linalg.norm(p)

    step = np.array([h, 0, 0])
    finite = -(potential(point + step) - potential(point - step)) / (2 * h)
    value = float(rate.subs({**dict(zip(q, point, strict=True)), k: 1.3}))
    assert abs(value - finite) < 1e-8


def test_so3_brackets_are_minus_the_matrix_commutators(gallery):
    """ψ = Aq, φ = Bq ⇒ [ψ, φ] = (Dφ)ψ − (Dψ)φ = −[A, B]q; with A_ij = E_ji − E_ij (ψ_ij has
    −q_j at i, q_i at j) the commutators give the signs of the script's relations."""
    relations = gallery("kepler").result("so(3): [ψ_12, ψ_13], [ψ_12, ψ_23], [ψ_13, ψ_23]")

    def generator(i, j):
        A = sp.zeros(3, 3)
        A[j, i], A[i, j] = 1, -1
        return A

    matrices = {"12": generator(0, 1), "13": generator(0, 2), "23": generator(1, 2)}
    for relation in relations:
        a, b = str(relation.lhs).strip("[]").replace("psi_", "").split(", ")
        (c,) = (name for name in matrices if name not in (a, b))
        A, B = matrices[a], matrices[b]
        bracket = -(A * B - B * A)
        sign = relation.rhs.subs(sp.Symbol(f"psi_{c}"), 1)
        assert bracket == sign * matrices[c]


def test_affine_symmetries_hold_numerically(gallery):
    """Every member of the returned 3D family ψ = Aq leaves V = −k/|q| invariant:
    ψ·∇V = 0 at random points for random values of its free parameters."""
    family = gallery("kepler").result("affine symmetries Aq + b of V(|q|), 3D")
    assert len(family.free_symbols) == 3  # dim so(3)
    rng = np.random.default_rng(4)
    for _ in range(5):
        A = np.array(family.subs({s: rng.normal() for s in family.free_symbols}), dtype=float)
        q = rng.normal(size=3)
        gradient = q / np.linalg.norm(q) ** 3  # ∇(−1/|q|)
        assert abs((A @ q) @ gradient) < 1e-12
