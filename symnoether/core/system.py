r"""The :class:`LearningSystem`, and the symbols it is written in (coordinates, data,
velocities, time: defined in :mod:`symnoether.core.vocabulary`, re-exported here).

A learning system is the damped Lagrangian

    L(q, q̇, t) = e^{t/τ} ( T(q, q̇) − V(q) ),   T = ½ q̇ᵀ M(q) q̇,

with V the loss plus its regularizers, and M, τ given by a learning rule
(:mod:`symnoether.core.rules`) or by a kinetic term written by hand (physics).
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

import warnings
from dataclasses import dataclass, field, replace

import sympy as sp

from ..errors import (
    FirstOrderRuleError,
    IgnoredCoordinateWarning,
    InvalidCoordinatesError,
    InvalidDatasetError,
    InvalidKineticError,
    InvalidRuleError,
)
from .checks import (
    as_scalar,
    block_symbols,
    check_coordinates,
    check_dataset,
    check_loss,
    check_regularizers,
    coordinate_blocks,
    mass_from_kinetic,
    warn_ignored,
    warn_undeclared,
)
from .display import Notation
from .rules import LearningRule
from .typeset import aligned, system_rows, system_text
from .vocabulary import (
    TIME,
    coordinates,
    data,
    flatten,
    matrix_coordinates,
    velocities,
    velocity,
)

__all__ = [
    "TIME",
    "coordinates",
    "matrix_coordinates",
    "data",
    "velocities",
    "velocity",
    "LearningSystem",
]


@dataclass(frozen=True)
class LearningSystem:
    """A loss and a learning rule, as the Lagrangian L = e^{t/τ}(T − V).

    Parameters
    ----------
    coords : sequence of Symbols, coordinate matrices, and tuples or lists of Symbols
        The parameters q (matrices are flattened row by row). A tuple or list of
        Symbols inside ``coords`` (the biases ``sn.coordinates('c1:4')``) is one block,
        a column named by their common stem (``c``): ``(W, c, a)`` is ``(W, *c, *a)``
        with the blocks ``W``, ``c``, ``a``.
    loss : sympy expression (or 1×1 Matrix)
        The loss V(q; data), a function of coordinates, data and
        hyper-parameters only. Coordinates it does not depend on raise an
        :class:`~symnoether.errors.IgnoredCoordinateWarning` naming them.
    rule : LearningRule, optional
        From :mod:`symnoether.core.rules`; gives M and τ. Give this or ``kinetic``.
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
    dataset : dict, optional
        A finite training set {data symbol: [values]} (numbers or expressions of
        hyper-parameters, one value per sample, every data symbol given). With it,
        ``loss`` is the per-sample loss ℓ and the training loss V is its mean over
        the samples (:attr:`training_loss`); :func:`symnoether.rules.sgd` needs one.

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
    dataset: tuple | None = None
    blocks: tuple = field(init=False, repr=False)
    velocities: tuple = field(init=False, repr=False)
    mass_matrix: sp.ImmutableMatrix = field(init=False, repr=False)
    potential: sp.Expr = field(init=False, repr=False)

    def __new__(cls, *args, **kwargs):
        """A :class:`~symnoether.core.matrix_system.MatrixSystem` when a coordinate is a
        ``MatrixSymbol`` (matrix-level derivations); a LearningSystem otherwise. Without
        arguments (copy, pickle) a bare instance."""
        coords = args[0] if args else kwargs.get("coords")
        from .matrix_system import has_matrix_symbols, matrix_system

        if has_matrix_symbols(coords):
            return matrix_system(*args, **kwargs)
        return super().__new__(cls)

    def __post_init__(self) -> None:
        blocks = coordinate_blocks(self.coords)
        coords = tuple(q for _, block in blocks for q in block_symbols(block))
        data = tuple(flatten(self.data))
        self._set("blocks", blocks)
        self._set("coords", coords)
        self._set("data", data)
        check_coordinates(coords, data)
        self._set("velocities", velocities(coords))
        self._set("loss", check_loss(self.loss, coords, data, self.velocities))
        warn_ignored(self.loss, coords, stacklevel=3)
        self._set("regularizers", check_regularizers(self.regularizers, coords))
        self._set("dataset", check_dataset(self.dataset, data, self.rule))
        self._check_dataset_constant()
        regularization = sum(r.potential(coords) for r in self.regularizers)
        self._set("potential", self.training_loss + regularization)
        self._set_kinetic()
        if self.parameters is not None:
            self._set("parameters", tuple(flatten(self.parameters)))
            warn_undeclared(self)

    # -- derived quantities -------------------------------------------------
    @property
    def samples(self) -> tuple[dict, ...]:
        """One substitution {data symbol: value} per sample of the dataset (() without one)."""
        if self.dataset is None:
            return ()
        symbols = [symbol for symbol, _ in self.dataset]
        rows = zip(*(values for _, values in self.dataset), strict=True)
        return tuple(dict(zip(symbols, row, strict=True)) for row in rows)

    @property
    def training_loss(self) -> sp.Expr:
        """V: the dataset mean of the per-sample loss, or the loss itself without a dataset.

        Examples
        --------
        >>> import symnoether as sn
        >>> (w,), (x,) = sn.coordinates("w"), sn.data("x")
        >>> system = sn.LearningSystem((w,), (w - x) ** 2, rule=sn.rules.gradient_flow(),
        ...                            data=(x,), dataset={x: [0, 2]})
        >>> system.training_loss
        w**2/2 + (w - 2)**2/2
        """
        samples = self.samples
        if not samples:
            return self.loss
        return sp.Add(*[self.loss.subs(s) for s in samples]) / len(samples)

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
        from ..symmetry.search import find_symmetries  # a later stage: imported on use

        blocks = tuple(block for _, block in self.blocks)
        with warnings.catch_warnings():  # building the system already warned
            warnings.simplefilter("ignore", IgnoredCoordinateWarning)
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
        return system_text(self)

    def _repr_latex_(self) -> str:
        return aligned(system_rows(self, Notation(self)))

    # -- construction helpers ----------------------------------------------
    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _check_dataset_constant(self) -> None:
        for symbol, values in self.dataset or ():
            for value in values:
                moving = sorted(value.free_symbols & {*self.coords, *self.data}, key=str)
                if moving:
                    raise InvalidDatasetError(
                        f"dataset[{symbol}] holds {value}, which depends on {moving[0]}, a "
                        "coordinate or data symbol; sample values are numbers or "
                        "expressions of hyper-parameters"
                    )

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
        v = self.velocities
        self._set("mass_matrix", mass)
        scale = self.rule.mass_scale
        quadratic = [  # q̇ᵀ(M/scale)q̇ over the nonzero entries of M (often scale·I)
            v[i] * sp.cancel(entry / scale) * v[j]
            for (i, j), entry in mass.todok().items()
            if entry != 0
        ]
        self._set("kinetic", scale * sp.expand(sp.Add(*quadratic)) / 2)
        self._set("tau", self.rule.tau)

    def _set_hand_kinetic(self) -> None:
        kinetic = as_scalar(self.kinetic, "kinetic term", InvalidKineticError)
        self._set("kinetic", kinetic)
        self._set("mass_matrix", mass_from_kinetic(kinetic, self.coords, self.velocities))
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
