"""Sphinx configuration of the symnoether API reference.

Build it (after ``python -m pip install -e '.[docs]'``) with warnings as errors,
as CI does::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages under ``api/`` document each stage sub-package with autodoc from the
docstrings (numpydoc style); ``tests/test_docs.py`` checks that every name in
``symnoether.__all__`` is documented on one of them.
"""

from __future__ import annotations

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
