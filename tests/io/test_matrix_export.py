"""Matrix-level laws export in trace form and fit the page (io.export + io.linebreak).

A law of a three-layer width-64 network has rates with many traces; exported with
``sn.to_latex`` it is broken to the text width like every element-wise law, and the
compiled PDF has no overfull line wider than :data:`MAX_OVERFULL` points. Without
pdflatex the compile tests skip; with ``SYMNOETHER_REQUIRE_PDFLATEX=1`` (CI) they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from types import SimpleNamespace

import pytest
import sympy as sp

import symnoether as sn
from symnoether.io.export import matrix_rows
from symnoether.io.mathwidth import width
from symnoether.io.notation import DEFAULT_WIDTH, render_rows

ETA, LAM, BETA = sp.symbols("eta lambda beta", positive=True)
MAX_OVERFULL = 20.0
T = sn.TIME
PREAMBLE = (
    "\\documentclass[11pt]{article}\n\\usepackage[margin=2cm]{geometry}\n"
    "\\usepackage{amsmath,amssymb}\n\\begin{document}\n"
)


def compile_points(tmp_path, body: str) -> list[float]:
    """Compile ``body`` in a document; how far each overfull line sticks out (points)."""
    pdflatex = shutil.which("pdflatex")
    if pdflatex is None:
        reason = "pdflatex absent: apt-get install texlive-latex-base"
        if os.environ.get("SYMNOETHER_REQUIRE_PDFLATEX") == "1":
            pytest.fail(f"SYMNOETHER_REQUIRE_PDFLATEX=1 but {reason}")
        pytest.skip(reason)
    path = tmp_path / "law.tex"
    path.write_text(PREAMBLE + body + "\n\\end{document}\n", encoding="utf-8")
    done = subprocess.run(
        [pdflatex, "-interaction=nonstopmode", "-halt-on-error", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = path.with_suffix(".log").read_text(encoding="latin-1")
    assert done.returncode == 0, log[-3000:]
    return [float(p) for p in re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)", log)]


def wide_law():
    """A stand-in with MatrixNoetherLaw's fields (CONTRACT.md): the three-layer width-64
    network under momentum with weight decay, a generator on layers 1 and 2, and
    breaking terms of ten traces (the display is tested, not the derivation)."""
    shapes = {"W1": (64, 32), "W2": (64, 64), "W3": (10, 64)}
    W1, W2, W3 = (sp.MatrixSymbol(n, *s) for n, s in shapes.items())
    Wd1, Wd2, Wd3 = (sp.MatrixSymbol(n.replace("W", "Wdot"), *s) for n, s in shapes.items())
    x, y, A = sp.MatrixSymbol("x", 32, 1), sp.MatrixSymbol("y", 10, 1), sp.MatrixSymbol("A", 64, 64)
    damping, m = sp.exp(T * 2 * (1 - BETA) / ETA), ETA / (1 - BETA) ** 2
    kinetic = m * damping * (sp.Trace(Wd1.T * A * Wd1) - sp.Trace(Wd2.T * Wd2 * A))
    potential = damping * (
        -LAM * sp.Trace(W1.T * A * W1)
        + LAM * sp.Trace(W2.T * W2 * A)
        + sp.Trace(y.T * W3 * W2 * A * W1 * x)
        - sp.Trace(x.T * W1.T * A.T * W2.T * W3.T * W3 * W2 * W1 * x)
        + sp.Trace(Wd3.T * W3 * W2 * A * Wd2.T * W2)
        - LAM * sp.Trace(Wd3.T * Wd3)
        + ETA * sp.Trace(W3.T * W3 * Wd2 * A * Wd2.T)
        - sp.Trace(Wd1.T * A * W1) * sp.Trace(Wd2.T * W2 * A)
    )
    system = SimpleNamespace(
        layers=(W1, W2, W3), data=(x, y), hyperparameters=(BETA, ETA, LAM),
        tau=ETA / (2 * (1 - BETA)), order=2, rule=SimpleNamespace(name="momentum"),
    )  # fmt: skip
    return SimpleNamespace(
        system=system, generator=(A * W1, -W2 * A, sp.ZeroMatrix(10, 64)), constants=(A,),
        charge=m * damping * (sp.Trace(Wd1.T * A * W1) - sp.Trace(Wd2.T * W2 * A)),
        kinetic_breaking=kinetic, loss_breaking=potential, regularizer_breaking=sp.S.Zero,
        potential_breaking=potential, rate=kinetic + potential, matrix_charges={},
        conserved=False, order=2, breaking_regularizers=("weight decay",),
        almost_everywhere=False, verification="exact evaluation at random rational matrices",
    )  # fmt: skip


def test_a_matrix_law_exports_in_trace_form():
    latex = sn.to_latex(wide_law())
    assert r"\psi_{W_{3}} &= 0" in latex
    assert r"\tau &= \frac{\eta}{2 - 2 \beta} \tag*{damping time}" in latex
    assert r"\frac{\eta}{\left(1 - \beta\right)^{2}} e^{t/\tau} \left[" in latex
    assert r"\operatorname{tr}\left(\dot{W}_{1}^{\top} A W_{1}\right)" in latex
    assert r"\tag*{breaking by the loss and weight decay}" in latex


def test_every_line_of_a_wide_matrix_law_fits_the_estimate():
    rows = matrix_rows(wide_law())
    unbroken = render_rows(rows, env="align*")
    assert max(width(line) for line in unbroken.splitlines()) > 2 * DEFAULT_WIDTH
    broken = sn.to_latex(wide_law())
    lines = [re.sub(r"\\tag\*\{.*\}$", "", line.rstrip(" \\")) for line in broken.splitlines()]
    for line in lines[1:-1]:
        assert width(line.replace("&", "")) <= DEFAULT_WIDTH + 30, line


def test_a_wide_matrix_law_fits_the_page_in_the_pdf(tmp_path):
    assert max(compile_points(tmp_path, sn.to_latex(wide_law())), default=0.0) <= MAX_OVERFULL


def test_the_pdf_check_finds_the_unbroken_law_running_off_the_page(tmp_path):
    """The measurement can fail: the same rows, not broken, run far off the page."""
    unbroken = render_rows(matrix_rows(wide_law()), env="align*")
    assert max(compile_points(tmp_path, unbroken)) > 200


def test_a_derived_width_64_three_layer_law_fits_the_page(tmp_path):
    """sn.noether on the issue's network (64×32, 64×64, 10×64, momentum, weight decay) with
    a generator that breaks the loss: its potential breaking has ten traces."""
    W1, W2, W3 = sn.layers(W1=(64, 32), W2=(64, 64), W3=(10, 64))
    x, y = sn.layers(x=(32, 1), y=(10, 1), data=True)
    e = y - W3 * W2 * W1 * x
    rule, decay = sn.rules.momentum(ETA, BETA), [sn.rules.weight_decay(LAM)]
    system = sn.LearningSystem((W1, W2, W3), e.T * e / 2, rule=rule, data=(x, y),
                               regularizers=decay)  # fmt: skip
    A, B = sp.MatrixSymbol("A", 64, 64), sp.MatrixSymbol("B", 64, 64)
    D = sp.MatrixSymbol("D", 32, 32)
    law = sn.noether(system, (A * W1 + W1 * D, B * W2, W3 * B))
    latex = sn.to_latex(law)
    [potential] = [row.rhs[0] for row in matrix_rows(law) if "pot" in row.lhs]
    assert width(potential) > DEFAULT_WIDTH  # longer than a line
    assert r"\bigl[-\lambda \left(\operatorname{tr}\left(W_{1}^{\top} A W_{1}\right)" in latex
    assert max(compile_points(tmp_path, latex), default=0.0) <= MAX_OVERFULL
