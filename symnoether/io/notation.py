r"""The notation of the exported LaTeX: how symbols, charges and long laws print.

Researchers write learning dynamics with dotted velocities (:math:`\dot w_1`),
bold matrices for the layers (:math:`\mathbf{W}_1`), the damping factor as
:math:`e^{t/\tau}` in front of a bracket, and break long expressions across
the lines of an ``align``. This module holds those conventions; the documents
are assembled in :mod:`symnoether.io.export`.

* :class:`Notation` prints expressions of one system: matrix-coordinate
  entries as :math:`(W_1)_{12}` (and :math:`(\dot W_1)_{12}`), the damping
  factor pulled out as :math:`e^{t/\tau}(\dots)`, and top-level sums split over
  lines of at most ``width`` characters of LaTeX.
* :class:`Row` is one line ``lhs = rhs`` of an ``align*`` (or of an
  ``aligned`` inside ``$$`` for Markdown), with an optional note.
* :func:`latex_text` turns a plain (Unicode) label such as ``"|ẇ|², η/|w|²"``
  into text that pdflatex compiles.

Examples
--------
>>> import sympy as sp
>>> x, y = sp.symbols("x y")
>>> print(render_rows([Row("V", ("x^{2} + y",))], env="aligned"))
\begin{aligned}
V &= x^{2} + y
\end{aligned}
>>> print(latex_text("η/|w|² ⇒ 50%"))
\(\eta\)/\textbar{}w\textbar{}\(^{2}\) \(\Rightarrow\) 50\%
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import sympy as sp
from sympy.printing.conventions import split_super_sub
from sympy.printing.latex import translate

from ..core.dynamics import accelerations
from ..core.system import TIME, LearningSystem, velocity

__all__ = ["DEFAULT_WIDTH", "Notation", "Row", "render_rows", "latex_text", "latex_math", "bold"]

DEFAULT_WIDTH = 100
"""Characters of LaTeX source per ``align`` line before a sum is broken."""

MAX_MATRIX_SIDE = 12
"""Larger matrices are shown by their shape, not entry by entry."""

MAX_SPREAD_TERMS = 24
"""A long product is distributed for line breaking only up to this many terms."""

TAU = r"e^{t/\tau}"
DOT, DDOT = r"\dot", r"\ddot"


@dataclass(frozen=True)
class Row:
    """One ``lhs rel rhs`` line (continued over ``rhs`` lines) of a display, with a note."""

    lhs: str
    rhs: tuple[str, ...]
    note: str = ""
    rel: str = "="


def render_rows(rows: Sequence[Row], *, env: str = "align*") -> str:
    r"""The rows as ``\begin{env} … \end{env}``; continuation lines are indented.

    ``env`` is ``'align*'`` for a LaTeX document or ``'aligned'`` for ``$$``-math.
    """
    lines = []
    for row in rows:
        note = rf" && \text{{{latex_text(row.note)}}}" if row.note else ""
        first, *rest = row.rhs or ("",)
        lines.append(f"{row.lhs} &{row.rel} {first}".rstrip() + note)
        lines.extend(rf"&\quad {more}" for more in rest)
    body = " \\\\\n".join(lines)
    return f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"


class Notation:
    r"""How the expressions of one learning system print.

    Parameters
    ----------
    system : LearningSystem, optional
        Its matrix-coordinate blocks and damping factor set the notation.
    width : int
        Characters of LaTeX per line before a top-level sum is broken.

    Examples
    --------
    >>> import sympy as sp, symnoether as sn
    >>> W = sn.matrix_coordinates("W1", 1, 2)
    >>> eta = sp.Symbol("eta", positive=True)
    >>> s = sn.LearningSystem((W,), (W[0] * W[1] - 1) ** 2, rule=sn.rules.gradient_descent(eta))
    >>> note = Notation(s)
    >>> print(note.latex(W[0] * s.velocities[1]))
    (W_{1})_{11} (\dot{W}_{1})_{12}
    >>> print(*note.damped(s.damping_factor * (W[0] - W[1])))
    e^{t/\tau} \left((W_{1})_{11} - (W_{1})_{12}\right)
    """

    def __init__(self, system: LearningSystem | None = None, *, width: int = DEFAULT_WIDTH):
        self.system = system
        self.width = width
        self.names = symbol_names(system) if system is not None else {}
        damped = system is not None and system.order == 2 and system.tau != sp.oo
        self.factor = system.damping_factor if damped else None

    def latex(self, expr: object) -> str:
        """``sympy.latex`` with this system's symbol names, Unicode made ASCII."""
        if isinstance(expr, str):
            return expr
        if isinstance(expr, sp.MatrixBase) and max(expr.shape) > MAX_MATRIX_SIDE:
            return rf"\text{{({expr.shape[0]}$\times${expr.shape[1]} matrix)}}"
        return latex_math(sp.latex(expr, symbol_names=self.names))

    def lines(self, expr: object) -> tuple[str, ...]:
        """``expr`` printed, a top-level sum split over lines of at most ``width``.

        A product too long for one line is first distributed over its sums
        (one level, when that gives at most ``MAX_SPREAD_TERMS`` terms)."""
        if isinstance(expr, sp.Mul) and len(self.latex(expr)) > self.width:
            spread = sp.expand_mul(expr, deep=False)
            if isinstance(spread, sp.Add) and len(spread.args) <= MAX_SPREAD_TERMS:
                expr = spread
        if not isinstance(expr, sp.Add):
            return (self.latex(expr),)
        return _pack(self._terms(expr), self.width)

    def damped(self, expr: sp.Expr) -> tuple[str, ...]:
        r"""``expr`` as :math:`e^{t/\tau}(\dots)` when it is the damping factor times a
        function free of t; otherwise as :meth:`lines`."""
        core = self.undamped(expr)
        if core is None:
            return self.lines(expr)
        if core == 0:
            return ("0",)
        if core == 1:
            return (TAU,)
        if not isinstance(core, sp.Add):
            if _is_negative(core):
                return (f"- {TAU} {self.latex(-core)}",)
            return (f"{TAU} {self.latex(core)}",)
        lines = self.lines(core)
        if len(lines) == 1:
            return (rf"{TAU} \left({lines[0]}\right)",)
        return (rf"{TAU} \Bigl({lines[0]}", *lines[1:-1], rf"{lines[-1]} \Bigr)")

    def undamped(self, expr: sp.Expr) -> sp.Expr | None:
        """``expr`` / e^{t/τ} when that is free of t (None when it is not, or no damping)."""
        if self.factor is None:
            return None
        expr = sp.sympify(expr)
        parts = [sp.powsimp(term / self.factor) for term in sp.Add.make_args(expr)]
        if any(TIME in part.free_symbols for part in parts):
            return None
        return sp.Add(*parts)

    def _terms(self, expr: sp.Add) -> list[str]:
        pieces = []
        for i, term in enumerate(expr.as_ordered_terms()):
            if _is_negative(term):
                pieces.append(f"- {self.latex(-term)}")
            else:
                pieces.append(("+ " if i else "") + self.latex(term))
        return pieces


def _is_negative(term: sp.Expr) -> bool:
    coefficient, _ = term.as_coeff_Mul()
    return bool(coefficient.is_extended_negative)


def _pack(pieces: list[str], width: int) -> tuple[str, ...]:
    lines: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 1 + len(piece) > width:
            lines.append(current)
            current = piece
        else:
            current = f"{current} {piece}" if current else piece
    lines.append(current)
    return tuple(lines)


# -- symbols ------------------------------------------------------------------------


def symbol_names(system: LearningSystem) -> dict[sp.Symbol, str]:
    r"""LaTeX names of matrix-coordinate entries: ``W1_12`` → ``(W_{1})_{12}``,
    its velocity ``(\dot{W}_{1})_{12}`` and acceleration ``(\ddot{W}_{1})_{12}``."""
    names: dict[sp.Symbol, str] = {}
    for name, block in system.blocks:
        if not isinstance(block, sp.MatrixBase):
            continue
        rows, cols = block.shape
        comma = "," if max(rows, cols) >= 10 else ""
        for i in range(rows):
            for j in range(cols):
                entry = block[i, j]
                index = f"{i + 1}{comma}{j + 1}"
                (acceleration,) = accelerations((entry,))
                for symbol, accent in ((entry, ""), (velocity(entry), DOT), (acceleration, DDOT)):
                    names[symbol] = f"({_decorated(name, accent)})_{{{index}}}"
    return names


def _decorated(name: str, accent: str, style: str = "") -> str:
    base, supers, subs = split_super_sub(name)
    core = translate(base)
    if style:
        core = rf"{style}{{{core}}}"
    if accent:
        core = rf"{accent}{{{core}}}"
    if subs:
        core += "_{" + " ".join(translate(s) for s in subs) + "}"
    if supers:
        core += "^{" + " ".join(translate(s) for s in supers) + "}"
    return core


def bold(name: str) -> str:
    r"""A declared vector or matrix name in bold: ``W1`` → ``\mathbf{W}_{1}``.

    Examples
    --------
    >>> print(bold("W1"), bold("theta"))
    \mathbf{W}_{1} \boldsymbol{\theta}
    """
    base = split_super_sub(name)[0]
    style = r"\mathbf" if base.isascii() and translate(base) == base else r"\boldsymbol"
    return _decorated(name, "", style)


# -- Unicode ------------------------------------------------------------------------

_TEXT_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "|": r"\textbar{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_MATH_SYMBOLS = {
    "−": "-",
    "·": r"\cdot",
    "×": r"\times",
    "→": r"\to",
    "←": r"\leftarrow",
    "⇒": r"\Rightarrow",
    "⇔": r"\Leftrightarrow",
    "↔": r"\leftrightarrow",
    "≈": r"\approx",
    "≤": r"\le",
    "≥": r"\ge",
    "≠": r"\neq",
    "≡": r"\equiv",
    "∇": r"\nabla",
    "∂": r"\partial",
    "∫": r"\int",
    "∑": r"\sum",
    "∞": r"\infty",
    "√": r"\surd",
    "⊗": r"\otimes",
    "∈": r"\in",
    "‖": r"\|",
    "±": r"\pm",
    "∝": r"\propto",
    "⟨": r"\langle",
    "⟩": r"\rangle",
    "ℝ": r"\mathbb{R}",
}
_TEXT_SYMBOLS = {"–": "--", "—": "---", "…": r"\ldots{}", "“": "``", "”": "''", "‘": "`", "’": "'"}
_MATH_ACCENTS = {"\u0307": r"\dot", "\u0308": r"\ddot", "\u0302": r"\hat", "\u0303": r"\tilde",
                 "\u0304": r"\bar", "\u20d7": r"\vec"}  # fmt: skip
_TEXT_ACCENTS = {"\u0301": r"\'", "\u0300": r"\`", "\u0327": r"\c", "\u030c": r"\v",
                 "\u0306": r"\u", "\u030a": r"\r"}  # fmt: skip
_GREEK_VARIANTS = {"epsilon": "varepsilon", "phi": "varphi", "final sigma": "varsigma"}
_GREEK_CAPITALS = set("Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())


def latex_text(text: str) -> str:
    r"""Plain text (Unicode allowed) as LaTeX text that pdflatex compiles.

    LaTeX's special characters are escaped; Greek letters, super- and
    subscripts, dotted letters and arrows become inline math ``\( … \)``; line
    breaks and tabs become spaces, and any other control character shows as its
    escape (ESC as ``\x1b``: :func:`visible_text`), so text from a spec file can
    neither break nor inject TeX.

    Examples
    --------
    >>> print(latex_text("a\x1b[31m}\nb"))
    a\textbackslash{}x1b[31m\} b
    """
    return "".join(_convert(visible_text(text), math=False))


__all__ += ["visible_text"]

_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")
_TEXT_ESCAPES |= {"\n": " ", "\t": " "}


def visible_text(text: str) -> str:
    r"""``text`` with every control character but line feed and tab — C0, DEL, C1
    (the terminal's escape sequences, a carriage return) and the bidirectional
    overrides — written as its Python escape, so that it shows instead of acting.

    Examples
    --------
    >>> print(visible_text("title\x1b[2J\r\u202eok"))
    title\x1b[2J\x0d\u202eok
    """
    return _INVISIBLE.sub(_escape_invisible, text)


def _escape_invisible(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 256 else f"\\u{code:04x}"


def latex_math(math: str) -> str:
    r"""LaTeX math with any non-ASCII character replaced by its command (η → ``\eta``).

    Examples
    --------
    >>> print(latex_math("η ẇ_{1} + r²⁴"))
    \eta  \dot{w}_{1} + r^{24}
    """
    if math.isascii():
        return math
    converted = "".join(_convert(math, math=True))
    for mark in ("^", "_"):  # r², ⁴ → r^{2}^{4} is a double script: merge
        converted = re.sub(rf"\{mark}\{{([^{{}}]*)\}}\{mark}\{{", rf"{mark}{{\1", converted)
    return converted


def _convert(text: str, *, math: bool) -> list[str]:
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if ch.isascii():
            out.append(ch if math else _TEXT_ESCAPES.get(ch, ch))
        elif ch in _MATH_ACCENTS and out:
            base = out.pop()
            out.append(_inline(rf"{_MATH_ACCENTS[ch]}{{{_unwrap(base)}}}", math))
        elif ch in _TEXT_ACCENTS and out:
            base = out.pop()
            out.append(rf"{_TEXT_ACCENTS[ch]}{{{base}}}" if not math else base)
        elif ch in _TEXT_SYMBOLS and not math:
            out.append(_TEXT_SYMBOLS[ch])
        else:
            out.append(_inline(_math_char(ch), math))
    return out


def _math_char(ch: str) -> str:
    if ch in _MATH_SYMBOLS:
        return _MATH_SYMBOLS[ch] + " "
    decomposition = unicodedata.decomposition(ch)
    for tag, mark in (("<super>", "^"), ("<sub>", "_")):
        if decomposition.startswith(tag):
            digit = chr(int(decomposition.split()[1], 16))
            return f"{mark}{{{_MATH_SYMBOLS.get(digit, digit).strip()}}}"
    name = unicodedata.name(ch, "")
    if name.startswith("GREEK "):
        letter = name.split(" LETTER ")[-1].lower().replace("lamda", "lambda")
        letter = _GREEK_VARIANTS.get(letter, letter)
        if "CAPITAL" in name:
            title = letter.capitalize()
            return f"\\{title} " if title in _GREEK_CAPITALS else _capital_latin(title)
        return f"\\{letter} "
    return "?"


def _capital_latin(title: str) -> str:
    latin = {"Alpha": "A", "Beta": "B", "Epsilon": "E", "Zeta": "Z", "Eta": "H", "Iota": "I",
             "Kappa": "K", "Mu": "M", "Nu": "N", "Omicron": "O", "Rho": "P", "Tau": "T",
             "Chi": "X"}  # fmt: skip
    return latin.get(title, "?")


def _inline(math: str, in_math: bool) -> str:
    return math if in_math else rf"\({math.strip()}\)"


def _unwrap(piece: str) -> str:
    if piece.startswith(r"\(") and piece.endswith(r"\)"):
        return piece[2:-2]
    return piece
