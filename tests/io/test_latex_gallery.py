"""Every gallery derivation's LaTeX document compiles with pdflatex and fits the page.

Each script and spec file in ``derivations/`` is derived, written with
``Derivation.to_latex`` (what ``symnoether run FILE --latex out.tex`` writes,
kernel appendix included) and compiled; the test fails on a compilation error
and on any ``Overfull \\hbox`` wider than :data:`MAX_OVERFULL` points in the log
(an equation running off the page).

Without pdflatex the tests skip, saying so; with ``SYMNOETHER_REQUIRE_PDFLATEX=1``
(set by ``.ci/run``) a missing pdflatex is a failure instead, so CI cannot pass
without having compiled the documents.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import sympy as sp

import symnoether as sn
from symnoether.cli import load_derivation

GALLERY = Path(__file__).resolve().parents[2] / "derivations"
SOURCES = sorted([*GALLERY.glob("*.py"), *GALLERY.glob("*.toml")])
MAX_OVERFULL = 20.0
"""Points an overfull line may stick out (a few are invisible; 20 pt is a character or two)."""

ETA = sp.Symbol("eta", positive=True)
_OVERFULL = re.compile(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\)")


def overfull_boxes(log: str) -> list[float]:
    """How far each overfull line of a pdflatex log sticks out, in points."""
    return [float(points) for points in _OVERFULL.findall(log)]


def require_pdflatex() -> str:
    """pdflatex's path; skip without it, or fail when SYMNOETHER_REQUIRE_PDFLATEX=1."""
    found = shutil.which("pdflatex")
    if found is None:
        reason = "pdflatex absent: apt-get install texlive-latex-base"
        if os.environ.get("SYMNOETHER_REQUIRE_PDFLATEX") == "1":
            pytest.fail(f"SYMNOETHER_REQUIRE_PDFLATEX=1 but {reason}")
        pytest.skip(reason)
    return found


def compile_latex(path: Path) -> str:
    """Compile ``path`` in its folder; the log, after asserting pdflatex succeeded."""
    done = subprocess.run(
        [require_pdflatex(), "-interaction=nonstopmode", "-halt-on-error", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    log = path.with_suffix(".log").read_text(encoding="latin-1")
    assert done.returncode == 0, log[-3000:]
    assert path.with_suffix(".pdf").stat().st_size > 1000
    return log


def _derivation(source: Path) -> sn.Derivation:
    if source.suffix == ".toml":
        return sn.load(source).derive()
    return load_derivation(source)


def test_the_gallery_has_scripts_and_spec_files():
    assert {path.suffix for path in SOURCES} == {".py", ".toml"} and len(SOURCES) >= 8


@pytest.mark.parametrize("source", SOURCES, ids=lambda path: path.name)
def test_gallery_document_fits_the_page(source, tmp_path):
    require_pdflatex()
    path = tmp_path / f"{source.stem}.tex"
    _derivation(source).to_latex(path)
    widest = max(overfull_boxes(compile_latex(path)), default=0.0)
    assert widest <= MAX_OVERFULL, (
        f"{source.name}: an equation runs {widest:.0f} pt off the page (limit {MAX_OVERFULL:.0f})"
    )


def test_a_three_layer_network_document_fits_the_page(tmp_path):
    """Beyond the gallery: a 3-layer linear network (W₃W₂W₁x, 2×2 layers), whose
    equations of motion and laws ran 900 pt off the page before they were broken."""
    require_pdflatex()
    W1, W2, W3 = (sn.matrix_coordinates(f"W{k}", 2, 2) for k in (1, 2, 3))
    x, y = sp.Matrix(sn.data("x1 x2")), sp.Matrix(sn.data("y1 y2"))
    loss = sum((e**2 for e in y - W3 * W2 * W1 * x), sp.S.Zero) / 2
    system = sn.LearningSystem((W1, W2, W3), loss, rule=sn.rules.gradient_descent(ETA))
    A = sp.Matrix(2, 2, sp.symbols("a b c d", real=True))
    generators = {
        "gl_12": (A * W1, -W2 * A, sp.zeros(2, 2)),
        "gl_23": (sp.zeros(2, 2), A * W2, -W3 * A),
    }
    path = tmp_path / "three_layers.tex"
    sn.derive(system, generators, title="three-layer linear network").to_latex(path)
    assert max(overfull_boxes(compile_latex(path)), default=0.0) <= MAX_OVERFULL


def test_the_check_finds_an_equation_that_runs_off_the_page(tmp_path):
    """The measurement can fail: one unbroken 40-term sum is far wider than the page."""
    require_pdflatex()
    terms = " + ".join(f"x_{{{i}}}" for i in range(40))
    path = tmp_path / "wide.tex"
    path.write_text(
        "\\documentclass[11pt]{article}\\usepackage{amsmath}\\begin{document}\n"
        f"\\begin{{align*}}\nV &= {terms}\n\\end{{align*}}\n\\end{{document}}\n",
        encoding="utf-8",
    )
    assert max(overfull_boxes(compile_latex(path))) > 200


def test_overfull_boxes_are_read_from_the_log():
    log = (
        "Overfull \\hbox (1265.3pt too wide) detected at line 60\n[]\n"
        "Underfull \\hbox (badness 10000) in paragraph\n"
        "Overfull \\hbox (3pt too wide) in paragraph at lines 5--6\n"
    )
    assert overfull_boxes(log) == [1265.3, 3.0]


def test_a_missing_pdflatex_fails_when_it_is_required(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("SYMNOETHER_REQUIRE_PDFLATEX", "1")
    with pytest.raises(pytest.fail.Exception, match="SYMNOETHER_REQUIRE_PDFLATEX=1"):
        require_pdflatex()
    monkeypatch.delenv("SYMNOETHER_REQUIRE_PDFLATEX")
    with pytest.raises(pytest.skip.Exception, match="pdflatex absent"):
        require_pdflatex()
