r"""The equation of a quadratic charge: the closed ODE the papers write for D = qᵀSq.

For a linear generator ψ = Aq whose mass-weighted matrix is symmetric (the rule's mass
M = m·G constant, S = GA = Sᵀ; S = A for the rules with G = I: a rescaling such as
(u₁, −u₃), the symmetric part of gl(r), a scale symmetry), the Noether charge is a
function of the quadratic D = qᵀSq alone:

    second order:  Q = e^{t/τ} q̇ᵀMAq = e^{t/τ} (m/2) Ḋ,        since ⟨q̇, Sq⟩ = Ḋ/2,
    gradient flow: Q = ½ qᵀMAq = (m/2) D.

The kinetic breaking pr ψ(T) = q̇ᵀMAq̇ = m q̇ᵀSq̇ (⟨q̈, Sq⟩ = D̈/2 − q̇ᵀSq̇ is where it comes
from), and weight decay λ on every coordinate ψ moves breaks by −ψ·∇(λ/2)|q|² = −λD.
Noether's law dQ/dt = rate (Tanaka & Kunin [2]_), divided by e^{t/τ}, is then the linear
ODE the papers write (Kunin et al. [1]_, Sec. 5)

    (m/2) D̈ + (m/2τ) Ḋ + κ D = m q̇ᵀSq̇ (+ what else breaks ψ)        (order 2)
    (m/2) Ḋ + κ D = (what breaks ψ, beyond κD)                         (gradient flow)

with κD the regularizers' breaking when it is a multiple of D (κ = λ for weight decay).
Under gradient descent (m = τ = η/2): (η/4)D̈ + ½Ḋ + λD = (η/2) q̇ᵀSq̇; under heavy ball
(m = η(1+β)/2, m/τ = 1 − β): (η(1+β)/4)D̈ + ((1−β)/2)Ḋ + λD = (η(1+β)/2) q̇ᵀSq̇; under
gradient flow ½Ḋ + λD = 0, so D(t) = D(0)e^{−2λt}. The equation closes in D (and
:func:`sympy.dsolve` solves it) exactly when its right-hand side is free of q and q̇.
Under minibatch SGD, Ḋ is the expected rate E[dD]/dt and the right-hand side holds the
finite-step and noise-drift terms of the law (:mod:`symnoether.core.stochastic`), written
c(q)·D when D divides them (the law of balance).

Every equation is verified before it is returned: with D = qᵀSq, Ḋ = Σ q̇ᵢ∂D/∂qᵢ and D̈
the total derivative of Ḋ with q̈ from the Euler–Lagrange equations (q̇ from the flow
under gradient flow; under SGD Ḋ by Itô's formula from the stochastic modified equation,
with the noise covariance and ∇²V formed explicitly), left side minus right side must be
identically zero; the charge
and kinetic breaking of the law must equal (m/2)Ḋ (or (m/2)D) and m q̇ᵀSq̇.

References
----------
.. [1] D. Kunin et al., "Neural Mechanics: Symmetry and Broken Conservation Laws in Deep
   Learning Dynamics", ICLR 2021, arXiv:2012.04728, Sec. 5 (the charges' ODEs under
   momentum and weight decay).
.. [2] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021,
   arXiv:2105.02716, Sec. 4 (kinetic symmetry breaking of rescale symmetry).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> u1, u2, u3 = sn.coordinates("u1 u2 u3")
>>> x, y = sn.data("x y")
>>> eta = sp.Symbol("eta", positive=True)
>>> gd = sn.LearningSystem((u1, u2, u3), (y - u3 * u1 * x) ** 2 / 2 + u2**2,
...                        rule=sn.rules.gradient_descent(eta), data=(x, y))
>>> found = sn.charge_equation(sn.noether(gd, (u1, 0, -u3)))
>>> found.quantity
u1**2 - u3**2
>>> print(found.text_equation)
eta*D''/4 + D'/2 = eta*(udot1**2 - udot3**2)/2
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import InvalidGeneratorError, InvalidInputError, NotSupportedError, VerificationError
from .charge_display import term_latex, term_text
from .display import Notation, scalar_identity, table_text, vector_text
from .dynamics import equations_of_motion
from .jet import is_zero, readable, total_derivative
from .matrix_charge_equation import MatrixChargeEquation, matrix_charge_equation
from .matrix_noether import MatrixNoetherLaw
from .matrix_system import MatrixSystem
from .noether import NoetherLaw, noether
from .stochastic import noise_covariance, sme_coefficients
from .system import LearningSystem
from .typeset import Row, aligned
from .vocabulary import TIME

__all__ = ["ChargeEquation", "charge_equation"]


@dataclass(frozen=True)
class ChargeEquation:
    """The closed ODE of a quadratic charge D = qᵀSq, derived from a Noether law.

    Attributes
    ----------
    law : NoetherLaw
        The law it was derived from.
    matrix : ImmutableMatrix
        S (symmetric), with D = qᵀSq; S = A for ψ = Aq under a rule with M = m·I.
    quantity : sympy expression
        D in the coordinates, e.g. ``u1**2 - u3**2``.
    function : sympy expression
        D(t), the unknown of ``equation``.
    charge : sympy expression
        The law's charge written through D(t): e^{t/τ}(m/2)D'(t), or (m/2)D(t) under
        gradient flow.
    equation : sympy.Eq
        The law divided by e^{t/τ}: left side linear in D(t) and its derivatives, right
        side ``source``.
    source : sympy expression
        What the left side does not hold: the kinetic source m q̇ᵀSq̇ in the velocities
        (second order), any breaking by the loss or a regularizer that is not a multiple
        of D (in the coordinates), or 0.
    solution : sympy.Eq or None
        D(t) from :func:`sympy.dsolve` with D(0) = D_0 (and D'(0) = D_1 at order 2) when
        the source is free of q and q̇; None otherwise.
    reason : str
        Why there is no ``solution`` ('' when there is one).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> lam = sp.Symbol("lambda", positive=True)
    >>> flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow(),
    ...                          regularizers=[sn.rules.weight_decay(lam)])
    >>> found = sn.charge_equation(flow, (w1, -w2))
    >>> found.equation
    Eq(lambda*D(t) + Derivative(D(t), t)/2, 0)
    >>> found.solution
    Eq(D(t), D_0*exp(-2*lambda*t))
    """

    law: NoetherLaw
    matrix: sp.ImmutableMatrix
    quantity: sp.Expr
    function: sp.Expr
    charge: sp.Expr
    equation: sp.Eq
    source: sp.Expr
    solution: sp.Eq | None
    reason: str = ""

    @property
    def expected(self) -> bool:
        """True under minibatch SGD: D' is then the expected rate E[dD]/dt (Itô), and D
        also diffuses unless ψ is a symmetry of every sample's loss
        (``law.noise_diffusion`` = 0)."""
        rule = self.law.system.rule
        return rule is not None and rule.stochastic

    @property
    def closed(self) -> bool:
        """True when the equation involves D alone (its source is free of q and q̇)."""
        return self.solution is not None

    @property
    def text_equation(self) -> str:
        """The equation in plain text, D', D'' for the derivatives, highest first."""
        name = self.function.func.__name__
        primes = {self.function.diff(TIME, k): sp.Symbol(name + "'" * k) for k in (2, 1, 0)}
        rhs = sp.sstr(self.equation.rhs.subs(primes))
        return f"{self._side(self.equation.lhs, _plain)} = {rhs}"

    def _side(self, expr: sp.Expr, show) -> str:
        """``expr``, linear in D and its derivatives, as c₂D'' + c₁D' + c₀D + rest, each term
        printed by ``show(coefficient, k)`` (k the order of the derivative, None for rest)."""
        derivatives = [self.function.diff(TIME, k) for k in (2, 1, 0)]
        parts = sp.collect(sp.sympify(expr), derivatives, evaluate=False)
        terms = []
        for k, derivative in zip((2, 1, 0), derivatives, strict=True):
            coefficient = parts.get(derivative, sp.S.Zero)
            if coefficient != 0:
                terms.append(show(sp.factor(coefficient), k, self.function.func.__name__))
        rest = parts.get(sp.S.One, sp.S.Zero)
        if rest != 0:
            terms.append(show(rest, None, ""))
        return (" + ".join(terms) if terms else "0").replace("+ -", "- ")

    def _charge_text(self) -> str:
        if self.law.order == 1 or self.law.system.tau == sp.oo:
            return self._side(self.charge, _plain)
        core = self._side(self.charge / self.law.system.damping_factor, _plain)
        return f"exp(t/tau)*{core}" if " " not in core else f"exp(t/tau)*({core})"

    def __str__(self) -> str:
        system = self.law.system
        name = self.function.func.__name__
        rows = [
            ("generator", "psi = " + vector_text(self.law.generator)),
            ("quadratic", f"{name} = {sp.sstr(self.quantity)}"),
            ("charge", f"Q = {self._charge_text()}"),
            ("equation", self.text_equation),
        ]
        if self.expected:
            rows.append(("under SGD", f"{name}' is the expected rate E[d{name}]/dt"))
        if self.solution is not None:
            rows.append(("solution", f"{name}(t) = {sp.sstr(self.solution.rhs)}"))
        else:
            rows.append(("solution", f"none: {self.reason}"))
        rule = system.rule.name if system.rule is not None else "hand-written kinetic"
        return table_text(f"the charge's equation ({rule}, order {self.law.order})", rows)

    def _repr_latex_(self) -> str:
        notation = Notation(self.law.system)
        name = self.function.func.__name__

        def show(coefficient: sp.Expr, k: int | None, name: str) -> str:
            if k is None:
                return notation.latex(coefficient)
            return term_latex(coefficient, k, name, notation.latex, notation.damped_latex)

        rows = [
            Row(name, (notation.latex(self.quantity),), "quadratic"),
            Row(notation.role("Q"), (self._side(self.charge, show),), "charge"),
            Row(self._side(self.equation.lhs, show), (notation.latex(self.equation.rhs),),
                "Noether's law"),
        ]  # fmt: skip
        if self.solution is not None:
            rows.append(Row(f"{name}(t)", (notation.latex(self.solution.rhs),), "solution"))
        return aligned(rows)


def _plain(coefficient: sp.Expr, k: int | None, name: str) -> str:
    return sp.sstr(coefficient) if k is None else term_text(coefficient, k, name)


def charge_equation(
    law: NoetherLaw | MatrixNoetherLaw | LearningSystem | MatrixSystem,
    generator: object = None,
    *,
    name: str = "D",
) -> ChargeEquation | MatrixChargeEquation:
    """The closed ODE of the quadratic charge D = qᵀSq of a linear-symmetric generator.

    Parameters
    ----------
    law : NoetherLaw or LearningSystem
        A law from :func:`~symnoether.core.noether.noether`; or a system, with
        ``generator``, whose law is derived first.
    generator : optional
        ψ = Aq, as for :func:`~symnoether.core.noether.noether` (only with a system).
    name : str
        The name of the quadratic, ``'D'`` by default.

    Returns
    -------
    ChargeEquation
        Verified along the equations of motion (see the module docstring). For a
        matrix-level law (layers declared with :func:`~symnoether.core.matrices.layers`)
        of ψ = (SW₁, −W₂S), S symmetric, a
        :class:`~symnoether.core.matrix_charge_equation.MatrixChargeEquation`: the matrix
        ODE of the balancedness W₁W₁ᵀ − W₂ᵀW₂.

    Raises
    ------
    InvalidGeneratorError
        ψ is not linear (ψ(q) has terms of another degree, e.g. a translation), or the
        mass-weighted matrix MA is not symmetric (a rotation): its charge is then not a
        function of a quadratic.
    NotSupportedError
        A mass that depends on the coordinates.

    References
    ----------
    Kunin et al. (2021), Sec. 5; Tanaka & Kunin (2021), Sec. 4.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> eta, beta = sp.symbols("eta beta", positive=True)
    >>> heavy = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2,
    ...                           rule=sn.rules.momentum(eta, beta))
    >>> print(sn.charge_equation(heavy, (w1, -w2)).text_equation)
    eta*(beta + 1)*D''/4 + (1 - beta)*D'/2 = eta*(beta + 1)*(wdot1**2 - wdot2**2)/2
    """
    law = _as_law(law, generator)
    if isinstance(law, MatrixNoetherLaw):
        return matrix_charge_equation(law, name=_checked_name(name, None))
    system = law.system
    coords = system.coords
    mass = sp.Matrix(system.mass_matrix)
    moving = sorted(mass.free_symbols & set(coords), key=str)
    if moving:
        raise NotSupportedError(
            f"the mass matrix depends on the coordinate {moving[0]}: q̇ᵀM(q)Aq is then not "
            "half the derivative of a fixed quadratic; use a constant metric (or read law.rate)"
        )
    scale = _mass_scale(system, mass)
    S = sp.ImmutableMatrix((mass * _linear_part(law) / scale).applyfunc(sp.cancel))
    _require_symmetric(S, law)
    D = sp.Function(_checked_name(name, system))(TIME)
    quantity = sp.expand((sp.Matrix(coords).T * S * sp.Matrix(coords))[0])
    if law.order == 1:
        return _first_order(law, S, quantity, D, scale)
    return _second_order(law, S, quantity, D, scale)


# -- the input ----------------------------------------------------------------------------


def _as_law(law: object, generator: object) -> NoetherLaw | MatrixNoetherLaw:
    if isinstance(law, LearningSystem | MatrixSystem):
        if generator is None:
            raise InvalidInputError(
                "charge_equation(system) needs the generator: pass "
                "charge_equation(system, generator), or a law from sn.noether"
            )
        law = noether(law, generator)
    elif generator is not None:
        raise InvalidInputError(
            "charge_equation(law, generator): the law already has its generator; pass "
            "charge_equation(law) or charge_equation(system, generator)"
        )
    if not isinstance(law, NoetherLaw | MatrixNoetherLaw):
        raise InvalidInputError(
            f"charge_equation() needs a NoetherLaw (from sn.noether) or a LearningSystem and "
            f"a generator, got a {type(law).__name__}"
        )
    return law


def _checked_name(name: object, system: LearningSystem | None) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise InvalidInputError(f"name = {name!r} is not a plain name such as 'D'")
    if system is None:
        return name
    taken = {str(s) for s in (*system.coords, *system.velocities, *system.data)}
    if name in taken or name == str(TIME):
        raise InvalidInputError(
            f"name = {name!r} is a symbol of the system already; pass another, e.g. name='C'"
        )
    return name


def _mass_scale(system: LearningSystem, mass: sp.Matrix) -> sp.Expr:
    """m of M = m·G: the rule's scale, or c when a hand-written M is c·I, else 1."""
    if system.rule is not None:
        return system.rule.mass_scale
    if mass.shape == (1, 1):
        return mass[0, 0]
    found = scalar_identity(mass)
    return sp.S.One if found is None else found


def _linear_part(law: NoetherLaw) -> sp.Matrix:
    """A with ψ = Aq, or refuse naming what is not linear."""
    coords, psi = law.system.coords, sp.Matrix(law.generator)
    A = psi.jacobian(coords)
    for entry, row in zip(psi, A.tolist(), strict=True):
        if any(set(coords) & sp.sympify(slope).free_symbols for slope in row):
            raise InvalidGeneratorError(
                f"ψ = {vector_text(psi)} is not linear in the coordinates (entry {entry}): "
                "only ψ = Aq has a charge that is a function of the quadratic qᵀAq; read "
                "this law from law.rate"
            )
    constant = psi - A * sp.Matrix(coords)
    if any(entry != 0 and not is_zero(entry) for entry in constant):
        raise InvalidGeneratorError(
            f"ψ = {vector_text(psi)} has the constant part b = {vector_text(constant)} (a "
            "translation): its charge e^{t/τ}q̇ᵀMb is the derivative of the linear function "
            "bᵀMq, not a function of a quadratic; read its law from law.rate, or pass a "
            "linear generator ψ = Aq"
        )
    return A


def _require_symmetric(S: sp.ImmutableMatrix, law: NoetherLaw) -> None:
    skew = (S - S.T) / 2
    if all(entry == 0 or is_zero(entry) for entry in skew):
        return
    raise InvalidGeneratorError(
        f"ψ = {vector_text(law.generator)} = Aq with MA not symmetric (antisymmetric part "
        f"{sp.sstr(skew.applyfunc(sp.factor).tolist())}, per unit of mass): q̇ᵀMAq is half the "
        "derivative of qᵀMAq only for symmetric MA; the antisymmetric part (a rotation) "
        "gives an angular momentum, a function of q and q̇ together, not of a quadratic. "
        "Pass the symmetric part (A + Aᵀ)/2 for D, and read the rotation's law from law.rate"
    )


# -- the equations ------------------------------------------------------------------------


def _rate_of(expr: sp.Expr, coords: tuple, velocities) -> sp.Expr:
    return sp.Add(*[v * sp.diff(expr, q) for q, v in zip(coords, velocities, strict=True)])


def _split_potential(
    law: NoetherLaw, quantity: sp.Expr, factor: sp.Expr
) -> tuple[sp.Expr, sp.Expr]:
    """(κ, rest) with −ψ·∇V = −κD + rest: κ from the regularizers when their breaking is
    a constant multiple of D; the loss's breaking (0 for a symmetry) stays in rest."""
    loss_part = sp.cancel(law.loss_breaking / factor)
    regularizer_part = sp.cancel(law.regularizer_breaking / factor)
    if regularizer_part == 0:
        return sp.S.Zero, loss_part
    ratio = sp.cancel(-regularizer_part / quantity)
    moving = set(law.system.coords) | set(law.system.velocities) | {TIME}
    if not ratio.free_symbols & moving and is_zero(regularizer_part + ratio * quantity):
        return sp.factor(ratio), loss_part
    return sp.S.Zero, loss_part + regularizer_part


def _second_order(law: NoetherLaw, S, quantity, D, scale) -> ChargeEquation:
    system = law.system
    coords, vels, factor = system.coords, system.velocities, system.damping_factor
    speed = _rate_of(quantity, coords, vels)
    if not is_zero(law.charge / factor - scale * speed / 2):
        raise VerificationError(
            "the law's charge is not e^{t/τ}(m/2)dD/dt for D = qᵀSq; please report this system"
        )
    kinetic = scale * sp.expand((sp.Matrix(vels).T * S * sp.Matrix(vels))[0])
    if not is_zero(law.kinetic_breaking / factor - kinetic):
        raise VerificationError(
            "the law's kinetic breaking is not e^{t/τ} m q̇ᵀSq̇; please report this system"
        )
    kappa, rest = _split_potential(law, quantity, factor)
    damping = sp.S.Zero if system.tau == sp.oo else sp.factor(scale / (2 * system.tau))
    lhs = sp.factor(scale / 2) * D.diff(TIME, 2) + damping * D.diff(TIME) + kappa * D
    source = kinetic + (readable(rest) if rest != 0 else 0)
    # Independent check along the Euler–Lagrange equations: D'' from q̈ = M⁻¹f.
    accel = list(equations_of_motion(system).solved)
    along = {
        D.diff(TIME, 2): total_derivative(speed, coords, vels, accel, TIME),
        D.diff(TIME): speed,
        D: quantity,
    }
    _verify(lhs, source, along)
    return _result(law, S, quantity, D, factor * scale * D.diff(TIME) / 2, lhs, source)


def _first_order(law: NoetherLaw, S, quantity, D, scale) -> ChargeEquation:
    system = law.system
    coords = system.coords
    if not is_zero(law.charge - scale * quantity / 2):
        raise VerificationError(
            "the law's first-order charge is not (m/2)qᵀSq; please report this system"
        )
    kappa, rest = _split_potential(law, quantity, sp.S.One)
    lhs = sp.factor(scale / 2) * D.diff(TIME) + kappa * D
    rest += law.kinetic_breaking + law.noise_drift  # SGD's finite-step and Itô terms (else 0)
    source = _through(readable(rest), quantity, coords) if rest != 0 else sp.S.Zero
    flow = list(equations_of_motion(system).solved)
    if system.rule.stochastic:
        rate = _expected_rate(system, quantity, flow)
    else:
        rate = _rate_of(quantity, coords, flow)
    _verify(lhs, source, {D.diff(TIME): rate, D: quantity})
    return _result(law, S, quantity, D, scale * D / 2, lhs, source)


def _through(source: sp.Expr, quantity: sp.Expr, coords: tuple) -> sp.Expr:
    """``source`` as c(q)·D when D divides it (the law of balance reads −c(q)·D), else as is."""
    numerator, denominator = sp.fraction(sp.cancel(source / quantity))
    if denominator.free_symbols & set(coords):
        return source
    return sp.factor(numerator / denominator) * quantity


def _expected_rate(system: LearningSystem, quantity: sp.Expr, flow: list) -> sp.Expr:
    """E[dD]/dt by Itô under the stochastic modified equation
    dθ = (−M⁻¹∇V − c_f∇²V∇V) dt + √(c_nΣ) dW, with ∇²V and Σ formed explicitly (the law's
    terms are computed per sample, without them: an independent path)."""
    coords = system.coords
    finite, noise = sme_coefficients(system.rule)
    gradient = sp.Matrix([sp.diff(system.potential, q) for q in coords])
    drift = sp.Matrix(flow) - finite * sp.hessian(system.potential, coords) * gradient
    spread = (noise_covariance(system) * sp.hessian(quantity, coords)).trace()
    return _rate_of(quantity, coords, list(drift)) + noise * spread / 2


def _verify(lhs: sp.Expr, source: sp.Expr, along: dict) -> None:
    residual = lhs.subs(along) - source
    if not is_zero(residual):
        raise VerificationError(
            "the charge's equation does not hold along the equations of motion with "
            "D = qᵀSq; please report this system"
        )


def _result(law, S, quantity, D, charge, lhs, source) -> ChargeEquation:
    equation = sp.Eq(lhs, source)
    system = law.system
    moving = set(system.coords) | set(system.velocities)
    depends = sorted(sp.sympify(source).free_symbols & moving, key=str)
    if depends:
        kind = "velocity" if depends[0] in set(system.velocities) else "coordinate"
        reason = (
            f"the source depends on the {kind} {depends[0]}: the equation is forced and does "
            f"not close in {D.func.__name__}; integrate it along a trajectory"
        )
        return ChargeEquation(law, S, quantity, D, charge, equation, source, None, reason)
    solution, reason = _solve(equation, D, law.order)
    return ChargeEquation(law, S, quantity, D, charge, equation, source, solution, reason)


def _solve(equation: sp.Eq, D: sp.Expr, order: int) -> tuple[sp.Eq | None, str]:
    name = D.func.__name__
    initial = {D.subs(TIME, 0): sp.Symbol(f"{name}_0", real=True)}
    if order == 2:
        initial[D.diff(TIME).subs(TIME, 0)] = sp.Symbol(f"{name}_1", real=True)
    try:
        solution = sp.dsolve(equation, D, ics=initial)
    except (NotImplementedError, ValueError) as err:  # dsolve's own refusals
        return None, f"sympy.dsolve found no closed form ({err})"
    if isinstance(solution, list) or not sp.checkodesol(equation, solution, D)[0]:
        return None, "sympy.dsolve gave no single solution it could check"
    return sp.Eq(D, readable(solution.rhs)), ""
