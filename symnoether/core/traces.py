r"""Trace-cyclic canonical forms: deciding identities between traces of matrix products.

SymPy's ``simplify`` does not see the cyclicity of the trace
(tr(AᵀW₂ᵀG xᵀW₁ᵀ) − tr(W₁ᵀAᵀW₂ᵀG xᵀ) stays unsimplified). Here a scalar expression
built from traces of matrix expressions (products, transposes, sums, scalar
multiples, ``Identity``, ``ZeroMatrix``; scalar coefficients that are any SymPy
expression — η, e^{t/τ}, √tr(wᵀw) — with the traces inside them canonicalized too)
is rewritten as a SymPy expression in one symbol per canonical trace word:

* a trace is expanded into words of letters (a letter is a ``MatrixSymbol``,
  possibly transposed; any other matrix expression — an elementwise function, a
  Hadamard product, an inverse, an explicit matrix — is one opaque letter);
* two words are the same trace when they differ by a cyclic rotation or by
  transposition (tr Mᵀ = tr M); a letter declared symmetric (or diagonal) drops
  its transpose, an antisymmetric one turns Jᵀ into −J, so a word that equals
  minus itself is zero;
* a product passing through dimension 1 (a column times a row) is a product of
  scalars — each a 1×1 sub-word, equal to its own transpose — which commute;
  tr(I_n) = n.

An identity is proved when the resulting expression in the trace symbols is
identically zero (:func:`symnoether.core.jet.is_zero`). Trace symbols are
treated as independent variables, so a True answer holds for every size of the
matrices; a False answer means "not proved" (an identity such as Cayley–Hamilton's,
which holds only at small sizes, is not seen).

Examples
--------
>>> import sympy as sp
>>> W, x = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("x", 3, 1)
>>> J = sp.MatrixSymbol("J", 3, 3)
>>> G = 2 * W * x * x.T                     # ∂/∂W of xᵀWᵀWx
>>> trace_identity(sp.Trace(G.T * J * W), antisymmetric={J})   # ψ_J = J W, J antisymmetric
True
>>> trace_identity(sp.Trace(G.T * J * W))                     # J any matrix: not proved
False
>>> A = sp.MatrixSymbol("A", 3, 3)
>>> trace_identity(sp.Trace(A * W) - sp.Trace(W.T * A.T) + sp.exp(sp.Trace(A)) * 0)
True
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp
from sympy.matrices.expressions.matexpr import MatrixElement

from ..errors import NotSupportedError
from .jet import is_zero

__all__ = ["trace_canonical", "trace_identity", "trace_form", "trace_zero", "family_terms"]


class _Canon:
    """One canonicalization: the letters met, and one Dummy per canonical trace word."""

    def __init__(self, antisymmetric: Iterable = (), symmetric: Iterable = (), diagonal=()):
        self.antisymmetric = {_name(a) for a in antisymmetric}
        self.symmetric = {_name(s) for s in (*symmetric, *diagonal)}
        self.letters: dict[str, sp.MatrixExpr] = {}
        self.shapes: dict[str, tuple] = {}
        self.symbols: dict[tuple, sp.Dummy] = {}
        self.words_of: dict[sp.Dummy, tuple] = {}

    # -- scalars ------------------------------------------------------------------------
    def scalar(self, expr: object) -> sp.Expr:
        """``expr`` with every trace replaced by its canonical trace symbols."""
        if isinstance(expr, sp.MatrixExpr):
            if tuple(expr.shape) != (1, 1):
                raise NotSupportedError(
                    f"{expr} is a {expr.shape[0]}×{expr.shape[1]} matrix where a scalar is "
                    "expected; take its trace, or use a 1×1 expression such as x.T*W*x"
                )
            return self.trace(expr)
        expr = sp.sympify(expr)
        if isinstance(expr, sp.Trace):
            return self.trace(expr.arg)
        if isinstance(expr, MatrixElement):
            parent = expr.parent
            if tuple(parent.shape) == (1, 1):
                return self.trace(parent)
            raise NotSupportedError(
                f"the matrix entry {expr} cannot be written with traces; write the loss "
                "with products and traces of whole matrices"
            )
        if not expr.args or not expr.has(sp.MatrixExpr, sp.Trace):
            return expr
        return expr.func(*[self.scalar(a) for a in expr.args])

    def trace(self, matrix: sp.MatrixExpr) -> sp.Expr:
        dimension = matrix.shape[0]
        total = sp.S.Zero
        for word, coefficient in self.words(matrix).items():
            total += coefficient * self.closed(word, dimension)
        return total

    def closed(self, word: tuple, dimension: object) -> sp.Expr:
        """The trace of one word as a product of trace symbols (n for tr I_n)."""
        if not word:
            return sp.sympify(dimension)
        extra = {"symmetric": self.symmetric} if self.symmetric else {}
        found = _canonical(word, self.antisymmetric, self.shapes, **extra)
        if found is None:
            return sp.S.Zero
        keys, sign = found
        value = sp.Integer(sign)
        for key in keys:
            value *= self.symbol(key)
        return value

    def symbol(self, key: tuple) -> sp.Dummy:
        if key not in self.symbols:
            gram = _is_gram(key)
            symbol = sp.Dummy("tr", positive=True) if gram else sp.Dummy("tr", real=True)
            self.symbols[key] = symbol
            self.words_of[symbol] = key
        return self.symbols[key]

    # -- words ----------------------------------------------------------------------------
    def words(self, expr: sp.MatrixExpr) -> dict:
        """{word: scalar coefficient in trace symbols} with Σ coefficient·word = expr."""
        if isinstance(expr, sp.MatAdd):
            out: dict = {}
            for arg in expr.args:
                for word, c in self.words(arg).items():
                    out[word] = out.get(word, 0) + c
            return out
        if isinstance(expr, sp.MatMul):
            coefficient, matrices = expr.as_coeff_matrices()
            out = {(): self.scalar(coefficient)}
            for matrix in matrices:
                factor = self.words(matrix)
                out = {u + w: c * d for u, c in out.items() for w, d in factor.items()}
            return out
        if isinstance(expr, sp.Transpose):
            return {_transpose(w): c for w, c in self.words(expr.arg).items()}
        if isinstance(expr, sp.ZeroMatrix):
            return {}
        if isinstance(expr, sp.Identity):
            return {(): sp.S.One}
        if isinstance(expr, sp.MatPow) and expr.exp.is_Integer and expr.exp >= 0:
            return self.words(sp.MatMul(*[expr.base] * int(expr.exp))) if expr.exp else {(): 1}
        if isinstance(expr, sp.MatrixSymbol):
            return {((self.letter(expr.name, expr), False),): sp.S.One}
        if isinstance(expr, sp.MatrixBase) and expr.is_zero_matrix:
            return {}
        if isinstance(expr, sp.MatrixExpr | sp.MatrixBase):
            return {(self.opaque(expr),): sp.S.One}
        raise NotSupportedError(f"cannot canonicalize the matrix expression {expr}")

    def letter(self, name: str, matrix: sp.MatrixExpr) -> str:
        self.letters.setdefault(name, matrix)
        self.shapes.setdefault(name, tuple(matrix.shape))
        return name

    def opaque(self, expr: object) -> tuple:
        """One letter (name, transposed) for a matrix expression that is not a product of
        symbols; X and Xᵀ (SymPy writes f(W)ᵀ as f(Wᵀ)) share the name."""
        if isinstance(expr, sp.MatrixBase):
            expr = sp.ImmutableMatrix(expr)
        flipped = sp.Transpose(expr).doit()
        transposed = sp.srepr(flipped) < sp.srepr(expr)
        if transposed:
            expr = flipped
        name = "⟨" + sp.srepr(expr) + "⟩"
        symmetric = isinstance(expr, sp.MatrixBase) and expr == expr.T
        symmetric |= type(expr).__name__ in ("DiagMatrix", "DiagonalMatrix")
        if symmetric:
            self.symmetric.add(name)
        return self.letter(name, expr), transposed

    def rebuild(self, key: tuple, prefer: dict) -> sp.Expr:
        """Trace(word) for a canonical key, in the rotation ``prefer`` ranks first."""
        options = [key[k:] + key[:k] for k in range(len(key))]
        if not any(n in self.antisymmetric or n in self.symmetric for n, _ in key):
            flipped = _transpose(key)
            options += [flipped[k:] + flipped[:k] for k in range(len(key))]

        def rank(word: tuple) -> tuple:
            out = []
            for name, flag in word:
                level = prefer.get(name, len(prefer) + 1)
                moving = level < len(prefer) + 1
                out.append((level, 0 if flag == moving else 1, name))
            return tuple(out)

        word = min(options, key=rank)
        factors = [sp.Transpose(self.letters[n]) if f else self.letters[n] for n, f in word]
        return sp.Trace(factors[0] if len(factors) == 1 else sp.MatMul(*factors))


def _name(item: object) -> str:
    return item if isinstance(item, str) else item.name


def _is_gram(key: tuple) -> bool:
    """tr(uᵀu) ≥ 0: some rotation of the word is a word followed by its transpose."""
    n = len(key)
    if n % 2:
        return False
    half = n // 2
    return any((rot := key[k:] + key[:k])[:half] == _transpose(rot[half:]) for k in range(n))


def _canon(antisymmetric, symmetric, diagonal) -> _Canon:
    return _Canon(antisymmetric or (), symmetric or (), diagonal or ())


def trace_identity(
    expr: object,
    *,
    antisymmetric: Iterable = frozenset(),
    symmetric: Iterable = frozenset(),
    diagonal: Iterable = frozenset(),
) -> bool:
    """True only when the scalar ``expr`` (traces of matrix expressions, scalar factors)
    is proved identically zero, for every size of the matrices, by canonical trace words.

    Parameters
    ----------
    expr : scalar SymPy expression, or a 1×1 matrix expression
    antisymmetric, symmetric, diagonal : sets of MatrixSymbols (or their names)
        Letters with Jᵀ = −J, Sᵀ = S, or diagonal (treated as symmetric).

    Raises
    ------
    NotSupportedError
        A matrix expression where a scalar belongs, or a matrix entry.

    Examples
    --------
    >>> import sympy as sp
    >>> A, B, C = (sp.MatrixSymbol(n, 4, 4) for n in "ABC")
    >>> trace_identity(sp.Trace(A * B * C) - sp.Trace(C.T * B.T * A.T))
    True
    >>> trace_identity(sp.Trace(A * B * C) - sp.Trace(B * A * C))
    False
    >>> S = sp.MatrixSymbol("S", 4, 4)
    >>> trace_identity(sp.Trace(S * A) - sp.Trace(S * A.T), symmetric={S})
    True
    """
    canon = _canon(antisymmetric, symmetric, diagonal)
    value = canon.scalar(expr)
    if value == 0:
        return True
    try:
        if sp.expand(value) == 0:
            return True
    except (TypeError, ValueError, NotImplementedError, RecursionError):
        pass
    return bool(is_zero(value))


def trace_canonical(
    expr: object,
    *,
    antisymmetric: Iterable = frozenset(),
    symmetric: Iterable = frozenset(),
    diagonal: Iterable = frozenset(),
) -> dict:
    """The canonical trace form of a scalar: {trace monomial: coefficient}.

    A monomial is a sorted tuple of canonical words (each a tuple of
    ``(name, transposed)`` letters), one per trace factor; () is the constant term.
    Coefficients are SymPy expressions free of traces, except inside functions that
    are not polynomial (√tr(wᵀw)), where the traces are canonical ``Trace`` objects.
    Terms whose coefficient cancels are left out.

    Examples
    --------
    >>> import sympy as sp
    >>> W, A = sp.MatrixSymbol("W", 2, 2), sp.MatrixSymbol("A", 2, 2)
    >>> form = trace_canonical(3 * sp.Trace(W.T * A) + sp.Trace(A.T * W) + sp.Trace(W) ** 2)
    >>> sorted(form.values())
    [1, 4]
    """
    canon = _canon(antisymmetric, symmetric, diagonal)
    groups = _monomials(canon.scalar(expr), canon)
    out = {tuple(sorted(canon.words_of[s] for s in key)): c for key, c in groups.items()}
    back = {s: canon.rebuild(w, {}) for s, w in canon.words_of.items()}
    tidy = {k: sp.cancel(c).xreplace(back) for k, c in out.items()}
    return {k: c for k, c in tidy.items() if c != 0}


def _monomials(value: sp.Expr, canon: _Canon) -> dict:
    """{tuple of trace symbols (a monomial, with repeats): coefficient} of an expression."""
    value = sp.expand(value, power_exp=False, power_base=False, log=False)
    symbols = set(canon.words_of)
    out: dict = {}
    for term in sp.Add.make_args(value):
        monomial: list = []
        rest = sp.S.One
        for factor in sp.Mul.make_args(term):
            base, exponent = factor.as_base_exp()
            if base in symbols and exponent.is_Integer and exponent > 0:
                monomial += [base] * int(exponent)
            else:
                rest *= factor
        key = tuple(sorted(monomial, key=str))
        out[key] = out.get(key, 0) + rest
    return out


def trace_form(
    expr: object,
    *,
    prefer: Iterable = (),
    antisymmetric: Iterable = frozenset(),
    symmetric: Iterable = frozenset(),
    diagonal: Iterable = frozenset(),
) -> sp.Expr:
    """``expr`` rewritten in canonical trace form: equal terms collected, common factors
    pulled out; each trace in the rotation that starts with the earliest letter of
    ``prefer`` (MatrixSymbols; those listed are shown transposed first, others not).

    Examples
    --------
    >>> import sympy as sp
    >>> W, V, A = (sp.MatrixSymbol(n, 3, 3) for n in ("W", "V", "A"))
    >>> trace_form(sp.Trace(A * W * V.T) + sp.Trace(W.T * A.T * V), prefer=[V, W])
    2*Trace(V.T*A*W)
    """
    canon = _canon(antisymmetric, symmetric, diagonal)
    total = sp.S.Zero
    for monomial, coefficient in _monomials(canon.scalar(expr), canon).items():
        try:
            coefficient = sp.factor(coefficient)
        except (sp.PolynomialError, TypeError, ValueError, NotImplementedError):
            pass
        total += coefficient * sp.Mul(*monomial)
    ranks = {_name(m): k for k, m in enumerate(prefer)}
    back = {s: canon.rebuild(w, ranks) for s, w in canon.words_of.items()}
    return sp.factor_terms(total).xreplace(back)


# -- the word calculus (also used by the structured symmetry search) ----------------------


def family_terms(grads: list, blocks: tuple, terms: tuple, parameter: sp.MatrixSymbol) -> list:
    """The matrix expressions whose traces sum to ψ_A·∇V: sign·G_tᵀ·op(A)·B_s (left) or
    sign·G_tᵀ·B_s·op(A) (right) for each term (target, source, side, sign, transposed)."""
    out = []
    for target, source, side, sign, transposed in terms:
        op = sp.Transpose(parameter) if transposed else parameter
        block = blocks[source][1]
        product = op * block if side == "left" else block * op
        out.append(sign * (sp.Transpose(grads[target]) * product))
    return out


def trace_zero(expressions: list, antisymmetric: set) -> bool:
    """Whether Σ tr(expression) ≡ 0 by canonical words, with the names in
    ``antisymmetric`` antisymmetric (False when some coefficient is left).

    Examples
    --------
    >>> import sympy as sp
    >>> A, W = sp.MatrixSymbol("A", 2, 2), sp.MatrixSymbol("W", 2, 2)
    >>> trace_zero([A * W, -W.T * A.T], set())
    True
    """
    total = sp.Add(*[sp.Trace(e) for e in expressions])
    return trace_identity(total, antisymmetric=antisymmetric)


def _transpose(word: tuple) -> tuple:
    return tuple((name, not flag) for name, flag in reversed(word))


def _canonical(
    word: tuple, antisymmetric: set, shapes: dict, symmetric: set = frozenset()
) -> tuple | None:
    """(canonical key, sign) of the trace of a word; None when it is zero.

    Where the product passes through dimension 1 (a column times a row, a 1×1
    target), the trace is a product of scalars — each a 1×1 sub-word, equal to its
    own transpose — which commute: the key is their sorted canonical forms."""
    inner = [_shape(f, shapes)[1] for f in word]  # dimension after each factor
    cuts = [k for k, d in enumerate(inner) if d == 1]
    extra = {"symmetric": symmetric} if symmetric else {}
    if not cuts:
        single = _cyclic(word, antisymmetric, **extra)
        return None if single is None else ((single[0],), single[1])
    start = cuts[0] + 1
    rotated = word[start:] + word[:start]
    pieces, current = [], []
    for factor in rotated:
        current.append(factor)
        if _shape(factor, shapes)[1] == 1:
            pieces.append(tuple(current))
            current = []
    keys, sign = [], 1
    for piece in pieces:
        single = _cyclic(piece, antisymmetric, **extra)
        if single is None:
            return None
        keys.append(single[0])
        sign *= single[1]
    return tuple(sorted(keys)), sign


def _shape(factor: tuple, shapes: dict) -> tuple:
    name, transposed = factor
    rows, cols = shapes.get(name, (0, 0))
    return (cols, rows) if transposed else (rows, cols)


def _cyclic(word: tuple, antisymmetric: set, symmetric: set = frozenset()) -> tuple | None:
    """(canonical word, sign) under cyclic rotation and transposition of the trace, with
    Jᵀ = −J for the antisymmetric names and Sᵀ = S for the symmetric ones; None when the
    word equals minus itself."""

    def normal(w: tuple) -> tuple:
        sign, out = 1, []
        for name, flag in w:
            if flag and name in symmetric:
                flag = False
            elif flag and name in antisymmetric:
                sign, flag = -sign, False
            out.append((name, flag))
        return tuple(out), sign

    options = []
    for candidate in (word, _transpose(word)):
        w, sign = normal(candidate)
        options.extend((w[k:] + w[:k], sign) for k in range(max(len(w), 1)))
    key = min(w for w, _ in options)
    signs = {s for w, s in options if w == key}
    if len(signs) == 2:
        return None
    return key, signs.pop()
