r"""Long LaTeX math broken over lines, by an estimate of its printed width.

pdflatex does not break display math: an equation wider than the page runs
off it (an ``Overfull \hbox``). This module estimates the printed width of
LaTeX math — in TeX points at 11 pt, from the glyph classes and the spacing
TeX puts around operators — and breaks it where a reader expects: before a
``+`` or ``-`` of a sum, after a comma, before ``\cdot``. A break may fall inside
parentheses: a ``\left( … \right)`` pair that spans lines becomes
``\bigl( … \bigr)`` (fixed size, so each line is complete LaTeX), and a wide
``\frac{a\,(…)}{d}`` is first rewritten as ``\frac{a}{d}\,(…)``. The output
lines are meant for ``align*``/``aligned`` rows (:mod:`symnoether.io.notation`).

The estimate is deliberately on the wide side; the gallery test
(``tests/io/test_latex_gallery.py``) compiles every derivation and fails on an
overfull box wider than 20 pt.

Examples
--------
>>> width(r"x_{1} + x_{2}") > width("x + y")
True
>>> for line in break_latex(r"\left(a + b + c + d\right)", 30):
...     print(line)
\bigl(a + b
+ c + d\bigr)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["width", "break_latex", "split_top", "matrix_cells"]

_TOKEN = re.compile(r"\\[A-Za-z]+\*?|\\.|\s+|.", re.S)

SCRIPT = 0.72
"""Size of a sub- or superscript relative to the base (8 pt on 11 pt)."""

_SIZED = {r"\left": r"\right", r"\bigl": r"\bigr", r"\Bigl": r"\Bigr", r"\biggl": r"\biggr",
          r"\Biggl": r"\Biggr"}  # fmt: skip
_CLOSERS = set(_SIZED.values())
_PLAIN = {"(": ")", "[": "]"}
_FRACS = {r"\frac", r"\dfrac", r"\tfrac"}
_TWO_ARGS = _FRACS | {r"\binom", r"\dbinom", r"\tbinom"}
_ACCENTS = {r"\dot", r"\ddot", r"\hat", r"\bar", r"\tilde", r"\vec", r"\widehat", r"\widetilde",
            r"\overline", r"\underline", r"\mathbf", r"\boldsymbol", r"\mathcal", r"\mathbb",
            r"\mathit", r"\mathsf", r"\mathtt", r"\mathfrak", r"\mathscr"}  # fmt: skip
_WORDS = {r"\text", r"\textrm", r"\texttt", r"\textit", r"\textbf", r"\mathrm",
          r"\operatorname", r"\operatorname*"}  # fmt: skip
_ZERO_ARG_ONE = {r"\mathopen", r"\mathclose", r"\phantom", r"\vphantom", r"\mathstrut"}
_ONE_ARG = _ACCENTS | _WORDS | _ZERO_ARG_ONE | {r"\sqrt", r"\hphantom", r"\mathrel",
                                                r"\mathbin", r"\mathop", r"\mathord"}  # fmt: skip
_BINARY = {"+", "-", r"\pm", r"\mp"}
_PRODUCTS = {r"\cdot", r"\times"}
_RELATIONS = {"=", "<", ">", r"\le", r"\leq", r"\ge", r"\geq", r"\approx", r"\to", r"\equiv",
              r"\neq", r"\sim", r"\in", r"\mapsto", r"\propto", r"\simeq"}  # fmt: skip
_SPACES = {r"\,": 1.8, r"\:": 2.4, r"\;": 3.1, r"\!": -1.8, r"\quad": 11.0, r"\qquad": 22.0,
           r"\ ": 3.7, "~": 3.7}  # fmt: skip
_WIDE = {r"\cdots": 14.7, r"\ldots": 14.7, r"\dots": 14.7, r"\ddots": 14.7, r"\vdots": 3.1,
         r"\infty": 11.0, r"\nabla": 9.2, r"\partial": 6.3, r"\sum": 16.0, r"\prod": 15.0,
         r"\int": 11.0, r"\langle": 4.3, r"\rangle": 4.3, r"\|": 5.5, r"\{": 5.5, r"\}": 5.5,
         r"\lfloor": 4.9, r"\rfloor": 4.9, r"\lceil": 4.9, r"\rceil": 4.9}  # fmt: skip
_GREEK_UPPER = {r"\Gamma", r"\Delta", r"\Theta", r"\Lambda", r"\Xi", r"\Pi", r"\Sigma",
                r"\Upsilon", r"\Phi", r"\Psi", r"\Omega"}  # fmt: skip
_NARROW = set("ijlrtf")
_WIDE_LETTERS = set("mwMWQNHKDUVGO")


@dataclass
class _Node:
    """A parsed piece of math: an atom, a (delimited or brace) group, or a fraction."""

    kind: str  # 'atom', 'group', 'brace', 'frac'
    text: str = ""  # atom source; group: opening delimiter
    close: str = ""  # group: closing delimiter
    opener: str = ""  # group: \left, \bigl, … or '' for plain parentheses
    closer: str = ""
    children: list = field(default_factory=list)  # group, brace: inside; frac: numerator
    den: list = field(default_factory=list)
    scripts: str = ""
    script_width: float = 0.0
    base: float = 0.0  # width without scripts
    raw: str | None = None  # the source as it was written (None: made here)
    begin: int = -1  # where the source starts in the parsed string
    gap: str = ""  # the white space written before it
    close_gap: str = ""  # group: the white space before its closing delimiter
    fixed: bool = False  # a fraction already split: not split again

    @property
    def width(self) -> float:
        return self.base + self.script_width

    def source(self) -> str:
        return self.raw if self.raw is not None else self._core() + self.scripts

    def _core(self) -> str:
        if self.kind == "atom":
            return self.text
        if self.kind == "brace":
            return "{" + _join(self.children) + "}"
        if self.kind == "frac":
            return rf"{self.text}{{{_join(self.children)}}}{{{_join(self.den)}}}"
        inside = _join(self.children)
        return f"{self.opener}{self.text}{inside}{self.close_gap}{self.closer}{self.close}"


def _join(nodes: Iterable[_Node]) -> str:
    return "".join((node.gap if i else "") + node.source() for i, node in enumerate(nodes))


# -- parsing ---------------------------------------------------------------------------


class _Parser:
    def __init__(self, latex: str):
        self.latex = latex
        found = [(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(latex)]
        found = [item for item in found if not item[0].isspace()]
        self.tokens = [token for token, _, _ in found]
        self.spans = [(start, end) for _, start, end in found]
        self.pos = 0

    def source_since(self, position: int) -> str:
        """The source of the tokens from index ``position`` to the current one."""
        if position >= self.pos:
            return ""
        return self.latex[self.spans[position][0] : self.spans[self.pos - 1][1]]

    def gap(self, position: int) -> str:
        """The white space before token ``position``."""
        if position <= 0 or position >= len(self.spans):
            return ""
        return self.latex[self.spans[position - 1][1] : self.spans[position][0]]

    def mark(self, node: _Node, position: int) -> None:
        """Record the source of ``node``, which started at token ``position``."""
        node.begin = self.spans[position][0]
        node.raw = self.latex[node.begin : self.spans[self.pos - 1][1]]
        node.gap = self.gap(position)

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.pos += token is not None
        return token

    def sequence(self, stops: frozenset = frozenset()) -> list[_Node]:
        """Nodes up to (not including) a token of ``stops`` or the end."""
        nodes: list[_Node] = []
        while (token := self.peek()) is not None and token not in stops:
            start, count = self.pos, len(nodes)
            self.take()
            if token in ("^", "_"):
                if not nodes:
                    nodes.append(_Node("atom", "", begin=self.spans[start][0], raw=""))
                raw = self.raw_argument()
                script = parse(raw)
                last = nodes[-1]
                last.scripts += f"{token}{{{raw}}}"
                last.script_width = max(last.script_width, SCRIPT * _total(script) + 0.5)
                if last.raw is not None:
                    last.raw = self.latex[last.begin : self.spans[self.pos - 1][1]]
                continue
            if token == "{":
                children = self.sequence(frozenset({"}"}))
                self.take()
                nodes.append(_group("brace", children))
            elif token in _SIZED:
                nodes.extend(self.delimited(token, stops))
            elif token in _PLAIN:
                nodes.extend(self.plain(token, stops))
            elif token in _TWO_ARGS:
                numerator, denominator = parse(self.raw_argument()), parse(self.raw_argument())
                node = _Node("frac", token, children=numerator, den=denominator)
                node.base = max(_total(numerator), _total(denominator)) + 2.4
                nodes.append(node)
            elif token == r"\begin":
                nodes.append(self.environment())
            elif token in _ONE_ARG:
                nodes.append(self.command(token))
            else:
                nodes.append(_atom(token))
            if len(nodes) > count and nodes[count].raw is None:
                if nodes[count].kind == "atom" and len(nodes) > count + 1:  # a lone parenthesis
                    nodes[count].raw, nodes[count].begin = token, self.spans[start][0]
                    nodes[count].gap = self.gap(start)
                else:
                    self.mark(nodes[count], start)
        return nodes

    def raw_argument(self) -> str:
        token = self.take()
        if token != "{":
            return token or ""
        depth, start = 1, self.pos
        while (token := self.take()) is not None:
            depth += (token == "{") - (token == "}")
            if depth == 0:
                self.pos -= 1
                inside = self.source_since(start)
                self.pos += 1
                return inside
        return self.source_since(start)

    def delimited(self, opener: str, stops: frozenset) -> list[_Node]:
        start = self.pos - 1
        delimiter = self.take() or "."
        closer = _SIZED[opener]
        children = self.sequence(stops | {closer})
        close_gap = self.gap(self.pos)
        if self.peek() != closer:  # a line of a broken group: the opening delimiter alone
            source = opener + delimiter
            alone = _Node("atom", source, base=5.0, raw=source, gap=self.gap(start))
            return [alone, *children]
        self.take()
        node = _group("group", children, opener, delimiter, closer, self.take() or ".")
        node.close_gap = close_gap
        return [node]

    def plain(self, token: str, stops: frozenset) -> list[_Node]:
        closing = _PLAIN[token]
        children = self.sequence(stops | {closing})
        if self.peek() != closing:  # an interval or a lone parenthesis: atoms
            return [_atom(token), *children]
        node = _group("group", children, "", token, "", closing)
        node.close_gap = self.gap(self.pos)
        self.take()
        return [node]

    def environment(self) -> _Node:
        start = self.pos - 1
        name = self.raw_argument()
        depth = 1
        while (token := self.take()) is not None:
            if token in (r"\begin", r"\end"):
                if self.raw_argument() == name:
                    depth += 1 if token == r"\begin" else -1
                if depth == 0:
                    break
        source = self.source_since(start)
        return _Node("atom", source, base=_environment_width(source))

    def command(self, token: str) -> _Node:
        optional = ""
        if token == r"\sqrt" and self.peek() == "[":
            start = self.pos
            while self.take() not in (None, "]"):
                pass
            optional = self.source_since(start)
        raw = self.raw_argument()
        inside = _total(parse(raw))
        if token in _WORDS:
            size = 5.3 * len(re.sub(r"\\[A-Za-z]+|[{}\\]", "", raw)) + 1.8 * (token != r"\text")
        elif token in _ZERO_ARG_ONE:
            size = 0.0
        elif token == r"\sqrt":
            size = inside + 9.0
        elif token in (r"\mathbf", r"\boldsymbol"):
            size = 1.15 * inside
        else:
            size = inside
        return _Node("atom", f"{token}{optional}{{{raw}}}", base=size)


def parse(latex: str) -> list[_Node]:
    """The math ``latex`` as a list of nodes (top level)."""
    parser = _Parser(latex)
    nodes = parser.sequence()
    while parser.peek() is not None:  # a stray closing token: keep it
        nodes.append(_atom(parser.take()))
        nodes.extend(parser.sequence())
    return nodes


def _group(kind: str, children: list, opener: str = "", text: str = "", closer: str = "",
           close: str = "") -> _Node:  # fmt: skip
    node = _Node(kind, text, close, opener, closer, children)
    delimiters = 0.0 if kind == "brace" else 2 * (7.0 if _tall(children) else 4.3)
    node.base = _total(children) + delimiters
    return node


def _tall(nodes: Iterable[_Node]) -> bool:
    for node in nodes:
        if node.kind == "frac" or (node.kind == "atom" and r"\begin" in node.text):
            return True
        if node.kind in ("group", "brace") and _tall(node.children):
            return True
    return False


def _total(nodes: Iterable[_Node]) -> float:
    return sum(node.width for node in nodes)


# -- widths ------------------------------------------------------------------------------


def width(latex: str) -> float:
    """Estimated printed width of the math ``latex``, in TeX points at 11 pt (display style).

    Examples
    --------
    >>> round(width("x + y"), 1), round(width(r"\\frac{a}{b}"), 1)
    (25.5, 8.4)
    """
    return _total(parse(latex))


def _atom(token: str) -> _Node:
    return _Node("atom", token, base=_token_width(token))


def _token_width(token: str) -> float:
    if token in _BINARY or token == r"\times":
        return 13.5
    if token == r"\cdot":
        return 8.0
    if token in _RELATIONS:
        return 14.7
    if token in _SPACES:
        return _SPACES[token]
    if token in _WIDE:
        return _WIDE[token]
    if token == ",":
        return 4.9
    if token in ("(", ")"):
        return 4.3
    if token in ("[", "]", "|", "/", ";", ":", "!", "'"):
        return 3.1
    if token.startswith("\\"):
        name = token[1:]
        if token in _GREEK_UPPER:
            return 8.0
        if name.isalpha() and len(name) > 1 and name in _FUNCTIONS:
            return 5.0 * len(name) + 1.8
        return 6.5 if name.isalpha() else 3.0
    if token.isdigit():
        return 5.5
    if token.isalpha():
        if token in _WIDE_LETTERS:
            return 10.0
        if token in _NARROW:
            return 4.2
        return 8.3 if token.isupper() else 6.0
    return 6.0


_FUNCTIONS = {"sin", "cos", "tan", "log", "ln", "exp", "max", "min", "tanh", "sinh", "cosh",
              "det", "sup", "inf", "arg", "lim", "sec", "csc", "cot", "arcsin", "arccos",
              "arctan", "operatorname"}  # fmt: skip


def _environment_width(source: str) -> float:
    """A matrix or array: column widths summed, 10 pt between columns."""
    inner = re.sub(r"^\\begin\{\w+\*?\}(\{[^{}]*\})?|\\end\{\w+\*?\}$", "", source.strip())
    rows = [split_top(row, "&") for row in split_top(inner, r"\\")]
    if not rows:
        return 0.0
    columns = max(len(row) for row in rows)
    widths = [0.0] * columns
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], width(cell))
    return sum(widths) + 10.0 * (columns - 1)


# -- splitting -----------------------------------------------------------------------------


def split_top(latex: str, separator: str) -> list[str]:
    r"""``latex`` split at ``separator`` tokens outside braces, ``\left … \right`` and
    environments (``&`` or ``\\`` inside a matrix row, ``=`` in an assignment).

    Examples
    --------
    >>> split_top(r"a = \frac{b = c}{d} = e", "=")
    ['a', '\\frac{b = c}{d}', 'e']
    """
    parts, current, depth = [], [], 0
    for token in _TOKEN.findall(latex):
        if token in ("{", r"\begin") or token in _SIZED:
            depth += 1
        elif token in ("}", r"\end") or token in _CLOSERS:
            depth -= 1
        if token == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(token)
    parts.append("".join(current).strip())
    return [part for part in parts if part] if separator == "\\\\" else parts


def matrix_cells(latex: str) -> list[list[str]] | None:
    r"""The cells of ``latex`` when it is one ``\left[\begin{matrix} … \end{matrix}\right]``.

    Examples
    --------
    >>> matrix_cells(r"\left[\begin{matrix}a & b\\c & d\end{matrix}\right]")
    [['a', 'b'], ['c', 'd']]
    """
    match = re.fullmatch(r"\s*\\left\[\s*\\begin\{matrix\}(.*)\\end\{matrix\}\s*\\right\]\s*",
                         latex, re.S)  # fmt: skip
    if match is None or r"\begin{matrix}" in match.group(1):
        return None
    return [split_top(row, "&") for row in split_top(match.group(1), r"\\")]


# -- breaking ------------------------------------------------------------------------------


@dataclass
class _Piece:
    node: _Node | None  # None: the opening or closing delimiter of an opened group
    group: _Node | None = None
    closing: bool = False
    breaks: bool = False  # a line may start at this piece
    depth: int = 0  # groups opened around it: a break at a smaller depth reads better

    @property
    def width(self) -> float:
        if self.node is not None:
            return self.node.width
        size = 7.0 if _tall(self.group.children) else 4.3
        return size + (self.group.script_width if self.closing else 0.0)


def break_latex(latex: str, first: float, rest: float | None = None) -> tuple[str, ...]:
    r"""``latex`` in lines of at most ``first`` points (the first line) and ``rest`` (the
    others), broken before ``+``/``-``/relations, after commas, before ``\cdot``; a line
    that cannot be broken is left wider.

    Examples
    --------
    >>> break_latex(r"\frac{\eta \left(a + b + c\right)}{2}", 40)
    ('\\frac{\\eta}{2} \\bigl(a + b', '+ c\\bigr)')
    """
    rest = first if rest is None else rest
    nodes = parse(latex)
    if _total(nodes) <= first:
        return (latex.strip(),)
    pieces = _pieces(nodes)
    stuck: set[int] = set()
    while True:
        wide = [s for s in _segments(pieces) if _width(s) > rest and id(s[0]) not in stuck]
        if not wide:
            break
        segment = max(wide, key=_width)
        candidates = [p for p in segment if p.node is not None and _opens(p.node)]
        if not candidates:
            stuck.add(id(segment[0]))
            continue
        chosen = max(candidates, key=lambda p: p.width)
        at = next(i for i, p in enumerate(pieces) if p is chosen)
        pieces[at : at + 1] = _open(chosen)
    return _emit(_pack(_segments(pieces), first, rest))


def _pieces(nodes: list[_Node], depth: int = 0) -> list[_Piece]:
    pieces = []
    for i, node in enumerate(nodes):
        previous = nodes[i - 1] if i else None
        pieces.append(_Piece(node, breaks=_may_break(previous, node), depth=depth))
    return pieces


def _may_break(previous: _Node | None, node: _Node) -> bool:
    if previous is None:
        return False
    if previous.kind == "atom" and previous.text == "," and not previous.scripts:
        return True
    if node.kind != "atom" or node.scripts:
        return False
    if node.text in _RELATIONS or node.text in _PRODUCTS:
        return True
    operator = previous.kind == "atom" and (
        previous.text in _BINARY | _RELATIONS | _PRODUCTS | {","}
        or previous.text in _SPACES
        or previous.text.endswith(("(", "[", r"\{", "."))  # an opening delimiter alone
    )
    return node.text in _BINARY and not operator


def _opens(node: _Node) -> bool:
    if node.kind == "group":
        return True
    if node.kind == "brace":
        return len(node.children) == 1 and node.children[0].kind == "group"
    if node.kind != "frac" or node.scripts or node.fixed:
        return False
    several = len(node.children) > 1 or (node.children and node.children[0].kind == "group")
    return several and _total(node.children) > _total(node.den)


def _open(piece: _Piece) -> list[_Piece]:
    node = piece.node
    if node.kind == "brace":  # {\left( … \right)} → the group itself
        inner = node.children[0]
        inner.scripts += node.scripts
        inner.script_width = max(inner.script_width, node.script_width)
        return _open(_Piece(inner, breaks=piece.breaks, depth=piece.depth))
    if node.kind == "frac":
        parts = _split_frac(node)
        return [
            _Piece(n, breaks=piece.breaks and not i, depth=piece.depth) for i, n in enumerate(parts)
        ]
    inner = _pieces(node.children, piece.depth + 1)
    opening = _Piece(None, node, breaks=piece.breaks, depth=piece.depth)
    return [opening, *inner, _Piece(None, node, closing=True, depth=piece.depth)]


def _split_frac(node: _Node) -> list[_Node]:
    r"""``\frac{a (…)(…)}{d}`` → ``\frac{a}{d} (…) (…)``: the wide factors of a product leave
    the numerator; ``\frac{a + b}{d}`` → ``\frac{1}{d} (a + b)``."""
    numerator, sign = list(node.children), []
    if numerator and numerator[0].kind == "atom" and numerator[0].text == "-":
        sign, numerator = [numerator[0]], numerator[1:]
    summed = any(
        n.kind == "atom" and n.text in _BINARY and _may_break(numerator[i - 1], n)
        for i, n in enumerate(numerator)
        if i
    )
    products = any(n.kind == "atom" and n.text in _PRODUCTS for n in numerator)
    if summed or products or not numerator:
        wide = [_group("group", numerator, r"\left", "(", r"\right", ")")]
        small: list[_Node] = []
    else:
        limit = max(_total(node.den), SMALL_FACTOR)
        wide = [n for n in numerator if n.width > limit] or [max(numerator, key=lambda n: n.width)]
        small = [n for n in numerator if all(n is not w for w in wide)]
    small = small or [_atom("1")]
    small[0].gap = ""
    fraction = _Node("frac", node.text, children=small, den=node.den, gap=node.gap, fixed=True)
    fraction.base = max(_total(small), _total(node.den)) + 2.4
    if sign:
        sign[0].gap, fraction.gap = node.gap, " "
    for factor in wide:
        factor.gap = " "
    return [*sign, fraction, *wide]


SMALL_FACTOR = 40.0
"""Points: a factor of a split fraction's numerator up to this wide stays in the fraction."""


def _segments(pieces: list[_Piece]) -> list[list[_Piece]]:
    segments: list[list[_Piece]] = []
    for piece in pieces:
        if piece.breaks or not segments:
            segments.append([])
        segments[-1].append(piece)
    return segments


def _width(segment: list[_Piece]) -> float:
    return sum(piece.width for piece in segment)


def _pack(segments: list[list[_Piece]], first: float, rest: float) -> list[list[_Piece]]:
    """Segments filled into lines; an overfull line is broken at its shallowest break that
    keeps at least half a line before it."""
    lines: list[list[_Piece]] = []
    current: list[list[_Piece]] = []
    budget = first
    for segment in segments:
        current.append(segment)
        while len(current) > 1 and sum(map(_width, current)) > budget:
            cut = _best_cut(current, budget)
            lines.append([piece for part in current[:cut] for piece in part])
            current, budget = current[cut:], rest
    lines.append([piece for part in current for piece in part])
    return lines


def _best_cut(current: list[list[_Piece]], budget: float) -> int:
    widths = [0.0]
    for part in current:
        widths.append(widths[-1] + _width(part))
    fitting = [k for k in range(1, len(current)) if widths[k] <= budget] or [1]
    full = [k for k in fitting if widths[k] >= budget / 2] or [max(fitting)]
    return min(full, key=lambda k: (current[k][0].depth, -k))


def _emit(lines: list[list[_Piece]]) -> tuple[str, ...]:
    line_of: dict[int, set[int]] = {}
    for number, line in enumerate(lines):
        for piece in line:
            if piece.node is None:
                line_of.setdefault(id(piece.group), set()).add(number)
    out = []
    for line in lines:
        words = []
        for i, piece in enumerate(line):
            if piece.node is not None:
                gap, word = piece.node.gap, piece.node.source()
            else:
                group = piece.group
                split = len(line_of[id(group)]) > 1
                gap = group.close_gap if piece.closing else group.gap
                word = _delimiter(group, split, closing=piece.closing)
                word += group.scripts if piece.closing else ""
            words.append((gap if i else "") + word)
        out.append("".join(words).strip())
    return tuple(out)


def _delimiter(group: _Node, split: bool, *, closing: bool) -> str:
    delimiter = group.close if closing else group.text
    if not group.opener or not split:
        return (group.closer if closing else group.opener) + delimiter
    size = r"\Big" if _tall(group.children) else r"\big"
    return f"{size}{'r' if closing else 'l'}{delimiter}"
