r"""The noise equilibrium of an exponential symmetry under SGD.

For an exponential symmetry ψ = Aθ of the training loss (A symmetric and constant), the
orbit through θ₀ is θ(s) = e^{sA}θ₀: the loss is the same all along it, and the charge
Q = ½θᵀAθ moves along it at the expected rate of its SGD law (finite step, weight decay
and noise drift, :func:`symnoether.noether`). Where that rate vanishes on the orbit the
charge is at a fixed point of its expected dynamics, the noise equilibrium that SGD
reaches along the orbit (Ziyin, Wang, Li and Wu 2024 [1]_). For rescaling (A indefinite) it
is the law of balance; for a definite A without weight decay there is none.

This first version finds the equilibria numerically at a numeric point θ₀: the rate
along the orbit is scanned over s for sign changes and each is refined by Brent's
method.

References
----------
.. [1] L. Ziyin, M. Wang, H. Li and L. Wu, "Parameter symmetry and noise equilibrium of
   stochastic gradient descent", NeurIPS 2024, arXiv:2402.07193.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> x, y = sn.data("x y")
>>> u, w = sn.coordinates("u w")
>>> system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(0.1),
...                            data=(x, y), dataset={x: [1, 2], y: [0, 1]})
>>> law = sn.noether(system, (u, -w))
>>> eq = noise_equilibrium(system, law, {u: 2, w: 0.5})
>>> [round(eq.points[0][q], 6) for q in (u, w)]          # balanced: |u| = |w|, uw = 1
[1.0, 1.0]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..errors import InvalidGeneratorError, InvalidInputError, NotASymmetryError
from .display import table_text

__all__ = ["NoiseEquilibrium", "noise_equilibrium"]

_SCAN = 4001


@dataclass(frozen=True)
class NoiseEquilibrium:
    """Where the expected rate of an exponential symmetry's charge vanishes on its orbit.

    Attributes
    ----------
    law : NoetherLaw
        The SGD law of the charge Q = ½θᵀAθ.
    start : dict
        θ₀, the point whose orbit θ(s) = e^{sA}θ₀ was searched.
    times : tuple of float
        The orbit parameters s* of the equilibria, in increasing order.
    points : tuple of dict
        θ(s*) for each, {coordinate: value}.
    charges : tuple of float
        Q at each equilibrium.
    definite : bool
        True when A is definite (a scale symmetry): the orbit is a ray.

    Examples
    --------
    >>> NoiseEquilibrium(None, {}, (), (), (), True).exists
    False
    """

    law: object
    start: dict
    times: tuple
    points: tuple
    charges: tuple
    definite: bool

    @property
    def exists(self) -> bool:
        """True when the orbit holds at least one equilibrium."""
        return bool(self.points)

    def __str__(self) -> str:
        if not self.exists:
            why = (
                "A is definite (a scale symmetry): the charge drifts along the ray"
                if self.definite
                else "the expected rate keeps one sign along the orbit"
            )
            return table_text("noise equilibrium", [("exists", f"no: {why}")])
        rows = [
            (
                f"s* = {s:.6g}",
                f"Q = {q:.6g} at " + ", ".join(f"{k} = {v:.6g}" for k, v in p.items()),
            )
            for s, p, q in zip(self.times, self.points, self.charges, strict=True)
        ]
        return table_text("noise equilibrium", rows)

    def _repr_latex_(self) -> str:
        body = (
            r" \\ ".join(
                rf"s^* = {s:.6g}:\ Q = {q:.6g}"
                for s, q in zip(self.times, self.charges, strict=True)
            )
            or r"\text{no equilibrium on the orbit}"
        )
        return rf"$\begin{{aligned}} {body} \end{{aligned}}$"


def noise_equilibrium(
    system: object, law: object, point: dict, *, params: dict | None = None, span: float = 10.0
) -> NoiseEquilibrium:
    """The noise equilibria on the orbit through ``point`` of an exponential symmetry.

    Parameters
    ----------
    system : LearningSystem
        A minibatch-SGD system.
    law : NoetherLaw
        ``sn.noether(system, ψ)`` with ψ = Aθ, A constant and symmetric, a symmetry of
        the training loss.
    point : dict
        θ₀: a number for every coordinate.
    params : dict, optional
        Numbers for the hyper-parameters the rate still depends on (η, λ, ...).
    span : float
        The orbit is searched for s in [−span, span] / (the largest absolute eigenvalue of A).

    Returns
    -------
    NoiseEquilibrium

    Examples
    --------
    >>> import symnoether as sn
    >>> x, y = sn.data("x y")
    >>> u, w = sn.coordinates("u w")
    >>> system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(0.1),
    ...                            data=(x, y), dataset={x: [1, 2], y: [0, 1]})
    >>> eq = noise_equilibrium(system, sn.noether(system, (u, -w)), {u: -3, w: 1})
    >>> round(eq.charges[0], 9), eq.definite
    (0.0, False)
    """
    from scipy.optimize import brentq  # on use: keeps `import symnoether` light

    coords = system.coords
    rule = getattr(system, "rule", None)
    if not getattr(rule, "stochastic", False):
        raise InvalidInputError("noise_equilibrium needs a system built with rules.sgd")
    psi = sp.Matrix(law.generator)
    A = psi.jacobian(coords)
    if (
        A.free_symbols
        or (psi - A * sp.Matrix(coords)).applyfunc(sp.expand) != sp.zeros(len(coords), 1)
        or A != A.T
    ):
        raise InvalidGeneratorError(
            f"ψ = {tuple(psi)} is not Aθ with a constant symmetric A; the noise equilibrium "
            "is defined for exponential symmetries (rescaling, ...)"
        )
    if law.loss_breaking != 0:
        raise NotASymmetryError(
            f"ψ = {tuple(psi)} is not a symmetry of the training loss (ψ·∇V = "
            f"{-law.loss_breaking}); its orbit is not a level set of the loss"
        )
    missing = [q for q in coords if q not in point]
    if missing:
        raise InvalidInputError(f"point has no value for the coordinate {missing[0]}")
    theta0 = np.array([float(point[q]) for q in coords])
    rate = law.rate.subs(params or {})
    leftover = rate.free_symbols - set(coords)
    if leftover:
        name = sorted(leftover, key=str)[0]
        raise InvalidInputError(f"the rate depends on {name}; pass params={{{name}: ...}}")
    eigen = np.linalg.eigvalsh(np.array(A.tolist(), dtype=float))
    definite = bool(np.all(eigen > 0) or np.all(eigen < 0))
    scale = float(np.max(np.abs(eigen))) or 1.0
    values, vectors = np.linalg.eigh(np.array(A.tolist(), dtype=float))
    f = sp.lambdify(coords, rate, "numpy")

    def orbit(s: float) -> np.ndarray:
        return vectors @ (np.exp(s * values) * (vectors.T @ theta0))

    def along(s: float) -> float:
        return float(f(*orbit(s)))

    grid = np.linspace(-span / scale, span / scale, _SCAN)
    samples = np.array([along(s) for s in grid])
    times = []
    for i in range(len(grid) - 1):
        a, b = samples[i], samples[i + 1]
        if a == 0:
            times.append(float(grid[i]))
        elif np.isfinite(a) and np.isfinite(b) and a * b < 0:
            times.append(float(brentq(along, grid[i], grid[i + 1], xtol=1e-14)))
    charge = sp.lambdify(coords, law.charge.subs(params or {}), "numpy")
    points = tuple(dict(zip(coords, map(float, orbit(s)), strict=True)) for s in times)
    charges = tuple(float(charge(*orbit(s))) for s in times)
    return NoiseEquilibrium(law, dict(point), tuple(times), points, charges, definite)
