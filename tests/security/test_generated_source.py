"""Security catalogue, generated source (issue 12, section 1, last finding): symbol
names reach the kernels' source only as checked identifiers.

A ``Symbol('k\\nimport os…')`` passed to ``compile_kernels`` from Python used to end
the comment line that lists the parameters and run its code. Names are now shown
only in comments and docstrings, escaped (``source_label``); the code reads
``y[i]``/``p[i]``; a symbol that is no state entry or parameter is refused; and
the kernels are parsed and checked before anything runs (``check_kernel_source``).

=============================================  ==========================================
finding                                        test
=============================================  ==========================================
a parameter's name ends a comment line         test_name_with_a_line_break_runs_nothing
a coordinate's name ends a docstring           test_name_with_a_line_break_runs_nothing
a stray symbol printed as an identifier        test_stray_symbol_is_refused_by_name
a matrix entry as a parameter: bare TypeError  test_matrix_entry_parameter_is_refused
any statement the generator never writes       test_kernel_source_check_refuses
=============================================  ==========================================
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import sympy as sp

import symnoether as sn
from symnoether.errors import InvalidInputError, NotSupportedError
from symnoether.numerics.codegen import compile_kernels

codegen = importlib.import_module("symnoether.numerics.codegen")
kernel_source = importlib.import_module("symnoether.numerics.kernel_source")


@pytest.fixture
def home(tmp_path, monkeypatch):
    import numba

    monkeypatch.setenv("SYMNOETHER_CACHE_DIR", str(tmp_path / "kernels"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "numba"))
    return tmp_path


def attacks(marker) -> dict:
    """Names that break out of a comment line, a docstring, or both."""
    run = f"open({str(marker)!r}, 'w').close()"
    return {
        "comment": f"k\nimport os; {run}\n#",
        "carriage return": f"k\r{run}\r#",
        "docstring": f'q"""; {run}; """',
        "backslash": "q\\",
    }


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("where", ["comment", "carriage return", "docstring", "backslash"])
def test_name_with_a_line_break_runs_nothing(home, backend, where):
    """A hyper-parameter and a coordinate with hostile names: nothing runs, the names
    are escaped, and the kernels compute the hand-derived flow q̇ = −k q."""
    marker = home / "pwned"
    name = attacks(marker)[where]
    q = sp.Symbol(name if where in ("docstring", "backslash") else "q", real=True)
    k = sp.Symbol(name if where not in ("docstring", "backslash") else "k", positive=True)
    system = sn.LearningSystem((q,), k * q**2 / 2, rule=sn.rules.gradient_flow())
    kernels = compile_kernels(system, backend=backend)
    out = np.empty(1)
    kernels.rhs(0.0, np.array([2.0]), kernels.pack({name if k.name == name else "k": 3.0}), out)
    assert not marker.exists()
    assert out.tolist() == [-6.0]
    assert kernel_source.source_label(name) in kernels.source and name not in kernels.source


def test_stray_symbol_is_refused_by_name(home, monkeypatch):
    """A symbol the parameter vector does not hold would be printed as an identifier;
    named ``c0`` it would even alias a common subexpression. Simulated by dropping
    it from the parameters (no public path builds such a system)."""
    (q,) = sn.coordinates("q")
    c0 = sp.Symbol("c0", positive=True)
    system = sn.LearningSystem((q,), c0 * q**2 / 2 + q**4, rule=sn.rules.gradient_flow())
    monkeypatch.setattr(codegen, "law_parameters", lambda system, laws: ())
    with pytest.raises(InvalidInputError, match="'c0', which is neither a coordinate"):
        compile_kernels(system, backend="numpy")


def test_matrix_entry_parameter_is_refused(home):
    q1, q2 = sn.coordinates("q1 q2")
    system = sn.LearningSystem((q1, q2), q1**2 / 2, rule=sn.rules.gradient_flow())
    M = sp.MatrixSymbol("M", 1, 1)
    law = sn.noether(system, (sp.S(0), M[0, 0]))
    with pytest.raises(InvalidInputError, match="'M', a MatrixSymbol"):
        compile_kernels(system, [law], backend="numpy")


def test_hand_written_law_symbols_stay_parameters(home):
    """Not an attack: a symbol only a law mentions is still a parameter."""
    q1, q2 = sn.coordinates("q1 q2")
    c = sp.Symbol("c", real=True)
    system = sn.LearningSystem((q1, q2), q1**2 / 2, rule=sn.rules.gradient_flow())
    kernels = compile_kernels(system, [sn.noether(system, (sp.S(0), c))], backend="numpy")
    assert [str(s) for s in kernels.parameters] == ["c"]


KERNEL = '@jit\ndef rhs(t, y, p, out):\n    """doc."""\n    y0 = y[0]\n    out[0] = {}\n'


@pytest.mark.parametrize(
    "source, found",
    [
        (KERNEL.format("open('x')"), "calls 'open'"),
        (KERNEL.format("__import__('os')"), "calls '__import__'"),
        (KERNEL.format("math.__loader__"), "attribute '__loader__'"),
        (KERNEL.format("y0.__class__"), "attribute '__class__'"),
        (KERNEL.format("(lambda: 1.0)()"), "calls 'lambda"),
        (KERNEL.format("os"), "name 'os'"),
        (KERNEL.format("math.exp(y0)") + "import os\n", "Import statement"),
        (KERNEL.format("y0") + "os.system('x')\n", "Expr statement"),
        (KERNEL.format("y0") + "NS = print\n", "module-level assignment"),
        (KERNEL.format("y0").replace("def rhs", "def evil"), "defines 'evil'"),
        (KERNEL.format("y0").replace("@jit", "@print"), "defines 'rhs'"),
        (KERNEL.format("y0") + "    import os\n", "Import at line"),
        (KERNEL.format("[y0 for y0 in y][0]"), "ListComp"),
    ],
)
def test_kernel_source_check_refuses(source, found):
    with pytest.raises(NotSupportedError, match=found.replace("(", r"\(")):
        kernel_source.check_kernel_source(source, {"rhs"})


def test_kernel_source_check_accepts_what_the_generator_writes(home):
    """Every construct the printer emits passes (Piecewise, Max, Heaviside, sign, Abs,
    math functions, rationals, floats)."""
    q1, q2 = sn.coordinates("q1 q2")
    loss = (
        sp.Piecewise((q1**2, q1 > 0), (0, True))
        + sp.Max(0, q2) ** 2
        + sp.Heaviside(q1 - q2) * q1
        + sp.sign(q2) * sp.Abs(q1) / 3
        + sp.exp(-(q1**2)) * sp.cos(q2)
        + sp.sqrt(1 + q2**2)
        + 0.25 * sp.log(1 + q1**2)
    )
    system = sn.LearningSystem((q1, q2), loss, rule=sn.rules.gradient_flow())
    kernels = compile_kernels(system, backend="numpy")
    body = kernels.source.split("pjit = jit\n", 1)[1]
    kernel_source.check_kernel_source(body, codegen._KERNEL_NAMES)
