r"""Coordinates, data, velocities and the :class:`LearningSystem`.

A learning system is the damped Lagrangian

    L(q, q̇, t) = e^{t/τ} ( T(q, q̇) − V(q) ),   T = ½ q̇ᵀ M(q) q̇,

with V the loss plus its regularizers, and M, τ given by a learning rule
(:mod:`symnoether.rules`) or by a kinetic term written by hand (physics).
Everything is checked when the system is built; the object is immutable.

Symbols: coordinates are real Symbols (scalars, or the entries of a
:func:`matrix_coordinates` matrix); :func:`velocities` gives the engine's
velocity symbols for them (``w1`` → ``wdot1``, printed \dot{w}_{1}); data
symbols (:func:`data`) are inputs and targets for which every law must hold;
every other free symbol is a hyper-parameter. Time is :data:`TIME`.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> w1, w2 = sn.coordinates("w1 w2")
>>> x, y = sn.data("x y")
>>> eta = sp.Symbol("eta", positive=True)
>>> system = sn.LearningSystem(coords=(w1, w2), loss=(y - w2 * w1 * x) ** 2 / 2,
...                            rule=sn.rules.gradient_descent(eta), data=(x, y))
>>> system.velocities
(wdot1, wdot2)
>>> system.tau
eta/2
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import sympy as sp

from .errors import (
    FirstOrderRuleError,
    InvalidCoordinatesError,
    InvalidKineticError,
    InvalidLossError,
    InvalidRuleError,
    NotSupportedError,
    UndeclaredSymbolWarning,
)
from .rules import LearningRule, WeightDecay

__all__ = [
    "TIME",
    "coordinates",
    "matrix_coordinates",
    "data",
    "velocities",
    "velocity",
    "LearningSystem",
]

TIME = sp.Symbol("t", real=True)
"""The engine's time symbol t (also ``LearningSystem.time``)."""

_BASE_NAME = re.compile(r"[A-Za-z]+")


def coordinates(names: str) -> tuple[sp.Symbol, ...]:
    """Real coordinate (parameter) symbols, named as in :func:`sympy.symbols`.

    Always returns a tuple, even for one name.

    Examples
    --------
    >>> coordinates("w1:4")
    (w1, w2, w3)
    >>> coordinates("theta")
    (theta,)
    """
    return _real_symbols(names, "coordinates")


def data(names: str) -> tuple[sp.Symbol, ...]:
    """Real data symbols (inputs, targets): laws must hold for every value.

    Always returns a tuple, even for one name.

    Examples
    --------
    >>> x, y = data("x y")
    >>> x.is_real
    True
    """
    return _real_symbols(names, "data")


def matrix_coordinates(name: str, rows: int, cols: int) -> sp.ImmutableMatrix:
    """A matrix of real coordinate symbols, 1-based: ``W1_12`` is row 1, column 2.

    Entries are named ``{name}_{i}{j}`` (``{name}_{i}_{j}`` when a dimension
    exceeds 9), and print as :math:`W_{1\\,12}`.

    Examples
    --------
    >>> matrix_coordinates("W1", 2, 2)
    Matrix([
    [W1_11, W1_12],
    [W1_21, W1_22]])
    """
    if not isinstance(name, str) or not name:
        raise InvalidCoordinatesError(
            f"matrix_coordinates name {name!r} is not a non-empty string; pass e.g. 'W1'"
        )
    for label, size in (("rows", rows), ("cols", cols)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidCoordinatesError(
                f"matrix_coordinates({name!r}, ...): {label} = {size!r} is not a positive "
                "integer; pass the layer's shape, e.g. matrix_coordinates('W1', 2, 3)"
            )
    joiner = "" if max(rows, cols) < 10 else "_"
    return sp.ImmutableMatrix(
        rows,
        cols,
        lambda i, j: sp.Symbol(f"{name}_{i + 1}{joiner}{j + 1}", real=True),
    )


def velocity(coordinate: sp.Symbol) -> sp.Symbol:
    """The velocity symbol of one coordinate: ``w1`` → ``wdot1`` (\\dot{w}_{1}).

    Examples
    --------
    >>> velocity(sp.Symbol("theta_2", real=True))
    thetadot_2
    """
    if not isinstance(coordinate, sp.Symbol):
        raise InvalidCoordinatesError(
            f"{coordinate!r} is not a coordinate Symbol; create coordinates with "
            "sn.coordinates('w1 w2') or sn.matrix_coordinates('W', 2, 3)"
        )
    name = coordinate.name
    match = _BASE_NAME.match(name)
    if match:
        dotted = name[: match.end()] + "dot" + name[match.end() :]
    else:
        dotted = name + "dot"
    return sp.Symbol(dotted, real=True)


def velocities(coords: Iterable) -> tuple[sp.Symbol, ...]:
    """The engine's velocity symbols for ``coords`` (Symbols and/or matrices).

    Examples
    --------
    >>> velocities(coordinates("w1 w2"))
    (wdot1, wdot2)
    """
    return tuple(velocity(q) for q in _flatten(coords))


@dataclass(frozen=True)
class LearningSystem:
    """A loss and a learning rule, as the Lagrangian L = e^{t/τ}(T − V).

    Parameters
    ----------
    coords : sequence of Symbols and/or coordinate matrices
        The parameters q (matrices are flattened row by row).
    loss : sympy expression (or 1×1 Matrix)
        The loss V(q; data), a function of coordinates, data and
        hyper-parameters only.
    rule : LearningRule, optional
        From :mod:`symnoether.rules`; gives M and τ. Give this or ``kinetic``.
    data : sequence of Symbols
        Inputs and targets; laws must hold for every value of them.
    parameters : sequence of Symbols, optional
        Hyper-parameters (η, β, λ, a mass, ...). Optional: free symbols that are
        neither coordinates nor data are hyper-parameters anyway. When given,
        any other free symbol raises an :class:`UndeclaredSymbolWarning`.
    regularizers : sequence of regularizers
        E.g. ``[rules.weight_decay(lam)]``; added to the potential.
    kinetic : sympy expression, optional
        A kinetic term ½q̇ᵀM(q)q̇ written by hand (physics), instead of a rule.
    tau : sympy expression, optional
        Damping time for a hand-written ``kinetic`` (default ∞: no damping).

    Attributes
    ----------
    coords, velocities : tuple of Symbols
    time : Symbol
    potential : sympy expression
        Loss plus regularizers.
    kinetic : sympy expression
        T = ½q̇ᵀMq̇ (for gradient flow, the metric's quadratic form).
    mass_matrix : ImmutableMatrix
        M (for gradient flow, the metric G of G q̇ = −∇V).
    tau : sympy expression or None
        Damping time (``oo`` for none; None for gradient flow).
    order : int
        2 for Lagrangian systems, 1 for gradient flow.

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> q1, q2 = sn.coordinates("q1 q2")
    >>> k = sp.Symbol("k", positive=True)
    >>> v1, v2 = sn.velocities((q1, q2))
    >>> kepler = sn.LearningSystem((q1, q2), -k / sp.sqrt(q1**2 + q2**2),
    ...                            kinetic=(v1**2 + v2**2) / 2)
    >>> kepler.mass_matrix
    Matrix([
    [1, 0],
    [0, 1]])
    >>> kepler.tau
    oo
    """

    coords: tuple
    loss: sp.Expr
    rule: LearningRule | None = None
    data: tuple = ()
    parameters: tuple | None = None
    regularizers: tuple = ()
    kinetic: sp.Expr | None = None
    tau: sp.Expr | None = None
    blocks: tuple = field(init=False, repr=False)
    velocities: tuple = field(init=False, repr=False)
    mass_matrix: sp.ImmutableMatrix = field(init=False, repr=False)
    potential: sp.Expr = field(init=False, repr=False)

    def __post_init__(self) -> None:
        blocks = _coordinate_blocks(self.coords)
        coords = tuple(q for _, block in blocks for q in _block_symbols(block))
        data = tuple(_flatten(self.data))
        self._set("blocks", blocks)
        self._set("coords", coords)
        self._set("data", data)
        _check_coordinates(coords, data)
        self._set("velocities", velocities(coords))
        self._set("loss", _check_loss(self.loss, coords, data, self.velocities))
        self._set("regularizers", _check_regularizers(self.regularizers, coords))
        self._set("potential", self.loss + sum(r.potential(coords) for r in self.regularizers))
        self._set_kinetic()
        if self.parameters is not None:
            self._set("parameters", tuple(_flatten(self.parameters)))
            _warn_undeclared(self)

    # -- derived quantities -------------------------------------------------
    @property
    def time(self) -> sp.Symbol:
        """The time symbol t."""
        return TIME

    @property
    def order(self) -> int:
        """1 for gradient flow, 2 for a Lagrangian system."""
        return 1 if self.rule is not None and self.rule.order == 1 else 2

    @property
    def damping_factor(self) -> sp.Expr:
        """e^{t/τ} (1 when τ = ∞)."""
        if self.order == 1:
            raise FirstOrderRuleError(
                "gradient flow has no damping factor e^{t/τ}: it is first order; use "
                "rules.gradient_descent(lr) for the finite-step Lagrangian"
            )
        if self.tau == sp.oo:
            return sp.S.One
        return sp.exp(TIME / self.tau)

    @property
    def lagrangian(self) -> sp.Expr:
        """L = e^{t/τ}(T − V).

        Raises :class:`FirstOrderRuleError` for gradient flow, which has none.
        """
        if self.order == 1:
            raise FirstOrderRuleError(
                "gradient flow q̇ = −∇V is first order and has no Lagrangian; use "
                "rules.gradient_descent(lr) for its finite-step Lagrangian, or "
                "sn.equations_of_motion(system) for the flow itself"
            )
        return self.damping_factor * (self.kinetic - self.potential)

    @property
    def hyperparameters(self) -> tuple[sp.Symbol, ...]:
        """Every free symbol that is not a coordinate, velocity, data or time."""
        known = set(self.coords) | set(self.data) | set(self.velocities) | {TIME}
        pieces = [self.potential, self.kinetic, self.mass_matrix]
        if self.tau is not None:
            pieces.append(self.tau)
        free = set().union(*(sp.sympify(p).free_symbols for p in pieces))
        return tuple(sorted(free - known, key=lambda s: s.name))

    def symmetries(self, *, mode: str = "auto", seed: int = 0, timeout: float | None = None):
        """The continuous affine symmetries of the loss (regularizers excluded, so
        that their breaking shows in ``algebra.broken_by(system)``).

        See :func:`symnoether.find_symmetries` (``timeout``: a time budget in
        seconds, default None for none).

        Examples
        --------
        >>> import symnoether as sn
        >>> from symnoether import models
        >>> models.scalar_pair().system(sn.rules.gradient_flow()).symmetries().dimension
        1
        """
        from .symmetry import find_symmetries  # a later stage: imported on use

        blocks = tuple(block for _, block in self.blocks)
        return find_symmetries(
            self.loss, blocks, data=self.data, mode=mode, seed=seed, timeout=timeout
        )

    def coordinate_matrix(self, name: str) -> sp.ImmutableMatrix | sp.Symbol:
        """The coordinate block (matrix or scalar) called ``name``."""
        for block_name, block in self.blocks:
            if block_name == name:
                return block
        names = ", ".join(n for n, _ in self.blocks)
        raise InvalidCoordinatesError(f"no coordinate block {name!r}; the blocks are {names}")

    def __str__(self) -> str:
        lines = [f"coordinates  {', '.join(map(str, self.coords))}"]
        if self.data:
            lines.append(f"data         {', '.join(map(str, self.data))}")
        lines.append(f"loss         V = {sp.sstr(self.loss)}")
        for regularizer in self.regularizers:
            lines.append(f"regularizer  {regularizer}")
        if self.rule is not None:
            lines.append(f"rule         {self.rule}")
        if self.order == 2:
            lines.append(f"kinetic      T = {sp.sstr(self.kinetic)}")
            lines.append(f"damping      tau = {sp.sstr(self.tau)}")
            lines.append(f"Lagrangian   L = {sp.sstr(self.lagrangian)}")
        else:
            lines.append(f"flow         {sp.sstr(self.mass_matrix)} q' = -grad V")
        return "\n".join(lines)

    def _repr_latex_(self) -> str:
        if self.order == 2:
            body = rf"L = {sp.latex(self.lagrangian)}"
        else:
            body = rf"\dot q = -\nabla V,\quad V = {sp.latex(self.potential)}"
        return f"$${body}$$"

    # -- construction helpers ----------------------------------------------
    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _set_kinetic(self) -> None:
        if self.rule is not None and self.kinetic is not None:
            raise InvalidKineticError(
                "give either a learning rule (rule=...) or a hand-written kinetic term "
                "(kinetic=...), not both: the rule already fixes T = ½q̇ᵀMq̇"
            )
        if self.rule is None and self.kinetic is None:
            raise InvalidKineticError(
                "no dynamics: pass rule=sn.rules.gradient_descent(eta) (or another rule) "
                "or, for a physical system, kinetic=(m/2)*|q̇|²"
            )
        if self.rule is not None:
            self._set_rule_kinetic()
        else:
            self._set_hand_kinetic()

    def _set_rule_kinetic(self) -> None:
        if not isinstance(self.rule, LearningRule):
            raise InvalidRuleError(
                f"rule = {self.rule!r} is not a LearningRule; build one with "
                "sn.rules.gradient_descent(eta), sn.rules.momentum(eta, beta), ..."
            )
        if self.tau is not None:
            raise InvalidRuleError(
                f"tau = {self.tau} given with rule {self.rule.name}; the rule fixes the "
                "damping time, so drop tau (it is only for a hand-written kinetic term)"
            )
        for label, value in (("learning rate", self.rule.lr), ("momentum", self.rule.beta)):
            if value is None:
                continue
            moving = sorted(value.free_symbols & {*self.coords, *self.data}, key=str)
            if moving:
                raise InvalidRuleError(
                    f"the {label} {value} depends on {moving[0]}, a coordinate or data symbol; "
                    "it must be a constant (a number or hyper-parameter symbol)"
                )
        self._set("rule", replace(self.rule, coordinates=self.coords))
        mass = self.rule.mass_matrix(self.coords)
        v = sp.Matrix(self.velocities)
        self._set("mass_matrix", mass)
        metric = (mass / self.rule.mass_scale).applyfunc(sp.cancel)
        self._set("kinetic", self.rule.mass_scale * sp.expand((v.T * metric * v)[0]) / 2)
        self._set("tau", self.rule.tau)

    def _set_hand_kinetic(self) -> None:
        kinetic = _as_scalar(self.kinetic, "kinetic term", InvalidKineticError)
        self._set("kinetic", kinetic)
        self._set("mass_matrix", _mass_from_kinetic(kinetic, self.coords, self.velocities))
        tau = sp.oo if self.tau is None else self.tau
        if not isinstance(tau, int | float | sp.Expr) or isinstance(tau, bool):
            raise InvalidKineticError(f"tau = {tau!r} is not a number or SymPy expression")
        tau = sp.sympify(tau)
        moving = sorted(
            tau.free_symbols & ({*self.coords, *self.velocities, *self.data, TIME}), key=str
        )
        if moving:
            raise InvalidKineticError(
                f"damping time tau = {tau} depends on {moving[0]}; τ is a constant "
                "(a hyper-parameter or number): put state dependence in the kinetic term"
            )
        if (
            tau.has(sp.nan, sp.zoo)
            or tau.is_extended_positive is False
            or (tau.is_number and not tau.is_extended_positive)
        ):
            raise InvalidKineticError(
                f"damping time tau = {tau} is not positive; pass tau > 0, or omit it "
                "(τ = ∞) for an undamped system"
            )
        self._set("tau", tau)


# -- checks -----------------------------------------------------------------


def _real_symbols(names: str, what: str) -> tuple[sp.Symbol, ...]:
    if not isinstance(names, str) or not names.strip():
        raise InvalidCoordinatesError(
            f"{what}({names!r}): expected a non-empty string of names, e.g. 'w1 w2' or 'w1:4'"
        )
    made = sp.symbols(names, real=True, seq=True)
    return tuple(made)


def _flatten(items: object) -> list:
    if isinstance(items, set | frozenset | dict):
        raise InvalidCoordinatesError(
            f"{type(items).__name__} {items!r} has no fixed order; pass a tuple or list"
        )
    if isinstance(items, sp.Basic) and not isinstance(items, sp.MatrixBase):
        return [items]
    if isinstance(items, sp.MatrixBase):
        return list(items)
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise InvalidCoordinatesError(
            f"{items!r} is not a sequence of Symbols; pass e.g. sn.coordinates('w1 w2')"
        )
    flat = []
    for item in items:
        flat.extend(list(item) if isinstance(item, sp.MatrixBase) else [item])
    return flat


def _coordinate_blocks(coords: object) -> tuple:
    if isinstance(coords, set | frozenset | dict):
        raise InvalidCoordinatesError(
            f"coords is a {type(coords).__name__}, which has no fixed order; the order of "
            "coordinates fixes velocities, generators and equations: pass a tuple or list"
        )
    if isinstance(coords, sp.MatrixBase):
        coords = [coords]
    elif isinstance(coords, sp.Symbol):
        coords = [coords]
    elif isinstance(coords, str) or not isinstance(coords, Iterable):
        raise InvalidCoordinatesError(
            f"coords = {coords!r} is not a sequence of coordinate Symbols or matrices; "
            "pass e.g. sn.coordinates('w1 w2') or (W1, W2) from sn.matrix_coordinates"
        )
    blocks = []
    for item in coords:
        if isinstance(item, sp.MatrixBase):
            blocks.append((_matrix_name(item), sp.ImmutableMatrix(item)))
        elif isinstance(item, sp.Symbol):
            blocks.append((item.name, item))
        else:
            raise InvalidCoordinatesError(
                f"coordinate {item!r} is a {type(item).__name__}, not a Symbol; coordinates "
                "must be distinct Symbols: create them with sn.coordinates('w1 w2')"
            )
    if not blocks:
        raise InvalidCoordinatesError(
            "coords is empty; a learning system needs at least one coordinate, "
            "e.g. sn.coordinates('w1 w2')"
        )
    return tuple(blocks)


def _matrix_name(matrix: sp.MatrixBase) -> str:
    """The ``name`` given to :func:`matrix_coordinates` (entries ``name_ij``)."""
    first = matrix[0] if len(matrix) else None
    if not isinstance(first, sp.Symbol):
        return str(first)
    suffix = r"_\d+_\d+$" if max(matrix.shape) >= 10 else r"_\d+$"
    return re.sub(suffix, "", first.name)


def _block_symbols(block: object) -> list:
    return list(block) if isinstance(block, sp.MatrixBase) else [block]


def _check_coordinates(coords: tuple, data: tuple) -> None:
    for q in coords:
        if not isinstance(q, sp.Symbol):
            raise InvalidCoordinatesError(
                f"coordinate {q!r} is not a Symbol; coordinates must be distinct Symbols: "
                "create them with sn.coordinates('w1 w2') or sn.matrix_coordinates"
            )
    _check_distinct(coords, "coordinate")
    for d in data:
        if not isinstance(d, sp.Symbol):
            raise InvalidCoordinatesError(
                f"data entry {d!r} is not a Symbol; declare data with sn.data('x y')"
            )
    _check_distinct(data, "data symbol")
    shared = [q for q in coords if q in set(data)]
    if shared:
        raise InvalidCoordinatesError(
            f"{shared[0]} is both a coordinate and a data symbol; a parameter cannot be "
            "data: rename one of them"
        )
    engine = set(velocities(coords)) | {TIME}
    clash = [s for s in (*coords, *data) if s in engine]
    if clash:
        raise InvalidCoordinatesError(
            f"symbol {clash[0]} is reserved by the engine (a velocity or the time t); "
            "rename that coordinate or data symbol"
        )


def _check_distinct(symbols: tuple, what: str) -> None:
    seen: set = set()
    for s in symbols:
        if s in seen:
            raise InvalidCoordinatesError(
                f"{what} {s} appears twice; each {what} must be a distinct Symbol"
            )
        seen.add(s)


def _as_scalar(expr: object, what: str, error: type) -> sp.Expr:
    if isinstance(expr, sp.MatrixBase):
        if expr.shape == (1, 1):
            return expr[0, 0]
        raise error(
            f"the {what} is a {expr.shape[0]}×{expr.shape[1]} matrix; it must be a scalar "
            "(for a squared norm write e.g. (r.T*r)[0] or sum of squares)"
        )
    if isinstance(expr, str):
        raise error(
            f"the {what} {expr!r} is a string; build it from SymPy symbols (strings are "
            "never parsed: spec files have their own safe parser)"
        )
    if isinstance(expr, bool) or not isinstance(expr, int | float | sp.Expr):
        raise error(
            f"the {what} is a {type(expr).__name__}, not a SymPy expression; build it "
            "from the symbols of sn.coordinates and sn.data"
        )
    expr = sp.sympify(expr)
    if expr.has(sp.Derivative):
        raise error(f"the {what} {expr} contains an unevaluated Derivative; call .doit() first")
    if expr.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        raise error(f"the {what} {expr} is not finite")
    return expr


def _check_loss(loss: object, coords: tuple, data: tuple, vels: tuple) -> sp.Expr:
    loss = _as_scalar(loss, "loss", InvalidLossError)
    if loss.has(sp.I):
        raise InvalidLossError(
            f"the loss {loss} contains the imaginary unit I; a loss must be real-valued"
        )
    free = loss.free_symbols
    _reject_look_alikes(free, (*coords, *data, *vels, TIME), "loss")
    moving = sorted((free & set(vels)) | (free & {TIME}), key=str)
    if moving:
        raise InvalidLossError(
            f"the loss depends on {moving[0]}, a velocity or the time; a loss is a function "
            "of coordinates and data only (put velocity terms in the kinetic term)"
        )
    if not free & set(coords):
        impostors = [s for s in free if any(s.name == q.name for q in coords)]
        hint = (
            f": its symbol {impostors[0]} has the name of a coordinate but other "
            "assumptions; create the loss from the symbols sn.coordinates returns"
            if impostors
            else "; check that it is built from these coordinates"
        )
        raise InvalidLossError(f"the loss {loss} depends on none of the coordinates{hint}")
    return loss


def _reject_look_alikes(free: set, engine: tuple, what: str) -> None:
    """A free symbol named like a coordinate, data symbol, velocity or t but not
    equal to it (other assumptions) would silently become a hyper-parameter."""
    by_name = {s.name: s for s in engine}
    for symbol in sorted(free, key=str):
        twin = by_name.get(symbol.name)
        if twin is not None and twin != symbol:
            raise InvalidLossError(
                f"the {what} contains a symbol {symbol} that has the name of the engine's "
                f"{symbol} but other assumptions, so it is not the same symbol; build the "
                f"{what} from sn.coordinates, sn.data, sn.velocities and system.time"
            )


def _check_regularizers(regularizers: object, coords: tuple) -> tuple:
    if regularizers is None:
        return ()
    if isinstance(regularizers, WeightDecay):
        regularizers = (regularizers,)
    checked = tuple(regularizers)
    for regularizer in checked:
        if not isinstance(regularizer, WeightDecay):
            raise InvalidRuleError(
                f"regularizer {regularizer!r} is not supported; use "
                "sn.rules.weight_decay(lam) (add other penalties to the loss itself)"
            )
        outside = [q for q in regularizer.on or () if q not in set(coords)]
        if outside:
            raise InvalidRuleError(
                f"weight_decay(on=...) names {outside[0]}, which is not a coordinate of this system"
            )
    return checked


def _mass_from_kinetic(kinetic: sp.Expr, coords: tuple, vels: tuple) -> sp.ImmutableMatrix:
    if kinetic.free_symbols & {TIME}:
        raise NotSupportedError(
            "a kinetic term that depends on the time t is not supported yet; "
            "time dependence enters only through the damping factor e^{t/τ}"
        )
    if not kinetic.free_symbols & set(vels):
        names = ", ".join(map(str, vels[:3])) + (", ..." if len(vels) > 3 else "")
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} does not depend on the velocities {names}; "
            "build it from the symbols sn.velocities(coords) returns"
        )
    v = list(vels)
    mass = sp.hessian(kinetic, v)
    if any(entry.free_symbols & set(v) for entry in mass):
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} is not quadratic in the velocities "
            "(its Hessian in q̇ depends on q̇); T must be ½q̇ᵀM(q)q̇"
        )
    vm = sp.Matrix(v)
    remainder = sp.expand(kinetic - (vm.T * mass * vm)[0] / 2)
    if remainder != 0:
        raise InvalidKineticError(
            f"the kinetic term T = {kinetic} has terms {remainder} that are not quadratic "
            "in the velocities; T must be ½q̇ᵀM(q)q̇ (no linear or constant terms)"
        )
    if sp.simplify(mass.det()) == 0:
        raise InvalidKineticError(
            f"the mass matrix of T = {kinetic} is singular (det M = 0): some velocity "
            "has no inertia; give every coordinate a kinetic term, or use gradient flow"
        )
    if _definitely_not_positive_definite(mass):
        raise InvalidKineticError(
            f"the mass matrix of T = {kinetic} is not positive definite, so T is not a "
            "kinetic energy; every velocity needs positive inertia"
        )
    return sp.ImmutableMatrix(mass)


def _definitely_not_positive_definite(matrix: sp.MatrixBase) -> bool:
    """True only when M is provably not positive definite (a diagonal entry or
    leading minor that cannot be positive, or SymPy's own verdict)."""
    for k in range(1, matrix.shape[0] + 1):
        minor = sp.simplify(matrix[:k, :k].det())
        if minor.is_positive is False or (minor.is_number and not minor.is_positive):
            return True
    for entry in matrix.diagonal():
        if entry.is_positive is False:
            return True
    return False


def _warn_undeclared(system: LearningSystem) -> None:
    declared = set(system.parameters or ())
    undeclared = [s for s in system.hyperparameters if s not in declared]
    if undeclared:
        names = ", ".join(map(str, undeclared))
        warnings.warn(
            f"symbols {names} are neither coordinates, data nor declared parameters; "
            "they are treated as hyper-parameters (add them to parameters= to silence this)",
            UndeclaredSymbolWarning,
            stacklevel=4,
        )
