r"""The printers behind :mod:`symnoether.core.matrix_display`: one layout, two formats.

:class:`TextPrinter` and :class:`LatexPrinter` extend SymPy's printers with the
matrix notation of the papers; everything but the characters they write is shared
(:class:`_Matrices`): a trace's shown form (:func:`trace_form`), the layout of a sum
(damping factor in front, like coefficients collected, signs folded, terms in layer
order), norms of vectors, transposes and elementwise functions.
(:func:`symnoether.core.matrix_display.prepare` splits traces over sums first.)

Examples
--------
>>> import sympy as sp
>>> W, A = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("A", 3, 3)
>>> expr = 2 * sp.Trace(W.T * A.T * W) - sp.Trace(W * W.T)
>>> print(TextPrinter(expr).doprint(expr))
2 tr(Wᵀ A W) − tr(Wᵀ W)
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import sympy as sp
from sympy.matrices.expressions import (
    HadamardPower,
    HadamardProduct,
    Identity,
    Inverse,
    MatAdd,
    MatMul,
    MatPow,
    MatrixExpr,
    MatrixSymbol,
    Trace,
    Transpose,
    ZeroMatrix,
)
from sympy.matrices.expressions.applyfunc import ElementwiseApplyFunction
from sympy.printing.latex import LatexPrinter as SympyLatexPrinter
from sympy.printing.str import StrPrinter

from .vocabulary import TIME, velocity

__all__ = ["TextPrinter", "LatexPrinter", "has_matrix", "trace_form", "matrix_name_text"]

_LETTERS = re.compile(r"[A-Za-z]+")
_GREEK = {name: chr(0x3B1 + i) for i, name in enumerate(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "final_sigma sigma tau upsilon phi chi psi omega".split())}  # fmt: skip
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_LATEX_FUNCTIONS = {"tanh", "sinh", "cosh", "exp", "log", "sin", "cos", "tan", "max", "min"}


def matrix_name_text(name: str) -> str:
    """The plain-text form of a matrix name: a velocity dotted (``Wdot1`` → ``Ẇ1``,
    ``thetadot_2`` → ``θ̇_2``, ``Wddot1`` → ``Ẅ1``), any other name as it is.

    Examples
    --------
    >>> print(matrix_name_text("Wdot1"), matrix_name_text("W"), matrix_name_text("Wdot"))
    Ẇ1 W Ẇ
    """
    split = _dotted(name)
    if split is None:
        return name
    base, rest, dots = split
    mark = "\u0307" if dots == 1 else "\u0308"
    if len(base) == 1:
        shown = base + mark
    elif base.lower() in _GREEK:
        letter = _GREEK[base.lower()]
        shown = (letter.upper() if base[0].isupper() else letter) + mark
    else:
        return name
    return unicodedata.normalize("NFC", shown + rest)


def _dotted(name: str) -> tuple[str, str, int] | None:
    """(base letters, the rest, 1 or 2 dots) of a velocity or acceleration name."""
    match = _LETTERS.match(name)
    if match is None:
        return None
    letters, rest = match.group(), name[match.end() :]
    for suffix, dots in (("ddot", 2), ("dot", 1)):
        if letters.endswith(suffix) and len(letters) > len(suffix):
            return letters[: -len(suffix)], rest, dots
    return None


# -- traces ------------------------------------------------------------------------------


def has_matrix(expr: sp.Basic) -> bool:
    """Whether ``expr`` holds a matrix expression or a trace."""
    return any(isinstance(e, MatrixExpr | Trace) for e in sp.preorder_traversal(expr))


def trace_form(trace: Trace) -> tuple[str, list[MatrixExpr]]:
    """('norm', v's factors) for ‖v‖², ('inner', factors) for a 1×1 product, or
    ('trace', factors): the rotation of the product (or of its transpose) shown.

    Examples
    --------
    >>> import sympy as sp
    >>> W, A, w = sp.MatrixSymbol("W", 3, 3), sp.MatrixSymbol("A", 3, 3), sp.MatrixSymbol("w", 3, 1)
    >>> trace_form(sp.Trace(W.T * A.T * W)), trace_form(sp.Trace(w * w.T))
    (('trace', [W.T, A, W]), ('norm', [w]))
    """
    factors = trace.arg.as_coeff_matrices()[1] if isinstance(trace.arg, MatMul) else [trace.arg]
    factors = list(factors)
    reverse = [_transpose(f) for f in reversed(factors)]
    candidates = [seq[i:] + seq[:i] for seq in (factors, reverse) for i in range(len(seq))]

    def key(indexed: tuple[int, list[MatrixExpr]]) -> tuple:
        i, seq = indexed
        transposes = sum(isinstance(e, Transpose) for f in seq for e in sp.preorder_traversal(f))
        return (not _scalar(seq), transposes, not isinstance(seq[0], Transpose), i)

    _, best = min(enumerate(candidates), key=key)
    if not _scalar(best):
        return "trace", best
    half = len(best) // 2
    if len(best) % 2 == 0 and all(best[i] == _transpose(best[-1 - i]) for i in range(half)):
        return "norm", best[half:]
    return "inner", best


def _scalar(factors: list[MatrixExpr]) -> bool:
    return factors[0].rows == 1 and factors[-1].cols == 1


def _transpose(matrix: MatrixExpr) -> MatrixExpr:
    return matrix.arg if isinstance(matrix, Transpose) else matrix.T


def _symbols(expr: sp.Basic) -> list[MatrixSymbol]:
    return [e for e in sp.preorder_traversal(expr) if isinstance(e, MatrixSymbol)]


def _ranks(expr: sp.Basic, order: tuple) -> dict[str, int]:
    """Name → rank of every layer, its velocity and acceleration: the position in
    ``order``, else (no order) by name among the layers the expression holds (the
    matrices whose velocity it holds; all matrices when it holds no velocity)."""
    if order:
        layers = [m.name if isinstance(m, MatrixSymbol) else str(m) for m in order]
    else:
        names = {s.name for s in _symbols(expr)}
        bases = {"".join(_dotted(n)[:2]) for n in names if _dotted(n) is not None}
        layers = sorted(
            bases or names,
            key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)],
        )
    ranks = {}
    for i, name in enumerate(layers):
        speed = velocity(sp.Symbol(name)).name
        ranks.update({name: i, speed: i, speed.replace("dot", "ddot", 1): i})
    return ranks


def _split_term(term: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """(number, other scalar factors, exponent of the exp factors, matrix factors)."""
    number, rest, exponent, part = sp.S.One, sp.S.One, sp.S.Zero, sp.S.One
    for factor in sp.Mul.make_args(term):
        if factor.is_Number:
            number *= factor
        elif isinstance(factor, sp.exp) and not has_matrix(factor):
            exponent += factor.args[0]
        elif has_matrix(factor):
            part *= factor
        else:
            rest *= factor
    return number, rest, exponent, part


def _common_scale(matrix: MatrixExpr) -> tuple[sp.Expr, MatrixExpr]:
    """(c, S) with ``matrix`` = c·S when it is a sum whose terms share the coefficient ±c."""
    if not isinstance(matrix, MatAdd):
        return sp.S.One, matrix
    coefficients = [t.as_coeff_matrices()[0] if isinstance(t, MatMul) else 1 for t in matrix.args]
    scales = {abs(n) * r for n, r in (sp.sympify(c).as_coeff_Mul() for c in coefficients)}
    if len(scales) != 1 or scales == {1}:
        return sp.S.One, matrix
    scale = scales.pop()
    return scale, MatAdd(*(term / scale for term in matrix.args))


def _negative(power: sp.Expr) -> bool:
    return bool(power.is_number and power.is_negative)


# -- what the two printers share -------------------------------------------------------------


class _Matrices:
    """The matrix notation on top of a SymPy printer. The subclasses give the characters:
    ``bracket``, ``scalar`` (a coefficient), ``frac``, ``power``, ``exponential``,
    ``trace``, ``norm``, ``transposed``, ``applied`` (an elementwise function), and
    ``text_of``/``collects``, which decide order and collection on the text."""

    minus = "-"
    hadamard = ""

    def __init__(self, expr: object = 0, order: Iterable = (), tau: sp.Expr | None = None):
        self.tau = None if tau is None or tau == sp.oo else sp.sympify(tau)
        self.ranks = _ranks(sp.sympify(expr), tuple(order))

    # -- order --
    def key(self, part: sp.Expr) -> tuple:
        """Terms holding layers first, by the layers' ranks, then by their text."""
        ranks = sorted({self.ranks[s.name] for s in _symbols(part) if s.name in self.ranks})
        return (not ranks, ranks, self.text_of(part))

    # -- sums of terms --
    def layout(self, expr: sp.Expr) -> str:
        """A sum (or one term) of matrix terms with the common exp(…) in front and the
        terms of one coefficient collected."""
        terms = [_split_term(term) for term in sp.Add.make_args(expr)]
        exponents = {exponent for _, _, exponent, _ in terms}
        damping = exponents.pop() if len(exponents) == 1 else sp.S.Zero
        front = [self.exponential(damping)] if damping != 0 else []
        groups: dict[sp.Expr, list[tuple[int, sp.Expr]]] = {}
        for number, rest, exponent, part in terms:
            scale = abs(number) * rest * sp.exp(exponent - damping)
            key = scale if part != 1 else sp.Dummy()  # scalar terms are never collected
            value = part if part != 1 else scale
            groups.setdefault(key, []).append((-1 if number < 0 else 1, value))
        if len(groups) == 1 and terms[0][3] != 1:  # one coefficient: it goes in front
            [(scale, members)] = groups.items()
            members.sort(key=lambda m: self.key(m[1]))
            sign = -1 if all(s < 0 for s, _ in members) else 1
            if len(members) == 1 and not front:
                return ("" if sign > 0 else self.minus) + self._product(members[0][1], scale)
            head = ([] if scale == 1 else [self.scalar(scale)]) + front
            body = self._sum([(s * sign, self._product(p), 0) for s, p in members])
            if len(members) > 1 and head:
                body = self.bracket(body, True)
            return ("" if sign > 0 else self.minus) + " ".join([*head, body])
        pieces = []  # (sign, printed, key)
        for scale, members in groups.items():
            if isinstance(scale, sp.Dummy):
                [(sign, value)] = members
                pieces.append((sign, self._print(value), (True, [], self.text_of(value))))
            else:
                pieces += self._group(scale, members)
        body = self._sum(sorted(pieces, key=lambda p: p[2]))
        return f"{front[0]} {self.bracket(body, True)}" if front else body

    def _group(self, scale: sp.Expr, members: list) -> list[tuple]:
        """Terms with the same coefficient, collected when that is shorter (in text)."""
        members.sort(key=lambda m: self.key(m[1]))
        single = [(sign, self._scaled(scale, part), self.key(part)) for sign, part in members]
        if len(members) == 1 or scale == 1 or not self.collects(scale, members):
            return single
        sign = -1 if all(s < 0 for s, _ in members) else 1
        inner = self._sum([(s * sign, self._product(p), 0) for s, p in members])
        return [(sign, f"{self.scalar(scale)} {self.bracket(inner)}", single[0][2])]

    def _sum(self, pieces: list[tuple]) -> str:
        out = ""
        for i, (sign, body, _) in enumerate(pieces):
            if i == 0:
                out = body if sign > 0 else f"{self.minus}{body}"
            else:
                out += f" {'+' if sign > 0 else self.minus} {body}"
        return out

    def _scaled(self, scale: sp.Expr, part: sp.Expr) -> str:
        return self._product(part, scale)

    def _product(self, part: sp.Expr, scale: sp.Expr = sp.S.One) -> str:
        """``scale`` times the matrix factors (traces, their powers) joined by spaces;
        negative powers in a denominator (``η/‖w‖²``)."""
        if not has_matrix(part):
            return self.scalar(part * scale)
        up, down = [], []
        for factor in sp.Mul.make_args(part):
            base, power = factor.as_base_exp()
            (down if _negative(power) else up).append(base**-power if _negative(power) else factor)
        top = [self._print(f) for f in sorted(up, key=self.key)]
        if not down:
            return " ".join(([] if scale == 1 else [self.scalar(scale)]) + top)
        numerator = " ".join(([] if scale == 1 and top else [self._print(scale)]) + top)
        return self.frac(numerator, " ".join(self._print(f) for f in sorted(down, key=self.key)))

    # -- SymPy's print methods --
    def _print_Add(self, expr: sp.Expr, *args: object, **options: object) -> str:
        return self.layout(expr) if has_matrix(expr) else super()._print_Add(expr, *args)

    def _print_Mul(self, expr: sp.Expr, *args: object, **options: object) -> str:
        return self.layout(expr) if has_matrix(expr) else super()._print_Mul(expr, *args)

    def _print_Pow(self, expr: sp.Pow, *args: object, **options: object) -> str:
        base, power = expr.args
        if not has_matrix(base):
            return super()._print_Pow(expr, *args)
        if isinstance(base, Trace) and trace_form(base)[0] == "norm":
            return self._norm(base, 2 * power)
        if _negative(power):
            return self.frac("1", self._print(base**-power))
        shown = self._print(base)
        plain = isinstance(base, Trace) and trace_form(base)[0] == "trace"
        return self.power(shown if plain else self.bracket(shown), power)

    def _norm(self, trace: Trace, power: sp.Expr) -> str:
        if _negative(power):
            return self.frac("1", self._norm(trace, -power))
        factors = trace_form(trace)[1]
        inside = self._print(factors[0]) if len(factors) == 1 else self._product_of(factors)
        return self.norm(inside) if power == 1 else self.power(self.norm(inside), power)

    def _print_Trace(self, expr: Trace, *args: object, **options: object) -> str:
        kind, factors = trace_form(expr)
        if kind == "norm":
            return self._norm(expr, sp.S(2))
        inside = self._product_of(factors)
        return inside if kind == "inner" else self.trace(inside)

    def _product_of(self, factors: list[MatrixExpr]) -> str:
        return " ".join(self._factor(f) for f in factors)

    def _factor(self, matrix: MatrixExpr) -> str:
        shown = self._print(matrix)
        wrap = isinstance(matrix, MatAdd | HadamardProduct | MatMul)
        return self.bracket(shown) if wrap else shown

    def _print_Transpose(self, expr: Transpose, *args: object, **options: object) -> str:
        shown = self._print(expr.arg)
        atom = isinstance(expr.arg, MatrixSymbol | Identity | ElementwiseApplyFunction)
        return self.transposed(shown if atom else self.bracket(shown))

    def _print_MatMul(self, expr: MatMul, *args: object, **options: object) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        factors = []
        for matrix in matrices:  # ((1/2) A + (1/2) Aᵀ) W → (1/2) (A + Aᵀ) W
            scale, rest = _common_scale(matrix)
            coefficient, factors = coefficient * scale, [*factors, rest]
        number, rest, exponent, _ = _split_term(sp.sympify(coefficient))
        head = [] if abs(number) * rest == 1 else [self.scalar(abs(number) * rest)]
        head += [self.exponential(exponent)] if exponent != 0 else []
        sign = "" if number > 0 else self.minus
        return sign + " ".join([*head, self._product_of(factors)])

    def _print_MatAdd(self, expr: MatAdd, *args: object, **options: object) -> str:
        scale, expr = _common_scale(expr)
        if scale != 1:
            return self._print(MatMul(scale, expr, evaluate=False))
        pieces = []
        for term in expr.args:
            coefficient = term.as_coeff_matrices()[0] if isinstance(term, MatMul) else 1
            negative = sp.sympify(coefficient).as_coeff_Mul()[0] < 0
            shown = self._print(-term if negative else term)
            pieces.append((-1 if negative else 1, shown, self.key(term)))
        return self._sum(sorted(pieces, key=lambda p: (p[0] < 0, p[2])))  # y − W x

    def _print_HadamardProduct(self, expr: HadamardProduct, *args: object, **kw: object) -> str:
        return f" {self.hadamard} ".join(self._factor(f) for f in expr.args)

    def _print_HadamardPower(self, expr: HadamardPower, *args: object, **kw: object) -> str:
        return self.power(self._factor(expr.base), expr.exp, hadamard=True)

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction, *a, **k) -> str:
        body, variables = expr.function.expr, expr.function.variables
        plain = isinstance(body, sp.Function) and body.args == tuple(variables)
        shown = self._print(body.subs(variables[0], sp.Symbol("d")))
        return self.applied(type(body).__name__ if plain else None, shown, self._print(expr.expr))

    def _print_Identity(self, expr: Identity, *args: object, **options: object) -> str:
        return "I"

    def _print_ZeroMatrix(self, expr: ZeroMatrix, *args: object, **options: object) -> str:
        return "0"

    def _print_Inverse(self, expr: Inverse, *args: object, **options: object) -> str:
        return self.power(self._factor(expr.arg), sp.S.NegativeOne)

    def _print_MatPow(self, expr: MatPow, *args: object, **options: object) -> str:
        return self.power(self._factor(expr.base), expr.exp)


class TextPrinter(_Matrices, StrPrinter):
    """Plain Unicode text: ``tr(Ẇ1ᵀ A W1)``, ``‖w‖²``, ``e^{t/τ}``."""

    minus, hadamard = "−", "⊙"

    def __init__(self, expr: object = 0, order: Iterable = (), tau: sp.Expr | None = None):
        StrPrinter.__init__(self)
        _Matrices.__init__(self, expr, order, tau)

    def text_of(self, part: sp.Expr) -> str:
        return self._product(part) if type(part) is sp.Mul else self._print(part)

    def collects(self, scale: sp.Expr, members: list) -> bool:
        sign = -1 if all(s < 0 for s, _ in members) else 1
        inner = self._sum([(s * sign, self._product(p), 0) for s, p in members])
        single = self._sum([(s * sign, self._scaled(scale, p), 0) for s, p in members])
        return len(f"{self.scalar(scale)} ({inner})") < len(single)

    def bracket(self, body: str, square: bool = False) -> str:
        return f"[{body}]" if square else f"({body})"

    def scalar(self, coefficient: sp.Expr) -> str:
        shown = self._print(coefficient)
        plain = coefficient.is_Integer or isinstance(coefficient, sp.Symbol | sp.Function)
        return shown if plain or has_matrix(coefficient) else f"({shown})"

    def frac(self, numerator: str, denominator: str) -> str:
        return f"{numerator}/" + (f"({denominator})" if " " in denominator else denominator)

    def power(self, shown: str, power: sp.Expr, hadamard: bool = False) -> str:
        if hadamard:
            return f"{shown}^∘{self._print(power)}"
        if power.is_Integer:
            return shown + str(power).translate(_SUPERSCRIPTS)
        return f"{shown}^({self._print(power)})"

    def exponential(self, exponent: sp.Expr) -> str:
        multiple = _tau_multiple(exponent, self.tau)
        if multiple is None:
            return f"exp({self._print(exponent)})"
        return "e^{" + multiple.replace("\\tau", "τ") + "}"

    def _print_exp(self, expr: sp.Expr) -> str:
        return self.exponential(expr.args[0])

    def trace(self, inside: str) -> str:
        return f"tr({inside})"

    def norm(self, inside: str) -> str:
        return f"‖{inside}‖"

    def transposed(self, shown: str) -> str:
        return shown + "ᵀ"

    def applied(self, name: str | None, body: str, inside: str) -> str:
        return f"{name}({inside})" if name else f"(d ↦ {body})∘({inside})"

    def _print_MatrixSymbol(self, expr: MatrixSymbol) -> str:
        return matrix_name_text(expr.name)


class LatexPrinter(_Matrices, SympyLatexPrinter):
    r"""LaTeX: ``\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right)``; the order of the
    terms and whether to collect them are decided on the text, so both formats agree."""

    hadamard = r"\odot"

    def __init__(self, expr: object = 0, order: Iterable = (), tau: sp.Expr | None = None):
        SympyLatexPrinter.__init__(self)
        _Matrices.__init__(self, expr, order, tau)
        self._text = TextPrinter(expr, order, tau)

    def text_of(self, part: sp.Expr) -> str:
        return self._text.text_of(part)

    def collects(self, scale: sp.Expr, members: list) -> bool:
        return self._text.collects(scale, members)

    def bracket(self, body: str, square: bool = False) -> str:
        return rf"\left[{body}\right]" if square else rf"\left({body}\right)"

    def scalar(self, coefficient: sp.Expr) -> str:
        shown = self._print(coefficient)
        return rf"\left({shown}\right)" if isinstance(coefficient, sp.Add) else shown

    def frac(self, numerator: str, denominator: str) -> str:
        return rf"\frac{{{numerator}}}{{{denominator}}}"

    def power(self, shown: str, power: sp.Expr, hadamard: bool = False) -> str:
        if hadamard:
            return rf"{shown}^{{\circ {self._print(power)}}}"
        return f"{shown}^{{{self._print(power)}}}"

    def exponential(self, exponent: sp.Expr) -> str:
        multiple = _tau_multiple(exponent, self.tau)
        inline = sp.latex(exponent, fold_short_frac=True).replace(" / ", "/")  # a scalar
        return f"e^{{{multiple if multiple is not None else inline}}}"

    def _print_ExpBase(self, expr: sp.Expr, exp: object = None) -> str:
        return self._do_exponent(self.exponential(expr.args[0]), exp)

    def trace(self, inside: str) -> str:
        return rf"\operatorname{{tr}}\left({inside}\right)"

    def norm(self, inside: str) -> str:
        return rf"\left\|{inside}\right\|"

    def transposed(self, shown: str) -> str:
        return shown + r"^{\top}"

    def applied(self, name: str | None, body: str, inside: str) -> str:
        if name is None:
            return rf"\left(d \mapsto {body}\right)_{{\circ}}\left({inside}\right)"
        command = f"\\{name}" if name in _LATEX_FUNCTIONS else rf"\operatorname{{{name}}}"
        return rf"{command}\left({inside}\right)"


def _tau_multiple(exponent: sp.Expr, tau: sp.Expr | None) -> str | None:
    r"""``t/\tau``, ``2t/\tau``, ``-t/(2\tau)`` when ``exponent`` is a rational multiple of
    t/τ, else None."""
    if tau is None or TIME not in exponent.free_symbols:
        return None
    ratio = sp.cancel(exponent * tau / TIME)
    if not ratio.is_Rational or ratio == 0:
        return None
    sign = "-" if ratio < 0 else ""
    p, q = abs(ratio.p), ratio.q
    top = "t" if p == 1 else f"{p}t"
    return f"{sign}{top}/\\tau" if q == 1 else f"{sign}{top}/({q}\\tau)"
