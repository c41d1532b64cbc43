r"""Noether's learning dynamics at the matrix level: charges and rates as traces.

For a :class:`~symnoether.core.matrix_system.MatrixSystem` (constant scalar mass,
M = m·I on every layer) and a layer-wise generator ψ = (ψ_1(W), …, ψ_L(W)) the charge
and its law on shell are (Tanaka & Kunin 2021 [1]_, Theorem 1, written with traces)::

    Q = e^{t/τ} m Σ_B tr(Ẇ_Bᵀ ψ_B),
    dQ/dt = e^{t/τ} m Σ_B tr(Ẇ_Bᵀ Dψ_B[Ẇ])  −  e^{t/τ} Σ_B tr(G_Bᵀ ψ_B),
            └── kinetic symmetry breaking ──┘    └ loss and regularizers ┘

with Dψ_B[Ẇ] the derivative of ψ_B along the velocities and G_B = ∂V/∂W_B. Under
gradient flow (m Ẇ_B = −G_B) the charge is a potential φ with ∇_B φ = m ψ_B, built
by the radial formula φ = m ∫₀¹ Σ_B tr(W_Bᵀ ψ_B(sW)) ds and proved to be one, and
dφ/dt = −Σ_B tr(ψ_Bᵀ G_B); for linear networks its matrix form is the balancedness of
Kunin et al. [2]_.

Verification (DESIGN "Soundness"): the total time derivative of the charge along the
equations of motion minus the rate is proved ≡ 0 with every force G_B kept *opaque*
(a fresh matrix), so the identity holds for any loss and is decided by trace-cyclic
canonical forms (:mod:`symnoether.core.traces`). Whether the loss (or a regularizer,
or the kinetic term) breaks the symmetry is decided separately: by canonical forms,
else by exact evaluation at random integer matrices of the declared sizes
(:func:`~symnoether.core.matrices.exact_value`); when neither decides, the term is kept
unsimplified and conservation is not claimed. The method is in ``law.verification``.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics", NeurIPS 2021, Sec. 4.
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, Sec. 3–5 (balancedness).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> W1, W2 = sn.layers(W1=(8, 4), W2=(3, 8))
>>> x, y = sn.layers(x=(4, 1), y=(3, 1), data=True)
>>> e = y - W2 * W1 * x
>>> flow = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_flow(), data=(x, y))
>>> A = sp.MatrixSymbol("A", 8, 8)
>>> law = sn.noether(flow, ((A + A.T) / 2 * W1, -W2 * (A + A.T) / 2))
>>> law.conserved, law.verification
(True, 'trace-cyclic canonical form')
>>> law.matrix_charges[A]
(1/2)*W1*W1.T - (1/2)*W2.T*W2
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import sympy as sp
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction

from ..budget import check, time_budget
from ..errors import (
    InvalidGeneratorError,
    NoFirstOrderChargeError,
    NotSupportedError,
    VerificationError,
)
from .matrices import matrix_gradient, time_derivative
from .matrix_display import matrix_law_rows, matrix_law_text
from .matrix_system import MatrixSystem
from .matrix_values import InexactValueError, exact_value, float_value
from .traces import trace_form, trace_identity
from .typeset import aligned
from .vocabulary import TIME

__all__ = ["MatrixNoetherLaw", "matrix_noether"]

_CANONICAL = "trace-cyclic canonical form"
_POINTS = 2
_MAX_POINTS = 24
_RANGE = 20_000
_BRANCHING = (sp.Heaviside, sp.Max, sp.Min, sp.Abs, sp.sign, sp.Piecewise, sp.DiracDelta)


@dataclass(frozen=True)
class MatrixNoetherLaw:
    """A matrix-level Noether charge and its on-shell law, split by what breaks it.

    Attributes
    ----------
    system : MatrixSystem
    generator : tuple of matrix expressions
        ψ_B per layer (``ZeroMatrix`` for a layer it does not move).
    constants : tuple
        Symbols only the generator brings (MatrixSymbols such as A, and scalars).
    charge, kinetic_breaking, loss_breaking, regularizer_breaking : sympy expressions
        In trace form; charge and rates carry the factor e^{t/τ} (order 2).
    potential_breaking, rate : sympy expressions
        loss + regularizer breaking; kinetic + potential breaking.
    conserved : bool
        True only when every part of the rate was proved ≡ 0.
    order : int
    breaking_regularizers : tuple of str
    almost_everywhere : bool
        Branching functions (ReLU's Max, Heaviside, ...) entered a decision.
    verification : str
        How the law and its parts were decided.
    matrix_charges : mapping {MatrixSymbol: matrix expression}
        For a constant A the charge is linear in: C_A with charge = tr(Aᵀ C_A).
    """

    system: MatrixSystem
    generator: tuple
    constants: tuple
    charge: sp.Expr
    kinetic_breaking: sp.Expr
    loss_breaking: sp.Expr
    regularizer_breaking: sp.Expr
    order: int
    conserved: bool = False
    breaking_regularizers: tuple[str, ...] = ()
    almost_everywhere: bool = False
    verification: str = _CANONICAL
    matrix_charges: Mapping = field(default_factory=dict, compare=False, hash=False)
    potential_breaking: sp.Expr = field(init=False)
    rate: sp.Expr = field(init=False)

    def __post_init__(self) -> None:
        potential = self.loss_breaking + self.regularizer_breaking
        object.__setattr__(self, "potential_breaking", potential)
        object.__setattr__(self, "rate", self.kinetic_breaking + potential)

    @property
    def is_symmetry(self) -> bool:
        """True when ψ was proved to leave the loss invariant."""
        return self.loss_breaking == 0

    @property
    def broken_by(self) -> tuple[str, ...]:
        """What moves the charge: 'kinetic term', 'loss', regularizer names."""
        causes = ["kinetic term"] if self.kinetic_breaking != 0 else []
        causes += ["loss"] if self.loss_breaking != 0 else []
        return (*causes, *self.breaking_regularizers)

    def __str__(self) -> str:
        return matrix_law_text(self)

    def _repr_latex_(self) -> str:
        return aligned(matrix_law_rows(self))


def matrix_noether(
    system: MatrixSystem, generator: object, *, timeout: float | None = None
) -> MatrixNoetherLaw:
    """The Noether charge of a layer-wise ``generator`` and its law, as traces.

    Parameters
    ----------
    system : MatrixSystem
    generator : tuple
        One entry per layer: a matrix expression of the layer's shape, or 0.
    timeout : float, optional
        Time budget in seconds (see :mod:`symnoether.budget`).

    Raises
    ------
    InvalidGeneratorError
        Wrong number of entries or shapes, entries using velocities, time or data.
    NoFirstOrderChargeError
        Gradient flow, when m ψ is not a gradient field (e.g. ψ = (A W1, −W2 A) for
        a generic A: use its symmetric part S = (A + A.T)/2).
    NotSupportedError
        The Noether identity cannot be verified for this generator.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> w, x = sn.layers(w=(512, 1), x=(512, 1))
    >>> eta = sp.Symbol("eta", positive=True)
    >>> norm = sp.sqrt(sp.Trace(w.T * w))
    >>> system = sn.LearningSystem(w, (1 - sp.Trace(x.T * w) / norm) ** 2,
    ...                            rule=sn.rules.gradient_descent(eta), data=(x,))
    >>> law = sn.noether(system, (w,))           # scale symmetry
    >>> law.loss_breaking, law.kinetic_breaking
    (0, eta*exp(2*t/eta)*Trace(wdot.T*wdot)/2)
    """
    psi, constants = _generator(system, generator)
    with time_budget(timeout, "the matrix Noether law", hint="pass a simpler generator"):
        if system.order == 1:
            return _first_order(system, psi, constants)
        return _second_order(system, psi, constants)


# -- the generator ------------------------------------------------------------------------


def _generator(system: MatrixSystem, generator: object) -> tuple[tuple, tuple]:
    names = ", ".join(W.name for W in system.layers)
    if isinstance(generator, sp.MatrixExpr | sp.MatrixBase) and len(system.layers) == 1:
        generator = (generator,)
    if isinstance(generator, str) or not isinstance(generator, tuple | list | sp.Tuple):
        raise InvalidGeneratorError(
            f"generator {generator!r} is not a tuple; pass one matrix per layer ({names}), "
            "0 for a layer it does not move"
        )
    if len(generator) != len(system.layers):
        raise InvalidGeneratorError(
            f"generator has {len(generator)} entries but the system has "
            f"{len(system.layers)} layers ({names}); give one entry per layer, 0 for a "
            "layer it does not move"
        )
    psi = []
    for W, entry in zip(system.layers, generator, strict=True):
        psi.append(_entry(W, entry))
    forbidden = {V.name: "velocity" for V in system.velocities}
    forbidden.update({d.name: "data symbol" for d in system.data})
    constants: dict = {}
    for W, entry in zip(system.layers, psi, strict=True):
        for s in sorted(_symbols(entry), key=lambda s: s.name):
            if s == TIME:
                raise InvalidGeneratorError(
                    f"the generator entry for {W.name} depends on the time t; a generator "
                    "ψ(W) acts on the layers only"
                )
            if s.name in forbidden:
                raise InvalidGeneratorError(
                    f"the generator entry for {W.name} depends on the {forbidden[s.name]} "
                    f"{s.name}; a symmetry acts on the layers the same way for every input "
                    "and velocity: use layers and constant matrices only"
                )
            if s in system.layers or s in system.hyperparameters:
                continue
            if s.name in {L.name for L in system.layers}:
                raise InvalidGeneratorError(
                    f"the generator entry for {W.name} uses a {s.name} of another shape than "
                    f"the layer {s.name}; build the generator from the system's layers"
                )
            constants[s] = None
    if all(isinstance(p, sp.ZeroMatrix) for p in psi):
        raise InvalidGeneratorError("the generator is zero on every layer; it generates nothing")
    ordered = sorted(constants, key=lambda s: (isinstance(s, sp.MatrixSymbol), s.name))
    return tuple(psi), tuple(ordered)


def _entry(W: sp.MatrixSymbol, entry: object) -> sp.MatrixExpr:
    if (
        isinstance(entry, int | float)
        and entry == 0
        or (isinstance(entry, sp.Expr) and not isinstance(entry, sp.MatrixExpr) and entry == 0)
    ):
        return sp.ZeroMatrix(*W.shape)
    if isinstance(entry, sp.MatrixBase):
        entry = sp.ImmutableMatrix(entry)
    if not isinstance(entry, sp.MatrixExpr | sp.MatrixBase):
        raise InvalidGeneratorError(
            f"the generator entry for {W.name} is {entry!r}, not a matrix; give a matrix "
            f"expression of shape {W.shape[0]}×{W.shape[1]} (e.g. c*{W.name}), or 0"
        )
    if tuple(entry.shape) != tuple(W.shape):
        raise InvalidGeneratorError(
            f"the generator entry for {W.name} has shape {entry.shape[0]}×{entry.shape[1]} "
            f"but {W.name} is {W.shape[0]}×{W.shape[1]}; give each layer an entry of its "
            "own shape (A*W1 with A square of W1's row count, W2*A for the columns)"
        )
    return entry


def _symbols(expr: sp.Basic) -> set:
    return {s for s in expr.free_symbols if isinstance(s, sp.Symbol | sp.MatrixSymbol)}


# -- second order ---------------------------------------------------------------------------


def _second_order(system: MatrixSystem, psi: tuple, constants: tuple) -> MatrixNoetherLaw:
    m, factor = system.mass, system.damping_factor
    layers, velocities = system.layers, system.velocities
    moving = [(W, V, p) for W, V, p in zip(layers, velocities, psi, strict=True) if _moves(p)]
    charge_core = m * sp.Add(*[sp.Trace(V.T * p) for _, V, p in moving])
    along = dict(zip(layers, velocities, strict=True))
    kinetic_core = m * sp.Add(
        *[sp.Trace(V.T * time_derivative(p, along, time=None)) for _, V, p in moving]
    )
    forces = _opaque_forces(system)
    rates = {**along, **dict(zip(velocities, system.rates_with(forces), strict=True))}
    # d/dt(e^{t/τ}Q₀) = e^{t/τ}(Q₀/τ + dQ₀/dt): the identity is checked on the cores
    derivative = time_derivative(charge_core, rates)
    if system.tau != sp.oo:
        derivative += charge_core / system.tau
    claimed = kinetic_core - _work(forces, psi)
    notes = [("Noether identity", _identity(derivative - claimed, system, "the Noether identity"))]
    check()
    return _law(system, psi, constants, charge_core, factor, kinetic_core, notes)


def _law(system, psi, constants, charge_core, factor, kinetic_core, notes) -> MatrixNoetherLaw:
    prefer = (*system.velocities, *system.layers)
    kinetic, how = _decide(kinetic_core, system)
    notes.append((_label("kinetic breaking", kinetic), how))
    loss, how = _decide(-_work(system.loss_gradients, psi), system)
    notes.append((_label("loss breaking", loss), how))
    regularizer_total, names = sp.S.Zero, []
    for name, term in system.regularizer_terms:
        gradients = tuple(matrix_gradient(term, W) for W in system.layers)
        value, how = _decide(-_work(gradients, psi), system)
        notes.append((_label(f"{name} breaking", value), how))
        if value != 0:
            regularizer_total += value
            names.append(name) if name not in names else None
    parts = (kinetic, loss, regularizer_total)
    shown = [factor * _tidy(p, prefer) for p in parts]
    charge = factor * _tidy(charge_core, prefer)
    singular = any(p.has(*_BRANCHING) for p in (system.loss, *parts))
    return MatrixNoetherLaw(
        system=system,
        generator=psi,
        constants=constants,
        charge=charge,
        kinetic_breaking=shown[0],
        loss_breaking=shown[1],
        regularizer_breaking=shown[2],
        order=system.order,
        conserved=all(p == 0 for p in parts),
        breaking_regularizers=tuple(names),
        almost_everywhere=singular,
        verification=_summary(notes),
        matrix_charges=_matrix_charges(charge, constants, system),
    )


# -- first order: gradient flow --------------------------------------------------------------


def _first_order(system: MatrixSystem, psi: tuple, constants: tuple) -> MatrixNoetherLaw:
    m = system.mass
    s = sp.Dummy("s", positive=True)
    scaled = {W: s * W for W in system.layers}
    radial = sp.Add(
        *[sp.Trace(W.T * p.xreplace(scaled)) for W, p in zip(system.layers, psi, strict=True)]
    )
    form = trace_form(radial)
    phi = m * sp.integrate(form, (s, 0, 1))
    if phi.has(sp.Integral) or phi.has(s):
        raise NotSupportedError(
            "the first-order charge of this generator (the radial integral of m ψ) has no "
            "closed form; pass a polynomial generator such as (S*W1, -W2*S)"
        )
    directions = tuple(sp.MatrixSymbol(f"_Z_{W.name}", *W.shape) for W in system.layers)
    differential = time_derivative(
        phi, dict(zip(system.layers, directions, strict=True)), time=None
    )
    field_ = m * _work(directions, psi)
    notes = []
    try:
        notes.append(("∇φ = mψ", _identity(differential - field_, system, "∇φ = mψ")))
    except VerificationError:
        raise NoFirstOrderChargeError(
            "gradient flow has no charge for this generator: m ψ is not a gradient field "
            "(∇φ ≠ mψ for every φ). A generic matrix A in ψ = (A W1, −W2 A) has none; use "
            "its symmetric part S = (A + A.T)/2, or a second-order rule "
            "(rules.gradient_descent(eta))"
        ) from None
    forces = _opaque_forces(system)
    flow = dict(zip(system.layers, system.rates_with(forces), strict=True))
    derivative = time_derivative(phi, flow, time=None)
    identity = _identity(derivative + _work(forces, psi), system, "the Noether identity")
    notes.append(("Noether identity", identity))
    return _law(system, psi, constants, phi, sp.S.One, sp.S.Zero, notes)


# -- deciding ------------------------------------------------------------------------------------


def _moves(p: sp.MatrixExpr) -> bool:
    return not isinstance(p, sp.ZeroMatrix)


def _work(forces: tuple, psi: tuple) -> sp.Expr:
    """Σ_B tr(F_Bᵀ ψ_B)."""
    return sp.Add(*[sp.Trace(F.T * p) for F, p in zip(forces, psi, strict=True) if _moves(p)])


def _opaque_forces(system: MatrixSystem) -> tuple:
    return tuple(sp.MatrixSymbol(f"_G_{W.name}", *W.shape) for W in system.layers)


def _identity(difference: sp.Expr, system: MatrixSystem, what: str) -> str:
    """Prove ``difference`` ≡ 0 (canonical forms, else exact evaluation) or raise."""
    if trace_identity(difference):
        return _CANONICAL
    zero, how = _exact_zero(difference, system)
    if zero is None:
        raise NotSupportedError(
            f"{what} cannot be verified for this generator (neither trace-cyclic canonical "
            f"forms nor exact evaluation decide it: {how}); declare the layers with "
            "sn.matrix_coordinates for the element-wise path"
        )
    if not zero:
        raise VerificationError(f"{what} fails at a random point ({how}); please report this")
    return how


def _decide(core: sp.Expr, system: MatrixSystem) -> tuple[sp.Expr, str]:
    """(0 or ``core``, how it was decided) for one part of the rate."""
    if core == 0 or trace_identity(core):
        return sp.S.Zero, _CANONICAL
    if _clearly_nonzero(core):
        return core, "nonzero in double precision"
    zero, how = _exact_zero(core, system)
    if zero:
        return sp.S.Zero, how
    if zero is None:
        return core, f"undecided ({how}): kept unsimplified, conservation not claimed"
    return core, how.replace("exact evaluation at", "nonzero by exact evaluation at", 1)


def _clearly_nonzero(expr: sp.Expr) -> bool:
    """A value far above the round-off of its terms at a random real point (BLAS speed;
    only ever used to say "nonzero", never "zero")."""
    rng = np.random.default_rng(4242)
    values: dict = {
        M: rng.standard_normal(tuple(int(d) for d in M.shape)) for M in expr.atoms(sp.MatrixSymbol)
    }
    values.update({s: rng.uniform(0.2, 0.9) for s in expr.free_symbols if isinstance(s, sp.Symbol)})
    try:
        with np.errstate(all="ignore"):
            terms = [float_value(term, values) for term in sp.Add.make_args(sp.expand(expr))]
    except (NotSupportedError, TypeError, ValueError, ZeroDivisionError, np.linalg.LinAlgError):
        return False
    total, scale = sum(terms), sum(abs(v) for v in terms)
    return bool(np.isfinite(total) and np.isfinite(scale) and abs(total) > 1e-8 * scale)


def _exact_zero(expr: sp.Expr, system: MatrixSystem) -> tuple[bool | None, str]:
    """Zero at random integer matrices of the declared sizes? None when not rational,
    or when a branch boundary was not crossed.

    Zero needs every point to give 0, at least ``_POINTS`` of them, and, where an
    elementwise function branches (ReLU's ``Max(0, z)``, ``Abs``, ``Heaviside``…),
    points on both sides of every boundary: each entry of each branching function's
    argument must be seen positive and negative (DESIGN, "Soundness"). Points are
    drawn until that holds, up to ``_MAX_POINTS``; an entry that keeps one sign (its
    boundary cannot be reached by random integers) leaves the term undecided."""
    matrices = sorted(expr.atoms(sp.MatrixSymbol), key=lambda m: m.name)
    scalars = sorted(
        (s for s in expr.free_symbols if isinstance(s, sp.Symbol)), key=lambda s: s.name
    )
    arguments = _branch_arguments(expr)
    sides = {argument: [None, None] for argument in arguments}  # entries seen < 0, > 0
    rng = random.Random(1729)
    sizes = ", ".join(f"{M.name} {M.shape[0]}×{M.shape[1]}" for M in matrices)
    points = 0
    while points < _POINTS or not _crossed(sides):
        if points == _MAX_POINTS:
            argument = next(a for a, seen in sides.items() if not _crossed({a: seen}))
            return None, (
                f"the branching argument {argument} kept one sign in some entry at "
                f"{points} random integer points, so a branch was never sampled"
            )
        check()
        values: dict = {
            M: np.array(
                [
                    [rng.randint(-_RANGE, _RANGE) for _ in range(int(M.shape[1]))]
                    for _ in range(int(M.shape[0]))
                ],
                dtype=object,
            )
            for M in matrices
        }
        values.update({s: Fraction(rng.randint(1, 96), 97) for s in scalars})
        try:
            value = exact_value(expr, values)
            for argument, seen in sides.items():
                entries = np.asarray(exact_value(argument, values), dtype=object)
                seen[0] = _either(seen[0], entries < 0)
                seen[1] = _either(seen[1], entries > 0)
        except (InexactValueError, ZeroDivisionError) as error:
            return None, str(error)
        points += 1
        if value != 0:
            return False, f"exact evaluation at a random integer point, declared sizes ({sizes})"
    crossed = " on both sides of every branch boundary" if arguments else ""
    return True, (
        f"exact evaluation at {points} random integer points{crossed}, declared sizes ({sizes})"
    )


def _branch_arguments(expr: sp.Expr) -> list:
    """The arguments of the elementwise functions of ``expr`` that branch."""
    found = []
    for atom in expr.atoms(ElementwiseApplyFunction):
        f = atom.function
        body = f.expr if isinstance(f, sp.Lambda) else f(sp.Dummy())
        if body.has(*_BRANCHING) and atom.expr not in found:
            found.append(atom.expr)
    return sorted(found, key=sp.default_sort_key)


def _either(seen: np.ndarray | None, now: np.ndarray) -> np.ndarray:
    return now.astype(bool) if seen is None else seen | now.astype(bool)


def _crossed(sides: Mapping) -> bool:
    """Every entry of every branching argument seen on both sides of zero."""
    return all(
        seen[0] is not None and bool(seen[0].all()) and bool(seen[1].all())
        for seen in sides.values()
    )


def _label(part: str, value: sp.Expr) -> str:
    return f"{part} ≡ 0" if value == 0 else part


def _summary(notes: list[tuple[str, str]]) -> str:
    """How the identity and each vanishing (or undecided) part were decided: one method
    for all, or each with its own. Nonzero parts are exact as they stand."""
    kept = [(label, how) for label, how in notes if not how.startswith("nonzero")]
    if all(how == _CANONICAL for _, how in kept):
        return _CANONICAL
    return "; ".join(f"{label}: {how}" for label, how in kept)


def _tidy(expr: sp.Expr, prefer: tuple) -> sp.Expr:
    if expr == 0:
        return sp.S.Zero
    try:
        return trace_form(expr, prefer=prefer)
    except NotSupportedError:
        return expr


def _matrix_charges(charge: sp.Expr, constants: tuple, system: MatrixSystem) -> dict:
    out = {}
    for A in constants:
        if not isinstance(A, sp.MatrixSymbol):
            continue
        try:
            C = matrix_gradient(charge, A)
            # charge and C_A share the factor e^{t/τ}: compare them at t = 0
            difference = (charge - sp.Trace(A.T * C)).subs(TIME, 0)
            linear = trace_identity(difference) or _exact_zero(difference, system)[0]
        except NotSupportedError:
            continue
        if linear:
            out[A] = C
    return out
