r"""Literature reference tests: the published results of RESULTS.md, sections 1–5.

Sources
-------
* H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
  Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716 (NLD):
  Theorem 1 (Noether's learning dynamics, kinetic symmetry breaking),
  Eqs. 14–18 (scale symmetry, implicit adaptive optimization).
* D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
  "Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
  Dynamics", ICLR 2021, arXiv:2012.04728 (NM): Sec. 3 (translation, scale,
  rescale symmetries and their conservation laws under gradient flow),
  Sec. 5 (broken laws under finite steps and weight decay).
* L. Ziyin et al., "Parameter Symmetry Breaking and Restoration Determines the
  Hierarchical Learning in AI Systems" (2025): weight decay restores rescale
  symmetry (|w₁|² − |w₂|² → 0).
* Textbook mechanics (Kepler, isotropic oscillator): angular momentum.

Conventions (DESIGN.md): L = e^{t/τ}(½q̇ᵀMq̇ − V); gradient descent with step η
has M = (η/2)I, τ = η/2; heavy ball M = (η(1+β)/2)I, τ = η(1+β)/(2(1−β)).
The general law, derived by hand once here and specialised in every test:

    Q   = ∂L/∂q̇ · ψ = e^{t/τ} q̇ᵀMψ
    dQ/dt = e^{t/τ}[ q̇ᵀM(Dψ)q̇ ]  −  e^{t/τ} ψ·∇V          (M constant)

Every expected value below is derived by hand in the test (comments and
docstrings); the engine's output is compared with it, never the other way.
Zero tests use this file's own helper :func:`vanishes` (expand, then
evaluation with 45-digit floats at random points), not the engine's ``jet.is_zero``.
"""

from __future__ import annotations

import random

import pytest
import sympy as sp
from sympy.core.function import AppliedUndef

import symnoether as sn
from symnoether import models, rules
from symnoether.core.dynamics import equations_of_motion

ETA, LAM, BETA = sp.symbols("eta lambda beta", positive=True)
T = sn.TIME


# -- independent helpers --------------------------------------------------------


def _concrete(expr: sp.Expr) -> sp.Expr:
    """Replace each undefined function f(z₁…z_k) by a fixed smooth concrete one."""
    replacements = {}
    for applied in expr.atoms(AppliedUndef):
        zs = sp.symbols(f"z0:{len(applied.args)}", real=True)
        mix = sum((k + 2) * z for k, z in enumerate(zs))
        replacements[applied.func] = sp.Lambda(zs, sp.sin(mix) + sp.exp(-(mix**2) / 5) + mix**3)
    return expr.subs(replacements).doit() if replacements else expr


def _point(symbols, rng: random.Random) -> dict:
    """Random 45-digit Floats (signs random unless the symbol is positive)."""
    point = {}
    for s in symbols:
        value = sp.Float(sp.Rational(rng.randint(300, 1700), 1000), 45)
        point[s] = value if (s.is_positive or rng.random() < 0.5) else -value
    return point


def _value(expr: sp.Expr, point: dict) -> sp.Expr:
    """Evaluate by plain 45-digit Float arithmetic (no adaptive precision)."""
    return sp.N(expr.xreplace(point), 40)


def vanishes(expr, *, samples: int = 3, seed: int = 7) -> bool:
    """True when ``expr`` is identically zero: expand (small expressions), else
    evaluate with 45-digit floats at random points (undefined functions made
    concrete first); a zero expression leaves only round-off below 10⁻²⁵."""
    expr = sp.sympify(expr)
    if expr == 0 or (sp.count_ops(expr) < 300 and sp.expand(expr) == 0):
        return True
    concrete = _concrete(expr)
    rng = random.Random(seed)
    symbols = sorted(concrete.free_symbols, key=str)
    for _ in range(samples):
        value = _value(concrete, _point(symbols, rng))
        if not value.is_number or abs(value) > 1e-25:
            return False
    return True


def nonzero(expr, *, samples: int = 6, seed: int = 11) -> bool:
    """True when ``expr`` is visibly non-zero at one of a few random points."""
    concrete = _concrete(sp.sympify(expr))
    rng = random.Random(seed)
    symbols = sorted(concrete.free_symbols, key=str)
    return any(abs(_value(concrete, _point(symbols, rng))) > 1e-10 for _ in range(samples))


def dot(a, b) -> sp.Expr:
    return sum((x * y for x, y in zip(a, b, strict=True)), sp.S.Zero)


def gradient(expr, coords) -> sp.Matrix:
    return sp.Matrix([sp.diff(expr, q) for q in coords])


def generic_scale_invariant(n: int):
    """V = f(w/|w|) with f an undefined function: every scale-invariant loss."""
    w = sn.coordinates(f"w1:{n + 1}")
    f = sp.Function("f")
    norm = sp.sqrt(sum(q**2 for q in w))
    return w, f(*[q / norm for q in w])


# == 1. Scale symmetry ===========================================================


@pytest.fixture(scope="module")
def scale_gd():
    """The scale law of a generic f(w/|w|) under GD, n = 3."""
    w, loss = generic_scale_invariant(3)
    system = sn.LearningSystem(w, loss, rule=rules.gradient_descent(ETA))
    return w, system, sn.noether(system, sp.Matrix(w))


def test_scale_gd_charge_and_rate(scale_gd):
    """ψ = w, M = (η/2)I, τ = η/2, Dψ = I:
    Q = e^{2t/η}(η/2) w·ẇ;  KSB = e^{2t/η} ẇᵀ(η/2)Iẇ = e^{2t/η}(η/2)|ẇ|²;
    potential term −e^{2t/η} w·∇V = 0 by Euler's theorem (V homogeneous of degree 0)."""
    w, system, law = scale_gd
    wdot = sn.velocities(w)
    growth = sp.exp(2 * T / ETA)
    assert vanishes(law.charge - growth * ETA / 2 * dot(w, wdot))
    assert vanishes(law.rate - growth * ETA / 2 * dot(wdot, wdot))
    assert vanishes(law.kinetic_breaking - growth * ETA / 2 * dot(wdot, wdot))
    assert law.potential_breaking == 0 and law.loss_breaking == 0
    assert law.conserved is False
    assert law.broken_by == ("kinetic term",)


def test_scale_gd_norm_ode_from_charge_and_rate(scale_gd):
    r"""With S(t) = |w|²: S' = 2w·ẇ, so Q = e^{2t/η}(η/4)S', and
    dQ/dt = e^{2t/η}[(η/4)S'' + ½S'].  Equating to the rate gives NLD's
    (η/4)S'' + ½S' = (η/2)|ẇ|².  Along the Euler–Lagrange equations
    S'' = 2|ẇ|² + 2w·ẅ, and the ODE reduces to (η/2)w·ẅ + w·ẇ = −w·∇V = 0."""
    w, system, law = scale_gd
    wdot = sn.velocities(w)
    S = sp.Function("S")(T)
    growth = sp.exp(2 * T / ETA)
    hand_charge = growth * ETA / 4 * S.diff(T)
    ode = sp.expand(sp.diff(hand_charge, T) / growth)
    assert sp.expand(ode - (ETA / 4 * S.diff(T, 2) + S.diff(T) / 2)) == 0
    # the engine's charge is this hand form with S' = 2 w·ẇ ...
    assert vanishes(law.charge - hand_charge.subs(S.diff(T), 2 * dot(w, wdot)))
    # ... and the ODE holds along the engine's equations of motion
    wddot = equations_of_motion(system).accelerations
    s1 = 2 * dot(w, wdot)
    s2 = 2 * dot(wdot, wdot) + 2 * dot(w, wddot)
    assert vanishes(ETA / 4 * s2 + s1 / 2 - ETA / 2 * dot(wdot, wdot))
    # the ODE is not an identity: off shell (ẅ free) it fails
    assert nonzero(ETA / 4 * (2 * dot(wdot, wdot)) + s1 / 2 - ETA / 2 * dot(wdot, wdot))


def test_scale_gd_leading_order_growth():
    r"""d|w|²/dt = η|∇V|² + O(η²).

    (a) From the charge ODE: S' = η|ẇ|² − (η/2)S''.  On the slow motion S' is
        O(η), hence S'' = O(η); with ẇ = −∇V + ηu and S'' = ηs the series in η
        starts with η|∇V|².
    (b) Independently, from the equations of motion: on the slow manifold
        ẇ = −∇V + ηu + O(η²), so ẅ = −H ẇ + O(η) = H∇V + O(η).  The engine's
        accelerations on that ansatz must equal this, which fixes u = −½H∇V.
        Then S' = 2w·ẇ = −2w·∇V − ηw·H∇V + O(η²).  Differentiating w·∇V = 0
        gives ∇V + Hw = 0, so −w·H∇V = |∇V|²: S' = η|∇V|² + O(η²).
    """
    w, loss = generic_scale_invariant(2)
    wdot = sn.velocities(w)
    grad = gradient(loss, w)
    u = sp.symbols("u1 u2", real=True)
    s = sp.Symbol("s", real=True)
    slow = [-g + ETA * ui for g, ui in zip(grad, u, strict=True)]
    # (a)
    s1 = ETA * dot(slow, slow) - ETA / 2 * (ETA * s)
    series = sp.expand(sp.series(s1, ETA, 0, 2).removeO())
    assert vanishes(series - ETA * dot(grad, grad))
    # (b)
    system = sn.LearningSystem(w, loss, rule=rules.gradient_descent(ETA))
    wddot = equations_of_motion(system).accelerations
    on_slow = dict(zip(wdot, slow, strict=True))
    # the engine's ẅ on the ansatz is −2u (the O(1/η) parts cancel); −2u = H∇V fixes u
    for a, ui in zip(wddot, u, strict=True):
        assert vanishes(a.xreplace(on_slow) + 2 * ui)
    hessian_grad = grad.jacobian(w) * grad
    u_solved = [-h / 2 for h in hessian_grad]
    # S' = 2w·(−∇V + ηu) = −2w·∇V + 2η w·u
    assert vanishes(dot(w, grad))  # order η⁰: gradient flow conserves |w|²
    assert vanishes(2 * dot(w, u_solved) - dot(grad, grad))


def test_scale_weight_decay_breaks_through_the_potential():
    """V = f(w/|w|) + (λ/2)|w|², GD.  Extra potential term −e^{2t/η} w·∇(λ/2|w|²)
    = −λ|w|² e^{2t/η}; the loss part stays exactly 0; KSB unchanged."""
    w, loss = generic_scale_invariant(2)
    wdot = sn.velocities(w)
    system = sn.LearningSystem(
        w, loss, rule=rules.gradient_descent(ETA), regularizers=[rules.weight_decay(LAM)]
    )
    law = sn.noether(system, sp.Matrix(w))
    growth = sp.exp(2 * T / ETA)
    assert law.loss_breaking == 0
    assert vanishes(law.regularizer_breaking + LAM * dot(w, w) * growth)
    assert vanishes(law.potential_breaking + LAM * dot(w, w) * growth)
    assert vanishes(law.rate - growth * (ETA / 2 * dot(wdot, wdot) - LAM * dot(w, w)))
    assert law.broken_by == ("kinetic term", "weight decay")
    assert law.conserved is False


def test_scale_momentum_weight_decay_nld_identity():
    r"""NLD Eq. 14: m(r²)'' + μ(r²)' = 2m|ẇ|² − 2k r², m = η(1+β)/2, μ = 1−β.

    Q = e^{t/τ} m w·ẇ = e^{t/τ}(m/2)S'; dQ/dt = e^{t/τ}[(m/2)S'' + (m/2τ)S'] and
    m/τ = 1 − β = μ.  Rate: e^{t/τ}(m|ẇ|² − k|w|²).  Times 2: the identity.
    Checked (i) on the engine's rate, (ii) along the engine's equations of motion."""
    w, loss = generic_scale_invariant(2)
    wdot = sn.velocities(w)
    k = sp.Symbol("k", positive=True)
    system = sn.LearningSystem(
        w, loss, rule=rules.momentum(ETA, BETA), regularizers=[rules.weight_decay(k)]
    )
    law = sn.noether(system, sp.Matrix(w))
    m, mu = ETA * (1 + BETA) / 2, 1 - BETA
    damping = sp.exp(T / system.tau)
    assert vanishes(law.charge - damping * m * dot(w, wdot))
    assert vanishes(law.rate - damping * (m * dot(wdot, wdot) - k * dot(w, w)))
    assert vanishes(m / system.tau - mu)
    wddot = equations_of_motion(system).accelerations
    s1 = 2 * dot(w, wdot)
    s2 = 2 * dot(wdot, wdot) + 2 * dot(w, wddot)
    assert vanishes(m * s2 + mu * s1 - 2 * m * dot(wdot, wdot) + 2 * k * dot(w, w))


def test_scale_gradient_flow_conserves_norm():
    """GD → GF (η → 0): first-order charge φ with ∇φ = ψ = w is ½|w|², and
    dφ/dt = −w·∇V = 0."""
    unit = models.normalized_unit(3)
    law = sn.noether(unit.system(rules.gradient_flow()), unit.generators["scale"])
    w = unit.coords
    assert vanishes(law.charge - dot(w, w) / 2)
    assert law.rate == 0 and law.conserved is True
    assert law.order == 1


def test_scale_gradient_homogeneity_and_effective_step():
    r"""V(αw) = V(w) ⇒ ∇V(αw) = ∇V(w)/α (differentiate V(αw) = V(w) in w).
    Under gradient flow ẇ = −∇V(w), the direction ŵ = w/|w| moves as
    dŵ/dt = (I − ŵŵᵀ)ẇ/|w| = −∇V(w)/|w| = −∇V(ŵ)/|w|² (∇V ⊥ w): effective step
    η/|w|², the implicit adaptive step of NLD.  Discrete GD: |w − ηg|² = |w|² + η²|g|²
    exactly (w·g = 0), and with weight decay |(1−ηλ)w − ηg|² = (1−ηλ)²|w|² + η²|g|²."""
    unit = models.normalized_unit(2)
    w = sp.Matrix(unit.coords)
    alpha = sp.Symbol("alpha", positive=True)
    grad = gradient(unit.loss, w)
    scaled = grad.xreplace({q: alpha * q for q in w})
    assert all(vanishes(a - g / alpha) for a, g in zip(scaled, grad, strict=True))
    # effective step from the engine's gradient flow
    flow = equations_of_motion(unit.system(rules.gradient_flow())).first_order().rhs
    norm2 = dot(w, w)
    w_hat = w / sp.sqrt(norm2)
    direction_rate = (sp.eye(2) - w_hat * w_hat.T) * sp.Matrix(flow) / sp.sqrt(norm2)
    grad_at_unit = grad.xreplace({q: qh for q, qh in zip(w, w_hat, strict=True)})
    assert all(vanishes(d + g / norm2) for d, g in zip(direction_rate, grad_at_unit, strict=True))
    # discrete GD with and without weight decay
    step = w - ETA * grad
    assert vanishes(dot(step, step) - norm2 - ETA**2 * dot(grad, grad))
    decayed = (1 - ETA * LAM) * w - ETA * grad
    assert vanishes(dot(decayed, decayed) - (1 - ETA * LAM) ** 2 * norm2 - ETA**2 * dot(grad, grad))


# == 2. Translation symmetry (softmax logits) =====================================


@pytest.fixture(scope="module")
def softmax():
    return models.softmax_regression(3, 2)


@pytest.mark.parametrize("rule", [rules.gradient_descent(ETA), rules.momentum(ETA, BETA)])
def test_translation_charge_conserved(softmax, rule):
    """ψ = 𝟙 on the biases: Dψ = 0 so no KSB, and 𝟙·∇_bV = Σ softmax − 1 = 0.
    Q = e^{t/τ} m Σḃᵢ with m = rule's mass scale (η/2 or η(1+β)/2), conserved."""
    system = softmax.system(rule)
    law = sn.noether(system, softmax.generators["translation"])
    b = softmax.coords[1:]
    m = ETA / 2 if rule.name == "gradient_descent" else ETA * (1 + BETA) / 2
    tau = ETA / 2 if rule.name == "gradient_descent" else m / (1 - BETA)
    hand = sp.exp(T / tau) * m * sum(sn.velocities(b))
    assert vanishes(law.charge - hand)
    assert law.kinetic_breaking == 0 and law.potential_breaking == 0
    assert law.rate == 0 and law.conserved is True


def test_translation_of_weight_rows_conserved(softmax):
    """Shifting column j of W by 𝟙 shifts every logit by x_j: also a symmetry.
    Q = e^{2t/η}(η/2) Σᵢ Ẇ_{ij}."""
    system = softmax.system(rules.gradient_descent(ETA))
    law = sn.noether(system, softmax.generators["translation_W_1"])
    W = softmax.coords[0]
    hand = sp.exp(2 * T / ETA) * ETA / 2 * sum(sn.velocity(W[i, 0]) for i in range(3))
    assert vanishes(law.charge - hand)
    assert law.conserved is True


def test_translation_velocity_sum_decays(softmax):
    r"""Sum the Euler–Lagrange equations over the biases:
    m Σb̈ + (m/τ) Σḃ + Σ∂V/∂bᵢ = 0 and Σ∂V/∂bᵢ = Σ softmaxᵢ − 1 = 0, so
    u = Σḃ obeys u' = −u/τ: u(t) = u(0)e^{−t/τ}, and Σb(t) = Σb(0) + τu(0)(1 − e^{−t/τ}).
    Discrete GD: Σb_{k+1} = Σb_k − ηΣ∂V/∂bᵢ = Σb_k exactly."""
    rule = rules.momentum(ETA, BETA)
    system = softmax.system(rule)
    tau = ETA * (1 + BETA) / (2 * (1 - BETA))
    b = softmax.coords[1:]
    accelerations = equations_of_motion(system).accelerations
    index = [system.coords.index(bi) for bi in b]
    total = sum(accelerations[i] for i in index) + sum(sn.velocities(b)) / tau
    assert sp.simplify(total) == 0
    assert sp.simplify(sum(sp.diff(softmax.loss, bi) for bi in b)) == 0
    u, S = sp.Function("u"), sp.Function("S")
    u0, S0 = sp.symbols("u0 S0", real=True)
    first = sp.dsolve(sp.Eq(u(T).diff(T), -u(T) / tau), u(T), ics={u(0): u0})
    assert sp.simplify(first.rhs - u0 * sp.exp(-T / tau)) == 0
    second = sp.dsolve(
        sp.Eq(S(T).diff(T, 2) + S(T).diff(T) / tau, 0),
        S(T),
        ics={S(0): S0, S(T).diff(T).subs(T, 0): u0},
    )
    assert sp.simplify(second.rhs - (S0 + tau * u0 * (1 - sp.exp(-T / tau)))) == 0


def test_translation_weight_decay_gradient_flow(softmax):
    """GF + weight decay: φ = Σbᵢ (∇φ = ψ), rate −ψ·∇(λ/2|q|²) = −λΣbᵢ, so
    Σb(t) = Σb(0)e^{−λt} (NM Sec. 5, λ-decay of the translation charge)."""
    system = softmax.system(rules.gradient_flow(), [rules.weight_decay(LAM)])
    law = sn.noether(system, softmax.generators["translation"])
    b = softmax.coords[1:]
    assert vanishes(law.charge - sum(b))
    assert law.loss_breaking == 0
    assert vanishes(law.rate + LAM * sum(b))
    assert law.conserved is False
    S, S0 = sp.Function("S"), sp.Symbol("S0", real=True)
    solution = sp.dsolve(sp.Eq(S(T).diff(T), -LAM * S(T)), S(T), ics={S(0): S0})
    assert sp.simplify(solution.rhs - S0 * sp.exp(-LAM * T)) == 0


# == 3. Rescale symmetry ==========================================================


@pytest.fixture(scope="module")
def pair():
    return models.scalar_pair()


def test_rescale_gradient_flow_conserved(pair):
    """ψ = (w₁, −w₂) = ∇(½(w₁² − w₂²)); ψ·∇V = w₁∂₁V − w₂∂₂V = 0 for V(w₁w₂)."""
    w1, w2 = pair.coords
    law = sn.noether(pair.system(rules.gradient_flow()), pair.generators["rescale"])
    assert vanishes(law.charge - (w1**2 - w2**2) / 2)
    assert law.rate == 0 and law.conserved is True


def test_rescale_gd_broken_at_rate_eta(pair):
    """Dψ = diag(1, −1): KSB = e^{2t/η}(η/2)(ẇ₁² − ẇ₂²), proportional to η;
    charge e^{2t/η}(η/2)(w₁ẇ₁ − w₂ẇ₂).  Discrete GD:
    (w₁−ηg₁)² − (w₂−ηg₂)² = w₁² − w₂² − 2η(w₁g₁ − w₂g₂) + η²(g₁² − g₂²) and
    w₁g₁ − w₂g₂ = 0, so the discrete charge moves by η²(g₁² − g₂²) exactly."""
    w1, w2 = pair.coords
    v1, v2 = sn.velocities(pair.coords)
    law = sn.noether(pair.system(rules.gradient_descent(ETA)), pair.generators["rescale"])
    growth = sp.exp(2 * T / ETA)
    assert vanishes(law.charge - growth * ETA / 2 * (w1 * v1 - w2 * v2))
    assert vanishes(law.rate - growth * ETA / 2 * (v1**2 - v2**2))
    assert law.potential_breaking == 0 and law.conserved is False
    assert sp.diff(sp.simplify(law.kinetic_breaking / (ETA * growth)), ETA) == 0
    g1, g2 = gradient(pair.loss, pair.coords)
    moved = (w1 - ETA * g1) ** 2 - (w2 - ETA * g2) ** 2 - (w1**2 - w2**2)
    assert vanishes(moved - ETA**2 * (g1**2 - g2**2))


def test_rescale_weight_decay_restores_balance(pair):
    """GF + weight decay: rate −ψ·∇(λ/2(w₁² + w₂²)) = −λ(w₁² − w₂²) = −2λQ with
    Q = ½(w₁² − w₂²), so Q(t) = Q(0)e^{−2λt} → 0: balance restored (Ziyin et al.)."""
    w1, w2 = pair.coords
    law = sn.noether(
        pair.system(rules.gradient_flow(), [rules.weight_decay(LAM)]), pair.generators["rescale"]
    )
    assert law.loss_breaking == 0
    assert vanishes(law.rate + LAM * (w1**2 - w2**2))
    assert vanishes(law.rate + 2 * LAM * law.charge)
    Q, Q0 = sp.Function("Q"), sp.Symbol("Q0", real=True)
    solution = sp.dsolve(sp.Eq(Q(T).diff(T), -2 * LAM * Q(T)), Q(T), ics={Q(0): Q0})
    assert sp.simplify(solution.rhs - Q0 * sp.exp(-2 * LAM * T)) == 0


@pytest.fixture(scope="module")
def relu():
    return models.relu_network(2, 2)


def test_rescale_relu_network_with_max(relu):
    """Max(0, z) is positively homogeneous: ψ_j = (w_j, b_j, −a_j) on hidden unit j.
    GF charge ½(|w_j|² + b_j² − a_j²); under GD the KSB is
    e^{2t/η}(η/2)(|ẇ_j|² + ḃ_j² − ȧ_j²) and the potential breaking is exactly 0."""
    W = relu.coords[0]
    b1, a1 = relu.coords[1], relu.coords[3]
    Wd = [sn.velocity(W[0, j]) for j in range(2)]
    bd, ad = sn.velocity(b1), sn.velocity(a1)
    flow = sn.noether(relu.system(rules.gradient_flow()), relu.generators["rescale_1"])
    assert vanishes(flow.charge - (W[0, 0] ** 2 + W[0, 1] ** 2 + b1**2 - a1**2) / 2)
    assert flow.potential_breaking == 0 and flow.conserved is True
    gd = sn.noether(relu.system(rules.gradient_descent(ETA)), relu.generators["rescale_1"])
    hand = sp.exp(2 * T / ETA) * ETA / 2 * (Wd[0] ** 2 + Wd[1] ** 2 + bd**2 - ad**2)
    assert vanishes(gd.kinetic_breaking - hand)
    assert gd.potential_breaking == 0 and gd.conserved is False


# == 4. GL(r) symmetry of a two-layer linear network ================================


@pytest.fixture(scope="module")
def linear():
    model = models.linear_network(3, 2, 2)
    W1, W2 = model.coords
    return model, W1, W2, W1.applyfunc(sn.velocity), W2.applyfunc(sn.velocity)


SYM = sp.Matrix(2, 2, sp.symbols("a b b c", real=True))
ANTI = sp.Matrix([[0, sp.Symbol("s", real=True)], [-sp.Symbol("s", real=True), 0]])


def test_gl_gradient_flow_balancedness(linear):
    r"""For symmetric A, φ = ½tr(A(W₁W₁ᵀ − W₂ᵀW₂)) has ∂φ/∂W₁ = AW₁ and
    ∂φ/∂W₂ = −W₂A (A = Aᵀ): the first-order charge of ψ_A = (AW₁, −W₂A).
    As this holds for every symmetric A, the matrix W₁W₁ᵀ − W₂ᵀW₂ is conserved;
    checked directly too: d/dt(W₁W₁ᵀ − W₂ᵀW₂) along the engine's gradient flow is 0
    (Ẇ₁ = W₂ᵀE xᵀ, Ẇ₂ = E xᵀW₁ᵀ with E = y − W₂W₁x, so Ẇ₁W₁ᵀ = W₂ᵀ E (W₁x)ᵀ = W₂ᵀẆ₂)."""
    model, W1, W2, _, _ = linear
    system = model.system(rules.gradient_flow())
    law = sn.noether(system, (SYM * W1, -W2 * SYM))
    balance = W1 * W1.T - W2.T * W2
    assert vanishes(law.charge - (SYM * balance).trace() / 2)
    assert law.conserved is True
    flow = equations_of_motion(system).first_order().rhs
    rates = dict(zip(system.coords, flow, strict=True))
    W1dot, W2dot = W1.applyfunc(rates.get), W2.applyfunc(rates.get)
    d_balance = W1dot * W1.T + W1 * W1dot.T - W2dot.T * W2 - W2.T * W2dot
    assert all(vanishes(entry) for entry in d_balance)


def test_gl_antisymmetric_has_no_first_order_charge(linear):
    """For antisymmetric A, ∂(AW₁)_{1j}/∂(W₁)_{2j} = A₁₂ ≠ A₂₁ = ∂(AW₁)_{2j}/∂(W₁)_{1j}:
    ψ_A is not a gradient field, so gradient flow has no first-order charge."""
    model, W1, W2, _, _ = linear
    with pytest.raises(sn.NoFirstOrderChargeError, match="no first-order Noether charge"):
        sn.noether(model.system(rules.gradient_flow()), (ANTI * W1, -W2 * ANTI))


def test_gl_gd_antisymmetric_exactly_conserved(linear):
    """Dψ q̇ = (AẆ₁, −Ẇ₂A): KSB = e^{2t/η}(η/2)(tr(Ẇ₁ᵀAẆ₁) − tr(Ẇ₂AẆ₂ᵀ)), and
    xᵀAx = 0 for antisymmetric A kills both traces (NLD Sec. 5).  Charge:
    e^{2t/η}(η/2)(tr(Ẇ₁ᵀAW₁) − tr(Ẇ₂ᵀW₂A))."""
    model, W1, W2, W1d, W2d = linear
    law = sn.noether(model.system(rules.gradient_descent(ETA)), (ANTI * W1, -W2 * ANTI))
    hand = (
        sp.exp(2 * T / ETA) * ETA / 2 * ((W1d.T * ANTI * W1).trace() - (W2d.T * W2 * ANTI).trace())
    )
    assert vanishes(law.charge - hand)
    assert law.kinetic_breaking == 0 and law.potential_breaking == 0
    assert law.conserved is True


def test_gl_gd_symmetric_broken_by_kinetic_term(linear):
    """Same KSB formula with symmetric A: tr(Ẇ₁ᵀAẆ₁) − tr(Ẇ₂AẆ₂ᵀ) ≠ 0."""
    model, W1, W2, W1d, W2d = linear
    law = sn.noether(model.system(rules.gradient_descent(ETA)), (SYM * W1, -W2 * SYM))
    hand = (
        sp.exp(2 * T / ETA) * ETA / 2 * ((W1d.T * SYM * W1d).trace() - (W2d * SYM * W2d.T).trace())
    )
    assert nonzero(hand)
    assert vanishes(law.kinetic_breaking - hand)
    assert law.potential_breaking == 0 and law.conserved is False


# == 5. Physics sanity ============================================================


@pytest.mark.parametrize("dim", [2, 3])
def test_kepler_angular_momentum(dim):
    """V = −k/|q|, T = ½|q̇|² (τ = ∞).  ψ = rotation in the (i, j) plane,
    ψᵢ = −q_j, ψ_j = qᵢ: Q = q̇·ψ = qᵢq̇_j − q_jq̇ᵢ; Dψ antisymmetric ⇒ no KSB;
    ψ·∇V = (k/|q|³)(−q_jqᵢ + qᵢq_j) = 0."""
    model = models.kepler(dim)
    system = model.system()
    q, v = model.coords, sn.velocities(model.coords)
    for i in range(dim):
        for j in range(i + 1, dim):
            law = sn.noether(system, model.generators[f"rotation_{i + 1}{j + 1}"])
            assert vanishes(law.charge - (q[i] * v[j] - q[j] * v[i]))
            assert law.rate == 0 and law.conserved is True


def test_oscillator_rotations_conserved():
    model = models.oscillator(2)
    q1, q2 = model.coords
    v1, v2 = sn.velocities(model.coords)
    law = sn.noether(model.system(), model.generators["rotation_12"])
    assert vanishes(law.charge - (q1 * v2 - q2 * v1))
    assert law.conserved is True


def test_oscillator_affine_symmetries_are_rotations_only():
    """ψ = Aq + c, V = ½|q|²: ψ·∇V = qᵀAq + c·q ≡ 0 ⟺ A + Aᵀ = 0 and c = 0.
    Solve the engine's loss_breaking ≡ 0 for the six coefficients."""
    model = models.oscillator(2)
    q = sp.Matrix(model.coords)
    A = sp.Matrix(2, 2, sp.symbols("A11 A12 A21 A22", real=True))
    c = sp.Matrix(sp.symbols("c1 c2", real=True))
    law = sn.noether(model.system(), A * q + c)
    breaking = sp.Poly(sp.expand(law.loss_breaking), *q)
    (solution,) = sp.solve(breaking.coeffs(), [*A, *c], dict=True)
    assert (A + A.T).subs(solution) == sp.zeros(2, 2)
    assert c.subs(solution) == sp.zeros(2, 1)
    assert A.subs(solution) != sp.zeros(2, 2)  # one free parameter: so(2)


def test_kepler_translation_is_not_a_symmetry():
    """ψ = e₁: Q = q̇₁ and Newton gives dQ/dt = q̈₁ = −∂V/∂q₁ = −k q₁/|q|³ —
    all of it loss breaking (no KSB: Dψ = 0)."""
    model = models.kepler(2)
    q1, q2 = model.coords
    k = sp.Symbol("k", positive=True)
    law = sn.noether(model.system(), sp.Matrix([1, 0]))
    hand = -k * q1 / (q1**2 + q2**2) ** sp.Rational(3, 2)
    assert vanishes(law.charge - sn.velocity(q1))
    assert law.kinetic_breaking == 0
    assert vanishes(law.loss_breaking - hand) and nonzero(law.loss_breaking)
    assert law.conserved is False and law.broken_by == ("loss",)


# == Robustness of the zero test inside noether ======================================

_W1, _W2 = sn.coordinates("w1 w2")
_X, _Y = sn.data("x y")
_U = _W1 * _W2  # rescale-invariant combination

RESCALE_INVARIANT = {
    "float": (_Y - 0.3 * _U * _X) ** 2,
    "float_cancelling": 0.1 * _U**2 + 0.2 * _U**2 - 0.7 * _U * _X,
    "exp_log": sp.exp(_U * _X) + sp.log(1 + (_U - _Y) ** 2),
    "sqrt": sp.sqrt(1 + (_U * _X - _Y) ** 2),
    "abs": sp.Abs(_U * _X - _Y),
    "max": sp.Max(0, _U * _X - _Y) ** 2,
}


@pytest.mark.parametrize("name", sorted(RESCALE_INVARIANT))
def test_rescale_law_robust_zero_test(name):
    """Every loss is a function g(w₁w₂; x, y): ψ = (w₁, −w₂) gives ψ·∇V = 0 exactly,
    whatever g is.  GF: conserved; GD: broken by the kinetic term only.  The scale
    generator (w₁, w₂) is not a symmetry: ψ·∇V = 2u g'(u), u = w₁w₂, so
    loss_breaking = −2u ∂V/∂u ≠ 0."""
    loss = RESCALE_INVARIANT[name]
    flow = sn.LearningSystem((_W1, _W2), loss, rule=rules.gradient_flow(), data=(_X, _Y))
    gd = sn.LearningSystem((_W1, _W2), loss, rule=rules.gradient_descent(ETA), data=(_X, _Y))
    law = sn.noether(flow, (_W1, -_W2))
    assert law.potential_breaking is sp.S.Zero and law.conserved is True
    law = sn.noether(gd, (_W1, -_W2))
    assert law.potential_breaking is sp.S.Zero and law.conserved is False
    u = sp.Symbol("u", real=True)
    g = loss.subs(_W1, u / _W2)  # V = g(u) with u = w₁w₂
    assert not g.has(_W1, _W2)
    hand = (-2 * u * sp.diff(g, u)).subs(u, _U)
    broken = sn.noether(flow, (_W1, _W2))
    assert broken.conserved is False
    assert vanishes(broken.loss_breaking - hand) and nonzero(broken.loss_breaking)


_R = sp.sqrt(_W1**2 + _W2**2)

SCALE_INVARIANT = {
    "float": (0.3 - 0.7 * _W1 / _R) ** 2,
    "abs_log": sp.log(1 + sp.Abs(_W1) / _R),
    "max_exp": sp.exp(sp.Max(_W1, _W2) / _R),
}


@pytest.mark.parametrize("name", sorted(SCALE_INVARIANT))
def test_scale_law_robust_zero_test(name):
    """Each loss is homogeneous of degree 0 in (w₁, w₂) (|αw₁|/|αw| = |w₁|/|w|,
    Max(αw₁, αw₂) = αMax(w₁, w₂) for α > 0): ψ = w has ψ·∇V = 0."""
    loss = SCALE_INVARIANT[name]
    flow = sn.LearningSystem((_W1, _W2), loss, rule=rules.gradient_flow())
    law = sn.noether(flow, (_W1, _W2))
    assert law.potential_breaking is sp.S.Zero and law.conserved is True
    assert vanishes(law.charge - (_W1**2 + _W2**2) / 2)


def test_translation_law_robust_zero_test():
    """Softmax with float offsets: log(e^{b₁+0.3} + e^{b₂−1.2}) − b₁ depends on b₁ − b₂
    only, so ψ = (1, 1) is a symmetry; under GD the charge is conserved exactly."""
    b1, b2 = sn.coordinates("b1 b2")
    loss = sp.log(sp.exp(b1 + 0.3) + sp.exp(b2 - 1.2)) - b1
    law = sn.noether(sn.LearningSystem((b1, b2), loss, rule=rules.gradient_descent(ETA)), (1, 1))
    assert law.potential_breaking is sp.S.Zero and law.conserved is True


_TINY = {
    "weight_decay_1e-14": (
        (_W1 * _W2 * _X - _Y) ** 2,
        [rules.weight_decay(1e-14)],
        (_W1, -_W2),
        # −ψ·∇(λ/2)(w₁² + w₂²) = −λ(w₁² − w₂²)
        -1e-14 * (_W1**2 - _W2**2),
    ),
    "loss_scaled_1e-14": (
        1e-14 * (_W1 * _W2 * _X - _Y) ** 2,
        [],
        (_W1, _W2),
        # −(w₁∂₁ + w₂∂₂)V = −2u ∂V/∂u, u = w₁w₂: −4e-14 u x (u x − y)
        -4e-14 * _U * _X * (_U * _X - _Y),
    ),
}


@pytest.mark.parametrize("name", sorted(_TINY))
def test_small_float_coefficients_are_not_round_off(name):
    """A small but exact coefficient is data, not round-off: the breaking is
    proportional to it (hand values above) and the law is not conserved."""
    loss, regularizers, generator, hand = _TINY[name]
    system = sn.LearningSystem(
        (_W1, _W2), loss, rule=rules.gradient_flow(), data=(_X, _Y), regularizers=regularizers
    )
    law = sn.noether(system, generator)
    assert law.conserved is False
    assert vanishes(sp.nsimplify(law.potential_breaking - hand, rational=True))
