r"""Learning systems on ``MatrixSymbol`` layers: the matrix-level form of
:class:`~symnoether.core.system.LearningSystem`, whose cost does not grow with the widths.

``sn.LearningSystem(coords, loss, rule=...)`` returns a :class:`MatrixSystem` when a
coordinate is a ``MatrixSymbol`` (:func:`~symnoether.core.matrices.layers`). The
Lagrangian is the same, L = e^{t/τ}(T − V), with the constant scalar mass of the rules
(M = m·I on every layer): T = (m/2) Σ_B tr(Ẇ_Bᵀ Ẇ_B). The equations of motion, per
layer, are

    m Ẅ_B = −(m/τ) Ẇ_B − G_B   (order 2),        m Ẇ_B = −G_B   (gradient flow),

with G_B = ∂V/∂W_B the matrix gradient of the potential (loss plus regularizers).

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> W1, W2 = sn.layers(W1=(64, 32), W2=(10, 64))
>>> x, y = sn.layers(x=(32, 1), y=(10, 1), data=True)
>>> eta = sp.Symbol("eta", positive=True)
>>> e = y - W2 * W1 * x
>>> system = sn.LearningSystem((W1, W2), e.T * e / 2, rule=sn.rules.gradient_descent(eta),
...                            data=(x, y))
>>> type(system).__name__, system.size
('MatrixSystem', 2688)
>>> system.accelerations[1]
(-2/eta)*Wdot2 + (2/eta)*(-W2*W1*x + y)*x.T*W1.T
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from ..errors import (
    FirstOrderRuleError,
    NotSupportedError,
)
from .display import aligned_latex, table_text
from .matrices import matrix_gradient, matrix_velocity
from .matrix_checks import (
    check_data,
    check_layers,
    check_loss,
    check_regularizers,
    check_rule,
)
from .rules import LearningRule
from .vocabulary import TIME, matrix_coordinates

__all__ = ["MatrixSystem", "MatrixEquationsOfMotion", "matrix_system", "has_matrix_symbols"]


def has_matrix_symbols(coords: object) -> bool:
    """True when ``coords`` is, or holds, a ``MatrixSymbol`` (the dispatch test of
    ``LearningSystem``)."""
    if isinstance(coords, sp.MatrixSymbol):
        return True
    if isinstance(coords, tuple | list):
        return any(isinstance(c, sp.MatrixSymbol) for c in coords)
    return False


def matrix_system(
    coords: object,
    loss: object,
    rule: LearningRule | None = None,
    data: object = (),
    parameters: object = None,
    regularizers: object = (),
    kinetic: object = None,
    tau: object = None,
    dataset: object = None,
) -> MatrixSystem:
    """A :class:`MatrixSystem` from the arguments of ``LearningSystem``.

    Examples
    --------
    >>> W = sp.MatrixSymbol("W", 2, 2)
    >>> from symnoether.core import rules
    >>> matrix_system((W,), sp.Trace(W.T * W), rule=rules.gradient_flow()).order
    1
    """
    for name, value, fix in (
        ("kinetic", kinetic, "use a learning rule (rule=...)"),
        ("tau", tau, "the rule fixes the damping time"),
        ("dataset", dataset, "write the loss on data MatrixSymbols"),
    ):
        if value is not None:
            raise NotSupportedError(
                f"{name}= is not supported on MatrixSymbol layers yet ({fix}); declare the "
                "layers with sn.matrix_coordinates for the element-wise path"
            )
    if isinstance(coords, sp.MatrixSymbol):
        coords = (coords,)
    return MatrixSystem(
        layers=tuple(coords),
        loss=loss,
        rule=rule,
        data=data,
        parameters=parameters,
        regularizers=regularizers,
    )


@dataclass(frozen=True)
class MatrixSystem:
    """A loss on ``MatrixSymbol`` layers and a learning rule with a scalar mass.

    Build it with ``sn.LearningSystem(layers, loss, rule=..., data=...)``.

    Attributes
    ----------
    layers, velocities : tuple of MatrixSymbols
        The coordinates W_B in declared order, and their velocities Ẇ_B.
    loss, potential : sympy expressions
        The scalar loss (``Trace`` of a 1×1 matrix loss) and loss + regularizers
        (``weight_decay(λ)`` adds (λ/2) Σ_B tr(W_Bᵀ W_B)).
    mass, tau : sympy expressions
        m (M = m·I on every layer; a scalar preconditioner g gives m·g) and τ (oo: none);
        the system's ``order`` is 1 for gradient flow, 2 otherwise.
    gradients, loss_gradients : tuple of matrix expressions
        ∂V/∂W_B of the potential and of the loss alone, per layer.
    accelerations : tuple of matrix expressions
        Ẅ_B = −Ẇ_B/τ − G_B/m (order 2), Ẇ_B = −G_B/m (order 1).

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> (w,) = sn.layers(w=(3, 1))
    >>> lam = sp.Symbol("lambda", positive=True)
    >>> system = sn.LearningSystem(w, (sp.Trace(w.T * w) - 1) ** 2,
    ...                            rule=sn.rules.momentum(0.1, 0.5),
    ...                            regularizers=[sn.rules.weight_decay(lam)])
    >>> system.potential
    lambda*Trace(w.T*w)/2 + (Trace(w.T*w) - 1)**2
    """

    layers: tuple
    loss: sp.Expr
    rule: LearningRule | None = None
    data: tuple = ()
    parameters: tuple | None = None
    regularizers: tuple = ()
    velocities: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        layers = check_layers(self.layers)
        data = check_data(self.data, layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "velocities", tuple(matrix_velocity(W) for W in layers))
        object.__setattr__(self, "loss", check_loss(self.loss, layers, data, self.velocities))
        object.__setattr__(self, "rule", check_rule(self.rule))
        object.__setattr__(self, "regularizers", check_regularizers(self.regularizers, layers))
        if self.parameters is not None:
            object.__setattr__(self, "parameters", tuple(self.parameters))

    # -- the Lagrangian ---------------------------------------------------------------------
    @property
    def time(self) -> sp.Symbol:
        """The time symbol t."""
        return TIME

    @property
    def order(self) -> int:
        """1 for gradient flow, 2 for the finite-step rules."""
        return self.rule.order

    @property
    def mass(self) -> sp.Expr:
        """The scalar m of M = m·I (the metric's scale for gradient flow)."""
        metric = self.rule.preconditioner
        return self.rule.mass_scale * (sp.S.One if metric is None else metric)

    @property
    def tau(self) -> sp.Expr:
        """The damping time τ (oo: none, also for gradient flow)."""
        tau = self.rule.tau
        return sp.oo if tau is None else tau

    @property
    def damping_factor(self) -> sp.Expr:
        """e^{t/τ} (1 when τ = ∞ or for gradient flow)."""
        if self.order == 1 or self.tau == sp.oo:
            return sp.S.One
        return sp.exp(TIME / self.tau)

    @property
    def regularizer_terms(self) -> tuple[tuple[str, sp.Expr], ...]:
        """(name, potential) of each regularizer: (λ/2) Σ_B tr(W_Bᵀ W_B)."""
        out = []
        for regularizer in self.regularizers:
            decayed = self.layers if regularizer.on is None else regularizer.on
            term = regularizer.strength * sp.Add(*[sp.Trace(W.T * W) for W in decayed]) / 2
            out.append((regularizer.name.replace("_", " "), term))
        return tuple(out)

    @cached_property
    def potential(self) -> sp.Expr:
        """V = loss + regularizers."""
        return self.loss + sp.Add(*[term for _, term in self.regularizer_terms])

    @property
    def kinetic(self) -> sp.Expr:
        """T = (m/2) Σ_B tr(Ẇ_Bᵀ Ẇ_B)."""
        return self.mass * sp.Add(*[sp.Trace(V.T * V) for V in self.velocities]) / 2

    @property
    def lagrangian(self) -> sp.Expr:
        """L = e^{t/τ}(T − V) (order 2 only)."""
        if self.order == 1:
            raise FirstOrderRuleError(
                "gradient flow is first order and has no Lagrangian; use "
                "rules.gradient_descent(lr) for its finite-step Lagrangian"
            )
        return self.damping_factor * (self.kinetic - self.potential)

    @cached_property
    def gradients(self) -> tuple:
        """∂V/∂W_B of the potential, one matrix expression per layer."""
        return tuple(matrix_gradient(self.potential, W) for W in self.layers)

    @cached_property
    def loss_gradients(self) -> tuple:
        """∂V_loss/∂W_B, one matrix expression per layer."""
        return tuple(matrix_gradient(self.loss, W) for W in self.layers)

    @cached_property
    def accelerations(self) -> tuple:
        """Ẅ_B = −Ẇ_B/τ − G_B/m (order 2); Ẇ_B = −G_B/m (gradient flow)."""
        return self.rates_with(self.gradients)

    def rates_with(self, forces: tuple) -> tuple:
        """The equations of motion with the given forces G_B in place of the gradients."""
        m = self.mass
        if self.order == 1:
            return tuple(-G / m for G in forces)
        if self.tau == sp.oo:
            return tuple(-G / m for G in forces)
        return tuple(-V / self.tau - G / m for V, G in zip(self.velocities, forces, strict=True))

    @property
    def hyperparameters(self) -> tuple[sp.Symbol, ...]:
        """Scalar symbols other than data and time, sorted by name."""
        pieces = [self.potential, self.mass, self.tau]
        free = set().union(*(sp.sympify(p).free_symbols for p in pieces))
        free = {s for s in free if isinstance(s, sp.Symbol)} - set(self.data) - {TIME}
        return tuple(sorted(free, key=lambda s: s.name))

    # -- sizes and explicit entries -----------------------------------------------------------
    @property
    def shapes(self) -> tuple[tuple[int, int], ...]:
        """(rows, cols) of each layer."""
        return tuple((int(W.shape[0]), int(W.shape[1])) for W in self.layers)

    @property
    def size(self) -> int:
        """The number of parameters."""
        return sum(r * c for r, c in self.shapes)

    def explicit_matrices(self) -> dict:
        """{MatrixSymbol: Matrix of entry symbols} for layers, velocities and matrix data,
        named like :func:`~symnoether.core.vocabulary.matrix_coordinates`."""
        symbols = (*self.layers, *self.velocities, *self.data)
        return {
            M: matrix_coordinates(M.name, *(int(d) for d in M.shape))
            for M in symbols
            if isinstance(M, sp.MatrixSymbol)
        }

    def entries(self) -> tuple[sp.Symbol, ...]:
        """The explicit entries, layer by layer, row-major (W1[i, j] ↔ ``W1_{i+1}{j+1}``).

        Examples
        --------
        >>> import symnoether as sn
        >>> (W,) = sn.layers(W=(1, 2))
        >>> sn.LearningSystem(W, (W * W.T), rule=sn.rules.gradient_flow()).entries()
        (W_11, W_12)
        """
        return tuple(
            q
            for W, shape in zip(self.layers, self.shapes, strict=True)
            for q in matrix_coordinates(W.name, *shape)
        )

    def explicit(self):
        """The same system on explicit entries (a ``LearningSystem``; small widths only)."""
        from .rules import weight_decay
        from .system import LearningSystem

        matrices = self.explicit_matrices()
        loss = substitute(self.loss, matrices)
        data = [matrices[d] if isinstance(d, sp.MatrixSymbol) else d for d in self.data]
        regularizers = [
            weight_decay(r.strength, on=None if r.on is None else [matrices[W] for W in r.on])
            for r in self.regularizers
        ]
        return LearningSystem(
            tuple(matrices[W] for W in self.layers),
            loss,
            rule=self.rule,
            data=tuple(data),
            regularizers=regularizers,
            parameters=self.parameters,
        )

    def __str__(self) -> str:
        rows = [
            (
                "layers",
                ", ".join(
                    f"{W.name} ({r}×{c})"
                    for W, (r, c) in zip(self.layers, self.shapes, strict=True)
                ),
            ),
            ("loss", self.loss),
            ("potential", self.potential),
            ("rule", str(self.rule)),
            ("mass", f"M = ({sp.sstr(self.mass)})·I"),
            ("tau", self.tau),
        ]
        return table_text(f"matrix learning system ({self.size} parameters)", rows)

    def _repr_latex_(self) -> str:
        return aligned_latex([("V", self.potential), ("m", self.mass), ("\\tau", self.tau)])


def substitute(expr: object, matrices: dict) -> sp.Expr:
    """``expr`` with MatrixSymbols replaced by explicit matrices, evaluated (``doit``)."""
    value = sp.sympify(expr).xreplace(matrices).doit()
    if isinstance(value, sp.MatrixBase) and value.shape == (1, 1):
        return value[0, 0]
    return value


@dataclass(frozen=True)
class MatrixEquationsOfMotion:
    """m·W_B^{(order)} = forcing_B, per layer (returned by ``sn.equations_of_motion``).

    Attributes
    ----------
    system : MatrixSystem
    order : int
    mass : sympy expression
        The scalar m.
    forcing : tuple of matrix expressions
        −(m/τ)Ẇ_B − G_B (order 2), −G_B (order 1).
    accelerations : tuple of matrix expressions
        forcing_B / m: Ẅ_B (order 2), the velocity field Ẇ_B (order 1).
    """

    system: MatrixSystem
    order: int
    mass: sp.Expr
    forcing: tuple
    accelerations: tuple

    @classmethod
    def of(cls, system: MatrixSystem) -> MatrixEquationsOfMotion:
        """The equations of motion of ``system``.

        Examples
        --------
        >>> (W,) = sp.MatrixSymbol("W", 2, 2),
        >>> from symnoether.core import rules
        >>> system = matrix_system(W, sp.Trace(W.T * W) / 2, rule=rules.gradient_flow())
        >>> MatrixEquationsOfMotion.of(system).forcing
        (-W,)
        """
        m, tau = system.mass, system.tau
        forcing = tuple(-G for G in system.gradients)
        if system.order == 2 and tau != sp.oo:
            forcing = tuple(
                -(m / tau) * V - G for V, G in zip(system.velocities, system.gradients, strict=True)
            )
        return cls(system, system.order, m, forcing, system.accelerations)

    def __str__(self) -> str:
        rows = []
        for W, f in zip(self.system.layers, self.forcing, strict=True):
            name = matrix_velocity(W).name
            name = name.replace("dot", "ddot", 1) if self.order == 2 else name
            rows.append((f"{sp.sstr(self.mass)}·{name} =", f))
        return table_text(f"equations of motion (order {self.order}, per layer)", rows)

    def _repr_latex_(self) -> str:
        accent = "\\ddot" if self.order == 2 else "\\dot"
        rows = [
            (f"{sp.latex(self.mass)}\\,{accent}{{{sp.latex(W)}}}", f)
            for W, f in zip(self.system.layers, self.forcing, strict=True)
        ]
        return aligned_latex(rows)
