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

Widths come from :mod:`symnoether.io.mathwidth`. The gallery test
(``tests/io/test_latex_gallery.py``) compiles every derivation and fails on an
overfull box wider than 20 pt.

Examples
--------
>>> for line in break_latex(r"\left(a + b + c + d\right)", 30):
...     print(line)
\bigl(a + b
+ c + d\bigr)
"""

from __future__ import annotations

from dataclasses import dataclass

from .mathwidth import (
    BINARY,
    PRODUCTS,
    RELATIONS,
    SPACES,
    Node,
    atom,
    grouped,
    parse,
    tall,
    total,
)

__all__ = ["break_latex"]


# -- breaking ------------------------------------------------------------------------------


@dataclass
class _Piece:
    node: Node | None  # None: the opening or closing delimiter of an opened group
    group: Node | None = None
    closing: bool = False
    breaks: bool = False  # a line may start at this piece
    depth: int = 0  # groups opened around it: a break at a smaller depth reads better

    @property
    def width(self) -> float:
        if self.node is not None:
            return self.node.width
        size = 7.0 if tall(self.group.children) else 4.3
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
    if total(nodes) <= first:
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


def _pieces(nodes: list[Node], depth: int = 0) -> list[_Piece]:
    pieces = []
    for i, node in enumerate(nodes):
        previous = nodes[i - 1] if i else None
        pieces.append(_Piece(node, breaks=_may_break(previous, node), depth=depth))
    return pieces


def _may_break(previous: Node | None, node: Node) -> bool:
    if previous is None:
        return False
    if previous.kind == "atom" and previous.text == "," and not previous.scripts:
        return True
    if node.kind != "atom" or node.scripts:
        return False
    if node.text in RELATIONS or node.text in PRODUCTS:
        return True
    operator = previous.kind == "atom" and (
        previous.text in BINARY | RELATIONS | PRODUCTS | {","}
        or previous.text in SPACES
        or previous.text.endswith(("(", "[", r"\{", "."))  # an opening delimiter alone
    )
    return node.text in BINARY and not operator


def _opens(node: Node) -> bool:
    if node.kind == "group":
        return True
    if node.kind == "brace":
        return len(node.children) == 1 and node.children[0].kind == "group"
    if node.kind != "frac" or node.scripts or node.fixed:
        return False
    several = len(node.children) > 1 or (node.children and node.children[0].kind == "group")
    return several and total(node.children) > total(node.den)


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


def _split_frac(node: Node) -> list[Node]:
    r"""``\frac{a (…)(…)}{d}`` → ``\frac{a}{d} (…) (…)``: the wide factors of a product leave
    the numerator; ``\frac{a + b}{d}`` → ``\frac{1}{d} (a + b)``."""
    numerator, sign = list(node.children), []
    if numerator and numerator[0].kind == "atom" and numerator[0].text == "-":
        sign, numerator = [numerator[0]], numerator[1:]
    summed = any(
        n.kind == "atom" and n.text in BINARY and _may_break(numerator[i - 1], n)
        for i, n in enumerate(numerator)
        if i
    )
    products = any(n.kind == "atom" and n.text in PRODUCTS for n in numerator)
    if summed or products or not numerator:
        wide = [grouped("group", numerator, r"\left", "(", r"\right", ")")]
        small: list[Node] = []
    else:
        limit = max(total(node.den), SMALL_FACTOR)
        wide = [n for n in numerator if n.width > limit] or [max(numerator, key=lambda n: n.width)]
        small = [n for n in numerator if all(n is not w for w in wide)]
    small = small or [atom("1")]
    small[0].gap = ""
    fraction = Node("frac", node.text, children=small, den=node.den, gap=node.gap, fixed=True)
    fraction.base = max(total(small), total(node.den)) + 2.4
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


def _delimiter(group: Node, split: bool, *, closing: bool) -> str:
    delimiter = group.close if closing else group.text
    if not group.opener or not split:
        return (group.closer if closing else group.opener) + delimiter
    size = r"\Big" if tall(group.children) else r"\big"
    return f"{size}{'r' if closing else 'l'}{delimiter}"
