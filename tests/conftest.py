"""Shared fixtures."""

from __future__ import annotations

import importlib
import os
import textwrap

import pytest


@pytest.fixture(scope="module")
def isolated_caches(tmp_path_factory):
    """Kernel and numba caches in a temporary directory for one test module, restored
    afterwards (numba may already be imported, so its config is set as well)."""
    import numba

    compiled = importlib.import_module("symnoether.numerics.compiled")  # the in-process memo
    root = tmp_path_factory.mktemp("caches")
    names = ("NUMBA_CACHE_DIR", "SYMNOETHER_CACHE_DIR", "XDG_CONFIG_HOME")
    saved = {k: os.environ.get(k) for k in names}
    saved_config = numba.config.CACHE_DIR
    os.environ["NUMBA_CACHE_DIR"] = numba.config.CACHE_DIR = str(root / "numba")
    os.environ["SYMNOETHER_CACHE_DIR"] = str(root / "kernels")
    os.environ["XDG_CONFIG_HOME"] = str(root / "config")  # the cache's key (kernel_cache)
    compiled.MEMO.clear()
    yield root
    compiled.MEMO.clear()
    numba.config.CACHE_DIR = saved_config
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


SLOW_DERIVATION = """
import time
import sympy as sp
import symnoether as sn

def derivation():
    x, y, z = sp.symbols("x y z")
    start, power = time.perf_counter(), 12
    while time.perf_counter() - start < 20:
        sp.expand((x + y + z + 1) ** power)
        power = min(power + 4, 60)
    (q,) = sn.coordinates("q")
    return sn.derive(sn.LearningSystem((q,), q**2, rule=sn.rules.gradient_flow()), {"s": (1,)})
"""


@pytest.fixture
def slow_script() -> str:
    """A derivation script whose symbolic stage runs for 20 s (budget and timeout tests)."""
    return textwrap.dedent(SLOW_DERIVATION)
