"""derivations/symmetry_restoration.py writes its phase diagram next to the LaTeX.

(tests/test_derivations.py runs its derivation() and validates its laws; here the figure
and the document that includes it.)
"""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "derivations" / "symmetry_restoration.py"


def test_figure_and_latex_are_written_side_by_side(tmp_path):
    namespace = runpy.run_path(str(SCRIPT), run_name="symnoether_derivation")
    diagram = namespace["phase_diagram_data"]()
    image = namespace["figure"](tmp_path / "symmetry_restoration.png", diagram)
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the simulated grid: no collapse at the smallest decay and step, full collapse above
    # the GD threshold λ = 1 (rows of LAMBDAS above 1)
    lambdas = namespace["LAMBDAS"]
    for batch in namespace["BATCHES"]:
        assert diagram[batch][0, 0] == 0
        assert (diagram[batch][lambdas > 1.05] == 1).all()
    derivation = namespace["derivation"]()
    tex = derivation.to_latex(str(tmp_path / "symmetry_restoration.tex"), figure=image)
    assert r"\includegraphics" in tex and "symmetry_restoration.png" in tex
    assert (tmp_path / "symmetry_restoration.tex").exists()
