r"""Noether's learning dynamics: the charge of a generator and its closed-form law.

For L = e^{t/τ}(T − V) with T = ½q̇ᵀMq̇ and a point generator ψ(q), the Noether
charge and its rate on shell are (Tanaka & Kunin 2021, Theorem 1)

    Q = ∂L/∂q̇ · ψ = e^{t/τ} q̇ᵀ M ψ,
    dQ/dt = pr ψ(L) = e^{t/τ} [ ½ q̇ᵀ(ψ·∂_q M)q̇ + q̇ᵀ M (Dψ) q̇ ]  −  e^{t/τ} ψ·∇V,
                      └──── kinetic symmetry breaking ─────┘     └ potential ┘

where V is the loss plus its regularizers. For a symmetry of the loss
(ψ·∇V_loss ≡ 0) only the kinetic term and the regularizers move the charge.

Gradient flow M q̇ = −∇V is first order: the charge is a potential φ with
∇φ = Mψ (it exists when Mψ is a gradient field), and dφ/dt = −ψ·∇V.

Every law is checked before it is returned: the total time derivative of the
charge along the equations of motion (accelerations from the Euler–Lagrange
equations) minus the returned rate must be identically zero
(:func:`symnoether.core.jet.is_zero`).

Losses with branches (ReLU's ``Max``, ``Heaviside``, ``Abs``, ``sign``, ``Piecewise``)
give laws that hold **almost everywhere**: the value on a branch boundary does not
count, and ``DiracDelta`` terms (the derivative of a step) vanish off a set of
measure zero; a law they entered says so (:attr:`NoetherLaw.almost_everywhere`).
They count as distributions when a rate is decided zero: x·DiracDelta(x) is 0, the
DiracDelta(w − 150) of a loss that jumps at w = 150 is not. The numeric kernels take
DiracDelta as 0 and Heaviside(0) = 0 (the ReLU gradient of the common frameworks);
for another value write it into the loss, e.g. ReLU as ``z * Heaviside(z, 1)``.

References
----------
.. [1] H. Tanaka and D. Kunin, "Noether's Learning Dynamics: Role of Symmetry
   Breaking in Neural Networks", NeurIPS 2021, arXiv:2105.02716, Sec. 4.
.. [2] D. Kunin et al., "Neural Mechanics", ICLR 2021, arXiv:2012.04728, Sec. 3–5.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> w = sn.coordinates("w1 w2")
>>> eta = sp.Symbol("eta", positive=True)
>>> norm = sp.sqrt(w[0]**2 + w[1]**2)
>>> system = sn.LearningSystem(w, (1 - w[0] / norm) ** 2, rule=sn.rules.gradient_descent(eta))
>>> law = sn.noether(system, sp.Matrix(w))       # scale symmetry ψ = w
>>> law.potential_breaking
0
>>> law.kinetic_breaking
eta*(wdot1**2 + wdot2**2)*exp(2*t/eta)/2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import sympy as sp

from ..budget import check, time_budget
from ..errors import (
    InvalidGeneratorError,
    InvalidInputError,
    VerificationError,
)
from .charges import potential_of, require_gradient_field
from .display import Notation, table_text, vector_text
from .dynamics import equations_of_motion
from .jet import derivatives, is_zero, prolonged_action, readable, total_derivative
from .matrix_noether import MatrixNoetherLaw, matrix_noether
from .matrix_system import MatrixSystem
from .stochastic import StochasticTerms, stochastic_terms
from .system import TIME, LearningSystem
from .typeset import aligned, law_rows

__all__ = ["NoetherLaw", "noether", "as_generator"]


@dataclass(frozen=True)
class NoetherLaw:
    """A Noether charge and its on-shell law, split by what breaks it.

    Attributes
    ----------
    system : LearningSystem
    generator : ImmutableMatrix
        ψ, a column over ``system.coords``.
    charge : sympy expression
        Q = ∂L/∂q̇·ψ (second order) or the potential φ of Mψ (gradient flow).
    kinetic_breaking : sympy expression
        e^{t/τ} pr ψ(T) (0 for gradient flow).
    loss_breaking : sympy expression
        −e^{t/τ} ψ·∇V_loss; 0 exactly when ψ is a symmetry of the loss.
    regularizer_breaking : sympy expression
        −e^{t/τ} ψ·∇R, R the sum of the regularizers.
    breaking_regularizers : tuple of str
        The regularizers whose own term ψ·∇R_k is not identically zero.
    potential_breaking : sympy expression
        loss_breaking + regularizer_breaking.
    rate : sympy expression
        dQ/dt = kinetic_breaking + potential_breaking, on shell.
    conserved : bool
        True only when the rate is identically zero.
    order : int
        2 for a Lagrangian system, 1 for gradient flow and SGD.
    noise_drift : sympy expression
        SGD only (0 otherwise): the Itô term (η/2)·tr(Σ∇²Q) of the expected rate
        (:mod:`symnoether.core.stochastic`); under SGD ``kinetic_breaking`` holds the
        finite-step term −(η/2)∇Qᵀ∇²V∇V and ``rate`` is the expected rate E[dQ]/dt.
    noise_diffusion : sympy expression
        SGD only (0 otherwise): η∇QᵀΣ∇Q, the charge's own noise per unit time;
        identically 0 when ψ is a symmetry of every sample's loss.
    almost_everywhere : bool
        True when ``DiracDelta`` terms (the derivative of a ``Heaviside`` or ``sign``
        in the loss) entered the law: it holds almost everywhere, off the set of
        measure zero where a DiracDelta's argument vanishes. A DiracDelta left in
        the rate (a loss that jumps) makes the charge jump where a trajectory
        crosses that set; the numeric kernels evaluate DiracDelta as 0.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> q1, q2 = sn.coordinates("q1 q2")
    >>> v1, v2 = sn.velocities((q1, q2))
    >>> kepler = sn.LearningSystem((q1, q2), -1 / sp.sqrt(q1**2 + q2**2),
    ...                            kinetic=(v1**2 + v2**2) / 2)
    >>> law = sn.noether(kepler, sp.Matrix([-q2, q1]))
    >>> law.charge, law.conserved
    (q1*qdot2 - q2*qdot1, True)
    """

    system: LearningSystem
    generator: sp.ImmutableMatrix
    charge: sp.Expr
    kinetic_breaking: sp.Expr
    loss_breaking: sp.Expr
    regularizer_breaking: sp.Expr
    order: int
    breaking_regularizers: tuple[str, ...] = ()
    almost_everywhere: bool = False
    noise_drift: sp.Expr = sp.S.Zero
    noise_diffusion: sp.Expr = sp.S.Zero
    potential_breaking: sp.Expr = field(init=False)
    rate: sp.Expr = field(init=False)
    conserved: bool = field(init=False)

    def __post_init__(self) -> None:
        potential = self.loss_breaking + self.regularizer_breaking
        rate = readable(self.kinetic_breaking + potential + self.noise_drift)
        object.__setattr__(self, "potential_breaking", potential)
        object.__setattr__(self, "rate", rate)
        still = self.noise_diffusion == 0 or is_zero(self.noise_diffusion)
        object.__setattr__(self, "conserved", bool((rate == 0 or is_zero(rate)) and still))

    @property
    def is_symmetry(self) -> bool:
        """True when ψ leaves the loss invariant (ψ·∇V_loss ≡ 0)."""
        return self.loss_breaking == 0

    @property
    def broken_by(self) -> tuple[str, ...]:
        """What moves the damped Q = e^{t/τ}q̇ᵀMψ (damping never does, as in algebra.broken_by)."""
        causes = []
        if self.kinetic_breaking != 0:
            stochastic = self.system.rule is not None and self.system.rule.stochastic
            causes.append("finite step" if stochastic else "kinetic term")
        if self.loss_breaking != 0:
            causes.append("loss")
        for name in self.breaking_regularizers:
            if name not in causes:
                causes.append(name)
        if self.noise_drift != 0 or self.noise_diffusion != 0:
            causes.append("SGD noise")
        return tuple(causes)

    def __str__(self) -> str:
        status = "yes" if self.conserved else "no, broken by " + " and ".join(self.broken_by)
        rows = [
            ("generator", "psi = " + vector_text(self.generator)),
            ("charge", f"Q = {sp.sstr(self.charge)}"),
            ("rate", f"dQ/dt = {sp.sstr(self.rate)}"),
            ("  kinetic breaking", self.kinetic_breaking),
            ("  potential breaking", self.potential_breaking),
            ("conserved", status),
        ]
        if self.system.rule is not None and self.system.rule.stochastic:
            rows[2:5] = [
                ("expected rate", f"E[dQ]/dt = {sp.sstr(self.rate)}"),
                ("  finite step", self.kinetic_breaking),
                ("  potential breaking", self.potential_breaking),
                ("  noise drift", self.noise_drift),
                ("noise diffusion", f"d<Q>/dt = {sp.sstr(self.noise_diffusion)}"),
            ]
        if self.almost_everywhere:
            rows.append(("holds", "almost everywhere (DiracDelta terms vanish off a null set)"))
        rule = self.system.rule.name if self.system.rule is not None else "hand-written kinetic"
        title = f"Noether's learning dynamics ({rule}, order {self.order})"
        return table_text(title, rows)

    def _repr_latex_(self) -> str:
        return aligned(law_rows(self, Notation(self.system)))


def noether(
    system: LearningSystem | MatrixSystem, generator: object, *, timeout: float | None = None
) -> NoetherLaw | MatrixNoetherLaw:
    """The Noether charge of ``generator`` and its closed-form law under ``system``.

    Parameters
    ----------
    system : LearningSystem
    generator : column Matrix, sequence, per-block tuple, or object with ``.generator``
        ψ(q): a column over ``system.coords``; a flat sequence of its entries;
        or one entry per coordinate block, e.g. ``(A*W1, -W2*A)`` for a
        two-layer network declared with ``coords=(W1, W2)``.
    timeout : float, optional
        Time budget in seconds for the simplification and verification
        (default None: no budget); see :mod:`symnoether.budget`.

    Returns
    -------
    NoetherLaw
        Verified: D_t Q along the equations of motion equals ``rate``. For a
        :class:`~symnoether.core.matrix_system.MatrixSystem` (layers declared with
        :func:`~symnoether.core.matrices.layers`), a
        :class:`~symnoether.core.matrix_noether.MatrixNoetherLaw` in trace form
        (:func:`~symnoether.core.matrix_noether.matrix_noether`).

    Raises
    ------
    InvalidGeneratorError
        Wrong length or shape, or entries depending on velocities, time or data.
    NoFirstOrderChargeError
        Gradient flow or SGD, when Mψ is not a gradient field (no first-order charge).
    BudgetExceededError
        The derivation ran out of its ``timeout``.

    References
    ----------
    Tanaka & Kunin (2021), Theorem 1 and Eq. 9; Kunin et al. (2021), Sec. 4.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> x, y = sn.data("x y")
    >>> flow = sn.LearningSystem((w1, w2), (y - w2 * w1 * x) ** 2 / 2,
    ...                          rule=sn.rules.gradient_flow(), data=(x, y))
    >>> law = sn.noether(flow, (w1, -w2))            # rescale symmetry
    >>> law.charge, law.conserved
    ((w1**2 - w2**2)/2, True)
    """
    if isinstance(system, MatrixSystem):
        return matrix_noether(system, generator, timeout=timeout)
    _require_system(system, "noether")
    psi = as_generator(generator, system)
    with time_budget(timeout, "the Noether law", hint=_NOETHER_HINT):
        if system.order == 1:
            return _first_order_law(system, psi)
        return _second_order_law(system, psi)


_NOETHER_HINT = (
    "simplify the loss (fewer terms; numbers or declared hyper-parameters instead of long "
    "symbolic coefficients) or pass a simpler generator"
)


def as_generator(generator: object, system: LearningSystem) -> sp.ImmutableMatrix:
    """Coerce a user's generator to a column Matrix over ``system.coords``, checked.

    Examples
    --------
    >>> import symnoether as sn
    >>> w1, w2 = sn.coordinates("w1 w2")
    >>> system = sn.LearningSystem((w1, w2), (w1 * w2 - 1) ** 2, rule=sn.rules.gradient_flow())
    >>> as_generator([w1, -w2], system).T
    Matrix([[w1, -w2]])
    """
    if hasattr(generator, "generator") and not isinstance(generator, sp.Basic):
        generator = generator.generator
    entries = _generator_entries(generator, system)
    psi = sp.ImmutableMatrix([_generator_entry(e) for e in entries])
    forbidden = set(system.velocities) | {TIME}
    for entry in psi:
        moving = sorted(entry.free_symbols & forbidden, key=str)
        if moving:
            raise InvalidGeneratorError(
                f"generator entry {entry} depends on {moving[0]}; a generator ψ(q) is a "
                "vector field on parameter space: use coordinates only"
            )
        on_data = sorted(entry.free_symbols & set(system.data), key=str)
        if on_data:
            raise InvalidGeneratorError(
                f"generator entry {entry} depends on the data symbol {on_data[0]}; a "
                "symmetry must act on the parameters the same way for every input"
            )
    if all(entry.is_zero for entry in psi):
        raise InvalidGeneratorError("the generator is identically zero; it generates nothing")
    return psi


def _generator_entries(generator: object, system: LearningSystem) -> list:
    n = len(system.coords)
    names = ", ".join(map(str, system.coords[:4])) + (", ..." if n > 4 else "")
    _check_block_shapes(generator, system.blocks)
    if isinstance(generator, sp.MatrixBase):
        if 1 in generator.shape and len(generator) == n:
            return list(generator)
        raise InvalidGeneratorError(
            f"generator has shape {generator.shape[0]}×{generator.shape[1]} but the system "
            f"has {n} coordinates ({names}); pass an {n}×1 column, or one matrix per "
            "coordinate block"
        )
    if isinstance(generator, str) or not isinstance(generator, Sequence):
        raise InvalidGeneratorError(
            f"generator {generator!r} is a {type(generator).__name__}; pass a sympy column "
            f"Matrix over the coordinates ({names})"
        )
    if _matches_blocks(generator, system.blocks) and len(generator) != n:
        return [e for part in generator for e in _block_entries(part)]
    if len(generator) == n:
        return list(generator)
    raise InvalidGeneratorError(
        f"generator has {len(generator)} entries but the system has {n} coordinates "
        f"({names}); give one entry per coordinate, or one matrix per coordinate block"
    )


def _check_block_shapes(generator: object, blocks: tuple) -> None:
    """A per-block generator whose parts are matrices must match the blocks' shapes."""
    if not isinstance(generator, Sequence) or isinstance(generator, str):
        return
    if len(generator) != len(blocks) or len(blocks) == 1:
        return
    if not any(isinstance(part, sp.MatrixBase) for part in generator):
        return
    for part, (name, block) in zip(generator, blocks, strict=True):
        expected = block.shape if isinstance(block, sp.MatrixBase) else (1, 1)
        got = part.shape if isinstance(part, sp.MatrixBase) else (1, 1)
        if got != expected:
            raise InvalidGeneratorError(
                f"generator part for the coordinate block {name} has shape "
                f"{got[0]}×{got[1]} but {name} is {expected[0]}×{expected[1]}; give one part "
                "per block, of the block's shape"
            )


def _require_system(system: object, where: str) -> None:
    if not isinstance(system, LearningSystem):
        raise InvalidInputError(
            f"{where}() needs a LearningSystem, got a {type(system).__name__} ({system!r:.40}); "
            "build one with sn.LearningSystem(coords, loss, rule=...)"
        )


def _matches_blocks(parts: Sequence, blocks: tuple) -> bool:
    if len(parts) != len(blocks):
        return False
    for part, (_, block) in zip(parts, blocks, strict=True):
        if isinstance(block, sp.MatrixBase):
            if not isinstance(part, sp.MatrixBase) or part.shape != block.shape:
                return False
        elif isinstance(part, sp.MatrixBase) and part.shape != (1, 1):
            return False
    return True


def _block_entries(part: object) -> list:
    return list(part) if isinstance(part, sp.MatrixBase) else [part]


def _generator_entry(entry: object) -> sp.Expr:
    if isinstance(entry, str) or isinstance(entry, bool):
        raise InvalidGeneratorError(
            f"generator entry {entry!r} is not a SymPy expression; build ψ from the "
            "coordinate symbols"
        )
    if not isinstance(entry, int | float | sp.Expr):
        raise InvalidGeneratorError(
            f"generator entry {entry!r} is a {type(entry).__name__}, not a SymPy expression"
        )
    value = sp.sympify(entry)
    if value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise InvalidGeneratorError(
            f"generator entry {value} is not finite; a generator is a finite vector field"
        )
    return value


# -- second order: Lagrangian systems -----------------------------------------


def _second_order_law(system: LearningSystem, psi: sp.ImmutableMatrix) -> NoetherLaw:
    coords, vels = system.coords, system.velocities
    factor = system.damping_factor
    charge_core = readable(_charge_core(system.mass_matrix, psi, vels))
    kinetic_core = prolonged_action(system.kinetic, psi, coords, vels)
    singular = kinetic_core.has(sp.DiracDelta)
    kinetic_core = sp.S.Zero if is_zero(kinetic_core) else readable(kinetic_core)
    loss_core, regularizer_core, dropped = _potential_breaking(system, psi)
    _verify_second_order(system, charge_core, kinetic_core + loss_core + regularizer_core)
    return NoetherLaw(
        system=system,
        generator=psi,
        charge=factor * charge_core,
        kinetic_breaking=factor * kinetic_core,
        loss_breaking=factor * loss_core,
        regularizer_breaking=factor * regularizer_core,
        order=2,
        breaking_regularizers=_breaking_regularizers(system, psi),
        almost_everywhere=singular or dropped,
    )


def _charge_core(mass: sp.MatrixBase, psi: sp.MatrixBase, vels: tuple) -> sp.Expr:
    """q̇ᵀMψ over the nonzero entries of M and ψ (M is often m·I: a dense product
    would multiply n² zeros)."""
    terms = [
        vels[i] * entry * psi[j]
        for (i, j), entry in mass.todok().items()
        if entry != 0 and psi[j] != 0
    ]
    return sp.Add(*terms)


def _potential_breaking(system: LearningSystem, psi: sp.ImmutableMatrix) -> tuple:
    """(−ψ·∇V_loss, −ψ·∇R, whether a DiracDelta appeared): exact 0 for the loss part
    when ψ is a symmetry (almost everywhere; a DiracDelta counts as a distribution)."""
    coords = system.coords
    loss_part = -_directional(system.training_loss, psi, coords)
    regularizer = system.potential - system.training_loss
    regularizer_part = -_directional(regularizer, psi, coords)
    singular = loss_part.has(sp.DiracDelta) or regularizer_part.has(sp.DiracDelta)
    loss_part = sp.S.Zero if is_zero(loss_part) else readable(loss_part)
    regularizer_part = sp.S.Zero if is_zero(regularizer_part) else readable(regularizer_part)
    return loss_part, regularizer_part, singular


def _breaking_regularizers(system: LearningSystem, psi: sp.ImmutableMatrix) -> tuple[str, ...]:
    """Names ('weight decay') of the regularizers R_k with ψ·∇R_k ≢ 0."""
    names: list[str] = []
    for regularizer in system.regularizers:
        check()
        term = _directional(regularizer.potential(system.coords), psi, system.coords)
        name = regularizer.name.replace("_", " ")
        if not is_zero(term) and name not in names:
            names.append(name)
    return tuple(names)


def _directional(expr: sp.Expr, psi: sp.ImmutableMatrix, coords: tuple) -> sp.Expr:
    """ψ·∇expr, the derivatives taken in one pass (:func:`derivatives`)."""
    moving = [(p, q) for p, q in zip(psi, coords, strict=True) if p != 0]
    slopes = derivatives(expr, [q for _, q in moving])
    return sp.Add(*[p * d for (p, _), d in zip(moving, slopes, strict=True) if d != 0])


def _verify_second_order(system: LearningSystem, charge_core: sp.Expr, rate_core: sp.Expr) -> None:
    """Check D_t(e^{t/τ}Q₀) = e^{t/τ}·rate₀ along the Euler–Lagrange equations."""
    eom = equations_of_motion(system)
    derivative = total_derivative(
        charge_core, system.coords, system.velocities, list(eom.solved), TIME
    )
    if system.tau != sp.oo:
        derivative += charge_core / system.tau
    if not is_zero(derivative - rate_core):
        raise VerificationError(
            "the Noether rate does not match the time derivative of the charge along "
            "the equations of motion; please report this system"
        )


# -- first order: gradient flow -----------------------------------------------


def _first_order_law(system: LearningSystem, psi: sp.ImmutableMatrix) -> NoetherLaw:
    coords = system.coords
    field_ = sp.Matrix(system.mass_matrix * psi)
    require_gradient_field(field_, coords, psi)
    charge = readable(potential_of(field_, coords))
    loss_part, regularizer_part, dropped = _potential_breaking(system, psi)
    flow = _gradient_flow(system)
    derivative = sum(sp.diff(charge, q) * dq for q, dq in zip(coords, flow, strict=True))
    if not is_zero(derivative - loss_part - regularizer_part):
        raise VerificationError(
            "the first-order Noether rate does not match dφ/dt along gradient flow; "
            "please report this system"
        )
    noise = StochasticTerms(sp.S.Zero, sp.S.Zero, sp.S.Zero)
    if system.rule is not None and system.rule.stochastic:
        noise = stochastic_terms(system, charge)
    return NoetherLaw(
        system=system,
        generator=psi,
        charge=charge,
        kinetic_breaking=noise.finite_step,
        noise_drift=noise.noise_drift,
        noise_diffusion=noise.noise_diffusion,
        loss_breaking=loss_part,
        regularizer_breaking=regularizer_part,
        order=1,
        breaking_regularizers=_breaking_regularizers(system, psi),
        almost_everywhere=dropped,
    )


def _gradient_flow(system: LearningSystem) -> list:
    """q̇ = −G⁻¹∇V, unsimplified: with G = I straight from the potential (building and
    tidying the equations of motion costs far more than the check that uses them)."""
    mass = system.mass_matrix
    if isinstance(mass, sp.MatrixBase) and mass == sp.eye(len(system.coords)):
        return [-sp.diff(system.potential, q) for q in system.coords]
    return list(equations_of_motion(system).first_order().rhs)
