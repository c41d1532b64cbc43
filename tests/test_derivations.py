"""Every script in derivations/ runs, its own assertions hold, and its laws
validate numerically the way `symnoether run SCRIPT --validate` checks them.

Each script is the reproduction of a published result (its docstring cites
it); here it runs the way `symnoether run` runs it.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

import symnoether as sn
from symnoether.cli import validation_inputs

SCRIPTS = sorted((Path(__file__).parent.parent / "derivations").glob("*.py"))


def test_the_gallery_is_not_empty():
    assert len(SCRIPTS) >= 6, "derivations/ lost scripts"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_derivation_runs_asserts_and_validates(script):
    namespace = runpy.run_path(str(script), run_name="symnoether_derivation")
    derivation = namespace["derivation"]()
    assert isinstance(derivation, sn.Derivation)
    assert derivation.laws, f"{script.name} derives no law"
    text = str(derivation)
    assert "charge" in text and "equations of motion" in text
    hook = namespace.get("validation")
    inputs = validation_inputs(derivation, hook() if hook else None)
    if getattr(derivation.system.rule, "stochastic", False):  # SGD laws: by Monte Carlo
        data = {str(d) for d in derivation.system.data}
        params = {k: v for k, v in inputs["params"].items() if k not in data}
        for law in derivation.laws:
            report = sn.validate_sgd(derivation.system, law, inputs["q0"], params=params,
                                     runs=64, steps=100, backend="numpy")  # fmt: skip
            assert report.passed, report.message
        return
    report = sn.validate(
        derivation.system,
        tuple(derivation.laws),
        inputs["q0"],
        inputs["v0"],
        params=inputs["params"],
        t_end=inputs["t_end"],
        backend="numpy",
    )
    assert report.passed, report.message
