"""The public import paths (README, "Layout"): the package, the stage sub-packages,
and the module paths of earlier releases kept as aliases of their new homes."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import symnoether as sn


@pytest.mark.parametrize("stage", ["core", "symmetry", "numerics", "io"])
def test_every_stage_name_is_importable_and_documented(stage):
    package = importlib.import_module(f"symnoether.{stage}")
    assert package.__doc__ and "May import" in package.__doc__
    for name in package.__all__:
        assert hasattr(package, name), f"symnoether.{stage}.__all__ lists {name} it lacks"


def test_the_package_re_exports_every_public_name():
    for name in sn.__all__:
        assert hasattr(sn, name), name
    assert sn.validate is importlib.import_module("symnoether.numerics.validate").validate


@pytest.mark.parametrize("old", sorted(sn.MOVED_MODULES))
def test_old_module_paths_still_import(old):
    """``from symnoether.jet import is_zero`` and friends keep working after the move."""
    module = importlib.import_module(f"symnoether.{old}")
    assert module is importlib.import_module(f"symnoether.{sn.MOVED_MODULES[old]}")


def test_old_paths_work_in_a_fresh_interpreter():
    """The aliases exist without importing anything else first (a user's first line)."""
    code = (
        "from symnoether.jet import is_zero\n"
        "from symnoether.validate import validate, validate_discrete\n"
        "import symnoether.dynamics, symnoether.rules\n"
        "import symnoether\n"
        "assert symnoether.dynamics.equations_of_motion is symnoether.equations_of_motion\n"
        "print(is_zero.__module__, validate.__module__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["symnoether.core.jet", "symnoether.numerics.validate"]


def test_an_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'jett'"):
        sn.jett  # noqa: B018
