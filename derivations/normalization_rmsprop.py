"""Scale symmetry + finite-step training ⇒ implicit adaptive step η/|w|² (the RMSProp analogy).

Weights w feeding a normalization layer leave the loss invariant under
w → αw. Under heavy-ball momentum (β = 0: gradient descent) with weight decay
λ, the Noether charge of that scale symmetry is Q = e^{t/τ} m w·ẇ, and its law
closes into an ODE for |w|²; the direction ŵ = w/|w| learns with effective
step ∝ 1/|w|², while |w|⁴ integrates the squared gradients with an
exponential kernel — the RMSProp accumulator.

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/normalization_rmsprop.py``.

References
----------
H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
arXiv:2105.02716, Sec. 5 (Eqs. 14–18). D. Kunin et al., "Neural Mechanics",
ICLR 2021, arXiv:2012.04728, Sec. 5 (scale symmetry with weight decay).

Note: with ŵ' = −ĝ/(μr²) the angular speed is |ẇ|² ≈ ṙ² + |ĝ|²/(μ²r²)
(r², not r⁴): only that form closes into the linear ODE for u = r⁴.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core import is_zero

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
T = sn.TIME
S = sp.Function("s")(T)  # s = |w|² = r²
K = sp.Function("K")(T)  # K = |ẇ|²
G2 = sp.Function("G")(T)  # |ĝ|², squared gradient at the unit direction ŵ
U = sp.Function("u")(T)  # u = r⁴


def derivation() -> sn.Derivation:
    """Derive and check the scale law, its ODE, the effective step and the r⁴ accumulator."""
    model = models.normalized_unit(3)
    system = model.system(sn.rules.momentum(ETA, BETA), [sn.rules.weight_decay(LAM)])
    deriv = sn.derive(system, {"scale": model.generators["scale"]}, title=__doc__.splitlines()[0])
    law = deriv.law("scale")
    assert law.is_symmetry, "w·∇V must vanish for a normalized unit"
    assert law.broken_by == ("kinetic term", "weight decay")

    mass, mu = system.rule.mass_scale, 1 - BETA
    charge_ode = _charge_ode(system, law, mass, mu)
    leading = _leading_order(mass, mu)
    solution = _solve_leading(leading, mass, mu)
    quartic = _quartic_accumulator(mass, mu)
    _check_effective_step(model)
    _check_discrete_identity(model)
    errors = _check_accumulators_on_discrete_gd(model)
    return (
        deriv.with_result("charge ODE (s = |w|², K = |ẇ|²)", charge_ode)
        .with_result("leading order in η (first-order flow)", leading)
        .with_result("solution (Neural Mechanics, β = 0)", solution)
        .with_result("u = r⁴ accumulator (NLD Eq. 17)", quartic)
        .with_result("effective step of the direction ŵ", sp.Symbol("eta") / S)
        .with_result("momentum amplification at β = 0.9", _amplification())
        .with_result(
            "relative error of the s, u laws vs discrete GD (rows: η = 0.01, 0.02)",
            sp.Matrix([[sp.Float(e, 3) for e in errors[eta]] for eta in sorted(errors)]),
        )
    )


def _charge_ode(system: sn.LearningSystem, law: sn.NoetherLaw, mass, mu) -> sp.Eq:
    """m s'' + μ s' = 2mK − 2λs from Q = e^{t/τ}(m/2)s' and its rate."""
    w = sp.Matrix(system.coords)
    v = sp.Matrix(system.velocities)
    factor = system.damping_factor
    assert is_zero(law.charge / factor - mass * (w.T * v)[0])
    assert is_zero(law.rate / factor - (mass * (v.T * v)[0] - LAM * (w.T * w)[0]))
    # w·ẇ = s'/2 and |ẇ|² = K, |w|² = s: the law becomes an ODE in s.
    charge = factor * mass * S.diff(T) / 2
    lhs = sp.simplify(2 * sp.diff(charge, T) / factor)
    rhs = 2 * (mass * K - LAM * S)
    assert sp.simplify(lhs - (mass * S.diff(T, 2) + mu * S.diff(T))) == 0  # NLD Eq. 14
    return sp.Eq(lhs, rhs)


def _leading_order(mass, mu) -> sp.Eq:
    """Drop inertia (m s'') and use μẇ ≈ −(g + λw), w·g = 0: K ≈ (|g|² + λ²s)/μ².

    The λ²s part of K contributes O(ηλ²), the order at which the modified flow
    and the discrete optimizer differ anyway (RESULTS.md, Neural Mechanics); it
    is dropped.
    """
    g2 = sp.Function("g2")(T)  # |∇V(w)|²
    velocity_squared = (g2 + LAM**2 * S) / mu**2
    dropped = velocity_squared.subs(S, 0)
    flow = sp.Eq(mu * S.diff(T), 2 * mass * dropped - 2 * LAM * S)
    leading = sp.solve(flow, S.diff(T))[0]
    assert sp.simplify(leading - (2 * mass * g2 / mu**3 - 2 * LAM * S / mu)) == 0
    return sp.Eq(S.diff(T), leading)


def _solve_leading(leading: sp.Eq, mass, mu) -> sp.Eq:
    """s(t) = e^{−2λt}s(0) + η∫₀ᵗ e^{−2λ(t−u)}|g(u)|² du at β = 0, checked against the ODE."""
    gd = {BETA: 0}
    ode = sp.Eq(leading.lhs, leading.rhs.subs(gd))
    g2 = sp.Function("g2")
    tau = sp.Symbol("u", positive=True)
    s0 = sp.Symbol("s_0", positive=True)
    hand = sp.exp(-2 * LAM * T) * s0 + ETA * sp.Integral(
        sp.exp(-2 * LAM * (T - tau)) * g2(tau), (tau, 0, T)
    )
    assert _solves(ode, S, hand)
    assert _solves(ode, S, sp.dsolve(ode, S, hint="1st_linear").rhs)
    return sp.Eq(sp.Symbol("s"), hand)


def _quartic_accumulator(mass, mu) -> sp.Eq:
    """u = r⁴ obeys u' = −(4λ/μ)u + (4m/μ³)|ĝ|² (NLD Eq. 17), solved in closed form."""
    # Angular motion: μŵ' = −ĝ/r², so |ẇ|² ≈ |ĝ|²/(μ²s); inertia and ṙ² dropped.
    s_of_u = sp.sqrt(U)
    flow = sp.Eq(mu * s_of_u.diff(T), 2 * mass * G2 / (mu**2 * s_of_u) - 2 * LAM * s_of_u)
    u_rate = sp.solve(flow, U.diff(T))[0]
    hand = -4 * LAM / mu * U + 4 * mass / mu**3 * G2
    assert sp.simplify(u_rate - hand) == 0
    # Its coefficient 4m/μ³ = 2η(1+β)/(1−β)³, as in RESULTS.md.
    assert sp.simplify(4 * mass / mu**3 - 2 * ETA * (1 + BETA) / (1 - BETA) ** 3) == 0
    ode = sp.Eq(U.diff(T), hand)
    assert _solves(ode, U, sp.dsolve(ode, U, hint="1st_linear").rhs)
    # RMSProp: ηĠ = (1−ρ)(|g|² − G) has the same exponential kernel when (1−ρ)/η = 4λ/μ.
    rho = sp.Symbol("rho", positive=True)
    rmsprop = sp.Function("Gbar")(T)
    decay = sp.solve(sp.Eq(ETA * rmsprop.diff(T), (1 - rho) * (G2 - rmsprop)), rmsprop.diff(T))[0]
    matched = decay.subs(rho, 1 - 4 * LAM * ETA / mu)
    assert sp.simplify(sp.diff(matched, rmsprop) - sp.diff(hand, U)) == 0
    return sp.Eq(U.diff(T), hand)


def _solves(ode: sp.Eq, unknown: sp.Expr, candidate: sp.Expr) -> bool:
    """``candidate`` satisfies the first-order ODE unknown' = rhs(unknown)."""
    residual = sp.expand((sp.diff(candidate, T) - ode.rhs.subs(unknown, candidate)).doit())
    return residual == 0 or sp.simplify(residual) == 0


def _amplification() -> sp.Expr:
    value = ((1 + BETA) / (1 - BETA) ** 3).subs(BETA, sp.Rational(9, 10))
    assert value == 1900
    return value


def _check_effective_step(model: sn.models.Model) -> None:
    """∇V(αw) = ∇V(w)/α, so on the flow μẇ = −∇V(w) the direction obeys
    ŵ' = −∇V(ŵ)/(μ|w|²): step η/|w|² in the direction."""
    w = sp.Matrix(model.coords)
    alpha = sp.Symbol("alpha", positive=True)
    grad = sp.Matrix([sp.diff(model.loss, q) for q in w])
    scaled = grad.subs({q: alpha * q for q in w}, simultaneous=True)
    assert all(is_zero(a * alpha - b) for a, b in zip(scaled, grad, strict=True))
    r = sp.sqrt((w.T * w)[0])
    unit = w / r
    w_dot = -grad  # μ = 1 (gradient descent), first order
    unit_dot = unit.jacobian(list(w)) * w_dot
    grad_at_unit = grad.subs({q: q / r for q in w}, simultaneous=True)
    predicted = -grad_at_unit / r**2
    assert all(is_zero(a - b) for a, b in zip(unit_dot, predicted, strict=True))


def _numeric_gradient(model: sn.models.Model):
    """∇V at random (seeded) data, as a NumPy function of w."""
    rng = np.random.default_rng(0)
    values = dict(zip(model.data, rng.normal(size=len(model.data)), strict=True))
    gradient = [sp.diff(model.loss, q).subs(values) for q in model.coords]
    return sp.lambdify([model.coords], gradient, "numpy")


def _check_discrete_identity(model: sn.models.Model, steps: int = 200) -> None:
    """The real optimizer: |w_{k+1}|² = (1−ηλ)²|w_k|² + η²|g_k|², exactly (RESULTS.md §1)."""
    grad = _numeric_gradient(model)
    eta, lam = 0.05, 0.01
    w = np.random.default_rng(1).normal(size=len(model.coords))
    for _ in range(steps):
        g = np.array(grad(w))
        w_next = (1 - eta * lam) * w - eta * g
        predicted = (1 - eta * lam) ** 2 * (w @ w) + eta**2 * (g @ g)
        assert abs(w_next @ w_next - predicted) <= 1e-12 * predicted
        w = w_next


def _check_accumulators_on_discrete_gd(model: sn.models.Model) -> dict:
    """The closed forms against the real optimizer (GD + weight decay, β = 0):

    s(t) = e^{−2λt}s(0) + η∫e^{−2λ(t−u)}|g|² du   (Neural Mechanics), and
    u(t) = e^{−4λt}u(0) + 2η∫e^{−4λ(t−u)}|ĝ|² du  (NLD Eq. 17–18, u = r⁴),

    with the integrals summed along the discrete run (|ĝ| = r|g|, since ∇V is
    homogeneous of degree −1). Both are leading-order laws: their error must
    shrink as η is halved. Returns the relative errors by η.
    """
    grad = _numeric_gradient(model)
    lam, horizon = 0.01, 20.0
    errors = {}
    for eta in (0.02, 0.01):
        w = np.array([0.06, -0.04, 0.05])  # small |w|: large gradients, visible accumulation
        s0, steps = w @ w, int(round(horizon / eta))
        squared, radii, times = np.empty(steps), np.empty(steps), eta * np.arange(steps)
        for k in range(steps):
            g = np.array(grad(w))
            squared[k], radii[k] = g @ g, w @ w
            w = (1 - eta * lam) * w - eta * g
        s = w @ w
        s_law = np.exp(-2 * lam * horizon) * s0 + eta * eta * np.sum(
            np.exp(-2 * lam * (horizon - times)) * squared
        )
        hat = squared * radii  # |ĝ|² = r²|g|²
        u_law = np.exp(-4 * lam * horizon) * s0**2 + 2 * eta * eta * np.sum(
            np.exp(-4 * lam * (horizon - times)) * hat
        )
        errors[eta] = (abs(s_law - s) / s, abs(u_law - s**2) / s**2)
    (_, u_coarse), (s_fine, u_fine) = errors[0.02], errors[0.01]
    assert s_fine < 1e-3 and u_fine < 2e-2, errors
    assert u_fine < u_coarse, errors  # the r⁴ law converges as η → 0
    return errors


if __name__ == "__main__":
    print(derivation())
