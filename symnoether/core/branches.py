r"""Expressions with branches: what the zero test needs to be sound where a loss branches.

ReLU networks, clipping, absolute values and hand-written piecewise losses make
ψ·∇V a function with branches (``Max``, ``Min``, ``Abs``, ``Heaviside``, ``sign``,
``Piecewise``) and with ``DiracDelta`` terms (the derivative of a step). Random
points see only the branches they fall in: ``Max(0, x − 150)`` is 0 on the whole
box |x| ≤ 100. This module gives :func:`symnoether.core.jet.is_zero` three tools:

* **almost everywhere**: the value on a boundary itself (``Heaviside(0)``) does not
  count, and a ``DiracDelta(g)`` vanishes off the set g = 0, of measure zero. Deciding
  whether an expression is zero, it counts as a distribution (:func:`without_deltas`):
  c·DiracDelta(g) is zero when its weight c vanishes on g = 0 (the ReLU identity
  x·DiracDelta(x) = 0), not zero otherwise (a jump of the function differentiated);
* **an exact decision** (:func:`decide_exactly`): the boundaries of the branches,
  factored (w₁x = 0 is w₁ = 0 or x = 0), cut the space into open cells; in each
  cell every branch takes one piece, so a branchy expression whose pieces are
  rational functions is one rational function there, decided by ``cancel``. Which
  cells are non-empty is decided exactly by Fourier–Motzkin elimination over strict
  linear inequalities, when every boundary factor is linear or a polynomial in one
  variable (the folding of ``Max``/``Min``/``Abs``/``Heaviside``/``sign``/``Piecewise``
  into one ``Piecewise``, with each piece decided under its condition, without
  SymPy's ``piecewise_fold``, whose conditions grow too fast);
* **boundary-aware sample points** (:class:`~symnoether.core.boundaries.BoundaryPlan`,
  for when no exact decision applies): each boundary g = 0 of a branch
  (w₁ − 150 = 0), solved for one of its variables, gives points on both sides of it
  and close to it; the other values are drawn at the scales of the expression's own
  constants (150, 10⁻⁶), not in a fixed box.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y", real=True)
>>> decide_exactly(sp.Max(0, x - 150))                  # 0 for x < 150 only
False
>>> decide_exactly(sp.Max(0, x * y) - sp.Heaviside(x * y) * x * y)
True
>>> decide_exactly(sp.Min(sp.Max(0, x * y), 6) - sp.Max(0, x * y)) is None   # x·y = 6
True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from functools import lru_cache

import sympy as sp
from sympy.core.relational import Relational

from ..errors import NotSupportedError
from .boundaries import (
    BRANCHING,
    boundaries,
    normal_factor,
    pieces,
    solve_for,
    surface_factors,
)

__all__ = ["BRANCHING", "without_deltas", "as_real", "decide_exactly"]

_OPS = 300  # largest expression (count_ops) decided exactly
_FACTORS = 8  # most boundary factors (cells: at most 2⁸ sign choices)
_CELLS = 256  # most cells visited
_FORMS = 400  # most inequalities kept during Fourier–Motzkin elimination


def without_deltas(expr: sp.Expr, is_zero: Callable[[sp.Expr], bool]) -> sp.Expr | None:
    """``expr`` with its ``DiracDelta`` terms removed when they vanish as distributions;
    None when one does not (then ``expr`` is not zero).

    A term c·DiracDelta(g) is zero when its weight c vanishes on the set g = 0
    (x·DiracDelta(x) = 0, the ReLU identity), decided by ``is_zero`` on each piece
    of that set (g's factors, each solved for one of its variables). A weight that
    does not vanish there is a jump of the function differentiated
    (DiracDelta(w − 150), from Heaviside(w − 150)): the expression is not zero.
    Derivatives of DiracDelta must have a weight that is zero everywhere, and
    products of DiracDelta terms, or a DiracDelta of a branching expression, are
    refused (:class:`NotSupportedError`).

    Examples
    --------
    >>> import sympy as sp
    >>> from symnoether.core.jet import is_zero
    >>> w, x = sp.symbols("w x", real=True)
    >>> without_deltas(w * x**2 * sp.DiracDelta(w * x) + sp.Max(0, x), is_zero)
    Max(0, x)
    >>> without_deltas(sp.DiracDelta(w - 150), is_zero) is None       # a jump at w = 150
    True
    """
    deltas = sorted(expr.atoms(sp.DiracDelta), key=sp.default_sort_key)
    if not deltas:
        return expr
    stand_ins = {delta: sp.Dummy("delta") for delta in deltas}
    linear = expr.xreplace(stand_ins)
    for delta, symbol in stand_ins.items():
        argument = delta.args[0]
        if argument.has(*BRANCHING, sp.DiracDelta) or sp.expand(argument) == 0:
            raise NotSupportedError(
                f"{_short(delta)} has an argument that vanishes on a set of positive "
                "measure (or branches); write the loss without a step of a branching "
                "or identically zero expression"
            )
        weight = sp.diff(linear, symbol)
        if weight.has(*stand_ins.values()):
            raise NotSupportedError(
                f"{_short(expr)} multiplies {_short(delta)} by another DiracDelta (or "
                "takes a function of it), which is not a distribution; rewrite the loss "
                "so that each step appears once in a product"
            )
        if weight == 0:
            continue
        order = delta.args[1] if len(delta.args) > 1 else 0
        if order != 0:
            if is_zero(weight):
                continue
            raise NotSupportedError(
                f"{_short(expr)} has a derivative of a DiracDelta, {_short(delta)}, with "
                "a nonzero weight; symnoether decides first derivatives of steps only"
            )
        if not all(_vanishes_on(weight, piece, is_zero) for piece in surface_factors(argument)):
            return None
    return linear.xreplace(dict.fromkeys(stand_ins.values(), sp.S.Zero))


def _vanishes_on(weight: sp.Expr, piece: sp.Expr, is_zero) -> bool:
    """Whether ``weight`` is zero (almost everywhere) on the set ``piece`` = 0."""
    for v in sorted(piece.free_symbols, key=sp.default_sort_key):
        roots = solve_for(piece, v)
        restricted = [weight.subs(v, root) for root in roots]
        if roots and not any(r.has(sp.nan, sp.zoo, sp.oo, -sp.oo) for r in restricted):
            return all(is_zero(r) for r in restricted)
    raise NotSupportedError(
        f"cannot decide whether {_short(weight)}·DiracDelta({_short(piece)}) vanishes: "
        f"{_short(piece)} = 0 can be solved for none of its variables; write that step "
        "with a condition linear in one symbol (or polynomial of degree ≤ 2 in it)"
    )


def _short(expr: object, limit: int = 80) -> str:
    text = sp.sstr(expr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def as_real(expr: sp.Expr) -> sp.Expr:
    """Symbols of unknown realness replaced by real ones (same name and sign facts),
    so that ``Abs`` and ``sign`` fold into ``Piecewise`` (the engine's symbols are real)."""
    mapping = {}
    for s in expr.free_symbols:
        if s.is_real is None and isinstance(s, sp.Symbol):
            facts = {k: v for k, v in s.assumptions0.items() if v is not None and k in _SIGNS}
            try:
                mapping[s] = sp.Dummy(s.name, real=True, **facts)
            except (ValueError, TypeError):  # pragma: no cover - inconsistent facts
                continue
    return expr.xreplace(mapping) if mapping else expr


_SIGNS = ("positive", "negative", "nonnegative", "nonpositive", "nonzero", "integer")


# -- the exact decision ------------------------------------------------------------------


def decide_exactly(expr: sp.Expr) -> bool | None:
    """Whether ``expr`` is zero almost everywhere, decided exactly; None when it cannot be.

    The boundaries of the branches (each factored: w₁x = 0 is w₁ = 0 or x = 0) cut
    the space into open cells, one per consistent choice of a sign for every factor
    (Fourier–Motzkin elimination over strict linear inequalities; a factor that is
    a polynomial in one variable contributes the intervals between its real roots).
    In a cell every branch takes one piece (``Max`` its largest argument, a
    ``Piecewise`` its first true condition, ...), so ``expr`` is one rational
    function there, decided by ``cancel``: zero in every cell means zero almost
    everywhere, nonzero in a cell (which is open, so of positive measure) means not
    zero. None when a piece is not a rational function, a boundary factor is
    neither linear nor in one variable (x·y = 6), a symbol is an integer, or there
    are too many cells.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> decide_exactly(sp.Min(x, 200) - x), decide_exactly(sp.Abs(x) - sp.Max(x, -x))
    (False, True)
    >>> decide_exactly(sp.Max(0, sp.sin(x))) is None          # condition sin(x) ≥ 0
    True
    """
    atoms = expr.atoms(*BRANCHING)
    symbols = sorted(expr.free_symbols, key=sp.default_sort_key)
    if not atoms or sp.count_ops(expr) > _OPS:
        return None
    if any(s.is_integer or not s.is_real for s in symbols):
        return None
    if not _pieces_rational(expr, atoms, symbols):
        return None
    factors = boundaries(expr)
    if len(factors) > _FACTORS:
        return None
    choices = []
    for factor in factors:
        sides = _factor_sides(factor, symbols)
        if sides is None:
            return None
        choices.append([(1, forms) for forms in sides[0]] + [(-1, forms) for forms in sides[1]])
    undecided, cells = False, 0
    stack = [(0, _assumed_signs(symbols), {})]
    while stack:
        depth, forms, signs = stack.pop()
        if depth == len(factors):
            cells += 1
            value = _in_cell(expr, signs)
            zero = None if value is None else _rational_zero(value, symbols)
            if zero is False:
                return False
            undecided |= zero is None
            if cells > _CELLS:
                return None
            continue
        for sign, more in choices[depth]:
            feasible = _strictly_feasible([*forms, *more], symbols)
            if feasible is None:
                return None
            if feasible:
                stack.append((depth + 1, [*forms, *more], {**signs, factors[depth]: sign}))
    return None if undecided else True


def _pieces_rational(expr: sp.Expr, atoms: set, symbols: list) -> bool:
    """Whether ``expr`` and every piece of every branch are rational functions."""
    stand_ins = {atom: sp.Dummy() for atom in atoms}
    variables = [*symbols, *stand_ins.values()]
    candidates = [expr, *(p for atom in atoms for p in pieces(atom))]
    try:
        return all(
            sp.sympify(c).xreplace(stand_ins).is_rational_function(*variables) for c in candidates
        )
    except (TypeError, ValueError, NotImplementedError):  # pragma: no cover - defensive
        return False


def _in_cell(expr: sp.Expr, signs: dict) -> sp.Expr | None:
    """``expr`` with every branch replaced by the piece it takes where each boundary
    factor has the sign ``signs`` gives it (innermost branches first)."""
    current = expr
    while True:
        innermost = [
            a for a in current.atoms(*BRANCHING) if not any(arg.has(*BRANCHING) for arg in a.args)
        ]
        if not innermost:
            return current
        replacement = {}
        for atom in innermost:
            piece = _piece_taken(atom, signs)
            if piece is None:
                return None
            replacement[atom] = piece
        current = current.xreplace(replacement)


def _piece_taken(atom: sp.Basic, signs: dict) -> sp.Expr | None:
    if isinstance(atom, sp.Max | sp.Min):
        wanted = 1 if isinstance(atom, sp.Max) else -1
        for a in atom.args:
            differences = [_sign_in(a - b, signs) for b in atom.args if b is not a]
            if None in differences:
                return None
            if all(d * wanted >= 0 for d in differences):
                return a
        return None
    if isinstance(atom, sp.Piecewise):
        for piece, condition in atom.args:
            truth = _truth(condition, signs)
            if truth is None:
                return None
            if truth:
                return piece
        return None
    sign = _sign_in(atom.args[0], signs)
    if sign is None or sign == 0:
        return None
    if isinstance(atom, sp.Abs):
        return atom.args[0] * sign
    if isinstance(atom, sp.sign):
        return sp.Integer(sign)
    return sp.S.One if sign > 0 else sp.S.Zero  # Heaviside


def _truth(condition: sp.Basic, signs: dict) -> bool | None:
    if condition in (sp.true, sp.false):
        return condition is sp.true
    if isinstance(condition, sp.And | sp.Or):
        values = [_truth(c, signs) for c in condition.args]
        if isinstance(condition, sp.And):
            return False if False in values else None if None in values else True
        return True if True in values else None if None in values else False
    if isinstance(condition, sp.Not):
        value = _truth(condition.args[0], signs)
        return None if value is None else not value
    if not isinstance(condition, Relational):
        return None
    sign = _sign_in(condition.lhs - condition.rhs, signs)
    if sign is None:
        return None
    return {
        sp.Eq: sign == 0, sp.Ne: sign != 0, sp.StrictGreaterThan: sign > 0,
        sp.GreaterThan: sign >= 0, sp.StrictLessThan: sign < 0, sp.LessThan: sign <= 0,
    }.get(type(condition))  # fmt: skip


def _sign_in(g: sp.Expr, signs: dict) -> int | None:
    """The sign of ``g`` in a cell (0 when g is identically 0), from its factors."""
    factored = _factorization(sp.sympify(g))
    if factored is None:
        return None
    constant, factors = factored
    sign = _sign(constant)
    for factor, multiplicity in factors:
        if factor not in signs:
            return None
        sign *= signs[factor] ** multiplicity
    return sign


@lru_cache(maxsize=8192)
def _factorization(g: sp.Expr) -> tuple | None:
    """(constant, ((factor, multiplicity), ...)) with the factors normalized as
    :func:`~symnoether.core.boundaries.surface_factors` gives them; None if unknown."""
    try:
        numerator, denominator = sp.fraction(sp.together(g))
        constant, factors = sp.S.One, []
        for part in (numerator, denominator):
            if not part.free_symbols:
                constant *= part
                continue
            c, pairs = sp.factor_list(part)
            constant *= c
            for factor, multiplicity in pairs:
                if factor.could_extract_minus_sign():
                    factor, constant = -factor, constant * (-1) ** multiplicity
                factors.append((normal_factor(factor), multiplicity))
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return None
    if _sign(constant) is None:
        return None
    return constant, tuple(factors)


def _rational_zero(expr: sp.Expr, symbols: list) -> bool | None:
    try:
        if not expr.is_rational_function(*symbols) or sp.count_ops(expr) > _OPS:
            return None
        return sp.cancel(sp.together(expr)) == 0
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return None


def _assumed_signs(symbols: list) -> list:
    """Linear forms (v > 0 or −v > 0) of the symbols' sign assumptions (interiors)."""
    forms = []
    for s in symbols:
        if s.is_positive or s.is_nonnegative:
            forms.append(({s: sp.S.One}, sp.S.Zero))
        elif s.is_negative or s.is_nonpositive:
            forms.append(({s: sp.S.NegativeOne}, sp.S.Zero))
    return forms


def _factor_sides(factor: sp.Expr, symbols: list) -> tuple | None:
    """(where factor > 0, where factor < 0), each a list of conjunctions of linear forms."""
    linear = _linear_form(factor, symbols)
    if linear is not None:
        coefficients, constant = linear
        negated = {v: -a for v, a in coefficients.items()}
        return [[linear]], [[(negated, -constant)]]
    free = factor.free_symbols
    if len(free) != 1 or not factor.is_polynomial(*free):
        return None
    (v,) = free
    try:
        roots = sorted(set(sp.Poly(factor, v).real_roots()), key=lambda r: sp.N(r, 50))
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return None
    cuts = [None, *roots, None]
    positive, negative = [], []
    for low, high in itertools.pairwise(cuts):
        interval = []
        if low is not None:
            interval.append(({v: sp.S.One}, -low))
        if high is not None:
            interval.append(({v: sp.S.NegativeOne}, high))
        probe = _inside(low, high)
        value = _sign(factor.subs(v, probe))
        if value is None:
            return None
        (positive if value > 0 else negative).append(interval)
    return positive, negative


def _inside(low, high) -> sp.Expr:
    if low is None and high is None:
        return sp.S.Zero
    if low is None:
        return high - 1
    if high is None:
        return low + 1
    return (low + high) / 2


def _linear_form(f: sp.Expr, symbols: list) -> tuple | None:
    try:
        poly = sp.Poly(f, *symbols)
    except (sp.PolynomialError, sp.GeneratorsNeeded):
        return None
    if poly.total_degree() > 1:
        return None
    coefficients = {}
    for s in symbols:
        a = poly.coeff_monomial(s)
        if a != 0:
            coefficients[s] = sp.nsimplify(a) if a.is_Float else a
    return coefficients, poly.coeff_monomial(1)


def _sign(value: sp.Expr) -> int | None:
    """Exact sign of a real number (None when it cannot be decided)."""
    value = sp.sympify(value)
    if value.is_zero:
        return 0
    if value.is_positive:
        return 1
    if value.is_negative:
        return -1
    return None


def _strictly_feasible(forms: list, symbols: list) -> bool | None:
    """Whether Σ aᵥv + c > 0 for every form has a solution: Fourier–Motzkin
    elimination, exact for strict inequalities (∃v: Lᵢ < v < Uⱼ ⇔ every Lᵢ < Uⱼ)."""
    forms = _unique(forms)
    for v in symbols:
        upper, lower, rest = [], [], []
        for coefficients, constant in forms:
            a = coefficients.get(v, sp.S.Zero)
            sign = _sign(a)
            if sign is None:
                return None
            (rest if sign == 0 else lower if sign > 0 else upper).append((coefficients, constant))
        if not upper or not lower:
            forms = rest  # v large enough (or small enough) satisfies all of them
            continue
        for (ca, ka), (cb, kb) in itertools.product(lower, upper):
            a, b = ca[v], -cb[v]  # both positive
            combined = {}
            for s in set(ca) | set(cb):
                value = b * ca.get(s, sp.S.Zero) + a * cb.get(s, sp.S.Zero)
                if s != v and value != 0:
                    combined[s] = value
            rest.append((combined, b * ka + a * kb))
        forms = _unique(rest)
        if len(forms) > _FORMS:
            return None
    for _, constant in forms:
        sign = _sign(constant)
        if sign is None:
            return None
        if sign <= 0:
            return False
    return True


def _unique(forms: list) -> list:
    """Forms scaled by a positive number (the first coefficient's size) and deduplicated."""
    seen = {}
    for coefficients, constant in forms:
        if coefficients:
            key_symbol = min(coefficients, key=sp.default_sort_key)
            scale = abs(coefficients[key_symbol])
            coefficients = {s: a / scale for s, a in coefficients.items()}
            constant = constant / scale
        key = (tuple(sorted(coefficients.items(), key=lambda kv: sp.default_sort_key(kv[0]))),)
        key += (constant,)
        seen.setdefault(key, (coefficients, constant))
    return list(seen.values())
