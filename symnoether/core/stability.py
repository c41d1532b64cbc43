r"""Stability of a fixed point of the (mean) gradient dynamics: symmetry restoration.

At a point θ* where the gradient of V (the training loss plus regularizers) vanishes,
gradient flow linearizes to δθ' = −H δθ with H = ∇²V(θ*). The point attracts when H is
positive definite; the growth rate per unit time t = kη of the fastest direction is
−λ_min(H). A hyper-parameter p that enters H (weight decay λ: H = H₀ + λI) has a
critical value p_c above which the point is stable — for a symmetric solution (the
fixed subspace of a discrete symmetry, e.g. u = w = 0 for the scalar pair) that is
symmetry restoration [1]_. For the scalar pair ℓ = (y − u w x)²/2 at 0,
H = [[λ, −m], [−m, λ]] with m = mean(xy), so λ_c = abs(m).

The step size η does not enter H under gradient descent's flow, so it has no threshold
there: a larger η never stabilizes a saddle of V. The SGD (``noise=True``) threshold,
the top Lyapunov exponent of the random linearized maps, is not implemented yet.

References
----------
.. [1] L. Ziyin et al., "Parameter symmetry breaking and restoration determines the
   hierarchical learning in AI systems", 2025, arXiv:2502.05300.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> x, y = sn.data("x y")
>>> u, w = sn.coordinates("u w")
>>> lam = sp.Symbol("lam", positive=True)
>>> system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.gradient_flow(),
...     data=(x, y), dataset={x: [1, 2], y: [1, 2]}, regularizers=[sn.rules.weight_decay(lam)])
>>> stability(system, {u: 0, w: 0}, parameter=lam).threshold      # abs(mean(xy)) = 5/2
5/2
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..budget import check
from ..errors import InvalidInputError, NotAFixedPointError, NotSupportedError
from .display import table_text
from .jet import is_zero

__all__ = ["Stability", "stability"]


@dataclass(frozen=True)
class Stability:
    """The linearization at a fixed point and the critical value of one parameter.

    Attributes
    ----------
    point : dict
        θ*, {coordinate: value}.
    parameter : Symbol
        The hyper-parameter the threshold is about.
    hessian : ImmutableMatrix
        H = ∇²V(θ*), a function of the hyper-parameters.
    threshold : sympy expression or None
        p_c: the point is stable (H positive definite) for p > p_c; None when no value
        of the parameter makes it so, or when it is stable for every value.

    Examples
    --------
    >>> p = sp.Symbol("p")
    >>> Stability({}, p, sp.ImmutableMatrix([[p - 1]]), sp.S.One).exponent(3)
    -2.0
    """

    point: dict
    parameter: sp.Symbol
    hessian: sp.ImmutableMatrix
    threshold: sp.Expr | None

    def exponent(self, value: object, params: dict | None = None) -> float:
        """The growth rate −λ_min(H) per unit time at ``parameter = value`` (negative:
        the perturbations decay; positive: the point repels)."""
        values = {self.parameter: value, **(params or {})}
        H = self.hessian.subs(values)
        if H.free_symbols:
            name = sorted(H.free_symbols, key=str)[0]
            raise InvalidInputError(f"the Hessian depends on {name}; pass params={{{name}: ...}}")
        import numpy as np

        return float(-np.linalg.eigvalsh(np.array(H.tolist(), dtype=float)).min())

    def __str__(self) -> str:
        at = ", ".join(f"{k} = {v}" for k, v in self.point.items())
        rows = [
            ("point", at),
            ("Hessian", sp.sstr(self.hessian.tolist())),
            ("threshold", f"{self.parameter} > {self.threshold}" if self.threshold is not None
             else "none"),
        ]  # fmt: skip
        return table_text("stability of a fixed point (mean gradient flow)", rows)

    def _repr_latex_(self) -> str:
        crit = sp.latex(self.threshold) if self.threshold is not None else r"\text{none}"
        return rf"$H = {sp.latex(self.hessian)},\quad {sp.latex(self.parameter)}_c = {crit}$"


def stability(
    system: object, point: dict, *, parameter: sp.Symbol, noise: bool = False
) -> Stability:
    """The stability of the fixed point ``point`` of the mean gradient dynamics.

    Parameters
    ----------
    system : LearningSystem
    point : dict
        A value for every coordinate; the gradient of V must vanish there for every
        value of the hyper-parameters.
    parameter : Symbol
        The hyper-parameter whose critical value is sought (weight decay λ, ...).
    noise : bool
        The SGD threshold (not implemented yet: NotSupportedError).

    Returns
    -------
    Stability

    Examples
    --------
    >>> import sympy as sp
    >>> import symnoether as sn
    >>> (v,) = sn.coordinates("v")
    >>> lam = sp.Symbol("lam", positive=True)
    >>> system = sn.LearningSystem((v,), -v**2 / 2, rule=sn.rules.gradient_flow(),
    ...                            regularizers=[sn.rules.weight_decay(lam)])
    >>> stability(system, {v: 0}, parameter=lam).threshold
    1
    """
    if noise:
        raise NotSupportedError(
            "the SGD (noise=True) stability threshold, the top Lyapunov exponent of the "
            "random linearized maps, is not implemented yet; use noise=False"
        )
    coords = system.coords
    missing = [q for q in coords if q not in point]
    if missing:
        raise InvalidInputError(f"point has no value for the coordinate {missing[0]}")
    if not isinstance(parameter, sp.Symbol):
        raise InvalidInputError(f"parameter = {parameter!r} is not a hyper-parameter Symbol")
    at = {q: sp.sympify(point[q]) for q in coords}
    for q in coords:
        check()
        slope = sp.diff(system.potential, q).subs(at)
        if not is_zero(slope):
            raise NotAFixedPointError(
                f"the gradient does not vanish at {at}: ∂V/∂{q} = {sp.simplify(slope)}; pass "
                "a point where every component of ∇V is zero (a symmetric solution)"
            )
    H = sp.ImmutableMatrix(sp.hessian(system.potential, coords).subs(at).applyfunc(sp.expand))
    return Stability(dict(at), parameter, H, _threshold(H, parameter))


def _threshold(H: sp.ImmutableMatrix, p: sp.Symbol) -> sp.Expr | None:
    """The largest real root p_c of det H(p) = 0 with H positive definite just above it."""
    if p not in H.free_symbols:
        return None
    det = sp.factor(H.det())
    roots = [r for r in sp.solve(det, p) if r.is_real is not False]
    if not roots:
        return None
    real = [r for r in roots if not r.free_symbols]
    if len(real) != len(roots):
        raise NotSupportedError(
            "the critical value depends on other hyper-parameters; give them numbers"
        )
    critical = max(real, key=float)
    above = H.subs(p, critical + 1)
    if not above.is_positive_definite:
        return None
    return critical
