r"""The noise equilibrium of an exponential symmetry under SGD.

For an exponential symmetry ψ = Aθ of the training loss (A symmetric and constant), the
orbit through θ₀ is θ(s) = e^{sA}θ₀: the loss is the same all along it, and the charge
Q = ½θᵀAθ moves along it at the expected rate of its SGD law (finite step, weight decay
and noise drift, :func:`symnoether.noether`). Where that rate vanishes on the orbit the
charge is at a fixed point of its expected dynamics, the noise equilibrium that SGD
reaches along the orbit (Ziyin, Wang, Li and Wu 2024 [1]_). For rescaling (A indefinite) it
is the law of balance; for a definite A without weight decay there is none.

Closed form first: in the eigenbasis of A (rational eigenvalues a_k, L the common
denominator) the orbit is θ(s) = P diag(z^{L a_k}) Pᵀ θ₀ with z = e^{s/L}, so the rate
on the orbit is a rational function of z; the positive roots of its numerator, when
SymPy finds them all in closed form (``sp.roots``), give the equilibria exactly
(``closed_form``), also for a symbolic θ₀ and symbolic hyper-parameters. For the scalar
pair this is the law of balance's fixed point u² = w² = abs(u₀w₀). At a numeric θ₀ the
equilibria are also found numerically, the fallback when there is no closed form: the
rate along the orbit is scanned over s for sign changes and each is refined by Brent's
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

from ..budget import check
from ..errors import (
    InvalidGeneratorError,
    InvalidInputError,
    NotASymmetryError,
    NotSupportedError,
)
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
    closed_form : tuple of dict
        The equilibria in closed form, {coordinate: expression} (functions of θ₀ and
        the hyper-parameters); empty when SymPy found none.
    closed_times : tuple of sympy expressions
        Their orbit parameters s*.

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
    closed_form: tuple = ()
    closed_times: tuple = ()

    @property
    def exists(self) -> bool:
        """True when the orbit holds at least one equilibrium."""
        return bool(self.points or self.closed_form)

    def __str__(self) -> str:
        exact = [
            (f"s* = {t}", ", ".join(f"{k} = {v}" for k, v in p.items()))
            for t, p in zip(self.closed_times, self.closed_form, strict=True)
        ]
        if exact and not self.points:
            return table_text("noise equilibrium (closed form)", exact)
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
        θ₀: a value for every coordinate. Numbers: the equilibria are also found
        numerically (``params`` must then give every hyper-parameter a number); symbols:
        only in closed form (NotSupportedError when SymPy finds none).
    params : dict, optional
        Values for the hyper-parameters the rate depends on (η, λ, ...).
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
    rate = law.rate.subs(params or {})
    start = [sp.nsimplify(sp.sympify(point[q]), rational=True) for q in coords]
    exact_params = {
        k: sp.nsimplify(sp.sympify(v), rational=True) for k, v in (params or {}).items()
    }
    exact = _closed_form(A, coords, law.rate.subs(exact_params), start)
    times_exact = tuple(t for t, _ in exact or ())
    points_exact = tuple(p for _, p in exact or ())
    if any(value.free_symbols for value in start):
        if exact is None:
            raise NotSupportedError(
                "no closed form for the noise equilibrium on this orbit; pass a numeric "
                "point (and params) for the numeric search"
            )
        return NoiseEquilibrium(
            law, dict(point), (), (), (), _definite(A), points_exact, times_exact
        )
    theta0 = np.array([float(point[q]) for q in coords])
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
    return NoiseEquilibrium(
        law, dict(point), tuple(times), points, charges, definite, points_exact, times_exact
    )


def _definite(A: sp.Matrix) -> bool:
    eigen = np.linalg.eigvalsh(np.array(A.tolist(), dtype=float))
    return bool(np.all(eigen > 0) or np.all(eigen < 0))


def _closed_form(A: sp.Matrix, coords: tuple, rate: sp.Expr, start: list) -> list | None:
    """[(s*, {coordinate: θ(s*)})] from the positive roots z* = e^{s*/L} of the rate's
    numerator on the orbit; None when SymPy cannot give every root in closed form."""
    n = len(coords)
    try:
        if A.is_diagonal():
            P, exponents = sp.eye(n), list(A.diagonal())
        else:
            P, D = A.diagonalize(normalize=True)
            exponents = list(D.diagonal())
    except (sp.MatrixError, ValueError, NotImplementedError):
        return None
    if not all(e.is_Rational for e in exponents):
        return None
    L = sp.ilcm(*[sp.Rational(e).q for e in exponents]) if exponents else 1
    z = sp.Dummy("z", positive=True)
    scale = sp.diag(*[z ** int(e * L) for e in exponents])
    theta = P * scale * P.T * sp.Matrix(start)
    check()
    on_orbit = sp.together(rate.xreplace(dict(zip(coords, theta, strict=True))))
    numerator = sp.expand(sp.fraction(on_orbit)[0])
    try:
        poly = sp.Poly(numerator, z)
    except sp.PolynomialError:
        return None
    if poly.is_zero or poly.degree() > 4:
        return None
    roots = sp.roots(poly)
    if sum(roots.values()) != poly.degree():
        return None
    kept = []
    for root in roots:
        positive = root.is_positive
        if positive is None and root.is_number:
            positive = bool(sp.re(root) > 0 and sp.im(root) == 0)
        if positive is None:
            return None  # its sign depends on the symbols: cannot tell whether it is on the orbit
        if positive:
            at = theta.subs(z, root).applyfunc(sp.simplify)
            kept.append((sp.simplify(L * sp.log(root)), dict(zip(coords, at, strict=True))))
    return sorted(kept, key=lambda item: sp.default_sort_key(item[0]))
