"""Calculus on SymPy expressions as DAGs: each shared sub-expression visited once.

SymPy's own tree walks (``diff``, ``xreplace``, ``free_symbols``, ``atoms``, ``has``)
visit a sub-expression again wherever it occurs. The losses of element-wise networks
share a lot: the residual eᵢ = yᵢ − Σⱼ(W₂W₁)ᵢⱼxⱼ of a two-layer network occurs in
every entry of the gradient, so a walk of the gradient costs a factor of the width
more than its distinct nodes. Here every walk keeps a memo:

* :func:`gradient` — ∂f/∂s for many symbols s in one reverse pass (reverse-mode
  differentiation), with SymPy's own ``diff`` for every node it has no rule for;
* :func:`substitute` — ``xreplace`` with a memo;
* :func:`nodes` — the distinct sub-expressions; :func:`tree_size` — the size of
  the tree SymPy's walks see, counted up to a cap.

The results are the expressions SymPy builds from the same operations (``Add``,
``Mul``, ``Pow`` and each function's ``fdiff``), so they are equal to SymPy's,
though not always written the same way.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> gradient((x * y - 1) ** 2 / 2, [x, y])
[y*(x*y - 1), x*(x*y - 1)]
>>> substitute(sp.sin(x) + x * y, {x: 0})
0
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

import sympy as sp
from sympy.core.function import Function

__all__ = [
    "derivatives",
    "gradient",
    "substitute",
    "rational_value",
    "is_rational_dag",
    "nodes",
    "tree_size",
    "free_symbols",
]

_BOUND = (sp.Lambda, sp.Integral, sp.Sum, sp.Product, sp.Derivative, sp.Subs)
"""Node types with bound variables: their Symbols are not all free."""
_SYMPY_DIFF_WORK = 64  # tree size × symbols below which SymPy's diff is used as is


def nodes(expr: sp.Basic) -> set:
    """The distinct sub-expressions of ``expr`` (itself included), each visited once.

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> sorted(map(str, nodes(sp.sin(x) ** 2 + sp.sin(x))))
    ['2', 'sin(x)', 'sin(x)**2', 'sin(x)**2 + sin(x)', 'x']
    """
    seen = {expr}
    stack = [expr]
    while stack:
        node = stack.pop()
        for arg in node.args:
            if arg not in seen:
                seen.add(arg)
                stack.append(arg)
    return seen


def free_symbols(expr: sp.Basic, found: set | None = None) -> set:
    """``expr.free_symbols``, each shared sub-expression visited once (``found``: its
    :func:`nodes`, when already computed).

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> sorted(free_symbols(sp.exp(x) * y), key=str)
    [x, y]
    """
    found = nodes(expr) if found is None else found
    if any(isinstance(node, _BOUND) for node in found):
        return set(expr.free_symbols)
    return {node for node in found if node.is_Symbol}


def tree_size(expr: sp.Basic, cap: int) -> int:
    """The number of nodes of ``expr`` as a tree (repeated sub-expressions counted each
    time, as SymPy's walks meet them), counting stops past ``cap``.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> tree_size(x * y + x, 100), tree_size(x * y + x, 2)
    (5, 3)
    """
    count = 0
    stack = [expr]
    while stack and count <= cap:
        node = stack.pop()
        count += 1
        stack.extend(node.args)
    return count


def substitute(expr: sp.Basic, mapping: Mapping, *, memo: dict | None = None) -> sp.Basic:
    """``expr.xreplace(mapping)``, rebuilding each distinct sub-expression once
    (``memo``: a dict holding ``mapping``, shared between calls with that mapping, so
    that sub-expressions common to several expressions are rebuilt once in all).

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> substitute((x + y) ** 2 + (x + y), {x: 1, y: 2})
    12
    """
    memo = dict(mapping) if memo is None else memo
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if not node.args:
            memo[node] = node
            continue
        if ready:
            args = [memo[a] for a in node.args]
            changed = any(new is not old for new, old in zip(args, node.args, strict=True))
            memo[node] = node.func(*args) if changed else node
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in memo)
    return memo[expr]


def derivatives(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """[∂expr/∂s for s in symbols]: SymPy's ``diff`` for small work, else one reverse
    pass over the expression's distinct nodes (:func:`gradient`;
    equal results, written alike or nearly so), which costs the expression's size once
    instead of once per symbol.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> derivatives(x**2 * y, [x, y])
    [2*x*y, x**2]
    """
    symbols = list(symbols)
    if tree_size(expr, _SYMPY_DIFF_WORK) * len(symbols) <= _SYMPY_DIFF_WORK:
        return [sp.diff(expr, s) for s in symbols]
    return gradient(expr, symbols)


class _NotRational(Exception):
    """A node outside the rational operations (a function, a float, a symbolic power)."""


def rational_value(expr: sp.Expr, point: Mapping) -> sp.Rational | None:
    """The exact value of a rational function ``expr`` at a rational ``point`` (every free
    symbol given), in Python integer arithmetic with a memo; None when ``expr`` holds
    anything else (functions, floats, non-integer powers) or divides by zero there.

    The same number as ``expr.xreplace(point)``, at a fraction of the cost: SymPy builds
    a number object for every node, this works on Python fractions.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> rational_value((x + y) ** 2 / (2 * x), {x: sp.Rational(1, 3), y: 2})
    49/6
    >>> rational_value(sp.sin(x), {x: 1}) is None
    True
    """
    try:
        memo = {key: _as_fraction(value) for key, value in point.items()}
        return sp.Rational(_fraction(expr, memo))
    except (_NotRational, ZeroDivisionError, KeyError):
        return None


def _as_fraction(value: object) -> Fraction:
    value = sp.sympify(value)
    if not value.is_Rational:
        raise _NotRational(value)
    return Fraction(int(value.p), int(value.q))


def is_rational_dag(found: Iterable) -> bool:
    """Whether the nodes ``found`` (:func:`nodes`) make a rational function of their
    Symbols: sums, products, integer powers, rational numbers (what
    :func:`rational_value` evaluates).

    Examples
    --------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> is_rational_dag(nodes(1 / (x + 1) ** 2)), is_rational_dag(nodes(sp.sqrt(x)))
    (True, False)
    """
    for node in found:
        if node.is_Symbol or node.is_Rational or isinstance(node, sp.Add | sp.Mul):
            continue
        if isinstance(node, sp.Pow) and node.exp.is_Integer:
            continue
        return False
    return True


def _fraction(expr: sp.Expr, memo: dict) -> Fraction:
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if node.is_Rational:
            memo[node] = Fraction(int(node.p), int(node.q))
            continue
        if not isinstance(node, sp.Add | sp.Mul | sp.Pow):
            raise _NotRational(node)
        if isinstance(node, sp.Pow) and not node.exp.is_Integer:
            raise _NotRational(node)
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in memo)
            continue
        if isinstance(node, sp.Add):
            memo[node] = sum((memo[a] for a in node.args), Fraction(0))
        elif isinstance(node, sp.Mul):
            value = Fraction(1)
            for a in node.args:
                value *= memo[a]
            memo[node] = value
        else:
            memo[node] = memo[node.base] ** int(node.exp)
    return memo[expr]


def gradient(expr: sp.Expr, symbols: Sequence[sp.Symbol]) -> list[sp.Expr]:
    """[∂expr/∂s for s in symbols], by one reverse pass over the distinct nodes.

    Sums, products and powers are differentiated here (the chain rule along the DAG),
    functions whose derivative is their ``fdiff`` by the chain rule, and every other
    node (``Abs``, ``Max``, ``Piecewise``, ...) by SymPy's ``diff`` of that node. The
    cost is that of the expression's distinct nodes, not of its tree times the number
    of symbols.

    Examples
    --------
    >>> import sympy as sp
    >>> x, y = sp.symbols("x y")
    >>> gradient(sp.exp(x * y) + sp.Max(x, 0), [x, y])
    [y*exp(x*y) + Heaviside(x), x*exp(x*y)]
    """
    targets = set(symbols)
    order = _dependent_nodes(expr, targets)
    if not order:
        return [sp.S.Zero for _ in symbols]
    adjoints: dict = {expr: [sp.S.One]}
    found: dict = {}
    for node in reversed(order):  # parents before children
        parts = adjoints.pop(node, None)
        if not parts:
            continue
        adjoint = sp.Add(*parts)
        if node in targets:
            found.setdefault(node, []).append(adjoint)
            continue
        for child, local in _local_derivatives(node, targets, order):
            if child is None:  # an opaque node: local holds (symbol, ∂node/∂symbol) pairs
                for symbol, derivative in local:
                    found.setdefault(symbol, []).append(adjoint * derivative)
            else:
                adjoints.setdefault(child, []).append(adjoint * local)
    return [sp.Add(*found[s]) if s in found else sp.S.Zero for s in symbols]


def _dependent_nodes(expr: sp.Expr, targets: set) -> dict:
    """The nodes that depend on ``targets``, in post-order (children first), as a dict
    (ordered, with O(1) membership); opaque nodes are not entered."""
    depends: dict = {}
    verdict: dict = {}
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in verdict:
            continue
        if node in targets:
            verdict[node] = True
            depends[node] = None
            continue
        if not node.args:
            verdict[node] = False
            continue
        if not _structural(node):
            hit = bool(free_symbols(node) & targets)
            verdict[node] = hit
            if hit:
                depends[node] = None
            continue
        if ready:
            hit = any(verdict[a] for a in node.args)
            verdict[node] = hit
            if hit:
                depends[node] = None
            continue
        stack.append((node, True))
        stack.extend((a, False) for a in node.args if a not in verdict)
    return depends


def _structural(node: sp.Basic) -> bool:
    """Nodes differentiated here: sums, products, powers, and functions whose
    derivative is the chain rule through ``fdiff`` (no override of ``_eval_derivative``)."""
    if isinstance(node, sp.Add | sp.Mul | sp.Pow):
        return True
    return isinstance(node, Function) and type(node)._eval_derivative is Function._eval_derivative


def _local_derivatives(node: sp.Expr, targets: set, depends: dict) -> Iterable[tuple]:
    """(child, ∂node/∂child) for the children of ``node`` that depend on the targets;
    for an opaque node, (None, [(symbol, ∂node/∂symbol), ...])."""
    if not _structural(node):
        symbols = sorted(free_symbols(node) & targets, key=sp.default_sort_key)
        yield None, [(s, sp.diff(node, s)) for s in symbols]
        return
    args = node.args
    if isinstance(node, sp.Add):
        for arg in args:
            if arg in depends:
                yield arg, sp.S.One
    elif isinstance(node, sp.Mul):
        for i, arg in enumerate(args):
            if arg in depends:
                yield arg, sp.Mul(*args[:i], *args[i + 1 :])
    elif isinstance(node, sp.Pow):
        base, exponent = args
        if base in depends:
            yield base, node * exponent / base  # SymPy's own form
        if exponent in depends:
            yield exponent, node * sp.log(base)
    else:
        for i, arg in enumerate(args):
            if arg in depends:
                yield arg, node.fdiff(i + 1)
