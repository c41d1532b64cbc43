r"""Expressions with branches: what the zero test needs to be sound where a loss branches.

ReLU networks, clipping, absolute values and hand-written piecewise losses make
ψ·∇V a function with branches (``Max``, ``Min``, ``Abs``, ``Heaviside``, ``sign``,
``Piecewise``) and with ``DiracDelta`` terms (the derivative of a step). Random
points see only the branches they fall in: ``Max(0, x − 150)`` is 0 on the whole
box |x| ≤ 100. This module gives :func:`symnoether.core.jet.is_zero` three tools:

* **almost everywhere** (:func:`drop_deltas`): a ``DiracDelta(g)`` vanishes off the
  set g = 0, of measure zero, so the laws are stated almost everywhere and the
  value on a boundary itself (``Heaviside(0)``) does not count;
* **an exact decision** (:func:`decide_exactly`): every branch is folded into one
  ``Piecewise`` (``rewrite(Piecewise)``, ``piecewise_fold``); a piece that is a
  rational function is decided by ``cancel``, and whether its region (its condition
  minus the earlier ones) has interior points is decided exactly, by Fourier–Motzkin
  elimination over strict linear inequalities, when every condition factors into
  linear factors (w₁x > 0 is the orthant pair w₁, x > 0 or w₁, x < 0) or is a
  polynomial in one variable;
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
from .boundaries import BRANCHING, boundaries, pieces

__all__ = ["BRANCHING", "drop_deltas", "as_real", "decide_exactly"]

_FOLD_ATOMS = 6  # most distinct branch atoms folded exactly (2^k pieces at worst)
_FOLD_OPS = 300  # largest expression (count_ops) folded exactly
_RELATIONS = 12  # most relations in one region's condition
_CLAUSES = 256  # most conjunctions of linear inequalities per region
_FORMS = 400  # most inequalities kept during Fourier–Motzkin elimination


def drop_deltas(expr: sp.Expr) -> sp.Expr:
    """``expr`` almost everywhere: every ``DiracDelta(g)`` (and its derivatives) → 0.

    Sound when each g vanishes on a set of measure zero only; a g that itself
    branches (``DiracDelta(Max(0, w))`` is infinite on all of w ≤ 0) is refused.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x", real=True)
    >>> drop_deltas(x * sp.DiracDelta(x) + sp.Heaviside(x))
    Heaviside(x)
    """
    deltas = expr.atoms(sp.DiracDelta)
    if not deltas:
        return expr
    for delta in deltas:
        argument = delta.args[0]
        if argument.has(*BRANCHING, sp.DiracDelta) or sp.expand(argument) == 0:
            raise NotSupportedError(
                f"{delta} has an argument that vanishes on a set of positive measure, so "
                "the law would not hold almost everywhere; write the loss without a step "
                "of a branching (or identically zero) expression"
            )
    return expr.xreplace({delta: sp.S.Zero for delta in deltas})


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


def decide_exactly(
    expr: sp.Expr, piece_is_zero: Callable[[sp.Expr], bool] | None = None
) -> bool | None:
    """Whether ``expr`` is zero almost everywhere, decided exactly; None when it cannot be.

    Folds the branches into ``Piecewise`` and decides each piece under its
    condition. A piece that is a rational function is zero (``cancel``) or nonzero
    off a set of measure zero; when its region has interior points the whole
    expression is then not zero. ``piece_is_zero`` (a zero test for branch-free
    expressions) may prove other pieces zero everywhere; a True from it is trusted,
    a False leaves the piece undecided. Integer symbols (no notion of interior)
    and conditions that are neither linear after factoring nor in one variable
    give None.

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
    if not atoms:
        return None
    if len(atoms) > _FOLD_ATOMS or sp.count_ops(expr) > _FOLD_OPS:
        return None
    if any(s.is_integer or not s.is_real for s in symbols):
        return None
    if not _foldable(expr, atoms, tuple(symbols)):
        return None
    try:
        folded = sp.piecewise_fold(expr.rewrite(sp.Piecewise))
    except (TypeError, ValueError, NotImplementedError, RecursionError):
        return None
    if not isinstance(folded, sp.Piecewise):
        return None if folded.has(*BRANCHING) else _rational_zero(folded, symbols)
    signs = _assumed_signs(symbols)
    earlier: list = []
    undecided = False
    for piece, condition in folded.args:
        region = sp.And(condition, *[sp.Not(c) for c in earlier])
        earlier.append(condition)
        zero = _piece_zero(piece, symbols, piece_is_zero)
        if zero is True:
            continue
        interior = _has_interior(region, symbols, signs)
        if interior is False:
            continue
        if zero is False and interior is True:
            return False
        undecided = True
    return None if undecided else True


def _foldable(expr: sp.Expr, atoms: set, symbols: tuple) -> bool:
    """Cheap pre-check that folding can decide: the pieces are rational functions and
    every boundary factors into linear factors or polynomials in one variable."""
    stand_ins = {atom: sp.Dummy() for atom in atoms}
    variables = [*symbols, *stand_ins.values()]
    candidates = [expr, *(p for atom in atoms for p in pieces(atom))]
    for candidate in candidates:
        if not sp.sympify(candidate).xreplace(stand_ins).is_rational_function(*variables):
            return False
    return all(_decidable(g, symbols) for g in boundaries(expr))


@lru_cache(maxsize=4096)
def _decidable(g: sp.Expr, symbols: tuple) -> bool:
    try:
        if not g.is_polynomial(*symbols):
            return False
        _, pairs = sp.factor_list(g, *symbols)
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return False
    for factor, _ in pairs:
        if len(factor.free_symbols) > 1 and sp.Poly(factor, *symbols).total_degree() > 1:
            return False
    return True


def _piece_zero(piece: sp.Expr, symbols: list, piece_is_zero) -> bool | None:
    if piece == 0:
        return True
    if piece.has(*BRANCHING, sp.Piecewise):
        return None
    decided = _rational_zero(piece, symbols)
    if decided is not None:
        return decided
    if piece_is_zero is not None and piece_is_zero(piece):
        return True
    return None


def _rational_zero(expr: sp.Expr, symbols: list) -> bool | None:
    try:
        if not expr.is_rational_function(*symbols) or sp.count_ops(expr) > _FOLD_OPS:
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


def _has_interior(region: sp.Basic, symbols: list, signs: list) -> bool | None:
    """Whether the set where ``region`` holds has interior points (None: undecided)."""
    if region in (sp.true, sp.false):
        return region is sp.true
    if len(region.atoms(Relational)) > _RELATIONS:
        return None
    clauses = _dnf(sp.to_nnf(region, simplify=False))
    if clauses is None:
        return None
    undecided = False
    for literals in clauses:
        options = _clause_options(literals, symbols)
        if options is None:
            undecided = True
            continue
        for forms in options:
            feasible = _strictly_feasible([*signs, *forms], symbols)
            if feasible is True:
                return True
            undecided |= feasible is None
    return None if undecided else False


def _dnf(condition: sp.Basic) -> list | None:
    """A negation-normal-form condition as a list of conjunctions (tuples of literals),
    those holding on a set of measure zero only (an equation) left out; None when
    there would be more than a few hundred."""
    if isinstance(condition, sp.Or):
        clauses: list = []
        for part in condition.args:
            more = _dnf(part)
            if more is None:
                return None
            clauses += more
            if len(clauses) > _CLAUSES:
                return None
        return clauses
    if isinstance(condition, sp.And):
        clauses = [()]
        for part in condition.args:
            more = _dnf(part)
            if more is None:
                return None
            clauses = [a + b for a in clauses for b in more]
            if len(clauses) > _CLAUSES:
                return None
        return clauses
    if condition is sp.false or isinstance(condition, sp.Eq):
        return []
    return [(condition,)]


def _clause_options(literals: tuple, symbols: list) -> list | None:
    """A conjunction of literals as a list of alternatives, each a list of strict
    linear forms (Σ aᵥv + c > 0): the interior of the clause is their union."""
    alternatives: list = [[]]
    for literal in literals:
        if literal is sp.true:
            continue
        if literal is sp.false or isinstance(literal, sp.Eq):
            return []  # empty, or a set of measure zero
        if isinstance(literal, sp.Ne):
            continue  # removes a set of measure zero
        if not isinstance(literal, sp.Rel):
            return None
        if isinstance(literal, sp.StrictGreaterThan | sp.GreaterThan):
            positive = literal.lhs - literal.rhs
        else:
            positive = literal.rhs - literal.lhs
        choices = _positive_set(positive, symbols)
        if choices is None:
            return None
        alternatives = [a + c for a in alternatives for c in choices]
        if len(alternatives) > _CLAUSES:
            return None
    return alternatives


def _positive_set(f: sp.Expr, symbols: list) -> list | None:
    return _positive_set_cached(f, tuple(symbols))


@lru_cache(maxsize=4096)
def _positive_set_cached(f: sp.Expr, symbols: tuple) -> list | None:
    """The interior of {f > 0} as alternatives of conjunctions of linear forms, when
    every factor of odd multiplicity of f's numerator and denominator is linear or
    a polynomial in one variable; None otherwise."""
    try:
        numerator, denominator = sp.fraction(sp.together(f))
        factors = []
        constant = sp.S.One
        for part in (numerator, denominator):
            if not part.is_polynomial(*symbols):
                return None
            c, pairs = sp.factor_list(part, *symbols) if part.free_symbols else (part, [])
            constant *= c
            factors += [p for p, multiplicity in pairs if multiplicity % 2 == 1]
    except (TypeError, ValueError, NotImplementedError, sp.PolynomialError):
        return None
    sign = _sign(constant)
    if sign is None:
        return None
    if sign == 0:
        return []
    per_factor = []
    for factor in factors:
        sides = _factor_sides(factor, symbols)
        if sides is None:
            return None
        per_factor.append(sides)
    result = []
    for pattern in itertools.product((1, -1), repeat=len(per_factor)):
        if sign * sp.prod(pattern) < 0:
            continue
        parts = [sides[0 if s > 0 else 1] for s, sides in zip(pattern, per_factor, strict=True)]
        for combination in itertools.product(*parts):
            result.append([form for conjunction in combination for form in conjunction])
            if len(result) > _CLAUSES:
                return None
    return result


def _factor_sides(factor: sp.Expr, symbols: list) -> tuple | None:
    """(where factor > 0, where factor < 0), each a list of conjunctions of linear forms."""
    linear = _linear_form(factor, symbols)
    if linear is not None:
        coefficients, constant = linear
        negated = {v: -a for v, a in coefficients.items()}
        return [[linear]], [[(negated, -constant)]]
    free = factor.free_symbols
    if len(free) != 1:
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
