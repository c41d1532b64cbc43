r"""Matrix laws in the papers' notation: traces, transposes and dotted layer velocities.

A law derived on :class:`~sympy.MatrixSymbol` layers (``sn.layers``) is a scalar
expression built from traces of matrix products. :func:`matrix_text` and
:func:`matrix_latex` print it the way the papers write it — Tanaka & Kunin's
:math:`m e^{t/\tau}[\operatorname{tr}(\dot W_1^\top A W_1) - \operatorname{tr}(\dot W_2^\top W_2 A)]`
— rather than as SymPy's ``Trace(Wdot1.T*A*W1)*exp(2*t/eta)``:

* a velocity is named by the scalar rule (:func:`~symnoether.core.vocabulary.velocity`:
  ``W1`` → ``Wdot1``, ``theta_2`` → ``thetadot_2``) and prints dotted: ``Ẇ1``,
  :math:`\dot W_{1}`; trailing digits are subscripts in LaTeX (``W1`` → :math:`W_{1}`);
  a transpose is ``ᵀ``, :math:`^{\top}`;
* a trace is split over sums and its scalar factors are pulled out; of the cyclic
  rotations of the product and of its transpose, the one with fewest transposes,
  starting with a transposed factor, is shown (:math:`\operatorname{tr}(\dot W_1^\top A W_1)`,
  not :math:`\operatorname{tr}(W_1^\top A^\top \dot W_1)`);
* a trace of a 1×1 product (column vectors) drops the ``tr``: ``ẇᵀ w``; when it
  is a squared norm it prints as one: ``tr(wᵀw)`` → ``‖w‖²``,
  ``tr(xᵀWᵀWx)`` → ``‖W x‖²`` (:math:`\left\|W x\right\|^{2}`);
* a factor ``exp(…)`` common to every term (the damping factor) goes in front of
  the sum, printed :math:`e^{t/\tau}` when ``tau`` is given (``exp(2*t/eta)`` with
  ``tau=eta/2``); terms with the same coefficient are collected,
  ``a·tr X + a·tr Y`` → ``a (tr X + tr Y)``, when that is shorter; signs fold into
  the sum (``− tr(…)``, never ``+ (−1) tr(…)``);
* the terms are ordered by the layers they hold — in the order of ``order`` (the
  declared layers), else by name — then by their printed form, so the output is
  the same whatever order SymPy keeps them in.

LaTeX output is one line; the documents break it to the page with
:func:`symnoether.io.linebreak.break_latex`, like every other law. Elementwise
functions print as the function of the matrix (``tanh(W x)``), a Hadamard
product with ``⊙`` (:math:`\odot`).

Examples
--------
>>> import sympy as sp
>>> from symnoether.core.vocabulary import TIME
>>> W1, W2, A = (sp.MatrixSymbol(n, 3, 3) for n in ("W1", "W2", "A"))
>>> Wd1, Wd2 = sp.MatrixSymbol("Wdot1", 3, 3), sp.MatrixSymbol("Wdot2", 3, 3)
>>> eta = sp.Symbol("eta", positive=True)
>>> Q = sp.exp(2 * TIME / eta) * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A))
>>> print(matrix_text(Q, tau=eta / 2))
e^{t/τ} [tr(Ẇ1ᵀ A W1) − tr(Ẇ2ᵀ W2 A)]
>>> print(matrix_latex(Q))
e^{2 t/\eta} \left[\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right) - \operatorname{tr}\left(\dot{W}_{2}^{\top} W_{2} A\right)\right]
"""  # noqa: E501

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
from sympy.printing.latex import LatexPrinter
from sympy.printing.str import StrPrinter

from .vocabulary import TIME, velocity

__all__ = ["matrix_text", "matrix_latex", "matrix_name_text"]

_LETTERS = re.compile(r"[A-Za-z]+")
_GREEK = {name: chr(0x3B1 + i) for i, name in enumerate(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "final_sigma sigma tau upsilon phi chi psi omega".split())}  # fmt: skip
_SUPERSCRIPTS = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def matrix_text(
    expr: object, *, order: Iterable[MatrixSymbol] = (), tau: sp.Expr | None = None
) -> str:
    """Plain text (Unicode) of a scalar built from traces, or of a matrix expression.

    Parameters
    ----------
    expr : SymPy expression or MatrixExpr
    order : MatrixSymbols, optional
        The declared layers: terms are ordered by the layers they hold, in this order
        (by name without it); a layer's velocity counts as the layer.
    tau : SymPy expression, optional
        The damping time: ``exp(k*t/tau)`` prints as ``e^{kt/τ}``.

    Examples
    --------
    >>> import sympy as sp
    >>> w = sp.MatrixSymbol("w", 4, 1)
    >>> print(matrix_text(sp.Trace(w.T * w) / 2 - 3 * sp.Trace(w * w.T) ** 2))
    (1/2) ‖w‖² − 3 ‖w‖⁴
    """
    return unicodedata.normalize("NFC", _TextPrinter(expr, order, tau).doprint(_prepare(expr)))


def matrix_latex(
    expr: object, *, order: Iterable[MatrixSymbol] = (), tau: sp.Expr | None = None
) -> str:
    r"""LaTeX of a scalar built from traces, or of a matrix expression (one line;
    options as :func:`matrix_text`).

    Examples
    --------
    >>> import sympy as sp
    >>> W, x = sp.MatrixSymbol("W", 3, 2), sp.MatrixSymbol("x", 2, 1)
    >>> print(matrix_latex(sp.Trace(x.T * W.T * W * x)))
    \left\|W x\right\|^{2}
    >>> print(matrix_latex(sp.HadamardProduct(W, W.applyfunc(sp.tanh)).T * W))
    \left(\tanh\left(W^{\top}\right) \odot W^{\top}\right) W
    """
    return _LatexPrinter(expr, order, tau).doprint(_prepare(expr))


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


# -- preparing: traces split over sums, scalars pulled out ----------------------------------


def _prepare(expr: object) -> sp.Basic:
    expr = sp.sympify(expr)
    if isinstance(expr, MatrixExpr):
        return expr
    return _distribute(expr.replace(lambda e: isinstance(e, Trace), _linear_trace))


def _distribute(expr: sp.Expr) -> sp.Expr:
    """Products multiplied out over the sums that hold traces (a scalar sum such as
    1 − β stays a coefficient)."""
    if isinstance(expr, sp.Add):
        return sp.Add(*(_distribute(term) for term in expr.args))
    if type(expr) is not sp.Mul:
        return expr
    terms = [sp.S.One]
    for factor in map(_distribute, expr.args):
        parts = sp.Add.make_args(factor) if _has_matrix(factor) else (factor,)
        terms = [term * part for term in terms for part in parts]
    return sp.Add(*terms)


def _linear_trace(trace: Trace) -> sp.Expr:
    """tr(c X + Y) → c tr(X) + tr(Y); tr(I_n) → n; tr(0) → 0."""
    arg = trace.arg
    if isinstance(arg, MatAdd):
        return sp.Add(*(_linear_trace(Trace(term)) for term in arg.args))
    if isinstance(arg, ZeroMatrix):
        return sp.S.Zero
    if isinstance(arg, Identity):
        return arg.rows
    if isinstance(arg, MatMul):
        coefficient, matrices = arg.as_coeff_matrices()
        if coefficient != 1:
            inner = matrices[0] if len(matrices) == 1 else MatMul(*matrices)
            return coefficient * _linear_trace(Trace(inner))
    return trace


def _has_matrix(expr: sp.Basic) -> bool:
    return any(isinstance(e, MatrixExpr | Trace) for e in sp.preorder_traversal(expr))


def _factors(matrix: MatrixExpr) -> list[MatrixExpr]:
    if isinstance(matrix, MatMul):
        _, matrices = matrix.as_coeff_matrices()
        return list(matrices)
    return [matrix]


def _transposes(factors: list[MatrixExpr]) -> int:
    return sum(isinstance(e, Transpose) for f in factors for e in sp.preorder_traversal(f))


def trace_form(trace: Trace) -> tuple[str, list[MatrixExpr]]:
    """('norm', v factors) for ‖v‖², ('inner', factors) for a 1×1 product, or
    ('trace', factors): the rotation of the product (or of its transpose) shown."""
    factors = _factors(trace.arg)
    reverse = [_transpose(f) for f in reversed(factors)]
    candidates = [seq[i:] + seq[:i] for seq in (factors, reverse) for i in range(len(seq))]

    def key(indexed: tuple[int, list[MatrixExpr]]) -> tuple:
        i, seq = indexed
        scalar = seq[0].rows == 1 and seq[-1].cols == 1
        return (not scalar, _transposes(seq), not isinstance(seq[0], Transpose), i)

    _, best = min(enumerate(candidates), key=key)
    if not (best[0].rows == 1 and best[-1].cols == 1):
        return "trace", best
    half = len(best) // 2
    if len(best) % 2 == 0 and all(best[i] == _transpose(best[-1 - i]) for i in range(half)):
        return "norm", best[half:]
    return "inner", best


def _transpose(matrix: MatrixExpr) -> MatrixExpr:
    return matrix.arg if isinstance(matrix, Transpose) else matrix.T


# -- the layout of a sum -----------------------------------------------------------------


class _Layout:
    """What the text and LaTeX printers share: term order, damping, collection, signs."""

    minus = "-"

    def __init__(self, expr: object, order: Iterable[MatrixSymbol], tau: sp.Expr | None):
        self.tau = None if tau is None or tau == sp.oo else sp.sympify(tau)
        self.ranks = _ranks(sp.sympify(expr), tuple(order))

    # hooks of the two formats
    def bracket(self, body: str, square: bool) -> str:
        raise NotImplementedError

    def scalar(self, coefficient: sp.Expr) -> str:
        raise NotImplementedError

    def frac(self, numerator: str, denominator: str) -> str:
        raise NotImplementedError

    def exponential(self, exponent: sp.Expr) -> str:
        """``exp(exponent)``, :math:`e^{t/\\tau}` for a multiple of t/τ."""
        raise NotImplementedError

    def key(self, part: sp.Expr) -> tuple:
        """Terms holding layers first, by the layers' ranks, then by the printed form."""
        ranks = sorted({self.ranks[s.name] for s in _symbols(part) if s.name in self.ranks})
        return (not ranks, ranks, self.text_of(part))

    def text_of(self, part: sp.Expr) -> str:
        raise NotImplementedError

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
            groups.setdefault(key, []).append(
                (-1 if number < 0 else 1, part if part != 1 else scale)
            )
        if len(groups) == 1 and terms[0][3] != 1:  # one coefficient: it goes in front
            [(scale, members)] = groups.items()
            members.sort(key=lambda m: self.key(m[1]))
            sign = -1 if all(s < 0 for s, _ in members) else 1
            head = ([] if scale == 1 else [self.scalar(scale)]) + front
            if len(members) == 1:
                body = self._product(members[0][1])
            else:
                body = self._sum([(s * sign, self._product(p), 0) for s, p in members])
                body = self.bracket(body, True) if head else body
            return ("" if sign > 0 else self.minus) + " ".join([*head, body])
        pieces = []  # (sign, printed, key)
        for scale, members in groups.items():
            if isinstance(scale, sp.Dummy):
                [(sign, value)] = members
                pieces.append((sign, self._print(value), (True, [], self.text_of(value))))
                continue
            pieces += self._group(scale, members)
        pieces.sort(key=lambda p: p[2])
        body = self._sum(pieces)
        return f"{front[0]} {self.bracket(body, True)}" if front else body

    def _group(self, scale: sp.Expr, members: list) -> list[tuple]:
        """Terms with the same coefficient, collected when that is shorter."""
        members.sort(key=lambda m: self.key(m[1]))
        single = [(sign, self._scaled(scale, part), self.key(part)) for sign, part in members]
        if len(members) == 1 or scale == 1:
            return single
        sign = -1 if all(s < 0 for s, _ in members) else 1
        inner = self._sum([(s * sign, self._product(p), 0) for s, p in members])
        collected = f"{self.scalar(scale)} {self.bracket(inner, False)}"
        return [(sign, collected, single[0][2])] if self.collects(scale, members) else single

    def collects(self, scale: sp.Expr, members: list) -> bool:
        """Whether ``scale`` (…) is shorter in text than the terms written out."""
        raise NotImplementedError

    def _sum(self, pieces: list[tuple]) -> str:
        out = ""
        for i, (sign, body, _) in enumerate(pieces):
            if i == 0:
                out = body if sign > 0 else f"{self.minus}{body}"
            else:
                out += f" {'+' if sign > 0 else self.minus} {body}"
        return out

    def _scaled(self, scale: sp.Expr, part: sp.Expr) -> str:
        if scale == 1:
            return self._product(part)
        return f"{self.scalar(scale)} {self._product(part)}"

    def _product(self, part: sp.Expr) -> str:
        """Matrix factors (traces, their powers) joined by spaces; negative powers below."""
        if not _has_matrix(part):
            return self.scalar(part)
        up, down = [], []
        for factor in sp.Mul.make_args(part):
            base, power = factor.as_base_exp()
            if power.is_number and power.is_negative:
                down.append(base ** (-power))
            else:
                up.append(factor)
        up.sort(key=self.key)
        down.sort(key=self.key)
        top = " ".join(self._print(f) for f in up) or "1"
        if not down:
            return top
        return self.frac(top, " ".join(self._print(f) for f in down))


def _split_term(term: sp.Expr) -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """(number, other scalar factors, exponent of the exp factors, matrix factors)."""
    number, rest, exponent, part = sp.S.One, sp.S.One, sp.S.Zero, sp.S.One
    for factor in sp.Mul.make_args(term):
        if factor.is_Number:
            number *= factor
        elif isinstance(factor, sp.exp) and not _has_matrix(factor):
            exponent += factor.args[0]
        elif _has_matrix(factor):
            part *= factor
        else:
            rest *= factor
    return number, rest, exponent, part


def _symbols(expr: sp.Basic) -> list[MatrixSymbol]:
    return [e for e in sp.preorder_traversal(expr) if isinstance(e, MatrixSymbol)]


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _ranks(expr: sp.Basic, order: tuple[MatrixSymbol, ...]) -> dict[str, int]:
    """Name → rank of every layer, its velocity and acceleration: the position in
    ``order``, else (no order) by name among the layers the expression holds (the
    matrices whose velocity it holds; all matrices when it holds no velocity)."""
    if order:
        layers = [m.name if isinstance(m, MatrixSymbol) else str(m) for m in order]
    else:
        names = {s.name for s in _symbols(expr)}
        bases = {_undotted(n) for n in names if _dotted(n) is not None}
        layers = sorted(bases or names, key=_natural)
    ranks = {}
    for i, name in enumerate(layers):
        speed = velocity(sp.Symbol(name)).name
        ranks.update({name: i, speed: i, speed.replace("dot", "ddot", 1): i})
    return ranks


def _undotted(name: str) -> str:
    base, rest, _ = _dotted(name)
    return base + rest


# -- the two printers ------------------------------------------------------------------------


def _is_atom(matrix: MatrixExpr) -> bool:
    return isinstance(matrix, MatrixSymbol | Identity | ZeroMatrix | ElementwiseApplyFunction)


class _TextPrinter(_Layout, StrPrinter):
    minus = "−"

    def __init__(self, expr: object, order: Iterable[MatrixSymbol], tau: sp.Expr | None):
        StrPrinter.__init__(self)
        _Layout.__init__(self, expr, order, tau)

    def text_of(self, part: sp.Expr) -> str:
        return self._product(part) if type(part) is sp.Mul else self._print(part)

    def collects(self, scale: sp.Expr, members: list) -> bool:
        sign = -1 if all(s < 0 for s, _ in members) else 1
        inner = self._sum([(s * sign, self._product(p), 0) for s, p in members])
        single = self._sum([(s * sign, self._scaled(scale, p), 0) for s, p in members])
        return len(f"{self.scalar(scale)} ({inner})") < len(single)

    def bracket(self, body: str, square: bool) -> str:
        return f"[{body}]" if square else f"({body})"

    def scalar(self, coefficient: sp.Expr) -> str:
        shown = self._print(coefficient)
        plain = (
            coefficient.is_Integer or coefficient.is_Symbol or isinstance(coefficient, sp.Function)
        )
        return shown if plain or _has_matrix(coefficient) else f"({shown})"

    def frac(self, numerator: str, denominator: str) -> str:
        return f"{numerator}/" + (f"({denominator})" if " " in denominator else denominator)

    def exponential(self, exponent: sp.Expr) -> str:
        multiple = _tau_multiple(exponent, self.tau)
        if multiple is None:
            return f"exp({self._print(exponent)})"
        return "e^{" + multiple.replace("\\tau", "τ") + "}"

    def _print_exp(self, expr: sp.Expr) -> str:
        return self.exponential(expr.args[0])

    def _print_Add(self, expr: sp.Expr, order: object = None) -> str:
        return self.layout(expr) if _has_matrix(expr) else super()._print_Add(expr, order)

    def _print_Mul(self, expr: sp.Expr) -> str:
        return self.layout(expr) if _has_matrix(expr) else super()._print_Mul(expr)

    def _print_Pow(self, expr: sp.Pow, rational: bool = False) -> str:
        base, power = expr.args
        if not _has_matrix(base):
            return super()._print_Pow(expr, rational)
        if isinstance(base, Trace) and trace_form(base)[0] == "norm":
            return self._norm(base, 2 * power)
        if power.is_number and power.is_negative:
            return f"1/{self._print(base ** (-power))}"
        shown = self._print(base)
        shown = shown if isinstance(base, Trace) else f"({shown})"
        return shown + _superscript(power, self._print)

    def _norm(self, trace: Trace, power: sp.Expr) -> str:
        if power.is_number and power.is_negative:
            return f"1/{self._norm(trace, -power)}"
        inside = self._product_of(trace_form(trace)[1], alone=True)
        return f"‖{inside}‖" + ("" if power == 1 else _superscript(power, self._print))

    def _print_Trace(self, expr: Trace) -> str:
        kind, factors = trace_form(expr)
        if kind == "norm":
            return self._norm(expr, sp.S(2))
        inside = self._product_of(factors)
        return inside if kind == "inner" else f"tr({inside})"

    def _product_of(self, factors: list[MatrixExpr], alone: bool = False) -> str:
        if alone and len(factors) == 1:
            return self._print(factors[0])
        return " ".join(self._factor(f) for f in factors)

    def _factor(self, matrix: MatrixExpr) -> str:
        shown = self._print(matrix)
        wrap = isinstance(matrix, MatAdd | HadamardProduct | MatMul)
        return f"({shown})" if wrap else shown

    def _print_MatrixSymbol(self, expr: MatrixSymbol) -> str:
        return matrix_name_text(expr.name)

    def _print_Transpose(self, expr: Transpose) -> str:
        shown = self._print(expr.arg)
        return (shown if _is_atom(expr.arg) else f"({shown})") + "ᵀ"

    def _print_MatMul(self, expr: MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        return _signed_product(self, coefficient, self._product_of(list(matrices)))

    def _print_MatAdd(self, expr: MatAdd) -> str:
        return _matrix_sum(self, expr)

    def _print_HadamardProduct(self, expr: HadamardProduct) -> str:
        return " ⊙ ".join(self._factor(f) for f in expr.args)

    def _print_HadamardPower(self, expr: HadamardPower) -> str:
        return self._factor(expr.base) + "^∘" + self._print(expr.exp)

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> str:
        name = _function_name(expr)
        inner = self._print(expr.expr)
        if name is not None:
            return f"{name}({inner})"
        body = self._print(expr.function.expr.subs(expr.function.variables[0], sp.Symbol("d")))
        return f"(d ↦ {body})∘({inner})"

    def _print_Identity(self, expr: Identity) -> str:
        return "I"

    def _print_ZeroMatrix(self, expr: ZeroMatrix) -> str:
        return "0"

    def _print_Inverse(self, expr: Inverse) -> str:
        return self._factor(expr.arg) + "⁻¹"

    def _print_MatPow(self, expr: MatPow) -> str:
        return self._factor(expr.base) + _superscript(expr.exp, self._print)


class _LatexPrinter(_Layout, LatexPrinter):
    def __init__(self, expr: object, order: Iterable[MatrixSymbol], tau: sp.Expr | None):
        LatexPrinter.__init__(self)
        _Layout.__init__(self, expr, order, tau)
        self._text = _TextPrinter(expr, order, tau)

    def text_of(self, part: sp.Expr) -> str:
        return self._text.text_of(part)

    def collects(self, scale: sp.Expr, members: list) -> bool:
        return self._text.collects(scale, members)

    def bracket(self, body: str, square: bool) -> str:
        return rf"\left[{body}\right]" if square else rf"\left({body}\right)"

    def scalar(self, coefficient: sp.Expr) -> str:
        shown = self._print(coefficient)
        return rf"\left({shown}\right)" if isinstance(coefficient, sp.Add) else shown

    def frac(self, numerator: str, denominator: str) -> str:
        return rf"\frac{{{numerator}}}{{{denominator}}}"

    def exponential(self, exponent: sp.Expr) -> str:
        multiple = _tau_multiple(exponent, self.tau)
        if multiple is not None:
            return f"e^{{{multiple}}}"
        saved = self._settings["fold_short_frac"]
        self._settings["fold_short_frac"] = True
        try:
            return "e^{" + self._print(exponent).replace(" / ", "/") + "}"
        finally:
            self._settings["fold_short_frac"] = saved

    def _print_ExpBase(self, expr: sp.Expr, exp: object = None) -> str:
        return self._do_exponent(self.exponential(expr.args[0]), exp)

    def _print_Add(self, expr: sp.Expr, order: object = None) -> str:
        return self.layout(expr) if _has_matrix(expr) else super()._print_Add(expr, order)

    def _print_Mul(self, expr: sp.Expr) -> str:
        return self.layout(expr) if _has_matrix(expr) else super()._print_Mul(expr)

    def _print_Pow(self, expr: sp.Pow, exp: object = None) -> str:
        base, power = expr.args
        if not _has_matrix(base):
            return super()._print_Pow(expr)
        if isinstance(base, Trace) and trace_form(base)[0] == "norm":
            return self._norm(base, 2 * power)
        if power.is_number and power.is_negative:
            return self.frac("1", self._print(base ** (-power)))
        shown = self._print(base)
        shown = shown if isinstance(base, Trace) else rf"\left({shown}\right)"
        return f"{shown}^{{{self._print(power)}}}"

    def _norm(self, trace: Trace, power: sp.Expr) -> str:
        if power.is_number and power.is_negative:
            return self.frac("1", self._norm(trace, -power))
        inside = self._product_of(trace_form(trace)[1], alone=True)
        return rf"\left\|{inside}\right\|" + ("" if power == 1 else f"^{{{self._print(power)}}}")

    def _print_Trace(self, expr: Trace, exp: object = None) -> str:
        kind, factors = trace_form(expr)
        if kind == "norm":
            return self._norm(expr, sp.S(2))
        inside = self._product_of(factors)
        return inside if kind == "inner" else rf"\operatorname{{tr}}\left({inside}\right)"

    def _product_of(self, factors: list[MatrixExpr], alone: bool = False) -> str:
        if alone and len(factors) == 1:
            return self._print(factors[0])
        return " ".join(self._factor(f) for f in factors)

    def _factor(self, matrix: MatrixExpr) -> str:
        shown = self._print(matrix)
        wrap = isinstance(matrix, MatAdd | HadamardProduct | MatMul)
        return rf"\left({shown}\right)" if wrap else shown

    def _print_Transpose(self, expr: Transpose) -> str:
        shown = self._print(expr.arg)
        return (shown if _is_atom(expr.arg) else rf"\left({shown}\right)") + r"^{\top}"

    def _print_MatMul(self, expr: MatMul) -> str:
        coefficient, matrices = expr.as_coeff_matrices()
        return _signed_product(self, coefficient, self._product_of(list(matrices)))

    def _print_MatAdd(self, expr: MatAdd) -> str:
        return _matrix_sum(self, expr)

    def _print_HadamardProduct(self, expr: HadamardProduct) -> str:
        return r" \odot ".join(self._factor(f) for f in expr.args)

    def _print_HadamardPower(self, expr: HadamardPower) -> str:
        return self._factor(expr.base) + rf"^{{\circ {self._print(expr.exp)}}}"

    def _print_ElementwiseApplyFunction(self, expr: ElementwiseApplyFunction) -> str:
        name = _function_name(expr)
        inner = self._print(expr.expr)
        if name is not None:
            command = f"\\{name}" if name in _LATEX_FUNCTIONS else rf"\operatorname{{{name}}}"
            return rf"{command}\left({inner}\right)"
        body = self._print(expr.function.expr.subs(expr.function.variables[0], sp.Symbol("d")))
        return rf"\left(d \mapsto {body}\right)_{{\circ}}\left({inner}\right)"

    def _print_Identity(self, expr: Identity) -> str:
        return "I"

    def _print_ZeroMatrix(self, expr: ZeroMatrix) -> str:
        return "0"

    def _print_Inverse(self, expr: Inverse, exp: object = None) -> str:
        return self._factor(expr.arg) + "^{-1}"

    def _print_MatPow(self, expr: MatPow) -> str:
        return self._factor(expr.base) + f"^{{{self._print(expr.exp)}}}"


_LATEX_FUNCTIONS = {"tanh", "sinh", "cosh", "exp", "log", "sin", "cos", "tan", "max", "min"}


def _function_name(expr: ElementwiseApplyFunction) -> str | None:
    """``tanh`` when the elementwise function is ``d ↦ tanh(d)``, else None."""
    body, variables = expr.function.expr, expr.function.variables
    if isinstance(body, sp.Function) and body.args == tuple(variables):
        return type(body).__name__
    return None


def _signed_product(printer: _Layout, coefficient: sp.Expr, product: str) -> str:
    number, rest = sp.sympify(coefficient).as_coeff_Mul()
    sign = printer.minus if number < 0 else ""
    scale = abs(number) * rest
    return sign + (product if scale == 1 else f"{printer.scalar(scale)} {product}")


def _matrix_sum(printer: _Layout, expr: MatAdd) -> str:
    pieces = []
    for term in expr.args:
        coefficient = term.as_coeff_matrices()[0] if isinstance(term, MatMul) else sp.S.One
        negative = sp.sympify(coefficient).as_coeff_Mul()[0] < 0
        shown = printer._print(-term if negative else term)
        pieces.append((-1 if negative else 1, shown, printer.key(term)))
    pieces.sort(key=lambda p: (p[0] < 0, p[2]))  # y − W x, not −W x + y
    return printer._sum(pieces)


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


def _superscript(power: sp.Expr, show: object) -> str:
    if power.is_Integer:
        return str(power).translate(_SUPERSCRIPTS)
    return f"^({show(power)})"
