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
there: a larger η never stabilizes a saddle of V. Under minibatch SGD (``noise=True``)
the point must be a fixed point of every step (every per-sample gradient vanishes) and
its stability is the sign of the top Lyapunov exponent of the random linearized maps
(:mod:`symnoether.core.collapse`): noise lowers the threshold and can create one in η
(stochastic collapse, Chen, Kunin et al. 2023 [2]_).

References
----------
.. [1] L. Ziyin et al., "Parameter symmetry breaking and restoration determines the
   hierarchical learning in AI systems", 2025, arXiv:2502.05300.
.. [2] F. Chen, D. Kunin, A. Yamamura and S. Ganguli, "Stochastic collapse: how gradient
   noise attracts SGD dynamics towards simpler subnetworks", NeurIPS 2023,
   arXiv:2306.04251.

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

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..budget import check
from ..errors import InvalidInputError, InvalidRuleError, NotAFixedPointError, NotSupportedError
from .collapse import MAX_BATCHES, Collapse, batch_count, commuting_exponents, product_exponent
from .display import table_text
from .jet import is_zero

__all__ = ["Stability", "stability", "Collapse"]


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
        H = ∇²V(θ*), a function of the hyper-parameters (NᵀHN on the normal directions N
        when ``normal`` was given).
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
    normal: sp.ImmutableMatrix | None = None

    def exponent(self, value: object, params: dict | None = None) -> float:
        """The growth rate −λ_min(H) per unit time at ``parameter = value`` (negative:
        the perturbations decay; positive: the point repels)."""
        values = {self.parameter: value, **(params or {})}
        H = self.hessian.subs(values)
        if H.free_symbols:
            name = sorted(H.free_symbols, key=str)[0]
            raise InvalidInputError(f"the Hessian depends on {name}; pass params={{{name}: ...}}")
        return float(-np.linalg.eigvalsh(np.array(H.tolist(), dtype=float)).min())

    def __str__(self) -> str:
        at = ", ".join(f"{k} = {v}" for k, v in self.point.items())
        rows = [
            ("point", at),
            ("Hessian", sp.sstr(self.hessian.tolist())),
            ("threshold", f"{self.parameter} > {self.threshold}" if self.threshold is not None
             else "none"),
        ]  # fmt: skip
        if self.normal is not None:
            rows.insert(1, ("normal directions", sp.sstr(self.normal.T.tolist())))
        return table_text("stability of a fixed point (mean gradient flow)", rows)

    def _repr_latex_(self) -> str:
        crit = sp.latex(self.threshold) if self.threshold is not None else r"\text{none}"
        return rf"$H = {sp.latex(self.hessian)},\quad {sp.latex(self.parameter)}_c = {crit}$"


def stability(
    system: object,
    point: dict,
    *,
    parameter: sp.Symbol,
    noise: bool = False,
    normal: object = None,
    params: dict | None = None,
    bounds: tuple[float, float] | None = None,
    seed: int = 0,
) -> Stability | Collapse:
    """The stability of the fixed point ``point`` of the mean gradient dynamics, or of
    every minibatch-SGD step (``noise=True``).

    Parameters
    ----------
    system : LearningSystem
    point : dict
        A value for every coordinate; the gradient of V must vanish there for every
        value of the hyper-parameters (with ``noise=True``: every per-sample gradient).
    parameter : Symbol
        The hyper-parameter whose critical value is sought (weight decay λ, the step
        size η under SGD, ...).
    noise : bool
        The SGD threshold: the top Lyapunov exponent of the random linearized maps
        (:mod:`symnoether.core.collapse`), returned as a :class:`Collapse`.
    normal : Matrix, optional
        Columns spanning the directions normal to the symmetric subspace (e.g.
        ``DiscreteSymmetry.normal`` of :func:`symnoether.find_discrete_symmetries`); all
        directions when omitted. The Hessian (with ``noise=True`` every per-sample one)
        must map it to itself.
    params : dict, optional
        ``noise=True``: numbers for the other hyper-parameters (η when it is not
        ``parameter``, λ, ...): the threshold is found numerically.
    bounds : (float, float), optional
        ``noise=True``: where the threshold is sought; default (0, 2/η) for a parameter
        other than η (beyond it the step overshoots) and (0, 4/max‖K_i‖) for η.
    seed : int
        ``noise=True``, non-commuting Hessians: the seed of the random products.

    Returns
    -------
    Stability, or Collapse for ``noise=True``

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

    Under SGD, ℓ_i = −x_i v²/2 with x = (3, −1), B = 1, η = 1/2: K_i = λ − x_i, and the
    exponent per unit time 2·½(log|1 − (λ − 3)/2| + log|1 − (λ + 1)/2|) vanishes where
    (5 − λ)(1 − λ) = 4, at λ = 3 − 2√2, below the GD threshold λ = mean(x) = 1:

    >>> (x,) = sn.data("x")
    >>> sgd = sn.LearningSystem((v,), -x * v**2 / 2, rule=sn.rules.sgd(sp.Rational(1, 2)),
    ...     data=(x,), dataset={x: [3, -1]}, regularizers=[sn.rules.weight_decay(lam)])
    >>> result = stability(sgd, {v: 0}, parameter=lam, noise=True)
    >>> round(result.threshold, 9), result.gd_threshold, round(3 - 2 * 2**0.5, 9)
    (0.171572875, 1, 0.171572875)
    """
    coords = system.coords
    missing = [q for q in coords if q not in point]
    if missing:
        raise InvalidInputError(f"point has no value for the coordinate {missing[0]}")
    if not isinstance(parameter, sp.Symbol):
        raise InvalidInputError(f"parameter = {parameter!r} is not a hyper-parameter Symbol")
    at = {q: sp.sympify(point[q]) for q in coords}
    if noise:
        return _collapse(system, at, parameter, normal, dict(params or {}), bounds, seed)
    for q in coords:
        check()
        slope = sp.diff(system.potential, q).subs(at)
        if not is_zero(slope):
            raise NotAFixedPointError(
                f"the gradient does not vanish at {at}: ∂V/∂{q} = {sp.simplify(slope)}; pass "
                "a point where every component of ∇V is zero (a symmetric solution)"
            )
    H = sp.hessian(system.potential, coords).subs(at).applyfunc(sp.expand)
    basis = None
    if normal is not None:
        basis = _normal_basis(normal, len(coords))
        _check_invariant(H, basis, "the Hessian of V")
        H = (basis.T * H * basis).applyfunc(sp.expand)
        basis = sp.ImmutableMatrix(basis)
    H = sp.ImmutableMatrix(H)
    return Stability(dict(at), parameter, H, _threshold(H, parameter), basis)


def _collapse(system, at, parameter, normal, params, bounds, seed) -> Collapse:
    rule = getattr(system, "rule", None)
    if not getattr(rule, "stochastic", False):
        raise InvalidRuleError(
            "noise=True is the minibatch-SGD threshold; build the system with "
            "rule=sn.rules.sgd(eta, batch_size=B) and a dataset=, or pass noise=False"
        )
    coords = system.coords
    regularizer = system.potential - system.training_loss
    per_sample = [system.loss.subs(s) + regularizer for s in system.samples]
    for i, (loss, sample) in enumerate(zip(per_sample, system.samples, strict=True)):
        for q in coords:
            check()
            slope = sp.diff(loss, q).subs(at)
            if not is_zero(slope):
                where = ", ".join(f"{k} = {v}" for k, v in sample.items())
                raise NotAFixedPointError(
                    f"the per-sample gradient does not vanish at {at}: ∂ℓ/∂{q} = "
                    f"{sp.simplify(slope)} on sample {i} ({where}); SGD moves off the point, "
                    "so pass a point where every sample's gradient is zero (a symmetric "
                    "solution of every sample), or use noise=False"
                )
    basis = _normal_basis(normal, len(coords))
    hessians = []
    for i, loss in enumerate(per_sample):
        check()
        H = sp.hessian(loss, coords).subs(at).applyfunc(sp.expand)
        _check_invariant(H, basis, f"the Hessian of sample {i}")
        hessians.append(sp.ImmutableMatrix((basis.T * H * basis).applyfunc(sp.expand)))
    eta = rule.lr
    numbers = {**params}
    leftover = set().union(eta.free_symbols, *(h.free_symbols for h in hessians))
    leftover -= {parameter, *numbers}
    if leftover:
        name = sorted(leftover, key=str)[0]
        raise InvalidInputError(
            f"the SGD threshold is found numerically and the linearized maps depend on "
            f"{name}; pass params={{{name}: ...}}"
        )
    gd = _threshold(
        sp.ImmutableMatrix(sum(hessians, sp.zeros(*hessians[0].shape)) / len(hessians)).subs(
            numbers
        ),
        parameter,
    )
    closed = None
    if batch_count(len(hessians), rule.batch_size, rule.replacement) <= MAX_BATCHES:
        closed = commuting_exponents(
            [sp.Matrix(h) for h in hessians], eta, rule.batch_size, rule.replacement
        )

    def numeric(value: float, values: dict) -> tuple[float, float]:
        K = np.array([np.array(h.subs(values).tolist(), dtype=float) for h in hessians])
        step = float(eta.subs(values))
        return product_exponent(K, step, rule.batch_size, rule.replacement, seed=seed)

    if closed is not None:
        directions, exponents = closed
        fns = [sp.lambdify(parameter, e.subs(numbers), "math") for e in exponents]

        def top(value: float) -> float:
            out = []
            for f in fns:
                try:
                    out.append(float(f(value)))
                except (ValueError, ZeroDivisionError):  # log 0: the map is singular
                    out.append(-math.inf)
            return max(out)

        method = "closed form (commuting Hessians)"
    else:
        directions, exponents = (), ()

        def top(value: float) -> float:
            return numeric(value, {**numbers, parameter: value})[0]

        method = "products of random matrices"
    span = bounds or _default_bounds(parameter, eta, hessians, numbers)
    threshold, error = _first_crossing(top, span, closed is None, numeric, numbers, parameter)
    return Collapse(
        dict(at), parameter, sp.ImmutableMatrix(basis), tuple(hessians), threshold, error,
        method, tuple(exponents), tuple(sp.ImmutableMatrix(v) for v in directions), gd,
        numbers, tuple(map(float, span)), numeric,
    )  # fmt: skip


def _check_invariant(H: sp.Matrix, basis: sp.Matrix, what: str) -> None:
    leak = ((sp.eye(H.rows) - basis * basis.T) * H * basis).applyfunc(sp.expand)
    if not all(is_zero(e) for e in leak):
        raise InvalidInputError(
            f"{what} at the point maps the normal directions out of their span; pass "
            "normal= the orthogonal complement of a symmetric subspace (e.g. "
            "DiscreteSymmetry.normal), or leave it out for all directions"
        )


def _normal_basis(normal: object, n: int) -> sp.Matrix:
    """Orthonormal columns spanning ``normal`` (all of R^n when None)."""
    if normal is None:
        return sp.eye(n)
    normal = getattr(normal, "normal", normal)
    columns = sp.Matrix(normal)
    if columns.rows != n and columns.cols == n:
        columns = columns.T
    if columns.rows != n or columns.rank() == 0:
        raise InvalidInputError(
            f"normal= has shape {columns.shape}; pass a matrix whose {n}-entry columns span "
            "the directions normal to the symmetric subspace"
        )
    vectors = [columns[:, j] for j in range(columns.cols)]
    return sp.Matrix.hstack(*sp.GramSchmidt(vectors, orthonormal=True))


def _default_bounds(parameter, eta, hessians, numbers) -> tuple[float, float]:
    if parameter in eta.free_symbols:
        sizes = [
            np.abs(np.linalg.eigvalsh(np.array(h.subs(numbers).tolist(), dtype=float))).max()
            for h in hessians
        ]
        return (0.0, 4.0 / max(max(sizes), 1e-12))
    return (0.0, 2.0 / float(eta.subs(numbers)))


def _first_crossing(top, span, noisy, numeric, numbers, parameter) -> tuple:
    """The smallest value in ``span`` where ``top`` turns from positive to negative, by
    a scan and Brent's method; with an error bar from the slope for a noisy estimate."""
    from scipy.optimize import brentq  # on use: keeps `import symnoether` light

    lo, hi = span
    grid = np.linspace(lo, hi, 41 if noisy else 401)[1:]
    previous = None
    for a, b in zip(grid[:-1], grid[1:], strict=True):
        check()
        fa = top(a) if previous is None else previous
        fb = top(b)
        previous = fb
        if fa > 0 and fb <= 0:
            if not math.isfinite(fb):
                return float(b), 0.0
            root = float(brentq(top, a, b, xtol=1e-12))
            if not noisy:
                return root, 0.0
            value, error = numeric(root, {**numbers, parameter: root})
            slope = (fb - fa) / (b - a)
            return root, float(abs(error / slope)) if slope else math.inf
    return None, 0.0


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
