r"""The matrix equation of a balancedness charge: D = Σ W_BW_Bᵀ − Σ W_BᵀW_B at the matrix level.

For a :class:`~symnoether.core.matrix_noether.MatrixNoetherLaw` whose generator is one
symmetric matrix S acting on the layers at one interface — ψ_B = S W_B on the layers
it enters from the left, ψ_B = −W_B S on those it leaves from the right (the symmetric
part of gl(r): ψ = (SW₁, −W₂S) for a two-layer network) — the charge is
Q = e^{t/τ} m tr(S N) with N = Σ_left W Ẇᵀ − Σ_right Ẇᵀ W, whose symmetric part is Ḋ/2
for the balancedness matrix

    D = Σ_left W Wᵀ − Σ_right Wᵀ W          (W₁W₁ᵀ − W₂ᵀW₂).

Noether's law holds for every symmetric S, so it is the matrix ODE (Kunin et al. 2021,
Sec. 5; the scalar case in :mod:`symnoether.core.charge_equation`)

    (m/2) D̈ + (m/2τ) Ḋ + κ D = m K,   K = Σ_left Ẇ Ẇᵀ − Σ_right Ẇᵀ Ẇ     (order 2)
    (m/2) Ḋ + κ D = 0,                 D(t) = e^{−2κt/m} D(0)               (gradient flow)

with κ the weight decay on every layer ψ moves. Verified before it is returned: the
law's charge and kinetic breaking are (m/2)tr(SḊ) and m tr(SK), its regularizer breaking
−κ tr(SD), and, independently, tr(Z·(lhs − rhs)) ≡ 0 for an opaque r×r matrix Z with
D̈ taken along the matrix equations of motion (trace-cyclic canonical forms, else exact
evaluation at random integer matrices).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> W1, W2 = sn.layers(W1=(8, 4), W2=(3, 8))
>>> x, y = sn.layers(x=(4, 1), y=(3, 1), data=True)
>>> e = y - W2 * W1 * x
>>> eta = sp.Symbol("eta", positive=True)
>>> gd = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_descent(eta),
...                        data=(x, y))
>>> A = sp.MatrixSymbol("A", 8, 8)
>>> S = (A + A.T) / 2
>>> found = sn.charge_equation(sn.noether(gd, (S * W1, -W2 * S)))
>>> found.quantity
W1*W1.T - W2.T*W2
>>> print(found.text_equation)
eta*D''/4 + D'/2 = (eta/2)*(Wdot1*Wdot1.T - Wdot2.T*Wdot2)
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..errors import (
    InvalidGeneratorError,
    InvalidInputError,
    NotSupportedError,
    VerificationError,
)
from .charge_display import term_latex, term_text
from .display import Notation, table_text
from .matrices import time_derivative
from .matrix_noether import MatrixNoetherLaw, _identity
from .traces import trace_identity
from .typeset import Row, aligned
from .vocabulary import TIME

__all__ = ["MatrixChargeEquation", "matrix_charge_equation"]


@dataclass(frozen=True)
class MatrixChargeEquation:
    """The matrix ODE of the balancedness D of a symmetric gl(r) generator.

    Attributes
    ----------
    law : MatrixNoetherLaw
    parameter : matrix expression
        S, the symmetric matrix of ψ = (SW, …, −WS).
    quantity : matrix expression
        D = Σ_left WWᵀ − Σ_right WᵀW in the layers.
    symbols : tuple of MatrixSymbol
        (D, D', D'') standing for D(t) and its derivatives in ``equation``.
    equation : sympy.Eq
        Matrix-valued: (m/2)D'' + (m/2τ)D' + κD = m K, or (m/2)D' + κD = 0.
    source : matrix expression
        m K in the velocities (second order), or 0.
    solution : sympy.Eq or None
        D = e^{−2κt/m}D_0 under gradient flow; None otherwise.
    reason : str
        Why there is no ``solution`` ('' when there is one).
    """

    law: MatrixNoetherLaw
    parameter: sp.MatrixExpr
    quantity: sp.MatrixExpr
    symbols: tuple
    equation: sp.Eq
    source: sp.MatrixExpr
    solution: sp.Eq | None
    reason: str = ""

    @property
    def closed(self) -> bool:
        """True when the equation involves D alone."""
        return self.solution is not None

    @property
    def text_equation(self) -> str:
        """The equation in plain text."""
        name = self.symbols[0].name
        lhs = _side(self.equation.lhs, self.symbols, lambda c, k: term_text(c, k, name))
        return f"{lhs} = {sp.sstr(self.source)}"

    def __str__(self) -> str:
        name = self.symbols[0].name
        rows = [
            ("generator", ", ".join(sp.sstr(p) for p in self.law.generator)),
            ("balancedness", f"{name} = {sp.sstr(self.quantity)}"),
            ("equation", self.text_equation),
        ]
        if self.solution is not None:
            rows.append(("solution", f"{name}(t) = {sp.sstr(self.solution.rhs)}"))
        else:
            rows.append(("solution", f"none: {self.reason}"))
        order = self.law.order
        return table_text(f"the balancedness equation (matrix level, order {order})", rows)

    def _repr_latex_(self) -> str:
        notation = Notation()
        name = self.symbols[0].name
        rows = [
            Row(name, (notation.latex(self.quantity),), "balancedness"),
            Row(_side(self.equation.lhs, self.symbols, lambda c, k: term_latex(c, k, name)),
                (notation.latex(self.source),), "Noether's law"),
        ]  # fmt: skip
        if self.solution is not None:
            rows.append(Row(f"{name}(t)", (notation.latex(self.solution.rhs),), "solution"))
        return aligned(rows)


def _side(lhs: sp.MatrixExpr, symbols: tuple, show) -> str:
    """c₂D'' + c₁D' + c₀D, highest derivative first; ``show(coefficient, k)`` prints a term."""
    terms = []
    for k in range(len(symbols) - 1, -1, -1):
        coefficient = _coefficient(lhs, symbols[k])
        if coefficient != 0:
            terms.append(show(sp.factor(coefficient), k))
    return " + ".join(terms).replace("+ -", "- ")


def _coefficient(lhs: sp.MatrixExpr, symbol: sp.MatrixSymbol) -> sp.Expr:
    for term in sp.MatAdd.make_args(lhs):
        coefficient, matrices = term.as_coeff_mmul()
        if matrices.args == (symbol,) or matrices == symbol:
            return coefficient
    return sp.S.Zero


def matrix_charge_equation(law: MatrixNoetherLaw, *, name: str = "D") -> MatrixChargeEquation:
    """The matrix ODE of the balancedness D of a symmetric gl(r) generator (matrix level).

    Usually called through :func:`~symnoether.core.charge_equation.charge_equation`.

    Raises
    ------
    InvalidGeneratorError
        S is not symmetric (the antisymmetric part of gl(r) has an angular-momentum
        charge, not a function of D).
    NotSupportedError
        A generator that is not S W_B / −W_B S with one S, a loss that ψ does not leave
        invariant, or a regularizer breaking that is not a multiple of tr(SD).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> W1, W2 = sn.layers(W1=(3, 2), W2=(1, 3))
    >>> x, y = sn.layers(x=(2, 1), y=(1, 1), data=True)
    >>> lam = sp.Symbol("lambda", positive=True)
    >>> flow = sn.LearningSystem((W1, W2), (y - W2 * W1 * x).T * (y - W2 * W1 * x) / 2,
    ...                          rule=sn.rules.gradient_flow(), data=(x, y),
    ...                          regularizers=[sn.rules.weight_decay(lam)])
    >>> A = sp.MatrixSymbol("A", 3, 3)
    >>> found = matrix_charge_equation(sn.noether(flow, ((A + A.T) * W1, -W2 * (A + A.T))))
    >>> found.solution
    Eq(D, exp(-2*lambda*t)*D_0)
    """
    system = law.system
    taken = {M.name for M in (*system.layers, *system.velocities, *system.data)}
    taken |= {M.name for part in law.generator for M in sp.sympify(part).atoms(sp.MatrixSymbol)}
    if name in taken:
        raise InvalidInputError(
            f"name = {name!r} is a matrix of the system or its generator already; pass "
            "another, e.g. name='C'"
        )
    S, sides = _parameter(law)
    Z = sp.MatrixSymbol("_Z", *S.shape)
    if not trace_identity(sp.Trace(Z * (S - S.T))):
        raise InvalidGeneratorError(
            f"the generator's matrix S = {sp.sstr(S)} is not symmetric: only the symmetric "
            "part of gl(r) has a charge that is a function of the balancedness D (the "
            "antisymmetric part gives an angular momentum); pass (A + A.T)/2"
        )
    if law.loss_breaking != 0:
        raise NotSupportedError(
            "the generator does not leave the loss invariant: the balancedness equation is "
            "derived for symmetries only; read the law from law.rate"
        )
    m = system.mass
    layers, velocities = system.layers, system.velocities
    along = dict(zip(layers, velocities, strict=True))
    quantity = _balancedness(layers, sides)
    speed = time_derivative(quantity, along, time=None)
    kinetic = _balancedness(velocities, sides)
    kappa = _decay(law, S, quantity, sides)
    r = S.shape[0]
    symbols = tuple(sp.MatrixSymbol(name + "'" * k, r, r) for k in range(law.order + 1))
    _check_law(law, S, quantity, speed, kinetic)
    if law.order == 1:
        lhs = m / 2 * symbols[1] + kappa * symbols[0]
        source = sp.ZeroMatrix(r, r)
        flow = dict(zip(layers, system.accelerations, strict=True))
        values = {symbols[1]: time_derivative(quantity, flow, time=None)}
    else:
        damping = sp.S.Zero if system.tau == sp.oo else sp.factor(m / (2 * system.tau))
        lhs = sp.factor(m / 2) * symbols[2] + damping * symbols[1] + kappa * symbols[0]
        source = m * kinetic
        rates = {**along, **dict(zip(velocities, system.accelerations, strict=True))}
        values = {symbols[2]: time_derivative(speed, rates, time=None), symbols[1]: speed}
    values[symbols[0]] = quantity
    residual = sp.Trace(sp.MatMul(Z, lhs.xreplace(values) - source))
    _identity(residual, system, "the balancedness equation along the equations of motion")
    equation = sp.Eq(lhs, source, evaluate=False)
    if law.order == 2:
        reason = "the source m·K depends on the velocities: the equation is forced"
        return MatrixChargeEquation(law, S, quantity, symbols, equation, source, None, reason)
    initial = sp.MatrixSymbol(f"{name}_0", r, r)
    solution = sp.Eq(symbols[0], sp.exp(-2 * kappa * TIME / m) * initial, evaluate=False)
    return MatrixChargeEquation(law, S, quantity, symbols, equation, source, solution)


def _parameter(law: MatrixNoetherLaw) -> tuple[sp.MatrixExpr, tuple]:
    """S and, per layer, 'left' (ψ = SW), 'right' (ψ = −WS) or None (not moved)."""
    found, sides = None, []
    for W, p in zip(law.system.layers, law.generator, strict=True):
        if isinstance(p, sp.ZeroMatrix):
            sides.append(None)
            continue
        side, S = _split(W, p)
        if side == "scalar":
            raise NotSupportedError(
                f"the generator scales the layer {W.name} by a constant: the balancedness "
                "matrix equation is derived for the whole symmetric family, ψ = (S*W1, "
                "-W2*S) with S = (A + A.T)/2 for a MatrixSymbol A; for this one generator "
                "declare the layers with sn.matrix_coordinates (the scalar equation)"
            )
        if found is not None and S is not None and S.shape == found.shape:
            Z = sp.MatrixSymbol("_Z", *S.shape)
            S = found if trace_identity(sp.Trace(Z * (S - found))) else None
        if S is None or (found is not None and S.shape != found.shape):
            raise NotSupportedError(
                f"the generator entry for {W.name}, {sp.sstr(p)}, is not S*{W.name} or "
                f"-{W.name}*S with the one matrix S of the other layers: the balancedness "
                "equation is derived for one gl(r) interface; read the law from law.rate"
            )
        found = S
        sides.append(side)
    family = found.atoms(sp.MatrixSymbol) - set(law.system.layers)
    if not family:
        raise NotSupportedError(
            f"the generator's matrix S = {sp.sstr(found)} is a fixed matrix: the balancedness "
            "matrix equation follows from the law of every symmetric S, so pass the family, "
            "S = (A + A.T)/2 for a MatrixSymbol A"
        )
    return found, tuple(sides)


def _split(W: sp.MatrixSymbol, p: sp.MatrixExpr) -> tuple[str | None, sp.MatrixExpr | None]:
    if p == W:
        return "scalar", None
    if not isinstance(p, sp.MatMul):
        return None, None
    coefficient, matrices = p.as_coeff_mmul()
    factors = list(matrices.args) if isinstance(matrices, sp.MatMul) else [matrices]
    if factors == [W]:
        return "scalar", None
    if factors[-1] == W and W not in factors[:-1]:
        return "left", (coefficient * sp.MatMul(*factors[:-1])).doit()
    if factors[0] == W and W not in factors[1:]:
        return "right", (-coefficient * sp.MatMul(*factors[1:])).doit()
    return None, None


def _balancedness(matrices: tuple, sides: tuple) -> sp.MatrixExpr:
    terms = []
    for W, side in zip(matrices, sides, strict=True):
        if side == "left":
            terms.append(W * W.T)
        elif side == "right":
            terms.append(-W.T * W)
    return sp.MatAdd(*terms).doit()


def _decay(law: MatrixNoetherLaw, S, quantity, sides) -> sp.Expr:
    """κ: the weight decay on every layer ψ moves; checked to give −κ tr(SD)."""
    system = law.system
    moved = {W for W, side in zip(system.layers, sides, strict=True) if side is not None}
    kappa = sp.S.Zero
    for regularizer in system.regularizers:
        decayed = set(system.layers if regularizer.on is None else regularizer.on)
        if moved <= decayed:
            kappa += regularizer.strength
    factor = system.damping_factor
    claimed = law.regularizer_breaking / factor + kappa * sp.Trace(S * quantity)
    if not trace_identity(claimed):
        raise NotSupportedError(
            "the regularizers break the balancedness by a term that is not a multiple of "
            "tr(SD) (weight decay on only some of the layers ψ moves); read the law from "
            "law.rate"
        )
    return kappa


def _check_law(law, S, quantity, speed, kinetic) -> None:
    m, factor = law.system.mass, law.system.damping_factor
    if law.order == 2:
        pairs = (
            ("charge", law.charge / factor - m / 2 * sp.Trace(S * speed)),
            ("kinetic breaking", law.kinetic_breaking / factor - m * sp.Trace(S * kinetic)),
        )
    else:
        pairs = (("charge", law.charge - m / 2 * sp.Trace(S * quantity)),)
    for what, difference in pairs:
        if not trace_identity(difference):
            raise VerificationError(
                f"the law's {what} is not the balancedness form; please report this system"
            )
