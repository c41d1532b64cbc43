"""Export: LaTeX fragments (golden strings), round trip through parse_latex,
documents that compile with pdflatex, latexify appendix, atomic writes.

Golden strings are written by hand from the mathematics: for the rescale
symmetry ψ = (w1, −w2) of V(w1 w2) under gradient descent (M = (η/2)I,
τ = η/2), Q = e^{t/τ} q̇ᵀMψ = e^{t/τ}(η/2)(w1ẇ1 − w2ẇ2) and the kinetic
breaking is e^{t/τ}(Dψ q̇)·∂_q̇T = e^{t/τ}(η/2)(ẇ1² − ẇ2²) (Tanaka & Kunin 2021,
Theorem 1); Kepler's angular momentum is q1q̇2 − q2q̇1, conserved.

Line breaking works on estimated printed widths in points (symnoether.io.mathwidth):
a letter is 6 pt, a subscript digit 0.72·5.5 + 0.5 pt (so x_{1} is 10.46 pt), a ``+``
with its spaces 13.5 pt, a parenthesis 4.3 pt; the expected breaks below follow from those.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest
import sympy as sp

import symnoether as sn
from symnoether import export, models
from symnoether.core.jet import is_zero
from symnoether.errors import InvalidInputError, InvalidLossError, OutputPathError
from symnoether.io.export import to_latex
from symnoether.io.latex_python import kernel_latex, loss_from_function
from symnoether.io.notation import Notation, Row, latex_text, render_rows

ETA, LAM, BETA = sp.symbols("eta lambda beta", positive=True)


@pytest.fixture(scope="module")
def pair_gd():
    pair = models.scalar_pair()
    system = pair.system(sn.rules.gradient_descent(ETA))
    return sn.derive(system, pair.generators, title="rescale under GD")


def _kepler_law():
    q1, q2 = sn.coordinates("q1 q2")
    v1, v2 = sn.velocities((q1, q2))
    k = sp.Symbol("k", positive=True)
    kepler = sn.LearningSystem((q1, q2), -k / sp.sqrt(q1**2 + q2**2), kinetic=(v1**2 + v2**2) / 2)
    return sn.noether(kepler, sp.Matrix([-q2, q1]))


# -- golden strings -------------------------------------------------------------------


def test_rescale_law_under_gd_golden(pair_gd):
    expected = "\n".join(
        [
            r"\begin{align*}",
            r"\boldsymbol{\psi} &= \left(w_{1}, - w_{2}\right) \\",
            r"\tau &= \frac{\eta}{2} \tag*{damping time} \\",
            r"Q &= e^{t/\tau} \frac{\eta \left(w_{1} \dot{w}_{1} - w_{2} \dot{w}_{2}\right)}{2} \\",
            r"\frac{dQ}{dt} &= \dot{Q}^{\mathrm{kin}} + \dot{Q}^{\mathrm{pot}}"
            r" \tag*{broken by kinetic term} \\",
            r"\dot{Q}^{\mathrm{kin}} &= e^{t/\tau} \frac{\eta \left(\dot{w}_{1}^{2} - "
            r"\dot{w}_{2}^{2}\right)}{2} \tag*{kinetic symmetry breaking} \\",
            r"\dot{Q}^{\mathrm{pot}} &= 0 \tag*{symmetry of the loss}",
            r"\end{align*}",
        ]
    )
    assert to_latex(pair_gd.law("rescale")) == expected


def test_kepler_angular_momentum_golden():
    expected = (
        "\\begin{aligned}\n"
        r"\boldsymbol{\psi} &= \left(- q_{2}, q_{1}\right) \\" + "\n"
        r"Q &= q_{1} \dot{q}_{2} - q_{2} \dot{q}_{1} \\" + "\n"
        r"\frac{dQ}{dt} &= 0 && \text{conserved}" + "\n"
        "\\end{aligned}"
    )
    assert to_latex(_kepler_law(), env="aligned") == expected


def test_long_sums_break_across_align_lines():
    x1, x2, x3, x4 = sp.symbols("x1:5")
    notation = Notation(width=50)
    # x_{1} is 10.46 pt, + x_{2} is 23.96 pt: two terms (34.4) fit in 50 pt, three (58.4) do not.
    assert notation.lines(x1 + x2 + x3 + x4) == ("x_{1} + x_{2}", "+ x_{3} + x_{4}")
    assert Notation(width=20).lines(x1 - x2) == ("x_{1}", "- x_{2}")
    rows = [Row("V", notation.lines(x1 + x2 + x3 + x4))]
    assert render_rows(rows) == (
        "\\begin{align*}\nV &= x_{1} + x_{2} \\\\\n&\\quad + x_{3} + x_{4}\n\\end{align*}"
    )
    # rendered to a width, the rows are broken again. V (10 pt, a wide letter) and ' = '
    # (14.7 pt) take 24.7 pt: 110 pt leave 85.3 for the 82.3 pt sum; 80 pt leave 55.3 for the
    # first line (two terms, 34.4 pt) and 80 − 10 − 11 (\quad) = 59 for the next.
    joined = [Row("V", (notation.latex(x1 + x2 + x3 + x4),))]
    one_line = render_rows([Row("V", ("x_{1} + x_{2} + x_{3} + x_{4}",))])
    assert render_rows(joined, width=110) == one_line
    assert render_rows(joined, width=80) == render_rows(rows)


def test_damping_factor_is_pulled_out_over_broken_lines():
    (q,) = sn.coordinates("q")
    system = sn.LearningSystem((q,), q**2 / 2, rule=sn.rules.gradient_descent(ETA))
    a, b, c = sp.symbols("a b c")
    notation = Notation(system, width=50)
    # e^{t/τ} (16.4 pt) + ( a (10.3) + b (19.5) fit in 50 pt; '+ c)' (23.8) goes to a new line.
    assert notation.damped(sp.exp(2 * sn.TIME / ETA) * (a + b + c)) == (
        r"e^{t/\tau} \bigl(a + b",
        r"+ c\bigr)",
    )
    assert Notation(system).damped(sp.exp(2 * sn.TIME / ETA) * (a + b + c)) == (
        r"e^{t/\tau} \left(a + b + c\right)",
    )
    assert notation.damped(-a * sp.exp(2 * sn.TIME / ETA)) == (r"- e^{t/\tau} a",)
    assert notation.damped(sp.exp(sn.TIME) * a) == ("a e^{t}",)  # not the damping factor


def test_matrix_coordinates_print_as_entries_of_bold_layers():
    net = models.linear_network(2, 1, 1)
    system = net.system(sn.rules.gradient_descent(ETA))
    text = to_latex(system)
    assert (
        r"\mathbf{W}_{1} &= \left[\begin{matrix}(W_{1})_{11} & (W_{1})_{12}\end{matrix}\right]"
        in (text)
    )
    law = sn.noether(system, net.generators["gl_11"])
    rows = to_latex(law)
    assert r"\psi_{\mathbf{W}_{2}} &= \left[\begin{matrix}- (W_{2})_{11}\end{matrix}\right]" in rows
    assert r"(\dot{W}_{1})_{11}" in rows and "W1_11" not in rows


def test_unicode_labels_become_latex_text():
    assert latex_text("η/|w|² ⇒ ẇ_k & 50%") == (
        r"\(\eta\)/\textbar{}w\textbar{}\(^{2}\) \(\Rightarrow\) \(\dot{w}_k\) \& 50\%"
    )
    assert latex_text("C_{k+1} − C_k, gradient_descent") == (
        r"\(C_{k+1}\) \(-\) \(C_k\), gradient\_descent"
    )


# -- round trip: the printed equations are the objects' expressions ------------------


def _parse_back(lines: tuple[str, ...], system: sn.LearningSystem) -> sp.Expr:
    """Parse printed rows with SymPy's parse_latex, symbols mapped back to the system's."""
    parse_latex = pytest.importorskip("sympy.parsing.latex").parse_latex
    pytest.importorskip("antlr4", reason="parse_latex needs antlr4-python3-runtime 4.11")
    text = " ".join(lines)
    for size in ("big", "Big"):  # a group broken over lines: back to \left( … \right)
        text = text.replace(rf"\{size}l(", r"\left(").replace(rf"\{size}r)", r"\right)")
    table = {}
    symbols = (*system.coords, *system.velocities, *system.data, *system.hyperparameters)
    printed = {sp.latex(s): s for s in symbols}
    for i, latex in enumerate(sorted(printed, key=len, reverse=True)):
        text = text.replace(latex, f"z_{{{i}}}")
        table[sp.Symbol(f"z_{{{i}}}")] = printed[latex]
    text = text.replace(r"e^{t/\tau}", r"e^{t/\tau} \cdot ")
    text = re.sub(r"(?<=[}\w])\s*\\left\(", r" \\cdot \\left(", text)  # not a function call
    parsed = parse_latex(text, strict=True)
    table.update({sp.Symbol("e"): sp.E, sp.Symbol("t"): sn.TIME})
    if system.order == 2 and system.tau != sp.oo:
        table[sp.Symbol("tau")] = system.tau
    return parsed.xreplace(table)


def _law_cases():
    pair = models.scalar_pair()
    unit = models.normalized_unit(2)
    yield (
        pair.system(sn.rules.gradient_descent(ETA), [sn.rules.weight_decay(LAM)]),
        (pair.generators["rescale"]),
    )
    yield pair.system(sn.rules.momentum(ETA, BETA)), pair.generators["rescale"]
    yield (
        pair.system(sn.rules.gradient_flow(), [sn.rules.weight_decay(LAM)]),
        (pair.generators["rescale"]),
    )
    yield (
        unit.system(sn.rules.gradient_descent(ETA), [sn.rules.weight_decay(LAM)]),
        (unit.generators["scale"]),
    )


@pytest.mark.parametrize("case", range(4))
def test_printed_law_parses_back_to_the_law(case):
    system, generator = list(_law_cases())[case]
    law = sn.noether(system, generator)
    notation = Notation(system, width=30)  # narrow: exercise the line breaking too
    pairs = [(law.charge, notation.damped(law.charge))]
    if law.order == 2:
        pairs.append((law.kinetic_breaking, notation.damped(law.kinetic_breaking)))
        pairs.append((law.potential_breaking, notation.damped(law.potential_breaking)))
    else:
        pairs.append((law.rate, notation.lines(law.rate)))
    for expected, lines in pairs:
        assert is_zero(_parse_back(lines, system) - expected), lines


def test_round_trip_detects_a_wrong_print():
    """The comparison can fail: a sign flipped in the printed charge is caught."""
    system, generator = next(_law_cases())
    law = sn.noether(system, generator)
    lines = Notation(system).damped(law.charge)
    wrong = tuple(line.replace("- w_{2}", "+ w_{2}") for line in lines)
    assert wrong != lines
    assert not is_zero(_parse_back(wrong, system) - law.charge)


# -- documents ------------------------------------------------------------------------


def test_dispatch_and_unknown_objects(pair_gd):
    for obj in (pair_gd, pair_gd.system, pair_gd.equations, pair_gd.law("rescale"), sp.Symbol("x")):
        assert r"\begin{align*}" in to_latex(obj)

    class Report:
        def _repr_latex_(self):
            return r"$$\text{passed}$$"

    assert to_latex(Report()) == r"\text{passed}"
    with pytest.raises(InvalidInputError, match="cannot export a dict to LaTeX"):
        to_latex({"law": 1})
    with pytest.raises(InvalidInputError, match="a document is made of a Derivation"):
        export.latex_document(pair_gd.law("rescale"))


def test_markdown_document_and_notebook_repr(pair_gd, tmp_path):
    path = tmp_path / "nld.md"
    text = pair_gd.to_markdown(path)
    assert path.read_text(encoding="utf-8") == text
    assert text.count("$$") % 2 == 0 and "\\begin{aligned}" in text
    assert "## Noether's learning dynamics" in text and r"\dot{w}_{1}" in text
    shown = pair_gd._repr_markdown_()
    assert "## Equations of motion" in shown and "generated numeric kernels" not in shown


def test_python_loss_and_kernels_in_the_appendix(tmp_path):
    w1, w2 = sn.coordinates("w1 w2")
    x, y = sn.data("x y")

    def loss(w1, w2, x, y):
        return (y - w2 * w1 * x) ** 2 / 2

    expr = loss_from_function(loss, (w1, w2), (x, y))
    assert expr == (y - w1 * w2 * x) ** 2 / 2
    system = sn.LearningSystem((w1, w2), expr, rule=sn.rules.gradient_descent(ETA), data=(x, y))
    deriv = sn.derive(system, {"rescale": (w1, -w2)})
    text = deriv.to_latex()
    assert r"\mathrm{loss}(w_{1}, w_{2}, x, y)" in text
    assert r"\ddot{w}_{1}(w_{1}, w_{2}, \dot{w}_{1}, \eta, x, y) &= " in text
    assert r"\tilde{Q}_{\text{rescale}}" in text
    for unreadable in ("zqv", "Dummy", "y[", "p_{0}", "mathrm{wdot"):
        assert unreadable not in text


def test_kernels_skipped_with_a_note_when_the_printer_cannot_translate():
    """V = J₀(w1 − w2) is translation invariant (ψ = (1, 1)), but numeric code has no
    Bessel function: the law is still typeset, its kernels are skipped with the reason."""
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), sp.besselj(0, w1 - w2), rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (1, 1))
    entries, notes = kernel_latex(flow, [law])
    assert entries == () and "NotSupportedError" in notes[0] and "besselj" in notes[0]
    deriv = sn.derive(flow, {"translation": (1, 1)})
    assert "Not typeset: no kernels were generated" in deriv.to_markdown()


def test_kernel_typesetting_does_not_hide_a_bug(monkeypatch):
    """Only a SymnoetherError (a law the printer cannot translate) becomes a note; any
    other exception from the code generator is a bug and must surface."""
    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    law = sn.noether(flow, (w1, -w2))

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the code generator")

    monkeypatch.setattr("symnoether.io.latex_python.compile_kernels", broken)
    with pytest.raises(RuntimeError, match="a bug in the code generator"):
        kernel_latex(flow, [law])


def test_loss_from_function_bad_input():
    w1, w2 = sn.coordinates("w1 w2")
    with pytest.raises(InvalidLossError, match="argument 'z' of <lambda> is neither"):
        loss_from_function(lambda w1, z: w1 * z, (w1, w2))
    import math

    with pytest.raises(InvalidLossError, match="not math"):
        loss_from_function(lambda w1: math.exp(w1), (w1,))
    with pytest.raises(InvalidLossError, match="returned a str"):
        loss_from_function(lambda w1: "w1", (w1,))
    W = sn.matrix_coordinates("W", 1, 2)
    assert loss_from_function(lambda W: (W * W.T)[0], (W,)) == W[0] ** 2 + W[1] ** 2


PDFLATEX = shutil.which("pdflatex")


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex absent: apt-get install texlive-latex-base")
def test_document_compiles_with_pdflatex(tmp_path):
    net = models.linear_network(2, 1, 1)
    system = net.system(sn.rules.gradient_descent(ETA), [sn.rules.weight_decay(LAM)])
    deriv = sn.derive(
        system, {"gl_11": net.generators["gl_11"]}, title="gl(1) ⇒ |W₁|² − |W₂|² (β, ẇ)"
    )
    deriv = deriv.with_result("charge ODE, |ẇ|² ≈ η·g²", sp.Eq(sp.Symbol("s"), ETA / 2))
    figure = tmp_path / "fig.png"
    figure.write_bytes(_tiny_png())
    path = tmp_path / "nld.tex"
    # a report line with a long formula (as validation reports print the charge) must wrap
    report = "validation PASSED\nholds for Q = " + sp.sstr(deriv.laws[0].charge) * 2
    deriv.to_latex(path, figure=figure, reports=[report])
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-2000:]
    assert (tmp_path / "nld.pdf").stat().st_size > 1000
    log = (tmp_path / "nld.log").read_text(encoding="latin-1")
    overfull = [float(p) for p in re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt", log)]
    assert max(overfull, default=0.0) <= 20, overfull


def _tiny_png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


# -- atomic writes ----------------------------------------------------------------------


def test_missing_folder_and_folder_in_place(pair_gd, tmp_path):
    with pytest.raises(OutputPathError, match="the folder .*nowhere does not exist"):
        pair_gd.to_latex(tmp_path / "nowhere" / "nld.tex")
    with pytest.raises(OutputPathError, match="it is a folder"):
        pair_gd.to_markdown(tmp_path)


def test_unwritable_folder_is_named(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("tempfile.mkstemp", refuse)
    with pytest.raises(OutputPathError, match=f"{re.escape(str(tmp_path))} is not writable"):
        export.write_text(tmp_path / "out.tex", "x")


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root writes into read-only folders; the refusal is simulated in the test above",
)
def test_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="not writable"):
            export.write_text(folder / "out.md", "x")
    finally:
        folder.chmod(0o700)


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "nld.md"
    path.write_text("old", encoding="utf-8")

    def broken_replace(source, target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.os, "replace", broken_replace)
    with pytest.raises(OutputPathError, match="No space left"):
        export.write_text(path, "new")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["nld.md"]


def test_written_document_equals_the_returned_one(pair_gd, tmp_path):
    path = tmp_path / "nld.tex"
    text = pair_gd.to_latex(path, kernels=False)
    assert path.read_text(encoding="utf-8") == text == pair_gd.to_latex(kernels=False)
    assert dataclasses.is_dataclass(pair_gd)
