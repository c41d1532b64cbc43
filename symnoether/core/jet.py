"""Pure SymPy helpers on the jet space (t, q, q̇, q̈).

The engine works with plain SymPy Symbols for coordinates q, velocities q̇ and
accelerations q̈, and one time Symbol t. This module holds the three pieces of
calculus every later stage needs:

* :func:`total_derivative` — the total time derivative
  D_t = ∂_t + q̇·∂_q + q̈·∂_q̇ (with q̈ a symbol or an on-shell expression);
* :func:`prolonged_action` — the first prolongation pr ψ of a point
  generator ψ(q): pr ψ = ψ·∂_q + (Dψ q̇)·∂_q̇;
* :func:`is_zero` — a robust zero test that never calls a zero expression
  "not zero" because SymPy could not simplify it: exact rationalization,
  ``cancel``, then a randomized numeric check at high precision (undefined
  functions are replaced by random concrete ones first).

Examples
--------
>>> import sympy as sp
>>> from symnoether.core.jet import is_zero
>>> x = sp.Symbol("x", real=True)
>>> is_zero(sp.sqrt(x**2 + 1) ** 2 - x**2 - 1)
True
>>> is_zero(sp.Max(0, x) - sp.Max(0, -x) - x)
True
>>> is_zero(0.1 * x + 0.2 * x - 0.3 * x)
True
>>> is_zero(x - sp.Abs(x))
False
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import partial

import sympy as sp
from sympy.core.function import AppliedUndef

from ..budget import check
from .boundaries import BRANCHING, BoundaryPlan
from .branches import as_real, decide_exactly, without_deltas
from .dag import (
    derivatives,
    free_symbols,
    is_rational_dag,
    nodes,
    rational_value,
    substitute,
    tree_size,
)

__all__ = [
    "total_derivative",
    "prolonged_action",
    "generator_derivative",
    "is_zero",
    "readable",
    "derivatives",
]

_COARSE_DIGITS = 30
_FINE_DIGITS = 60
_SHRINK = sp.Float(10) ** -15
_SAMPLES = 4
_ROUND_OFF = 1e-13
_ROUND_OFF_BITS = 12
_BRANCH_SAMPLES = 4
_BOUNDARY_REPS = 2  # base points per branch boundary (1 beyond _MANY_BOUNDARIES)
_MANY_BOUNDARIES = 8
_MIN_BITS = 8
_EXPAND_OPS_LIMIT = 400
_EXPAND_ZERO_OPS_LIMIT = 300
_SIMPLIFY_OPS_LIMIT = 60
_OPS_TREE_CAP = 4000  # trees larger than this have far more than the ops limits above
_READABLE_TREE_CAP = 1500  # readable(): larger trees get only their common factors pulled out
_ASSUMPTIONS_TREE_CAP = 300  # is_zero(): SymPy's assumptions asked on smaller trees only


def total_derivative(
    expr: sp.Expr,
    coords: Sequence[sp.Symbol],
    velocities: Sequence[sp.Symbol],
    accelerations: Sequence[sp.Expr],
    time: sp.Symbol,
) -> sp.Expr:
    """Total time derivative D_t of a function on the jet space.

    D_t f = ∂_t f + Σ q̇_i ∂f/∂q_i + Σ q̈_i ∂f/∂q̇_i, where q̈_i are symbols or
    on-shell expressions (then D_t is the derivative along the motion).

    Examples
    --------
    >>> import sympy as sp
    >>> q, v, a, t = sp.symbols("q v a t")
    >>> total_derivative(q * v * sp.exp(t), [q], [v], [a], t)
    a*q*exp(t) + q*v*exp(t) + v**2*exp(t)
    """
    coords, velocities = list(coords), list(velocities)
    slopes = derivatives(expr, [time, *coords, *velocities])
    terms = [slopes[0]]
    for rate, slope in zip([*velocities, *accelerations], slopes[1:], strict=True):
        if slope != 0:
            terms.append(rate * slope)
    return sp.Add(*terms)


def generator_derivative(
    generator: sp.Matrix, coords: Sequence[sp.Symbol], velocities: Sequence[sp.Symbol]
) -> sp.Matrix:
    """The velocity part of the prolongation: Dψ q̇ (Jacobian of ψ times q̇).

    Examples
    --------
    >>> import sympy as sp
    >>> q1, q2, v1, v2 = sp.symbols("q1 q2 v1 v2")
    >>> generator_derivative(sp.Matrix([-q2, q1]), [q1, q2], [v1, v2]).T
    Matrix([[-v2, v1]])
    """
    coords, velocities = list(coords), list(velocities)
    rate = dict(zip(coords, velocities, strict=True))
    out = []
    for entry in generator:
        free = free_symbols(entry)
        moving = [q for q in coords if q in free]
        slopes = derivatives(entry, moving) if moving else []
        out.append(sp.Add(*[slope * rate[q] for q, slope in zip(moving, slopes, strict=True)]))
    return sp.Matrix(out)


def prolonged_action(
    expr: sp.Expr,
    generator: sp.Matrix,
    coords: Sequence[sp.Symbol],
    velocities: Sequence[sp.Symbol],
) -> sp.Expr:
    """Apply the first prolongation pr ψ = ψ·∂_q + (Dψ q̇)·∂_q̇ to ``expr``.

    Examples
    --------
    >>> import sympy as sp
    >>> q1, q2, v1, v2 = sp.symbols("q1 q2 v1 v2")
    >>> kinetic = (v1**2 + v2**2) / 2
    >>> prolonged_action(kinetic, sp.Matrix([-q2, q1]), [q1, q2], [v1, v2])
    0
    """
    coords, velocities = list(coords), list(velocities)
    velocity_part = generator_derivative(generator, coords, velocities)
    slopes = derivatives(expr, [*coords, *velocities])
    terms = [
        weight * slope
        for weight, slope in zip([*generator, *velocity_part], slopes, strict=True)
        if weight != 0 and slope != 0
    ]
    return sp.Add(*terms)


def is_zero(expr: sp.Expr, *, samples: int = _SAMPLES, seed: int = 0) -> bool:
    """Decide whether ``expr`` is identically zero (almost everywhere), robustly.

    Rational functions of moderate size are decided exactly (``cancel``).
    Otherwise cheap symbolic steps come first (structural test, floats made
    rational — the residue of cancelling doubles, a tiny short binary fraction
    like 2⁻⁵⁴, counts as round-off —, ``expand``); when
    they do not reach 0, the expression is evaluated at ``samples`` random
    points, undefined functions replaced by random concrete smooth functions.
    A sample counts as zero when the value vanishes, or shrinks by at least
    10⁻¹⁵ as the working precision goes from 30 to 60 digits (SymPy's evalf
    raises precision adaptively, so the round-off of an exact zero shrinks,
    while a genuine value, however small, stays). So float coefficients,
    sqrt, exp/log, Abs or Max never produce a false "not zero", and tiny
    genuine values are not mistaken for zero.

    Expressions with branches (``Max``, ``Min``, ``Abs``, ``Heaviside``, ``sign``,
    ``Piecewise``) are decided **almost everywhere** (:mod:`symnoether.core.branches`):
    the value on a boundary itself (``Heaviside(0)``) does not count, and a
    ``DiracDelta`` term, which vanishes off a set of measure zero, counts as a
    distribution: c·DiracDelta(g) is zero when its weight c vanishes where g = 0
    (x·DiracDelta(x), from the ReLU identity) and not zero otherwise (DiracDelta(x −
    150), the derivative of a jump: a loss that jumps is not invariant). The branches are
    folded into their pieces, each decided exactly under its condition (in each cell
    cut out by the branch boundaries), when the pieces are rational functions and the
    conditions linear (after factoring) or in one variable. Otherwise the random
    points are joined by points
    on both sides of, and close to, every branch boundary (``w1 = 150`` for
    ``Max(0, w1 - 150)``), solved for one of its variables, with the other values
    drawn at the scales of the expression's own constants.

    Parameters
    ----------
    expr : sympy expression
    samples : int
        Number of random points of the numeric check.
    seed : int
        Seed of the random points (results are reproducible).

    Raises
    ------
    NotSupportedError
        The expression branches on a boundary that can be solved for none of its
        variables, no exact decision applies and no sample point showed a nonzero
        value: the message names the boundary.

    Examples
    --------
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b", positive=True)
    >>> is_zero(sp.log(a * b) - sp.log(a) - sp.log(b))
    True
    >>> is_zero(sp.exp(a) - 1 - a)
    False
    >>> x = sp.Symbol("x", real=True)
    >>> is_zero(sp.Max(0, x - 150)), is_zero(sp.Min(x, 200) - x)
    (False, False)
    >>> is_zero(x * sp.DiracDelta(x) + sp.Heaviside(x) + sp.Heaviside(-x) - 1)
    True
    >>> is_zero(sp.DiracDelta(x - 150))
    False
    """
    expr = sp.sympify(expr)
    if expr == 0:
        return True
    if tree_size(expr, _ASSUMPTIONS_TREE_CAP) <= _ASSUMPTIONS_TREE_CAP and expr.is_zero is True:
        return True  # SymPy's assumptions (slow on large trees)
    expr = _without_nonzero_factors(expr)
    found = nodes(expr)
    exact = _rationalize(expr, found)
    if exact is not expr:
        found = nodes(exact)
    if _holds(found, sp.DiracDelta):
        exact = without_deltas(exact, partial(is_zero, samples=samples, seed=seed))
        if exact is None:
            return False  # a DiracDelta term whose weight does not vanish on its set
        found = nodes(exact)
    if exact == 0:
        return True
    if _holds(found, *BRANCHING):
        return _branches_zero(exact, samples=samples, seed=seed)
    small = tree_size(exact, _OPS_TREE_CAP) <= _OPS_TREE_CAP
    if small and sp.count_ops(exact) <= _EXPAND_ZERO_OPS_LIMIT:
        if _is_rational_function(exact):
            return sp.cancel(sp.together(exact)) == 0  # exact decision, either way
        if _attempt(sp.expand, exact):
            return True
    return _numerically_zero(exact, samples=samples, seed=seed)


def _branches_zero(expr: sp.Expr, *, samples: int, seed: int) -> bool:
    """Zero almost everywhere: expand, else the exact piecewise decision, else
    boundary-aware sampling (see :mod:`symnoether.core.branches`)."""
    small = tree_size(expr, _OPS_TREE_CAP) <= _OPS_TREE_CAP
    if small and sp.count_ops(expr) <= _EXPAND_ZERO_OPS_LIMIT and _attempt(sp.expand, expr):
        return True
    real = as_real(expr)
    decided = decide_exactly(real)
    if decided is not None:
        return decided
    plan = BoundaryPlan.of(real)
    if _numerically_zero(real, samples=samples * _BRANCH_SAMPLES, seed=seed, plan=plan):
        plan.refuse_unsolved(expr)
        return True
    return False


def _without_nonzero_factors(expr: sp.Expr) -> sp.Expr:
    """A product without its factors that never vanish (nonzero rationals, e^{…}: the
    damping factor e^{t/τ} of every charge and rate), which decide nothing."""
    if not isinstance(expr, sp.Mul):
        return expr
    kept = [f for f in expr.args if not (f.is_Rational and f != 0) and not isinstance(f, sp.exp)]
    if len(kept) == len(expr.args) or any(f.has(sp.zoo, sp.oo, sp.nan) for f in expr.args):
        return expr
    return sp.Mul(*kept)


def _holds(found: set, *types: type) -> bool:
    """Whether one of the distinct nodes ``found`` is an instance of ``types``
    (``expr.has(*types)`` without walking shared sub-expressions again)."""
    return any(isinstance(node, types) for node in found)


def _is_rational_function(expr: sp.Expr) -> bool:
    try:
        return bool(expr.is_rational_function(*expr.free_symbols))
    except (TypeError, ValueError, NotImplementedError):
        return False


def _attempt(transform, expr: sp.Expr) -> bool:
    try:
        return transform(expr) == 0
    except (sp.PolynomialError, TypeError, ValueError, NotImplementedError, RecursionError):
        return False


def readable(expr: sp.Expr, *, effort: str = "full") -> sp.Expr:
    """A short equivalent form of ``expr`` for display: the fewest operations
    among the expression itself, its common factors pulled out, and (for
    small expressions, unless ``effort="low"``) ``simplify``. Never slow on
    large expressions.

    Examples
    --------
    >>> import sympy as sp
    >>> a, b = sp.symbols("a b")
    >>> readable(a * b**2 / 2 + a * b / 2)
    a*b*(b + 1)/2
    """
    expr = sp.sympify(expr)
    if tree_size(expr, _READABLE_TREE_CAP) > _READABLE_TREE_CAP:
        return _common_factors(expr)  # factor_terms and count_ops walk it all, often
    candidates = [expr, sp.factor_terms(expr)]
    if sp.count_ops(expr) <= _EXPAND_OPS_LIMIT:
        expanded = sp.expand(expr)
        candidates += [sp.factor_terms(expanded)]
        if effort == "full" and sp.count_ops(expanded) <= _SIMPLIFY_OPS_LIMIT:
            try:
                candidates.append(sp.simplify(expr))
            except (TypeError, ValueError, NotImplementedError, RecursionError):
                pass
    return min(candidates, key=sp.count_ops)


def _common_factors(expr: sp.Expr) -> sp.Expr:
    """A large sum with the factors common to its terms pulled out (``gcd_terms`` at the
    top level only; ``factor_terms`` would recurse through every sub-expression)."""
    if not isinstance(expr, sp.Add):
        return expr
    try:
        pulled = sp.gcd_terms(expr, fraction=False)
    except (TypeError, ValueError, NotImplementedError, RecursionError):
        return expr
    return pulled if tree_size(pulled, _OPS_TREE_CAP) < tree_size(expr, _OPS_TREE_CAP) else expr


def _rationalize(expr: sp.Expr, found: set | None = None) -> sp.Expr:
    """Floats → exact rationals (by their 15-digit decimal form), round-off → 0
    (``found``: the distinct nodes of ``expr``, when known)."""
    found = nodes(expr) if found is None else found
    floats = {node for node in found if isinstance(node, sp.Float)}
    if not floats:
        return expr
    return substitute(
        expr,
        {f: sp.S.Zero if _is_round_off(f) else sp.nsimplify(f, rational=True) for f in floats},
    )


def _is_round_off(value: sp.Float) -> bool:
    """The residue of cancelling doubles, such as (0.1 + 0.2) − 0.3 = 2⁻⁵⁴.

    Such a residue is tiny (below 10⁻¹³) *and* a short binary fraction (a few
    significant bits: a difference of nearby doubles), whereas a coefficient a
    user wrote, such as 1e-14, carries a full 53-bit mantissa and is kept.
    """
    if value == 0 or abs(value) >= _ROUND_OFF:
        return value == 0
    bits = value._mpf_[3]
    return bits <= _ROUND_OFF_BITS


def _numerically_zero(
    expr: sp.Expr, *, samples: int, seed: int, plan: BoundaryPlan | None = None
) -> bool:
    """Zero at every random point: the value vanishes or shrinks by ≥ 10⁻¹⁵ when the
    working precision goes from 30 to 60 digits (round-off of an exact zero does,
    a genuine value — however small — does not). With a ``plan``, the random values
    are also drawn at the expression's constant scales, and points on both sides of
    every solved branch boundary are checked too."""
    rng = random.Random(seed)
    concrete = _concretize_functions(expr, rng)
    symbols = sorted(free_symbols(concrete), key=sp.default_sort_key)
    scales = plan.scales if plan is not None else ()
    draw = partial(_random_value, scales=scales)
    if plan is None and is_rational_dag(nodes(concrete)):
        draw = _random_integer  # exact integer arithmetic: small denominators, fast
    evaluated = 0
    for _ in range(5 * samples):
        check()
        if evaluated == samples:
            break
        verdict = _zero_at(concrete, {s: draw(s, rng) for s in symbols})
        if verdict is None:
            continue
        evaluated += 1
        if not verdict:
            return False
    if plan is not None:
        reps = _BOUNDARY_REPS if len(plan.boundaries) <= _MANY_BOUNDARIES else 1
        for point in plan.points(symbols, rng, draw, reps):
            check()
            verdict = _zero_at(concrete, point)
            evaluated += verdict is not None
            if verdict is False:
                return False
    return evaluated > 0


def _zero_at(expr: sp.Expr, point: dict) -> bool | None:
    """Whether ``expr`` vanishes at ``point`` (None: it does not evaluate there)."""
    value = rational_value(expr, point)  # exact, fast, for rational functions
    if value is None:
        try:
            value = substitute(expr, point)
        except (TypeError, ValueError, ZeroDivisionError, RecursionError):
            return None
    if value == 0:
        return True
    coarse = _evaluate(value, _COARSE_DIGITS)
    fine = _evaluate(value, _FINE_DIGITS)
    if coarse is None or fine is None:
        return None
    return bool(_no_digits(fine) or abs(fine) <= _SHRINK * abs(coarse))


def _no_digits(value: sp.Expr) -> bool:
    """Zero, or a value evalf could give no significant bits (a cancellation below
    its accuracy, printed like 0.e-226): an exact zero's round-off."""
    for part in value.as_real_imag():
        if part == 0:
            continue
        if not (isinstance(part, sp.Float) and part._prec < _MIN_BITS):
            return False
    return True


def _concretize_functions(expr: sp.Expr, rng: random.Random) -> sp.Expr:
    """Replace every undefined function f(z₁…z_k) by a random smooth function."""
    applied = [node for node in nodes(expr) if isinstance(node, AppliedUndef)]
    functions = {node.func: len(node.args) for node in applied}
    if not functions:
        return expr
    replacements = {}
    for function, arity in functions.items():
        zs = sp.symbols(f"z0:{arity}", real=True)
        ridges = [_random_linear(zs, rng) for _ in range(arity + 2)]
        # A sum of ridge functions in more directions than arguments: no
        # degenerate Hessian or other accidental identity of one ridge.
        concrete = sp.sin(ridges[0] + 1) + ridges[1] ** 2 / 3 + ridges[1] * ridges[0] ** 3 / 7
        concrete += sum((sp.exp(r / 5) / (k + 2) for k, r in enumerate(ridges[2:])), sp.S.Zero)
        replacements[function] = sp.Lambda(zs, concrete)
    return expr.subs(replacements).doit()


def _random_linear(zs: tuple, rng: random.Random) -> sp.Expr:
    weights = [sp.Rational(rng.randint(-9, 9) or 1, rng.randint(3, 11)) for _ in zs]
    return sum((w * z for w, z in zip(weights, zs, strict=True)), sp.S.Zero)


def _random_value(symbol: sp.Symbol, rng: random.Random, scales: tuple = ()) -> sp.Rational:
    if symbol.is_integer:
        sign = -1 if not symbol.is_nonnegative and rng.random() < 0.5 else 1
        return sp.Integer(sign * rng.randint(1, 10**4))
    denominator = rng.randint(10**6, 10**7)  # no lattice a periodic function could vanish on
    magnitude = sp.Rational(rng.randint(2 * denominator // 10, 22 * denominator // 10), denominator)
    if scales and rng.random() < 0.4:  # at the scale of one of the expression's constants
        magnitude *= rng.choice(scales)
    elif rng.random() < 0.5:  # every other draw spans 10⁻² … 10²: thresholds (ReLU6, x > 3)
        exponent = sp.Rational(rng.randint(-2000, 2000), 1000)  # are visited on both sides
        magnitude = sp.Rational(sp.Float(10) ** exponent).limit_denominator(denominator)
    if symbol.is_nonnegative or symbol.is_positive:
        return magnitude
    if symbol.is_nonpositive or symbol.is_negative:
        return -magnitude
    return magnitude if rng.random() < 0.5 else -magnitude


def _random_integer(symbol: sp.Symbol, rng: random.Random) -> sp.Integer:
    """A random nonzero integer of the symbol's declared sign, up to 10⁶ in size: for a
    rational function a point of a large grid (Schwartz–Zippel) whose exact value keeps
    small denominators."""
    magnitude = rng.randint(1, 10**6)
    if symbol.is_nonnegative or symbol.is_positive:
        return sp.Integer(magnitude)
    if symbol.is_nonpositive or symbol.is_negative:
        return sp.Integer(-magnitude)
    return sp.Integer(magnitude if rng.random() < 0.5 else -magnitude)


def _evaluate(value: sp.Expr, digits: int) -> sp.Expr | None:
    try:
        value = value.evalf(digits)
    except (TypeError, ValueError, ZeroDivisionError, RecursionError):
        return None
    if not value.is_number or value.has(sp.nan, sp.zoo, sp.oo, -sp.oo):
        return None
    if value.has(sp.Heaviside, sp.DiracDelta, sp.Piecewise, sp.Max, sp.Min):
        return None
    return value
