r"""How many conservation laws gradient flow can have at all: D − dim Lie(W)(θ).

For gradient flow θ̇ = −∇_θ ℓ(θ; data) over every value of the data, Marcotte,
Gribonval and Peyré (2023) show that the number of independent (local, analytic)
conservation laws near a generic θ is D − dim Lie(W)(θ), where W is the linear span
of the gradient fields ∇_θ ℓ(·; data) over all data values and Lie(W) the Lie algebra
of vector fields they generate. This module computes that bound, independently of
any symmetry search.

How
---
When the loss is a polynomial in the data, ℓ = Σ_β m_β(data) c_β(θ) with distinct
monomials m_β, and monomials are linearly independent functions of the data, so
W = span{∇c_β} exactly (for ½‖y − f(θ, x)‖² the c_β are the model's output
coefficients and their products; both generate the same distribution). Every field
is a polynomial in θ, handled exactly modulo a large prime:

* a pointwise basis S₁ of W at a random point p is kept (W lies in the module
  S₁ spans, near a generic p);
* round k brackets S₁ with the fields kept in round k − 1 — the values
  [X, Y](p) = DY(p)X(p) − DX(p)Y(p) first, the symbolic bracket only for those
  that raise the rank at p — until a round adds nothing. Then the module spanned by
  the kept fields is closed under brackets with W near p ([X, gY] = g[X, Y] + (Xg)Y),
  so it holds Lie(W), and its rank at p is dim Lie(W)(p).

ReLU units max(0, z) are handled by their activation patterns (the loss is polynomial on
each region of inputs): all patterns count as data when h ≤ the number of inputs, else the
patterns realised near a random real θ are found by linear programming.

The rank is exact over the prime field; over the rationals it can only be larger, so
an unlucky prime or point (probability about D/p) could only overstate the bound.

References
----------
.. [1] S. Marcotte, R. Gribonval and G. Peyré, "Abide by the law and follow the flow:
   conservation laws for gradient flows", NeurIPS 2023, arXiv:2307.00144.

Examples
--------
>>> import sympy as sp
>>> import symnoether as sn
>>> from symnoether.symmetry.lierank import lie_bound
>>> w1, w2 = sn.coordinates("w1 w2")
>>> x, y = sn.data("x y")
>>> flow = sn.LearningSystem((w1, w2), (y - w1 * w2 * x) ** 2 / 2,
...                          rule=sn.rules.gradient_flow(), data=(x, y))
>>> lie_bound(flow).bound                      # w1² − w2² is the one law
1
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

import sympy as sp

from ..budget import check
from ..errors import SearchTooLargeError

__all__ = ["LieBound", "lie_bound", "PRIME", "MAX_BOUND_COORDINATES"]

PRIME = 67108859  # below 2**26: products of residues and their sums of ≤ 2**11 fit in int64
MAX_BOUND_COORDINATES = 200


@dataclass(frozen=True)
class LieBound:
    """D − dim Lie(W)(θ) at a generic θ, or why it is not computed.

    Attributes
    ----------
    bound : int or None
        The number of independent conservation laws of gradient flow for every value
        of the data; None when not computed (``note`` says why).
    dimension : int
        D, the number of coordinates.
    lie_rank : int or None
        dim Lie(W)(θ) at the random point.
    generators : int
        dim W(θ): the gradient fields kept before bracketing.
    rounds : int
        Bracket rounds until the rank stabilised.
    note : str
        How the bound was computed, or why not.
    """

    bound: int | None
    dimension: int
    lie_rank: int | None
    generators: int
    rounds: int
    note: str


def lie_bound(system: object, *, seed: int = 0) -> LieBound:
    """The Marcotte–Gribonval–Peyré bound for ``system``'s potential under gradient flow.

    Parameters
    ----------
    system : LearningSystem
        Its potential (loss plus regularizers) must be a polynomial in the
        coordinates; hyper-parameters are given random rational values (generic).
    seed : int
        Seeds the random point.

    Returns
    -------
    LieBound
        ``bound`` None (with the reason in ``note``) for a potential that is not a
        polynomial in the coordinates and the data.

    Raises
    ------
    SearchTooLargeError
        More than :data:`MAX_BOUND_COORDINATES` coordinates.

    Examples
    --------
    >>> import symnoether as sn
    >>> from symnoether import models
    >>> net = models.linear_network(2, 2, 2).system(sn.rules.gradient_flow())
    >>> lie_bound(net).bound                       # the 3 entries of W1W1ᵀ − W2ᵀW2
    3
    """
    coords = tuple(system.coords)
    n = len(coords)
    if n > MAX_BOUND_COORDINATES:
        raise SearchTooLargeError(
            f"the conservation-law bound for {n} coordinates exceeds the limit of "
            f"{MAX_BOUND_COORDINATES}; compute it on a smaller instance of the model "
            "(the count of a family follows from a few widths)"
        )
    rng = random.Random(seed)
    potential = sp.expand(system.potential)
    data = tuple(system.data)
    others = sorted(potential.free_symbols - set(coords) - set(data), key=str)
    if others:
        values = {s: sp.Rational(rng.randint(2, 97), rng.randint(2, 97)) for s in others}
        potential = sp.expand(potential.xreplace(values))
    dicts, relu_note = coefficient_dicts(potential, coords, data, rng)
    if dicts is None:
        return LieBound(None, n, None, 0, 0, relu_note)
    polys = [_to_residues(d) for d in dicts]
    note = (
        "over every value of the data"
        if data
        else "the loss has no data symbols: the bound is over its single loss"
    ) + relu_note
    point = [rng.randrange(1, PRIME) for _ in range(n)]
    kept_rank, first, rounds = _lie_rank(polys, n, point)
    return LieBound(n - kept_rank, n, kept_rank, first, rounds, note)


def _activation_patterns(
    potential: sp.Expr, coords: tuple, data: tuple, rng: random.Random
) -> tuple:
    """ReLU units max(0, z_j) replaced by σ_j z_j, σ_j ∈ {0, 1} the activation pattern.

    Near a generic θ the pattern of an input is locally constant, so W is spanned by the
    gradient fields of the polynomial losses of the patterns some input realises. When
    every pattern is realised (guaranteed for generic hyperplanes when the h
    pre-activations are affine in the inputs and h ≤ their number of input symbols) the
    σ_j count as data (σ_j² = σ_j; multilinear monomials are independent functions on
    {0, 1}^h). Otherwise the patterns realised at a random real θ are found by linear
    programming, and the bound is the one near that θ.
    Returns (potential, data, σ symbols, realised patterns or None for all, note), the
    potential None when the bound is not computed (the note says why)."""
    units = sorted(
        (m for m in potential.atoms(sp.Max) if len(m.args) == 2 and sp.S.Zero in m.args),
        key=sp.default_sort_key,
    )
    if not units:
        return potential, data, (), None, ""
    pre = [next(a for a in m.args if a != 0) for m in units]
    sigmas = sp.symbols(f"sigma_relu1:{len(units) + 1}")
    replaced = sp.expand(potential.xreplace(dict(zip(units, [s * z for s, z in zip(sigmas, pre)]))))
    replaced = replaced.replace(
        lambda e: e.is_Pow and e.base in sigmas and e.exp.is_Integer and e.exp > 1,
        lambda e: e.base,
    )
    inputs = sorted(set().union(*(z.free_symbols for z in pre)) & set(data), key=str)
    if len(units) <= len(inputs):
        note = f"; {len(units)} ReLU activation patterns counted as data"
        return replaced, data, sigmas, None, note
    patterns = _realised_patterns(pre, coords, inputs, rng)
    if patterns is None:
        why = "are not affine in the inputs" if inputs else "see no data input"
        return None, data, (), None, f"the ReLU pre-activations {why}"
    note = (
        f"; {len(units)} ReLU units on {len(inputs)} inputs: the {len(patterns)} of "
        f"{2 ** len(units)} activation patterns realised near a random θ"
    )
    return replaced, data, sigmas, patterns, note


def _realised_patterns(pre: list, coords: tuple, inputs: list, rng: random.Random):
    """The sign patterns of the pre-activations z_j(θ₀, x) over the inputs x, at a random
    real θ₀ (others data fixed at 0 do not matter: they only shift z_j by an affine term
    of θ)."""
    from scipy.optimize import linprog

    if not inputs:  # a pre-activation that sees no data: no pattern to count over inputs
        return None
    point = {q: sp.Rational(rng.choice([-1, 1]) * rng.randint(1, 97), 97) for q in coords}
    rows, offsets = [], []
    for z in pre:
        affine = sp.expand(z.xreplace(point))
        others = affine.free_symbols - set(inputs)
        affine = sp.expand(affine.xreplace({s: 0 for s in others}))
        try:
            poly = sp.Poly(affine, *inputs)
        except sp.PolynomialError:
            return None
        if poly.total_degree() > 1:
            return None
        rows.append([float(poly.coeff_monomial(x)) for x in inputs])
        offsets.append(float(poly.coeff_monomial(1)))
    realised = []
    for pattern in itertools.product((0, 1), repeat=len(pre)):
        check()
        # maximise t subject to s_j (a_j·x + c_j) ≥ t, t ≤ 1, s_j = ±1 by the pattern
        a_ub, b_ub = [], []
        for bit, row, offset in zip(pattern, rows, offsets, strict=True):
            sign = 1 if bit else -1
            a_ub.append([-sign * v for v in row] + [1.0])
            b_ub.append(sign * offset)
        bounds = [(None, None)] * len(inputs) + [(None, 1.0)]
        cost = [0.0] * len(inputs) + [-1.0]
        result = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
        if result.status == 0 and -result.fun > 1e-9:
            realised.append(pattern)
    return realised


def coefficient_dicts(potential: sp.Expr, coords: tuple, data: tuple, rng: random.Random):
    """The coefficients c_β(θ) of the potential as a polynomial in the data (and the
    activation patterns), each as {exponent tuple over coords: Rational}; or
    (None, reason)."""
    potential, data, sigmas, patterns, note = _activation_patterns(potential, coords, data, rng)
    if potential is None:
        return None, note
    gens = (*data, *sigmas, *coords)
    terms = _rational_terms(potential, gens)
    if terms is None:
        if data and _data_coefficients(potential, (*data, *sigmas)) is None:
            return None, "the potential is not a polynomial in the data"
        try:
            poly = sp.Poly(potential, *gens)
        except sp.PolynomialError:
            return None, "the potential is not a polynomial in the coordinates"
        if poly.domain not in (sp.ZZ, sp.QQ):
            return None, "the potential is not a polynomial in the coordinates"
        terms = poly.terms()
    nd, ns = len(data), len(sigmas)
    if patterns is None:
        patterns = [None]  # σ (if any) count as data
    acc: dict = {}
    for monom, c in terms:
        check()
        md, ms, mq = monom[:nd], monom[nd : nd + ns], monom[nd + ns :]
        for k, pattern in enumerate(patterns):
            if pattern is None:
                key = (k, md, ms)
            elif all(pattern[j] for j, e in enumerate(ms) if e):
                key = (k, md, ())
            else:
                continue
            entry = acc.setdefault(key, {})
            entry[mq] = entry.get(mq, 0) + sp.Rational(c)
    return [d for d in acc.values() if any(d.values())], note


def _rational_terms(potential: sp.Expr, gens: tuple) -> list | None:
    """The terms of ``potential`` as a polynomial over ℚ in ``gens``, built in a sparse
    polynomial ring (powers of sums are multiplied there, not expanded symbolically:
    100× faster than ``Poly`` on a squared attention score); None when it is not one
    (other symbols, floats, non-polynomial functions)."""
    if not potential.free_symbols <= set(gens) or potential.has(sp.Float):
        return None
    try:
        ring = sp.polys.rings.ring(gens, sp.QQ)[0]
        poly = ring.from_expr(potential)
    except (ValueError, TypeError, sp.PolynomialError, sp.CoercionFailed):
        return None
    return [(monom, sp.QQ.to_sympy(c)) for monom, c in poly.items()]


def _data_coefficients(potential: sp.Expr, data: tuple) -> list | None:
    """The coefficients c_β(θ) of the potential as a polynomial in the data."""
    if not data:
        return [potential]
    try:
        poly = sp.Poly(potential, *data)
    except sp.PolynomialError:
        return None
    if not all(c.free_symbols.isdisjoint(data) for c in poly.coeffs()):
        return None
    return poly.coeffs()


# -- sparse polynomials over the prime field: {exponent tuple: residue} ------------


def _to_residues(poly: dict) -> dict:
    out = {}
    for monom, c in poly.items():
        c = sp.Rational(c)
        value = int(c.p) * pow(int(c.q), -1, PRIME) % PRIME
        if value:
            out[monom] = value
    return out


def _diff(f: dict, i: int) -> dict:
    out = {}
    for monom, c in f.items():
        e = monom[i]
        if e:
            m = monom[:i] + (e - 1,) + monom[i + 1 :]
            out[m] = (out.get(m, 0) + c * e) % PRIME
    return {m: c for m, c in out.items() if c}


def _axpy(acc: dict, f: dict, g: dict, sign: int) -> None:
    """acc += sign · f · g, in place."""
    for mf, cf in f.items():
        for mg, cg in g.items():
            m = tuple(a + b for a, b in zip(mf, mg, strict=True))
            acc[m] = (acc.get(m, 0) + sign * cf * cg) % PRIME


def _evaluate(f: dict, point: list) -> int:
    total = 0
    for monom, c in f.items():
        term = c
        for x, e in zip(point, monom, strict=True):
            if e:
                term = term * pow(x, e, PRIME) % PRIME
        total += term
    return total % PRIME


class _Echelon:
    """Rows in echelon form over the prime field; ``add`` says whether the rank grew."""

    def __init__(self) -> None:
        self.rows: dict = {}  # pivot → row (list of residues, pivot entry 1)

    def add(self, vector: list) -> bool:
        v = list(vector)
        for pivot, row in self.rows.items():
            c = v[pivot]
            if c:
                v = [(a - c * b) % PRIME for a, b in zip(v, row, strict=True)]
        for pivot, c in enumerate(v):
            if c:
                inverse = pow(c, -1, PRIME)
                self.rows[pivot] = [a * inverse % PRIME for a in v]
                return True
        return False

    @property
    def rank(self) -> int:
        return len(self.rows)


class _Field:
    """A polynomial vector field: components, its value and Jacobian at the point."""

    def __init__(self, components: list, point: list) -> None:
        self.components = components
        self.value = [_evaluate(c, point) for c in components]
        self._jacobian: list | None = None
        self._point = point

    def jacobian(self) -> list:
        if self._jacobian is None:
            n = len(self.components)
            self._jacobian = [
                [_evaluate(_diff(c, j), self._point) if c else 0 for j in range(n)]
                for c in self.components
            ]
        return self._jacobian


def _apply(matrix: list, vector: list) -> list:
    return [sum(a * b for a, b in zip(row, vector, strict=True)) % PRIME for row in matrix]


def _bracket_value(x: _Field, y: _Field) -> list:
    """[X, Y](p) = DY(p) X(p) − DX(p) Y(p)."""
    first, second = _apply(y.jacobian(), x.value), _apply(x.jacobian(), y.value)
    return [(a - b) % PRIME for a, b in zip(first, second, strict=True)]


def _bracket(x: _Field, y: _Field, n: int, point: list) -> _Field:
    components = []
    for i in range(n):
        acc: dict = {}
        for j in range(n):
            check()
            if x.components[j] and y.components[i]:
                _axpy(acc, x.components[j], _diff(y.components[i], j), 1)
            if y.components[j] and x.components[i]:
                _axpy(acc, y.components[j], _diff(x.components[i], j), -1)
        components.append({m: c for m, c in acc.items() if c})
    return _Field(components, point)


def _lie_rank(polys: list, n: int, point: list) -> tuple[int, int, int]:
    """(dim Lie(W)(p), dim W(p), rounds) for W spanned by the gradients of ``polys``."""
    echelon = _Echelon()
    base = []
    for poly in sorted(polys, key=lambda f: max((sum(m) for m in f), default=0)):
        check()
        field_ = _Field([_diff(poly, i) for i in range(n)], point)
        if echelon.add(field_.value):
            base.append(field_)
        if echelon.rank == n:
            break
    first = echelon.rank
    frontier, rounds = list(base), 0
    while frontier and echelon.rank < n:
        rounds += 1
        new = []
        for x in base:
            for y in frontier:
                check()
                if echelon.rank == n:
                    break
                if echelon.add(_bracket_value(x, y)):
                    new.append(_bracket(x, y, n, point))
        frontier = new
    return echelon.rank, first, rounds
