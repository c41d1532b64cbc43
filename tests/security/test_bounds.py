"""Security catalogue, bounded work (issue 12, section 2): a short input cannot hang a run
or take gigabytes.

One test per finding of the review. Each refusal must come within a small time budget
and memory ceiling of its own (``bounded()``), so a check that ran only after building
the huge object fails as a BudgetExceededError instead of passing late; the
declaration checks also assert that no matrix of symbols was built. Expected sizes are
counted by hand in each test. Against the code before the fix every test fails (the
expression or declaration was accepted, or refused only after seconds and gigabytes),
except the last, a guard: a FIFO given as the input was refused then too.

====================================================  =============================================
finding                                               test
====================================================  =============================================
``(w1+w2+x+y)**64`` (35 chars): hours to expand       test_short_power_with_a_huge_expansion
64 × ``(w1+w2)**64``, merged by SymPy into one power  test_powers_merged_by_sympy
``(((w1+w2)**max(64,1))**max(64,1))**max(64,1)``      test_exponents_the_checker_cannot_estimate
``sum(W@W@W@W@W)``, W 32×32: 6.1 GB                   test_chain_of_matrix_products
200 × [64, 64] matrices, counted after building       test_matrices_counted_from_their_shapes
500 × [64, 64] in [constants], not counted            test_constants_counted_from_their_shapes
many data vectors, not counted                        test_data_vectors_counted_from_their_lengths
W 32×32, ``norm(W)**2/2``: unfinished in 60 s         test_matrix_too_large_to_derive
no time budget unless --timeout                       test_symbolic_stages_have_a_default_budget
--timeout did not cover --validate, --plot            test_timeout_covers_the_numeric_stages
a compiled (numba) loop ignores the budget            test_compiled_loop_is_stopped_with_exit_2
no memory ceiling                                     test_memory_ceiling_is_one_line_exit_2
MemoryError: a traceback, exit 1                      test_memory_error_is_one_line_exit_2
``--timeout 1e300``: OverflowError                    test_huge_timeout_is_no_overflow
budget error in parsing shown as a spec error         test_budget_error_in_parsing_is_no_spec_error
a FIFO given as the input                             test_fifo_input_does_not_hang
====================================================  =============================================

A FIFO in the kernel cache is catalogued in test_kernel_cache.py. To extend: add a row
above and a test that fails without the fix, and keep it fast (refusals, not runs).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from symnoether.budget import STUCK_SECONDS, memory_budget, resident_bytes, time_budget
from symnoether.cli import main
from symnoether.errors import BudgetExceededError, SpecFileError
from symnoether.io.specfile import loads

cli = importlib.import_module("symnoether.cli")
spec_tables = importlib.import_module("symnoether.io.spec_tables")
specfile = importlib.import_module("symnoether.io.specfile")

MIB = 2**20


@contextlib.contextmanager
def bounded(seconds: float = 5.0, megabytes: int = 256):
    """The refusal must come within ``seconds`` and ``megabytes`` more resident memory."""
    with memory_budget(resident_bytes() + megabytes * MIB, "the refusal"):
        with time_budget(seconds, "the refusal"):
            yield


def spec(loss: str, extra: str = "", coordinates: str = '["w1", "w2"]') -> str:
    return textwrap.dedent(
        f"""
        [system]
        coordinates = {coordinates}
        data = ["x", "y"]
        loss = "{loss}"
        rule = "gradient_flow"
        """
    ) + textwrap.dedent(extra)


def refusal(text: str) -> str:
    with bounded(), pytest.raises(SpecFileError) as info:
        loads(text)
    return str(info.value)


@pytest.fixture
def built(monkeypatch):
    """Counts the matrices of symbols the spec loader builds."""
    calls: list = []
    original = spec_tables.matrix_coordinates

    def counting(name, rows, cols):
        calls.append((name, rows, cols))
        return original(name, rows, cols)

    monkeypatch.setattr(spec_tables, "matrix_coordinates", counting)
    return calls


# -- expressions ------------------------------------------------------------------------


def test_short_power_with_a_huge_expansion():
    # monomials of degree 64 in 4 symbols: C(64 + 3, 3) = 67·66·65/6 = 47,905
    message = refusal(spec("(w1+w2+x+y)**64"))
    assert "column 1: the expression is too large: expanded it has about 47,905 terms" in message
    assert "degree 64" in message and "over the limits of 20000 terms" in message


def test_powers_merged_by_sympy():
    # each factor is within the limit of 64; SymPy adds the exponents: 64 · 64 = 4096
    message = refusal(spec("*".join(["(w1+w2)**64"] * 64)))
    assert "SymPy combines the powers into (w1 + w2)**4096, with exponent 4096" in message


def test_exponents_the_checker_cannot_estimate():
    # max(64, 1) is not estimated before building; ((b**64)**64) is b**4096 at the 2nd power
    message = refusal(spec("(((w1+w2)**max(64,1))**max(64,1))**max(64,1)"))
    assert "column 2: the exponent is too large: SymPy combines the powers into " in message
    assert "(w1 + w2)**4096" in message


def test_chain_of_matrix_products(built):
    # W@W for a 32×32 W: 32·32 entries of 32 products each = 32,768 terms, refused before
    # the product is formed (the whole chain would have 32⁴·1024 ≈ 1.1e9)
    text = spec("w1*sum(W@W@W@W@W)", "[constants]\nW = [32, 32]\n")
    message = refusal(text)
    assert "column 8: this matrix product is too large: its expanded entries have about " in message
    assert "32,768 terms in all (a 32×32 matrix times a 32×32 matrix)" in message
    assert built == [("W", 32, 32)]  # the constant itself, nothing more


# -- declarations: counted from their shapes --------------------------------------------


def test_matrices_counted_from_their_shapes(built):
    matrices = "".join(f"M{i} = [64, 64]\n" for i in range(200))
    text = spec("w1", "[system.matrices]\n" + matrices)
    message = refusal(text)
    # 2 scalar coordinates + 200 · 64 · 64 = 819,202
    assert "[system] declares 819202 coordinates" in message
    assert "over the limit of 128" in message
    assert built == []


def test_constants_counted_from_their_shapes(built):
    constants = "".join(f"A{i} = [64, 64]\n" for i in range(500))
    message = refusal(spec("w1", "[constants]\n" + constants))
    # 2 coordinates + 2 data symbols + 500 · 64 · 64 = 2,048,004
    assert "the file declares 2048004 symbols" in message
    assert "over the limit of 4096" in message
    assert built == []


def test_data_vectors_counted_from_their_lengths(built):
    vectors = "".join(f"v{i} = 64\n" for i in range(70))
    message = refusal(spec("w1", "[system.data_vectors]\n" + vectors))
    # 2 + 2 + 70 · 64 = 4,484 symbols
    assert "the file declares 4484 symbols" in message
    assert built == []


def test_matrix_too_large_to_derive(built):
    """The derivation's time grows as n³ in the number of coordinates (dense mass
    matrix, LU solve): 144 took 70 s, 1024 would take hours. 32 · 32 = 1024."""
    text = spec("norm(W)**2/2", "[system.matrices]\nW = [32, 32]\n", coordinates="[]")
    message = refusal(text)
    assert "[system] declares 1024 coordinates" in message
    assert built == []


# -- the command line: budgets by default, and over the whole run -----------------------

PAIR = """
[system]
coordinates = ["w1", "w2"]
loss = "(1 - w1*w2)**2/2"
rule = "gradient_flow"
[generators]
rescale = ["w1", "-w2"]
[initial]
w1 = 1.5
w2 = 0.2
"""


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) <= 2 and lines[0].startswith("symnoether: error: ")
    return lines[0]


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def test_symbolic_stages_have_a_default_budget(tmp_path, monkeypatch, capsys, slow_script):
    monkeypatch.setattr(cli, "DEFAULT_TIMEOUT", 0.5)
    start = time.perf_counter()
    assert main(["run", write(tmp_path, "slow.py", slow_script)]) == 2
    assert time.perf_counter() - start < 0.5 + 2.0
    assert one_error_line(capsys) == (
        "symnoether: error: the derivation ran out of its 0.5 s time budget; raise the budget "
        "(--timeout SECONDS), or simplify the loss, or name the generators in the script "
        "(sn.derive(system, generators)) or spec file ([generators])"
    )
    monkeypatch.setattr(cli, "DEFAULT_TIMEOUT", 1e-4)  # would refuse even the smallest spec
    assert main(["run", write(tmp_path, "pair.toml", PAIR), "--timeout", "none"]) == 0
    assert main(["run", str(tmp_path / "pair.toml"), "--timeout", "0"]) == 0
    assert main(["run", str(tmp_path / "pair.toml")]) == 2


def test_timeout_covers_the_numeric_stages(tmp_path, monkeypatch, capsys, slow_script):
    """--validate and --plot run inside the --timeout budget (the validation is replaced
    by slow work, in Python, so the test needs no compilation)."""

    def slow_validation(*args, **kwargs):
        exec(slow_script, namespace := {})
        namespace["derivation"]()

    monkeypatch.setattr(cli, "_validate", slow_validation)
    pair = write(tmp_path, "pair.toml", PAIR)
    for option in ("--validate", "--plot"):
        extra = [str(tmp_path / "plot.png")] if option == "--plot" else []
        start = time.perf_counter()
        code = main(["run", pair, "--timeout", "1", "--backend", "numpy", option, *extra])
        assert code == 2 and time.perf_counter() - start < 1 + 2.0
        assert one_error_line(capsys).startswith(
            "symnoether: error: symnoether run ran out of its 1 s time budget;"
        )


SPIN_SCRIPT = """
    import numba

    @numba.njit(nogil=True, cache=False)
    def spin(n):
        total = 0.0
        for i in range(n):
            total += (i % 7) * 1e-9
        return total

    def derivation():
        spin(10)  # compiled here, well within the budget
        spin(10**13)  # hours in compiled code, which no signal interrupts
"""


@pytest.mark.skipif(
    os.environ.get("NUMBA_DISABLE_JIT") == "1",
    reason="without numba's JIT the loop is Python, which the budget interrupts at once",
)
def test_compiled_loop_is_stopped_with_exit_2(tmp_path):
    """A numba loop (nogil) never returns to Python: STUCK_SECONDS after the deadline the
    run prints the error and exits 2 (the slowest test here: start-up, compilation,
    the budget and STUCK_SECONDS)."""
    script = write(tmp_path, "spin.py", SPIN_SCRIPT)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "symnoether", "run", script, "--timeout", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SYMNOETHER_PROGRESS": "0"},
    )
    elapsed = time.perf_counter() - start
    assert done.returncode == 2, done.stderr
    assert 4 + STUCK_SECONDS < elapsed < 4 + STUCK_SECONDS + 10  # start-up included
    line = done.stderr.strip().splitlines()[0]
    assert line.startswith(
        "symnoether: error: symnoether run ran out of its 4 s time budget during the "
        f"derivation, and was still inside compiled code {STUCK_SECONDS:g} s later;"
    )
    assert "Traceback" not in done.stderr


def test_memory_ceiling_is_one_line_exit_2(tmp_path, capsys):
    # 0.01 GiB = 10.24 MiB, below any Python process with SymPy loaded: reached at the
    # watchdog's first poll. SymPy's cache is cleared so that the derivation outlasts
    # that poll (with the cache warm from earlier tests it can finish first: seen in CI).
    from sympy.core.cache import clear_cache

    clear_cache()
    assert main(["run", write(tmp_path, "pair.toml", PAIR), "--memory", "0.01"]) == 2
    line = one_error_line(capsys)
    assert line.startswith(
        "symnoether: error: the derivation reached its memory ceiling of 10.2 MiB (resident "
    )
    assert "raise the ceiling (--memory GIB)" in line


def test_memory_error_is_one_line_exit_2(tmp_path, capsys):
    script = write(tmp_path, "greedy.py", "def derivation():\n    raise MemoryError\n")
    assert main(["run", script]) == 2
    assert one_error_line(capsys).startswith(
        "symnoether: error: the derivation ran out of memory (the system refused an allocation at "
    )


def test_huge_timeout_is_no_overflow(tmp_path, capsys):
    assert main(["run", write(tmp_path, "pair.toml", PAIR), "--timeout", "1e300"]) == 0
    assert "rescale" in capsys.readouterr().out


def test_budget_error_in_parsing_is_no_spec_error(monkeypatch):
    def out_of_time(*args, **kwargs):
        raise BudgetExceededError("the derivation ran out of its 1 s time budget")

    monkeypatch.setattr(specfile, "parse_expression", out_of_time)
    with pytest.raises(BudgetExceededError) as info:
        loads(PAIR)
    assert not isinstance(info.value, SpecFileError)
    assert str(info.value) == "the derivation ran out of its 1 s time budget"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs need a POSIX platform")
@pytest.mark.parametrize("name", ["model.toml", "script.py"])
def test_fifo_input_does_not_hang(name, tmp_path, capsys):
    os.mkfifo(tmp_path / name)  # opening it for reading would block until a writer comes
    with bounded():
        assert main(["run", str(tmp_path / name)]) == 2
    assert "is a FIFO, not a regular file" in one_error_line(capsys)
