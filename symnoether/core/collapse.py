r"""Stochastic collapse: the top Lyapunov exponent of minibatch SGD's random linear maps.

At a point θ* where every per-sample gradient vanishes (a fixed point of every SGD
step, such as a symmetric solution u = w = 0), one SGD step on a perturbation δ in the
normal space (columns N, orthonormal) is the random linear map

    δ_{k+1} = (I − η K_b) δ_k,    K_b = (1/B) Σ_{i∈b} K_i,    K_i = Nᵀ ∇²(ℓ_i + R)(θ*) N,

with b the minibatch (R the regularizers). The point attracts almost every run when
the top Lyapunov exponent γ = lim (1/k) log|δ_k| of the product is negative [1]_
(Chen, Kunin et al. 2023 [2]_); per unit time t = kη it is γ/η.

* **Commuting case.** When the K_i commute they share an eigenbasis v_j, K_i v_j =
  h_ij v_j, and the product acts on each v_j by a product of scalars: γ = max_j
  E_b log|1 − η h_bj| exactly, a finite sum over the batches (multisets of B samples
  with their multinomial weights; subsets when drawn without replacement).
* **Otherwise** γ is estimated by running independent products with a
  renormalization at every step (Benettin's method) from a fixed seed: the mean of the
  runs' growth rates, with its standard error.

By Jensen's inequality E log|1 − ηh_b| ≤ log|1 − η E h_b|: noise lowers the exponent, so
it lowers the weight-decay threshold below the gradient-descent one, and it can make a
saddle of V attract for a window of step sizes, which gradient descent never does.

References
----------
.. [1] H. Furstenberg and H. Kesten, "Products of random matrices", Ann. Math. Statist.
   31, 1960.
.. [2] F. Chen, D. Kunin, A. Yamamura and S. Ganguli, "Stochastic collapse: how gradient
   noise attracts SGD dynamics towards simpler subnetworks", NeurIPS 2023,
   arXiv:2306.04251.

Examples
--------
>>> import sympy as sp
>>> K = [sp.Matrix([[1]]), sp.Matrix([[-3]])]          # h = 1 or −3, B = 1
>>> (gamma,) = commuting_exponents(K, sp.Rational(1, 2), 1, True)[1]
>>> sp.simplify(gamma - sp.log(sp.Rational(5, 4)))    # (1/η)·½(log|1 − ½| + log|1 + 3/2|)
0
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..budget import check
from ..errors import InvalidInputError
from .display import table_text
from .jet import is_zero

__all__ = ["Collapse", "batches", "commuting_exponents", "product_exponent"]

MAX_BATCHES = 20000
"""More distinct batches than this: the expectation is estimated by products instead."""
MAX_EIGEN_SIDE = 6
"""A common eigenbasis of non-diagonal Hessians is sought exactly up to this many normal
directions (SymPy's eigenvectors of a larger matrix can take minutes); beyond, products."""


def batches(n: int, size: int, replacement: bool) -> list[tuple[tuple[int, ...], sp.Rational]]:
    """Every distinct minibatch of ``size`` out of ``n`` samples, with its probability.

    Examples
    --------
    >>> batches(2, 2, True)
    [((0, 0), 1/4), ((0, 1), 1/2), ((1, 1), 1/4)]
    >>> batches(3, 2, False)
    [((0, 1), 1/3), ((0, 2), 1/3), ((1, 2), 1/3)]
    """
    if not replacement:
        subsets = list(itertools.combinations(range(n), size))
        return [(b, sp.Rational(1, len(subsets))) for b in subsets]
    out = []
    for b in itertools.combinations_with_replacement(range(n), size):
        counts = [b.count(i) for i in set(b)]
        ways = math.factorial(size) // math.prod(math.factorial(c) for c in counts)
        out.append((b, sp.Rational(ways, n**size)))
    return out


def batch_count(n: int, size: int, replacement: bool) -> int:
    """The number of distinct batches :func:`batches` would list."""
    return math.comb(n + size - 1, size) if replacement else math.comb(n, size)


def common_eigenvectors(K: list[sp.Matrix], seed: int = 0) -> list[sp.Matrix] | None:
    """A common eigenbasis of commuting symmetric matrices, each vector proved exactly
    (K_i v = (vᵀK_i v / vᵀv) v for every i), or None when none was found."""
    d = K[0].shape[0]
    if all(k.is_diagonal() for k in K):
        return [sp.eye(d)[:, j] for j in range(d)]
    if d > MAX_EIGEN_SIDE:
        return None  # the characteristic polynomial of a large matrix: estimate instead
    rng = random.Random(seed)
    symbols = sorted(set().union(*(k.free_symbols for k in K)), key=str)
    for _ in range(3):
        at = {s: sp.Rational(rng.randint(1, 97), rng.randint(1, 13)) for s in symbols}
        combo = sum((rng.randint(1, 50) * k.subs(at) for k in K), sp.zeros(d, d))
        vectors = [v for _, _, vs in combo.eigenvects() for v in vs]
        if len(vectors) == d and all(_is_eigenvector(k, v) for k in K for v in vectors):
            return [sp.Matrix(v) for v in vectors]
    return None


def _is_eigenvector(k: sp.Matrix, v: sp.Matrix) -> bool:
    check()
    h = (v.T * k * v)[0] / (v.T * v)[0]
    return all(is_zero(sp.expand(entry)) for entry in k * v - h * v)


def commuting_exponents(
    K: list[sp.Matrix], eta: sp.Expr, size: int, replacement: bool
) -> tuple[list[sp.Matrix], list[sp.Expr]] | None:
    """The exact Lyapunov exponents per unit time, one per common eigenvector of the
    commuting K_i: (1/η) Σ_b P(b) log|1 − η h_bj|; None when the K_i do not commute
    (or no common eigenbasis was proved)."""
    for a, b in itertools.combinations(K, 2):
        check()
        if not all(is_zero(sp.expand(e)) for e in a * b - b * a):
            return None
    vectors = common_eigenvectors(K)
    if vectors is None:
        return None
    exponents = []
    for v in vectors:
        h = [sp.simplify((v.T * k * v)[0] / (v.T * v)[0]) for k in K]
        terms = [
            p * sp.log(sp.Abs(1 - eta * sp.Add(*[h[i] for i in b]) / size))
            for b, p in batches(len(K), size, replacement)
        ]
        exponents.append(sp.Add(*terms) / eta)
    return vectors, exponents


def product_exponent(
    K: np.ndarray,
    eta: float,
    size: int,
    replacement: bool,
    *,
    runs: int = 64,
    steps: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """The top Lyapunov exponent per unit time of δ ↦ (I − ηK_b)δ, estimated from
    ``runs`` independent products of ``steps`` random maps (after ``steps // 10`` that
    align the vector with the top direction): (mean, standard error).

    Examples
    --------
    >>> K = np.array([[[1.0]], [[-3.0]]])
    >>> mean, error = product_exponent(K, 0.5, 1, True, runs=256, steps=400)
    >>> bool(abs(mean - np.log(1.25)) < 4 * error)
    True
    """
    n, d = K.shape[0], K.shape[1]
    rng = np.random.default_rng(seed)
    total = steps + steps // 10
    if replacement:
        picks = rng.integers(0, n, size=(total, runs, size))
    else:
        picks = np.argsort(rng.random((total, runs, n)), axis=2)[:, :, :size]
    v = rng.standard_normal((runs, d))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    growth = np.zeros(runs)
    eye = np.eye(d)
    burn = steps // 10  # the first steps align v with the top direction: not counted
    for k in range(burn + steps):
        maps = eye - eta * K[picks[k]].mean(axis=1)
        v = np.einsum("rij,rj->ri", maps, v)
        norm = np.linalg.norm(v, axis=1)
        if k >= burn:
            with np.errstate(divide="ignore"):
                growth += np.log(norm)
        v /= np.where(norm > 0, norm, 1.0)[:, None]
    rates = growth / (steps * eta)
    if not np.all(np.isfinite(rates)):
        return -math.inf, 0.0
    return float(rates.mean()), float(rates.std(ddof=1) / math.sqrt(runs))


@dataclass(frozen=True)
class Collapse:
    """The stability of a fixed point of every SGD step, normal to a symmetric subspace.

    Attributes
    ----------
    point : dict
        θ*, where every per-sample gradient vanishes.
    parameter : Symbol
        The hyper-parameter the threshold is about (weight decay λ, the step size η, ...).
    normal : ImmutableMatrix
        Orthonormal columns spanning the normal directions.
    hessians : tuple of ImmutableMatrix
        K_i, the per-sample Hessians (with the regularizers) on the normal space.
    threshold : float or None
        The smallest value of ``parameter`` in ``bounds`` where the top Lyapunov exponent
        turns from positive to negative (the symmetric solution attracts above it);
        None when it does not change sign there.
    threshold_error : float
        Its error bar (0 up to root-finding accuracy for the closed form).
    method : str
        ``'closed form (commuting Hessians)'`` or ``'products of random matrices'``.
    exponents : tuple of sympy expressions
        For the closed form: the exponent per unit time along each common eigenvector
        (``directions``); the top exponent is their maximum. Empty otherwise.
    gd_threshold : sympy expression or None
        The gradient-descent threshold of the same parameter (mean Hessian) for comparison.

    Examples
    --------
    >>> p = sp.Symbol("p")
    >>> c = Collapse({}, p, sp.ImmutableMatrix([[1]]), (), None, 0.0, "closed form",
    ...              exponents=(1 - p,))
    >>> c.exponent(3)
    -2.0
    """

    point: dict
    parameter: sp.Symbol
    normal: sp.ImmutableMatrix
    hessians: tuple
    threshold: float | None
    threshold_error: float
    method: str
    exponents: tuple = ()
    directions: tuple = ()
    gd_threshold: sp.Expr | None = None
    params: dict = field(default_factory=dict)
    bounds: tuple = (0.0, 1.0)
    numeric: object = field(default=None, repr=False, compare=False)

    def exponent(self, value: object, params: dict | None = None) -> float:
        """The top Lyapunov exponent per unit time t = kη at ``parameter = value``
        (negative: the runs collapse onto the symmetric subspace)."""
        return self.estimate(value, params)[0]

    def estimate(self, value: object, params: dict | None = None) -> tuple[float, float]:
        """(top exponent per unit time, its standard error; 0 for the closed form)."""
        values = {**self.params, **(params or {}), self.parameter: value}
        if self.exponents:
            numbers = []
            for expr in self.exponents:
                number = expr.subs(values)
                if number.free_symbols:
                    name = sorted(number.free_symbols, key=str)[0]
                    raise InvalidInputError(
                        f"the exponent depends on {name}; pass params={{{name}: ...}}"
                    )
                numbers.append(float(number) if number != -sp.oo else -math.inf)
            return max(numbers), 0.0
        return self.numeric(float(value), values)

    def __str__(self) -> str:
        at = ", ".join(f"{k} = {v}" for k, v in self.point.items())
        p = self.parameter
        crit = (
            f"{p} > {self.threshold:.6g}" + (f" ± {self.threshold_error:.2g}"
                                             if self.threshold_error else "")
            if self.threshold is not None
            else f"none in {p} ∈ [{self.bounds[0]:.4g}, {self.bounds[1]:.4g}]"
        )  # fmt: skip
        rows = [
            ("point", at),
            ("normal directions", sp.sstr(self.normal.T.tolist())),
            ("method", self.method),
            ("SGD threshold", crit),
            ("GD threshold", "none" if self.gd_threshold is None else f"{p} > {self.gd_threshold}"),
        ]
        return table_text("stochastic collapse (top Lyapunov exponent of SGD)", rows)

    def _repr_latex_(self) -> str:
        p = sp.latex(self.parameter)
        crit = r"\text{none}" if self.threshold is None else f"{self.threshold:.6g}"
        gd = r"\text{none}" if self.gd_threshold is None else sp.latex(self.gd_threshold)
        return rf"${p}_c^{{\mathrm{{SGD}}}} = {crit},\quad {p}_c^{{\mathrm{{GD}}}} = {gd}$"
