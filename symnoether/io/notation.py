r"""The notation of the exported documents: the core notation, broken to the page.

The symbols, matrices and damping factor print as everywhere else
(:class:`symnoether.core.display.Notation`: :math:`U_{11}`, :math:`(W_1)_{12}`,
:math:`\frac{\eta}{2} I_{12}`, :math:`e^{t/\tau}`); this module adds what a
page needs:

* :class:`Notation` also converts Unicode to LaTeX commands (pdflatex) and
  breaks long expressions (:meth:`Notation.lines`);
* :func:`render_rows` renders :class:`Row` lines as ``align*`` (LaTeX) or
  ``aligned`` (inside ``$$`` for Markdown) with every line fitted to ``width``
  points: long sums broken (:mod:`symnoether.io.linebreak`), a matrix too wide
  for the page shown entry by entry, a long left-hand side on its own line,
  notes as ``\tag*{…}`` in LaTeX (amsmath moves a tag that does not fit below
  its equation);
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

import sympy as sp

from ..core import display
from ..core.display import MAX_MATRIX_SIDE, TAU, bold
from ..core.typeset import Row
from .linebreak import break_latex
from .mathwidth import matrix_cells
from .mathwidth import width as printed_width

__all__ = [
    "DEFAULT_WIDTH",
    "Notation",
    "Row",
    "render_rows",
    "latex_text",
    "latex_math",
    "bold",
    "unique_labels",
    "MAX_MATRIX_SIDE",
    "TAU",
]

DEFAULT_WIDTH = 470.0
"""Printed width of a line, in TeX points: the text width of the documents (500 pt:
letter paper, 2 cm margins, 11 pt) less a margin for the estimate."""

LONG_LHS = 0.3
"""A left-hand side wider than this fraction of the line goes on a line of its own."""

RELATION, INDENT = 14.7, 11.0
"""Widths of `` = `` and of the ``\\quad`` that indents continuation lines."""


class Notation(display.Notation):
    r"""The notation of one system in a document: Unicode-free LaTeX, long lines broken.

    Parameters
    ----------
    system : LearningSystem, optional
    width : float
        Printed width of a line in TeX points (:data:`DEFAULT_WIDTH`).

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

    def __init__(self, system: object | None = None, *, width: float = DEFAULT_WIDTH):
        super().__init__(system)
        self.width = width

    def latex(self, expr: object) -> str:
        """LaTeX of ``expr`` in this notation, any Unicode made a LaTeX command."""
        return latex_math(super().latex(expr))

    def label(self, words: str) -> str:
        r"""``words`` as ``\text{…}`` that pdflatex compiles (Unicode converted)."""
        return rf"\text{{{latex_text(words)}}}"

    def lines(self, expr: object) -> tuple[str, ...]:
        """``expr`` printed and broken into lines of at most ``width`` points."""
        return break_latex(self.latex(expr), self.width)

    def damped(self, expr: sp.Expr) -> tuple[str, ...]:
        r"""``expr`` as :math:`e^{t/\tau}(\dots)` when it is the damping factor times a
        function free of t (see :meth:`damped_latex`), broken into lines."""
        return break_latex(latex_math(self.damped_latex(expr)), self.width)


def unique_labels(names: Sequence[str]) -> tuple[str, ...]:
    """``names`` made unique and non-empty: a repeated name is numbered, an empty one
    is its position.

    Examples
    --------
    >>> unique_labels(["general", "general", "scale", ""])
    ('general 1', 'general 2', 'scale', '4')
    """
    names = list(names)
    out = []
    for i, name in enumerate(names):
        if not name:
            out.append(str(i + 1))
        elif names.count(name) > 1:
            out.append(f"{name} {names[: i + 1].count(name)}")
        else:
            out.append(name)
    return tuple(out)


# -- rendering rows ------------------------------------------------------------------------


def render_rows(rows: Sequence[Row], *, env: str = "align*", width: float | None = None) -> str:
    r"""The rows as ``\begin{env} … \end{env}``; continuation lines are indented.

    ``env`` is ``'align*'`` for a LaTeX document (notes become ``\tag*{…}``) or
    ``'aligned'`` for ``$$``-math (notes in a second column). With ``width``
    (points), every line is fitted to it: long right-hand sides are broken, a
    matrix too wide is shown entry by entry, a long left-hand side goes on its
    own line. Without it, the rows are rendered as given.
    """
    if width is not None:
        rows = [part for row in rows for part in _fit_matrix(row, width)]
    short = [row.lhs for row in rows if width is None or _is_short(row.lhs, width)]
    lhs_width = max((printed_width(lhs) for lhs in short), default=0.0)
    lines: list[str] = []
    for row in rows:
        lines.extend(_row_lines(row, env, width, lhs_width))
    body = " \\\\\n".join(lines)
    return f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}"


def _row_lines(row: Row, env: str, width: float | None, lhs_width: float) -> list[str]:
    rhs = " ".join(row.rhs)
    lhs_lines: tuple[str, ...] = ()
    lhs = row.lhs
    if width is not None and not _is_short(row.lhs, width):
        lhs_lines, lhs = break_latex(row.lhs, width - lhs_width, width - lhs_width - INDENT), ""
    if width is None:
        rhs_lines = row.rhs or ("",)
    else:
        room = width - lhs_width - (RELATION if row.rel else 0.0)
        rhs_lines = break_latex(rhs, room, width - lhs_width - INDENT) if rhs else ("",)
    note = latex_text(row.note) if row.note else ""
    if note:
        note = rf" \tag*{{{note}}}" if env == "align*" else rf" && \text{{{note}}}"
    out = []
    if lhs_lines:
        out.append(f"& {lhs_lines[0]}")
        out.extend(rf"&\quad {more}" for more in lhs_lines[1:])
    first, *rest = rhs_lines
    out.append(f"{lhs} &{row.rel} {first}".rstrip() + note)
    out.extend(rf"&\quad {more}" for more in rest)
    return out


def _is_short(lhs: str, width: float) -> bool:
    return printed_width(lhs) <= LONG_LHS * width


def _fit_matrix(row: Row, width: float) -> list[Row]:
    """``row`` as it is, or, when its right-hand side is a matrix too wide for the line,
    one row per non-zero entry ``(lhs)_{ij} = entry``."""
    rhs = " ".join(row.rhs)
    cells = matrix_cells(rhs)
    if cells is None or printed_width(rhs) + printed_width(row.lhs) + RELATION <= width:
        return [row]
    name = row.lhs
    if "_" in name or "^" in name or " " in name.strip():
        name = f"({name})"
    comma = "," if max(len(cells), max(len(r) for r in cells)) >= 10 else ""
    out: list[Row] = []
    zeros = False
    for i, line in enumerate(cells):
        for j, cell in enumerate(line):
            if cell.strip() == "0":
                zeros = True
                continue
            if name:
                out.append(Row(f"{name}_{{{i + 1}{comma}{j + 1}}}", (cell,), rel=row.rel))
            else:  # an unnamed matrix: (i, j) entry
                out.append(Row(f"({i + 1},{j + 1})", (cell,), rel=":"))
    if not out:
        return [row]
    note = "entries not shown are 0" if zeros else ""
    out[0] = Row(out[0].lhs, out[0].rhs, "; ".join(n for n in (row.note, note) if n), out[0].rel)
    return out


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
    "÷": r"\div",
    "𝒱": r"\mathcal{V}",
    "𝒯": r"\mathcal{T}",
    "ℒ": r"\mathcal{L}",
    "𝒬": r"\mathcal{Q}",
    "ℳ": r"\mathcal{M}",
    "𝒢": r"\mathcal{G}",
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
    subscripts, dotted letters and arrows become inline math ``\( … \)``, and so
    do TeX-style scripts on a single letter (``e^{t/τ}``, ``C_{k+1}``, ``q_k``); line
    breaks and tabs become spaces, and any other control character shows as its
    escape (ESC as ``\x1b``: :func:`visible_text`), so text from a spec file can
    neither break nor inject TeX.

    Examples
    --------
    >>> print(latex_text("GD (÷ e^{t/τ}): C_{k+1} − C_k, gradient_descent"))
    GD (\(\div\) \(e^{t/\tau }\)): \(C_{k+1}\) \(-\) \(C_k\), gradient\_descent
    >>> print(latex_text("a\x1b[31m}\nb"))
    a\textbackslash{}x1b[31m\} b
    """
    text = visible_text(text)
    out, start = [], 0
    for match in _SCRIPTED.finditer(text):
        out.extend(_convert(text[start : match.start()], math=False))
        out.append(rf"\({latex_math(match.group()).strip()}\)")
        start = match.end()
    out.extend(_convert(text[start:], math=False))
    return "".join(out)


_SCRIPTED = re.compile(r"(?<![^\W\d_])[^\W\d_][_^](\{[^{}]*\}|[^\W_](?![^\W_]))")
"""A letter with a TeX sub- or superscript, not inside a word: ``e^{t/τ}``, ``q_k``."""


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
