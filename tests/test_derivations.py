"""Every script in derivations/ runs and its own assertions hold.

Each script is the reproduction of a published result (its docstring cites
it); here it runs the way `symnoether run` runs it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import symnoether as sn
from symnoether.cli import load_derivation

SCRIPTS = sorted((Path(__file__).parent.parent / "derivations").glob("*.py"))


def test_the_gallery_is_not_empty():
    assert SCRIPTS, "derivations/ holds no scripts"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.stem)
def test_derivation_runs_and_asserts(script):
    derivation = load_derivation(script)
    assert isinstance(derivation, sn.Derivation)
    assert derivation.laws, f"{script.name} derives no law"
    text = str(derivation)
    assert "charge" in text and "equations of motion" in text
