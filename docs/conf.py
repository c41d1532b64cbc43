"""Sphinx configuration of the symnoether API reference.

Build it (after ``python -m pip install -e '.[docs]'``) with warnings as errors,
as CI does::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages under ``api/`` document each stage sub-package with autodoc from the
docstrings (numpydoc style); ``tests/test_docs.py`` checks that every name in
``symnoether.__all__`` is documented on one of them.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# Document the checkout this file sits in, whatever is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import symnoether  # noqa: E402

project = "symnoether"
author = "the symnoether authors"
copyright = "the symnoether authors"  # noqa: A001
release = version = symnoether.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
]

exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorial.ipynb"]
templates_path: list[str] = []
html_theme = "alabaster"
html_static_path: list[str] = []

# autodoc: the public names (``__all__``) in the order the package lists them.
autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections already give the types
autosummary_generate = False

# numpydoc: attributes and methods are documented by autodoc itself, so numpydoc's
# own member tables (which would list every dataclass field a second time) stay off.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False


# ``sn.validate`` is documented once, where its stage exports it
# (``symnoether.numerics.validate``); docstrings that name it by its public alias
# (:func:`symnoether.validate`, :class:`ValidationFailedError`) link there too.
_HOMES = {
    name: f"symnoether.{stage}.{name}"
    for stage in ("core", "symmetry", "numerics", "io", "errors")
    for name in importlib.import_module(f"symnoether.{stage}").__all__
    if name in symnoether.__all__
}


def _link_public_alias(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    home = _HOMES.get(node["reftarget"].removeprefix("symnoether."))
    if home is None:
        return None
    domain = env.get_domain("py")
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], home, node, contnode
    )


def setup(app):
    app.connect("missing-reference", _link_public_alias)
