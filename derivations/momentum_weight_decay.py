"""Neural Mechanics' broken laws under momentum and weight decay: damped-oscillator charge ODEs.

One small network carries the three symmetry families of Neural Mechanics: a
normalized unit (weights w, scale symmetry) feeds a scalar path u₂u₁ (rescale
symmetry) into a two-class softmax with biases b (translation symmetry). Under
heavy-ball momentum (step η, momentum β) with weight decay λ, the Noether law
of each family closes into a linear ODE for its quadratic charge,

    scale:        s'' + 2γ s' + ω² s = 2|ẇ|²,             s = |w|²
    rescale:      D'' + 2γ D' + ω² D = 2(u̇₁² − u̇₂²),      D = u₁² − u₂²
    translation:  P'' + 2γ P' + ω_T² P = 0,                 P = 𝟙·b

with γ = (1−β)/(η(1+β)), ω² = 4λ/(η(1+β)), ω_T² = 2λ/(η(1+β)); SymPy's
``dsolve`` solves them in closed form (Green's function of the damped
oscillator) in the under-, critically and over-damped regimes.

Which modified flow? The engine puts weight decay inside the potential:
its Lagrangian is the modified equation of GD on V + (λ/2)|θ|², whose
first-order flow θ̇ = −∇U − (η/2)H_U∇U (U = V + (λ/2)|θ|²) decays the charges at
rates λ + ηλ²/2 (translation) and 2λ + ηλ² (scale, rescale), as discrete GD
does (−log(1−ηλ)/η = λ + ηλ²/2 + O(η²λ³)). Neural Mechanics keeps weight decay
outside the modified loss and gets λ and 2λ: an O(ηλ²) error, measured below
against the real optimizer at two step sizes (its error halves with η, the
engine's quarters).

Everything below is derived by symnoether and asserted: run
``symnoether run derivations/momentum_weight_decay.py``.

References
----------
D. Kunin, J. Sagastuy-Brena, S. Ganguli, D. L. K. Yamins, H. Tanaka,
"Neural Mechanics: Symmetry and Broken Conservation Laws in Deep Learning
Dynamics", ICLR 2021, arXiv:2012.04728, Sec. 5 and Appendix (modified flows
with momentum and weight decay; the damped-oscillator forms of the laws).
H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
arXiv:2105.02716, Sec. 3 (the damped Lagrangian of heavy ball).
"""

from __future__ import annotations

import numpy as np
import sympy as sp

import symnoether as sn
from symnoether.core import is_zero

ETA, BETA, LAM = sp.symbols("eta beta lambda", positive=True)
GAMMA, OMEGA = sp.symbols("gamma omega", positive=True)
T = sn.TIME
Q = sp.Function("Q")(T)  # the quadratic charge: s, D or P
F = sp.Function("F")  # its forcing: 2|ẇ|², 2(u̇₁² − u̇₂²) or 0
Q0, Q1 = sp.symbols("Q_0 Q_1", real=True)  # Q(0), Q'(0)
REGIMES = ("under-damped", "critically damped", "over-damped")


def network() -> tuple:
    """(coords, data, loss, generators) of the scale → rescale → softmax network."""
    w1, w2, u1, u2, b1, b2 = sn.coordinates("w1 w2 u1 u2 b1 b2")
    x1, x2 = sn.data("x1 x2")
    unit = (w1 * x1 + w2 * x2) / sp.sqrt(w1**2 + w2**2)  # normalized: scale invariant
    logits = (u2 * u1 * unit + b1, b2)  # a rescalable path, then softmax
    loss = sp.log(sp.exp(logits[0]) + sp.exp(logits[1])) - logits[0]
    generators = {
        "scale": (w1, w2, 0, 0, 0, 0),
        "rescale": (0, 0, u1, -u2, 0, 0),
        "translation": (0, 0, 0, 0, 1, 1),
    }
    return (w1, w2, u1, u2, b1, b2), (x1, x2), loss, generators


def derivation() -> sn.Derivation:
    """Derive the three laws, their ODEs, the closed forms; check against discrete optimizers."""
    coords, data, loss, generators = network()
    decay = sn.rules.weight_decay(LAM)
    system = sn.LearningSystem(
        coords, loss, rule=sn.rules.momentum(ETA, BETA), data=data, regularizers=[decay]
    )
    deriv = sn.derive(system, generators, title=__doc__.splitlines()[0])
    assert all(law.is_symmetry for law in deriv.laws)
    assert deriv.law("scale").broken_by == ("kinetic term", "weight decay")
    assert deriv.law("rescale").broken_by == ("kinetic term", "weight decay")
    assert deriv.law("translation").broken_by == ("weight decay",)

    gamma = (1 - BETA) / (ETA * (1 + BETA))
    omega2 = 4 * LAM / (ETA * (1 + BETA))
    odes = {name: _charge_ode(system, deriv.law(name)) for name in generators}
    for name, stiffness in (("scale", omega2), ("rescale", omega2), ("translation", omega2 / 2)):
        damping, found = _coefficients(odes[name])
        assert sp.simplify(damping - 2 * gamma) == 0, name
        assert sp.simplify(found - stiffness) == 0, name
    closed = _closed_forms()
    flow = _modified_flow(system)
    rates = _decay_rates()
    _check_rates_on_discrete_gd()
    _check_closed_forms_on_heavy_ball(closed)

    result = deriv
    labels = {
        "scale": "Q = |w|², F = 2|ẇ|²",
        "rescale": "Q = u₁² − u₂², F = 2(u̇₁² − u̇₂²)",
        "translation": "Q = 𝟙·b, ω_T² = ω²/2",
    }
    for name in generators:
        ode = _display(odes[name], gamma, omega2)
        result = result.with_result(f"{name}: charge ODE ({labels[name]})", ode)
    result = result.with_result("damping γ", sp.Eq(GAMMA, gamma))
    result = result.with_result("frequency ω²", sp.Eq(OMEGA**2, omega2))
    result = result.with_result("critical weight decay (scale, rescale)", _critical())
    notes = {"under-damped": " (Ω² = ω² − γ²)", "over-damped": " (κ² = γ² − ω²)"}
    for regime in REGIMES:
        result = result.with_result(f"{regime} solution{notes.get(regime, '')}", closed[regime])
    result = result.with_result("engine's modified flow (β = 0)", flow)
    for label, value in rates.items():
        result = result.with_result(label, value)
    return result


# -- the charge ODEs ---------------------------------------------------------------


def _quadratic(system: sn.LearningSystem, generator: sp.Matrix) -> sp.Expr:
    """The charge's quadratic: qᵀψ (= |w|², u₁² − u₂²) or 𝟙·b for a translation."""
    return sp.expand((generator.T * sp.Matrix(system.coords))[0])


def _time_derivative(expr: sp.Expr, system: sn.LearningSystem) -> sp.Expr:
    """d/dt of a function of the coordinates along the motion: Σ q̇ ∂/∂q."""
    pairs = zip(system.coords, system.velocities, strict=True)
    return sp.Add(*[v * sp.diff(expr, q) for q, v in pairs])


def _charge_ode(system: sn.LearningSystem, law: sn.NoetherLaw) -> sp.Expr:
    """The law d/dt Q = rate as a linear ODE for X = qᵀψ, returned as lhs − rhs with X'' of
    coefficient 1 (X is written Q(t), the forcing 2q̇ᵀAq̇ is written F(t)).

    By hand, with m the mass and τ the damping time:
    ψ = Aq, A symmetric: Q₀ = (m/2) X', kinetic m q̇ᵀAq̇ = (m/2)F, potential −λX, so
    (m/2)X'' + (m/2τ)X' + λX = (m/2)F; ``sn.charge_equation`` derives it, asserted here.
    Translation ψ = 𝟙 on b (not linear, so derived here): Q₀ = m X', no kinetic breaking,
    potential −λX, so mX'' + (m/τ)X' + λX = 0.
    """
    factor, mass, tau = system.damping_factor, system.rule.mass_scale, system.rule.tau
    quadratic = _quadratic(system, law.generator)
    if all(entry.is_number for entry in law.generator):  # the translation
        rate = _time_derivative(quadratic, system)
        assert is_zero(law.charge / factor - mass * rate), "Q = e^{t/τ} m dX/dt"
        assert law.kinetic_breaking == 0
        assert is_zero(law.potential_breaking / factor + LAM * quadratic)
        residual = sp.diff(factor * mass * Q.diff(T), T) / factor + LAM * Q
        return sp.expand(residual / mass)
    found = sn.charge_equation(law, name="Q")
    assert is_zero(found.quantity - quadratic)
    speeds = dict(zip(system.coords, system.velocities, strict=True))
    forcing = 2 * quadratic.xreplace(speeds)  # 2|ẇ|², 2(u̇₁² − u̇₂²)
    hand = mass / 2 * Q.diff(T, 2) + mass / (2 * tau) * Q.diff(T) + LAM * Q
    assert sp.simplify(found.equation.lhs - hand) == 0, found.equation
    assert is_zero(found.equation.rhs - mass * forcing / 2), found.equation
    return sp.expand((found.equation.lhs - mass * F(T) / 2) / (mass / 2))


def _coefficients(ode: sp.Expr) -> tuple:
    """(2γ, ω²) of Q'' + 2γQ' + ω²Q − F = 0, checked to have that form."""
    damping = sp.simplify(ode.coeff(Q.diff(T)))
    stiffness = sp.simplify(ode.subs(Q.diff(T, 2), 0).subs(Q.diff(T), 0).coeff(Q))
    assert sp.simplify(ode.coeff(Q.diff(T, 2)) - 1) == 0
    rest = sp.simplify(ode - Q.diff(T, 2) - damping * Q.diff(T) - stiffness * Q)
    assert rest in (0, -F(T)), rest
    return sp.factor(damping), sp.factor(stiffness)


def _display(ode: sp.Expr, gamma: sp.Expr, omega2: sp.Expr) -> sp.Eq:
    damping, stiffness = _coefficients(ode)
    forced = ode.has(F)
    lhs = Q.diff(T, 2) + 2 * GAMMA * Q.diff(T)
    lhs += (OMEGA**2 if sp.simplify(stiffness - omega2) == 0 else OMEGA**2 / 2) * Q
    assert sp.simplify(damping - 2 * gamma) == 0
    return sp.Eq(lhs, F(T) if forced else 0)


def _critical() -> sp.Eq:
    """ω = γ ⇔ λ = (1−β)²/(4η(1+β)) (under-damped above, over-damped below)."""
    gamma = (1 - BETA) / (ETA * (1 + BETA))
    (critical,) = sp.solve(sp.Eq(4 * LAM / (ETA * (1 + BETA)), gamma**2), LAM)
    assert sp.simplify(critical - (1 - BETA) ** 2 / (4 * ETA * (1 + BETA))) == 0
    return sp.Eq(sp.Symbol("lambda_c"), critical)


# -- closed forms -------------------------------------------------------------------


def _closed_forms() -> dict:
    """Q'' + 2γQ' + ω²Q = F, Q(0) = Q₀, Q'(0) = Q₁, for each regime: dsolve gives the free
    motion; its impulse response G is the Green's function; Q = free + ∫₀ᵗ G(t−u)F(u)du.
    Each is checked against the ODE and the initial conditions, and against the textbook
    form e^{−γt}[Q₀ c(t) + (Q₁ + γQ₀) s(t)] + ∫₀ᵗ e^{−γ(t−u)} s(t−u) F(u) du with
    (c, s) = (cos Ωt, sin(Ωt)/Ω), (1, t), (cosh κt, sinh(κt)/κ), which is returned."""
    big_omega, kappa = sp.symbols("Omega kappa", positive=True)
    regimes = {  # ω², and the (c, s) pair of the textbook form
        "under-damped": (
            GAMMA**2 + big_omega**2,
            sp.cos,
            lambda x: sp.sin(big_omega * x) / big_omega,
        ),
        "critically damped": (GAMMA**2, None, lambda x: x),
        "over-damped": (GAMMA**2 - kappa**2, sp.cosh, lambda x: sp.sinh(kappa * x) / kappa),
    }
    u = sp.Symbol("u", positive=True)
    forms = {}
    for regime, (omega2, even, odd) in regimes.items():
        free_ode = Q.diff(T, 2) + 2 * GAMMA * Q.diff(T) + omega2 * Q
        initial = {Q.subs(T, 0): Q0, Q.diff(T).subs(T, 0): Q1}
        free = sp.dsolve(free_ode, Q, ics=initial).rhs
        green = free.subs({Q0: 0, Q1: 1})
        solution = free + sp.Integral(green.subs(T, T - u) * F(u), (u, 0, T))
        assert _solves(solution, omega2, u), regime
        assert sp.simplify(_at_zero(solution, u) - Q0) == 0
        assert sp.simplify(_at_zero(solution.diff(T), u) - Q1) == 0
        frequency = big_omega if regime == "under-damped" else kappa
        c = 1 if even is None else even(frequency * T)
        textbook_free = sp.exp(-GAMMA * T) * (Q0 * c + (Q1 + GAMMA * Q0) * odd(T))
        assert is_zero((free - textbook_free).rewrite(sp.exp)), regime
        assert is_zero((green - sp.exp(-GAMMA * T) * odd(T)).rewrite(sp.exp)), regime
        kernel = sp.exp(-GAMMA * (T - u)) * odd(T - u)
        forms[regime] = sp.Eq(Q, textbook_free + sp.Integral(kernel * F(u), (u, 0, T)))
    return forms


def _solves(solution: sp.Expr, omega2: sp.Expr, u: sp.Symbol) -> bool:
    """Q'' + 2γQ' + ω²Q = F for Q = free + ∫₀ᵗ G(t−u)F(u)du. Differentiating under the
    integral (Leibniz) leaves boundary terms and integrals over the same (u, 0, t); the
    boundary terms must give F(t) and the integrands must cancel (they are linear in F(u))."""
    residual = solution.diff(T, 2) + 2 * GAMMA * solution.diff(T) + omega2 * solution
    integrals = residual.atoms(sp.Integral)
    assert all(integral.limits == ((u, 0, T),) for integral in integrals)
    boundary = residual.xreplace({integral: 0 for integral in integrals})
    integrand = residual.xreplace({i: i.function for i in integrals}) - boundary
    integrand = sp.expand(integrand.subs(F(u), 1))
    return sp.simplify(boundary - F(T)) == 0 and sp.simplify(integrand) == 0


def _at_zero(expr: sp.Expr, u: sp.Symbol) -> sp.Expr:
    """``expr`` at t = 0, where every ∫₀ᵗ … du vanishes."""
    expr = expr.subs(T, 0)
    empty = [i for i in expr.atoms(sp.Integral) if i.limits == ((u, 0, 0),)]
    return expr.xreplace({integral: 0 for integral in empty})


# -- which modified flow, and the O(ηλ²) difference -----------------------------------


def _modified_flow(system: sn.LearningSystem) -> sp.Eq:
    """The engine's Lagrangian at β = 0: (η/2)θ̈ + θ̇ = −∇U, U = V + (λ/2)|θ|². Eliminating θ̈
    to first order (θ̈ ≈ H_U∇U) gives θ̇ = −∇U − (η/2)H_U∇U, weight decay *inside* the modified
    loss. Along it: P' = −(λ + ηλ²/2)P, s' = −(2λ + ηλ²)s + η|∇_wV|²."""
    eom = sn.equations_of_motion(system)
    gd = {BETA: 0}
    coords = system.coords
    grad_u = sp.Matrix([sp.diff(system.potential, q) for q in coords])
    # the Lagrangian's equation of motion is (η/2)θ̈ + θ̇ + ∇U = 0
    velocities = sp.Matrix(system.velocities)
    residual = sp.Matrix(eom.solved).subs(gd) * ETA / 2 + velocities + grad_u
    assert all(is_zero(entry) for entry in residual)
    # H_U∇U = ∇(½|∇U|²); only the rows of w (0, 1) and b (4, 5) are needed.
    half_square = (grad_u.T * grad_u)[0] / 2
    field = {i: -grad_u[i] - ETA / 2 * sp.diff(half_square, coords[i]) for i in (0, 1, 4, 5)}
    b_rate = field[4] + field[5]
    assert is_zero(b_rate + (LAM + ETA * LAM**2 / 2) * (coords[4] + coords[5]))
    w = sp.Matrix(coords[:2])
    grad_w = sp.Matrix([sp.diff(system.loss, q) for q in coords[:2]])
    s = (w.T * w)[0]
    s_rate = 2 * (w[0] * field[0] + w[1] * field[1])
    assert is_zero(s_rate - (-(2 * LAM + ETA * LAM**2) * s + ETA * (grad_w.T * grad_w)[0]))
    n = len(coords)
    grad, hess = sp.MatrixSymbol("g_U", n, 1), sp.MatrixSymbol("H_U", n, n)
    return sp.Eq(sp.MatrixSymbol("thetadot", n, 1), -grad - ETA / 2 * hess * grad)


def _decay_rates() -> dict:
    """Decay rates per unit time t = kη: discrete GD −log(1−ηλ)/η, the engine's (slow root of
    its charge ODE at β = 0), Neural Mechanics' λ. Engine − discrete = O(η²λ³);
    Neural Mechanics − discrete = −ηλ²/2 + O(η²λ³)."""
    discrete = -sp.log(1 - ETA * LAM) / ETA
    r = sp.Symbol("r")
    # translation, β = 0: (η/2)r² + r + λ = 0; the slow root is the one that → −λ as η → 0.
    roots = sp.solve(ETA / 2 * r**2 + r + LAM, r)
    (slow,) = [root for root in roots if sp.limit(root, ETA, 0) == -LAM]
    engine = -slow
    series = sp.series(engine - discrete, ETA, 0, 3).removeO()
    assert sp.simplify(series - ETA**2 * LAM**3 / 6) == 0
    neural_mechanics = sp.series(LAM - discrete, ETA, 0, 2).removeO()
    assert sp.simplify(neural_mechanics + ETA * LAM**2 / 2) == 0
    # scale: s'' + (2/η)s' + (4λ/η)s = 2|ẇ|², |ẇ|² = |g|² + λ²s at leading order:
    roots = sp.solve(r**2 + 2 / ETA * r + 4 * LAM / ETA - 2 * LAM**2, r)
    (slow,) = [root for root in roots if sp.limit(root, ETA, 0) == -2 * LAM]
    scale_series = sp.series(-slow - 2 * discrete, ETA, 0, 2).removeO()
    assert sp.simplify(scale_series) == 0, scale_series
    return {
        "decay rate, translation (engine)": sp.series(engine, ETA, 0, 3),
        "decay rate, scale (engine)": sp.series(-slow, ETA, 0, 2),
        "decay rate, discrete GD": sp.series(discrete, ETA, 0, 3),
    }


def _gradient():
    coords, data, loss, _ = network()
    grad = [sp.diff(loss, q) for q in coords]
    return sp.lambdify([coords, data], grad, "numpy")


def _check_rates_on_discrete_gd(lam: float = 0.5, time: float = 4.0) -> None:
    """Real GD with weight decay on the network. Its charges obey, exactly,
    P_{k+1} = (1−ηλ)P_k, s_{k+1} = (1−ηλ)²s_k + η²|g_w|²,
    D_{k+1} = (1−ηλ)²D_k + η²(g_{u1}² − g_{u2}²).
    Predict P, s, D at t = T with the continuous kernel e^{−c(t−u)} and the decay rate c of
    Neural Mechanics (λ, 2λ) or of the engine (λ + ηλ²/2, 2λ + ηλ²): halving η halves
    Neural Mechanics' error (O(ηλ²)) and quarters the engine's (O(η²λ³))."""
    grad = _gradient()
    rng = np.random.default_rng(7)
    start = rng.normal(size=6)
    samples = rng.normal(size=(round(time / 0.005), 2))
    errors = {"nm": [], "engine": []}
    for eta in (0.02, 0.01):
        theta, kicks = start.copy(), []
        steps = round(time / eta)
        for k in range(steps):
            g = np.array(grad(theta, samples[k]))
            kicks.append((g[:2] @ g[:2], g[2] ** 2 - g[3] ** 2))
            theta = (1 - eta * lam) * theta - eta * g
        kicks = np.array(kicks)
        lag = time - eta * np.arange(1, steps + 1)  # t − u for the kick of step k
        final = (theta[4] + theta[5], theta[:2] @ theta[:2], theta[2] ** 2 - theta[3] ** 2)
        initial = (start[4] + start[5], start[:2] @ start[:2], start[2] ** 2 - start[3] ** 2)
        for name, c1 in (("nm", lam), ("engine", lam + eta * lam**2 / 2)):
            c2 = 2 * c1
            predicted = (
                np.exp(-c1 * time) * initial[0],
                np.exp(-c2 * time) * initial[1] + eta**2 * np.exp(-c2 * lag) @ kicks[:, 0],
                np.exp(-c2 * time) * initial[2] + eta**2 * np.exp(-c2 * lag) @ kicks[:, 1],
            )
            scale = np.abs(initial) * np.exp(-c2 * time) + 1e-300
            errors[name].append(np.abs(np.subtract(final, predicted)) / scale)
    nm, engine = np.array(errors["nm"]), np.array(errors["engine"])
    assert np.all((nm[0] / nm[1] > 1.8) & (nm[0] / nm[1] < 2.2)), nm  # O(η)
    assert np.all((engine[0] / engine[1] > 3.5) & (engine[0] / engine[1] < 4.5)), engine  # O(η²)
    assert np.all(engine < nm / 10)


def _check_closed_forms_on_heavy_ball(closed: dict, time: float = 5.0) -> None:
    """Real heavy ball with weight decay: the translation charge P = 𝟙·b follows the closed
    form of its regime. Scaling 1 − β = cη and λ = ℓη keeps γ ≈ c/2 and ω_T² ≈ ℓ fixed as
    η → 0; the discrete run approaches the closed form (error halves with η), and it
    oscillates (changes sign) exactly in the under-damped regime."""
    u = sp.Symbol("u", positive=True)
    free = {regime: form.rhs.subs(F(u), 0).doit() for regime, form in closed.items()}
    grad = _gradient()
    rng = np.random.default_rng(8)
    start = rng.normal(size=6)
    c = 2.0  # γ ≈ 1
    for regime, ell in (("under-damped", 5.0), ("critically damped", None), ("over-damped", 0.36)):
        errors, sign_changes = [], []
        for eta in (0.02, 0.01):
            beta = 1 - c * eta
            gamma = (1 - beta) / (eta * (1 + beta))
            lam = gamma**2 * eta * (1 + beta) / 2 if ell is None else ell * eta
            omega2 = 2 * lam / (eta * (1 + beta))
            exact = _translation_solution(free, gamma, omega2, start[4] + start[5])
            previous, theta, values = start.copy(), start.copy(), []
            for k in range(round(time / eta)):
                values.append(theta[4] + theta[5])
                g = np.array(grad(theta, rng.normal(size=2)))
                step = -eta * (g + lam * theta) + beta * (theta - previous)
                previous, theta = theta, theta + step
            times = eta * np.arange(len(values))
            errors.append(np.abs(np.array(values) - exact(times)).max())
            sign_changes.append(np.count_nonzero(np.diff(np.sign(values))))
        assert 1.6 < errors[0] / errors[1] < 2.4, (regime, errors)
        assert errors[1] < 0.05 * abs(start[4] + start[5]), (regime, errors)
        assert (min(sign_changes) > 0) == (regime == "under-damped"), (regime, sign_changes)


def _translation_solution(free: dict, gamma: float, omega2: float, p0: float):
    """P(t) of P'' + 2γP' + ω²P = 0, P(0) = p0, P'(0) = 0, from the closed forms above."""
    big_omega, kappa = sp.symbols("Omega kappa", positive=True)
    if abs(omega2 - gamma**2) < 1e-9 * gamma**2:
        regime, extra = "critically damped", {}
    elif omega2 > gamma**2:
        regime, extra = "under-damped", {big_omega: np.sqrt(omega2 - gamma**2)}
    else:
        regime, extra = "over-damped", {kappa: np.sqrt(gamma**2 - omega2)}
    expr = free[regime].subs({GAMMA: gamma, Q0: p0, Q1: 0, **extra})
    return sp.lambdify(T, expr, "numpy")


if __name__ == "__main__":
    print(derivation())
