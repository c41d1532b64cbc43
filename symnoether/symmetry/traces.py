r"""Trace-cyclic canonicalization: proving Σ tr(G_Bᵀ ψ_A(B)) ≡ 0 at the matrix level.

SymPy's ``simplify`` does not see the cyclicity of the trace
(tr(AᵀW₂ᵀG xᵀW₁ᵀ) − tr(W₁ᵀAᵀW₂ᵀG xᵀ) stays unsimplified). A family of generators
ψ_A of ``MatrixSymbol`` layers is proved here instead: ψ·∇V = Σ_B tr(G_Bᵀ ψ_A(B)),
G_B = ∂V/∂B, is expanded into words of matrix symbols (products, transposes, sums,
scalar coefficients); two words are the same trace when they differ by a cyclic
rotation or by transposition (tr Mᵀ = tr M); a parameter J declared
antisymmetric turns Jᵀ into −J, so a word that equals minus its own transpose
is zero. The family is proved when every canonical word's coefficient cancels.

Examples
--------
>>> import sympy as sp
>>> W, x = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("x", 3, 1)
>>> J = sp.MatrixSymbol("J", 3, 3)
>>> G = 2 * W * x * x.T                     # ∂/∂W of xᵀWᵀWx
>>> trace_zero([sp.Transpose(G) * J * W], {"J"})   # ψ_J = J W, J antisymmetric
True
>>> trace_zero([sp.Transpose(G) * J * W], set())   # J any matrix: not a symmetry
False
"""

from __future__ import annotations

import sympy as sp

from ..errors import NotSupportedError

__all__ = ["trace_zero", "family_terms"]


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
    """Whether Σ tr(expression) ≡ 0 by canonical words (False when some coefficient is
    left; :class:`~symnoether.errors.NotSupportedError` when an expression is not built
    from products, transposes and sums of matrix symbols)."""
    shapes = {
        m.name: tuple(int(d) for d in m.shape)
        for e in expressions
        for m in e.atoms(sp.MatrixSymbol)
    }
    total: dict = {}
    for expression in expressions:
        for word, coefficient in _words(expression).items():
            canonical = _canonical(word, antisymmetric, shapes)
            if canonical is None:
                continue
            key, sign = canonical
            total[key] = total.get(key, 0) + sign * coefficient
    return all(sp.simplify(c) == 0 for c in total.values())


def _words(expr: object) -> dict:
    if isinstance(expr, sp.MatAdd):
        out: dict = {}
        for arg in expr.args:
            for word, c in _words(arg).items():
                out[word] = out.get(word, 0) + c
        return out
    if isinstance(expr, sp.MatMul):
        coefficient, matrices = expr.as_coeff_matrices()
        out = {(): coefficient}
        for matrix in matrices:
            factor = _words(matrix)
            out = {w1 + w2: c1 * c2 for w1, c1 in out.items() for w2, c2 in factor.items()}
        return out
    if isinstance(expr, sp.Transpose):
        return {_transpose(w): c for w, c in _words(expr.arg).items()}
    if isinstance(expr, sp.MatrixSymbol):
        return {((expr.name, False),): sp.S.One}
    if isinstance(expr, sp.Identity):
        return {(): sp.S.One}
    if isinstance(expr, sp.ZeroMatrix):
        return {}
    raise NotSupportedError(f"cannot canonicalize the matrix expression {type(expr).__name__}")


def _transpose(word: tuple) -> tuple:
    return tuple((name, not flag) for name, flag in reversed(word))


def _canonical(word: tuple, antisymmetric: set, shapes: dict) -> tuple | None:
    """(canonical key, sign) of the trace of a word; None when it is zero.

    Where the product passes through dimension 1 (a column times a row, a 1×1
    target), the trace is a product of scalars — each a 1×1 sub-word, equal to its
    own transpose — which commute: the key is their sorted canonical forms."""
    if not word:
        return ((),), 1
    inner = [_shape(f, shapes)[1] for f in word]  # dimension after each factor
    cuts = [k for k, d in enumerate(inner) if d == 1]
    if not cuts:
        single = _cyclic(word, antisymmetric)
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
        single = _cyclic(piece, antisymmetric)
        if single is None:
            return None
        keys.append(single[0])
        sign *= single[1]
    return tuple(sorted(keys)), sign


def _shape(factor: tuple, shapes: dict) -> tuple:
    name, transposed = factor
    rows, cols = shapes.get(name, (0, 0))
    return (cols, rows) if transposed else (rows, cols)


def _cyclic(word: tuple, antisymmetric: set) -> tuple | None:
    """(canonical word, sign) under cyclic rotation and transposition of the trace, with
    Jᵀ = −J for the antisymmetric names; None when the word equals minus itself."""

    def normal(w: tuple) -> tuple:
        sign, out = 1, []
        for name, flag in w:
            if flag and name in antisymmetric:
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
