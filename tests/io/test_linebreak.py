"""Line breaking of LaTeX math (symnoether.io.linebreak, widths from .mathwidth) and the
row rendering on top of it.

The expected lines are worked out by hand from the estimated widths the module
documents (TeX points at 11 pt): a letter 6 pt (a wide one such as V or W 10 pt),
a sub/superscript 0.72 of its content + 0.5 pt, ``+``/``-`` with their spaces
13.5 pt, ``=`` 14.7 pt, a parenthesis 4.3 pt (7 pt around a fraction), a
fraction the wider of its parts + 2.4 pt. Whether a broken line is still
correct mathematics is checked by parsing it back with SymPy.
"""

from __future__ import annotations

import re

import pytest
import sympy as sp

import symnoether as sn
from symnoether import models
from symnoether.core.display import Notation as CoreNotation
from symnoether.core.jet import is_zero
from symnoether.io.linebreak import break_latex
from symnoether.io.mathwidth import matrix_cells, split_top, width
from symnoether.io.notation import Notation, Row, render_rows


def test_estimated_widths_follow_the_glyph_classes():
    assert width("a") == 6.0 and width("V") == 10.0 and width("+") == 13.5
    assert width("x_{1}") == pytest.approx(6.0 + 0.72 * 5.5 + 0.5)
    assert width(r"\left(a\right)") == pytest.approx(4.3 + 6.0 + 4.3)
    assert width(r"\frac{a + b}{2}") == pytest.approx(6.0 + 13.5 + 6.0 + 2.4)
    assert width(r"\left(\frac{a}{b}\right)") == pytest.approx(7.0 + 8.4 + 7.0)


def test_a_group_broken_over_lines_gets_fixed_size_delimiters():
    # ( a = 10.3, + b = 19.5, + c ) = 23.8: the first two (29.8) fit in 50, all three do not.
    assert break_latex(r"\left(a + b + c\right)", 50) == (r"\bigl(a + b", r"+ c\bigr)")
    assert break_latex(r"\left(a + b + c\right)", 60) == (r"\left(a + b + c\right)",)
    # a fraction inside makes the delimiters \Bigl/\Bigr, and 7 pt wide each
    assert break_latex(r"\left(\frac{a}{b} + c + d\right)", 40) == (
        r"\Bigl(\frac{a}{b} + c",
        r"+ d\Bigr)",
    )


def test_a_wide_fraction_is_split_before_its_sum_is_broken():
    # \frac{\eta (a + b + c)}{2} → \frac{\eta}{2} (8.9 pt) ( a + b … : see the module docstring
    assert break_latex(r"\frac{\eta \left(a + b + c\right)}{2}", 40) == (
        r"\frac{\eta}{2} \bigl(a + b",
        r"+ c\bigr)",
    )
    # a numerator that is a sum: \frac{1}{d} (7.9 pt) times it; ( a 10.3, + b 19.5, …
    assert break_latex(r"\frac{a + b + c + d}{2}", 50) == (
        r"\frac{1}{2} \bigl(a + b",
        r"+ c + d\bigr)",
    )


def test_breaks_fall_before_binary_signs_after_commas_and_never_inside_braces():
    assert break_latex("a + b - c", 30) == ("a + b", "- c")
    assert break_latex("- a - b", 20) == ("- a", "- b")  # the leading minus is unary
    # f (4.2, a narrow letter) ( a , = 19.4; b , = 10.9; c , = 10.9; d ) = 10.3
    assert break_latex(r"f(a, b, c, d)", 35) == ("f(a, b,", "c, d)")
    assert break_latex(r"x^{a + b + c + d + e}", 20) == (r"x^{a + b + c + d + e}",)
    products = (r"c_{1} \cdot c_{2}", r"\cdot c_{3}")
    assert break_latex(r"c_{1} \cdot c_{2} \cdot c_{3}", 40) == products


def test_every_broken_line_fits_and_the_lines_are_the_expression():
    """A long charge at several widths: each line within the budget, the joined lines
    parse back (SymPy's parse_latex) to the law's expression."""
    parse_latex = pytest.importorskip("sympy.parsing.latex").parse_latex
    pytest.importorskip("antlr4", reason="parse_latex needs antlr4-python3-runtime 4.11")
    w = sn.coordinates("w1:7")
    ring = [w[i] * w[(i + 1) % 6] * (w[i] - 2 * w[(i + 2) % 6]) for i in range(6)]
    rate = sp.expand(sp.Add(*ring))
    expected = sp.Add(*[w[i] * w[(i + 1) % 6] for i in range(6)]) * (rate + 3)
    printed = sp.latex(expected)
    for budget in (120.0, 200.0, 300.0):
        lines = break_latex(printed, budget)
        assert len(lines) > 1
        assert all(width(line) <= budget for line in lines), (budget, lines)
        text = " ".join(lines)
        for size in ("left", "right", "bigl", "bigr", "Bigl", "Bigr"):
            text = text.replace(f"\\{size}", "")  # parse_latex reads plain parentheses best
        text = re.sub(r"\)\s*\(", r") \\cdot (", text)  # a product, not a call
        names = {sp.Symbol(f"w_{{{i + 1}}}"): w[i] for i in range(6)}
        assert is_zero(parse_latex(text, strict=True).xreplace(names) - expected)


def test_split_top_and_matrix_cells():
    assert split_top(r"a = \left(b = c\right) = d", "=") == ["a", r"\left(b = c\right)", "d"]
    assert split_top(r"x \\ \begin{matrix}1 \\ 2\end{matrix} \\ y", "\\\\") == [
        "x",
        r"\begin{matrix}1 \\ 2\end{matrix}",
        "y",
    ]
    assert matrix_cells(r"\left[\begin{matrix}a & b\\c & 0\end{matrix}\right]") == [
        ["a", "b"],
        ["c", "0"],
    ]
    assert matrix_cells(r"2 \left[\begin{matrix}a\end{matrix}\right]") is None


# -- rows -------------------------------------------------------------------------------


def test_notes_are_tags_in_latex_and_a_column_in_markdown():
    rows = [Row("Q", ("a",), "conserved")]
    assert render_rows(rows) == "\\begin{align*}\nQ &= a \\tag*{conserved}\n\\end{align*}"
    assert render_rows(rows, env="aligned") == (
        "\\begin{aligned}\nQ &= a && \\text{conserved}\n\\end{aligned}"
    )


def test_a_long_left_hand_side_goes_on_its_own_line():
    lhs = "f(a, b, c, d, e, g, h)"  # 95.4 pt: wider than 0.3 of 200 pt
    rows = [Row("y", ("a",)), Row(lhs, ("b + c",))]
    assert render_rows(rows, width=200) == (
        "\\begin{align*}\ny &= a \\\\\n& f(a, b, c, d, e, g, h) \\\\\n &= b + c\n\\end{align*}"
    )


def test_a_matrix_too_wide_for_the_line_is_shown_entry_by_entry():
    C = sp.Matrix([[sp.Symbol("a") + sp.Symbol("b"), 0], [0, sp.Symbol("c")]])
    row = Row(r"\mathbf{C}", (sp.latex(C),))
    # C (11.5) + ' = ' (14.7) + [ (7) a + b (25.5) | 10 | 0 (5.5) ] (7) = 81.2 pt
    assert render_rows([row], width=90) == render_rows([row])
    assert render_rows([row], width=70) == (
        "\\begin{align*}\n"
        r"\mathbf{C}_{11} &= a + b \tag*{entries not shown are 0} \\" + "\n"
        r"\mathbf{C}_{22} &= c" + "\n\\end{align*}"
    )
    # an unnamed 1×7 row of letters is 7·6 + 6·10 + 14 = 116 pt; entries are (i,j)
    unnamed = Row("", (sp.latex(sp.Matrix([sp.symbols("a:g")])),), rel="")
    shown = render_rows([unnamed], width=90)
    assert "(1,1) &: a \\\\\n(1,2) &: b" in shown and "(1,7) &: g\n" in shown


def test_the_notation_breaks_a_law_of_a_three_layer_network_to_the_page():
    """A 3-layer linear network's charge is thousands of points wide on one line; broken,
    every line fits the default width."""
    W1, W2, W3 = (sn.matrix_coordinates(f"W{k}", 2, 2) for k in (1, 2, 3))
    x = sp.Matrix(sn.data("x1 x2"))
    y = sp.Matrix(sn.data("y1 y2"))
    loss = sum((e**2 for e in y - W3 * W2 * W1 * x), sp.S.Zero) / 2
    eta = sp.Symbol("eta", positive=True)
    system = sn.LearningSystem((W1, W2, W3), loss, rule=sn.rules.gradient_descent(eta))
    A = sp.Matrix([[sp.Symbol("a"), sp.Symbol("b")], [sp.Symbol("c"), sp.Symbol("d")]])
    law = sn.noether(system, (A * W1, -W2 * A, sp.zeros(2, 2)))
    notation = Notation(system)
    assert width(notation.damped_latex(law.kinetic_breaking)) > 1000
    lines = notation.damped(law.kinetic_breaking)
    assert len(lines) >= 3 and all(width(line) <= notation.width for line in lines)


def test_models_print_the_same_through_the_notation():
    """The io notation is the core one plus Unicode conversion and breaking."""
    net = models.linear_network(2, 1, 1)
    system = net.system(sn.rules.gradient_flow())
    core = CoreNotation(system)
    assert Notation(system).latex(system.loss) == core.latex(system.loss)
    assert Notation(system).lines(system.loss) == (core.latex(system.loss),)
