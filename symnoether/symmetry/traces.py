"""Trace-cyclic canonicalization, moved to :mod:`symnoether.core.traces` (issue 14):
the matrix-level Noether laws use it too. Re-exported here for the structured search.

Examples
--------
>>> import sympy as sp
>>> W = sp.MatrixSymbol("W", 2, 2)
>>> trace_zero([W - W.T], set())
True
"""

from __future__ import annotations

from ..core.traces import family_terms, trace_zero

__all__ = ["trace_zero", "family_terms"]
