"""Security catalogue, the error path (issue 12, section 5): every failure is one line
on stderr with exit code 0/1/2 (130 when interrupted), never a traceback, a hang, or
an echo of whatever the input held.

Each test fails against the code as the review found it (an AttributeError from the
parser, an OverflowError, a 9,000-character line, ``<frozen runpy>``, exit code 7, a
KeyboardInterrupt traceback, a listing that never ends).

==================================================  ===========================================
finding                                             test
==================================================  ===========================================
``exp(`` ×99: AttributeError 'Load' col_offset      test_nesting_limit_counts_expressions_only
99 chained ``.T``: the same AttributeError          test_nesting_limit_counts_expressions_only
… and through ``symnoether run``                    test_deep_spec_expression_is_a_spec_error
``--timeout 1e300``: OverflowError                  test_huge_timeout_is_a_usage_error
… while the largest budget still runs               test_largest_timeout_is_accepted
a 9,000-character unknown name echoed whole         test_long_unknown_name_is_cut
… any long message echoed whole                     test_long_message_is_cut_to_one_line
a script's SyntaxError in ``<frozen runpy>``        test_syntax_error_names_the_script_and_line
``sys.exit(7)`` in a script exits 7                 test_script_exit_status_becomes_1
a script's failing assertion (stays exit 1)         test_script_exit_status_becomes_1
Ctrl-C prints a traceback                           test_interrupt_is_one_line_and_130
``--debug`` still prints "run with --debug"         test_debug_shows_the_traceback_and_no_hint
``list`` hangs on a FIFO (or /dev/zero) ``*.toml``  test_list_never_reads_a_special_file
``run`` on a FIFO                                   test_list_never_reads_a_special_file
==================================================  ===========================================

To extend: add a row above and a test that fails without the fix.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import sympy as sp

import symnoether as sn
from symnoether.cli import MAX_TIMEOUT, main
from symnoether.errors import SpecFileError
from symnoether.io.expressions import MAX_DEPTH, parse_expression

SPEC = """\
[system]
coordinates = ["w1", "w2"]
loss = "{loss}"
rule = "gradient_descent"
[parameters]
lr = 0.1
[generators]
rescale = ["w1", "-w2"]
"""


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symnoether") and ": error: " in lines[0]
    assert "Traceback" not in err
    return lines[0]


def script(folder: Path, body: str, name: str = "deriv.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def cli(*argv: str, timeout: float = 120, **options) -> subprocess.CompletedProcess:
    env = {**os.environ, "SYMNOETHER_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "symnoether", *argv],
        capture_output=True, text=True, timeout=timeout, env=env, **options,
    )  # fmt: skip


# -- the expression parser ------------------------------------------------------------


def test_nesting_limit_counts_expressions_only():
    """Depth counts expressions: exp(exp(…(w)…)) with 99 calls is 100 levels (the name
    is the 100th) and is accepted; one more call is refused by name, as is a ``.T`` chain
    one longer than the limit. Before, the Load context under the innermost name was
    counted too, and its missing position raised AttributeError."""
    w = sp.Symbol("w")
    expected = w
    for _ in range(MAX_DEPTH - 1):
        expected = sp.exp(expected)
    nested = "exp(" * (MAX_DEPTH - 1) + "w" + ")" * (MAX_DEPTH - 1)
    assert parse_expression(nested, {"w": w}) == expected
    with pytest.raises(SpecFileError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_expression("exp(" + nested + ")", {"w": w})
    W = sn.matrix_coordinates("W", 2, 3)
    chain = "W" + ".T" * (MAX_DEPTH - 1)  # an odd number of transposes: W.T
    assert parse_expression(chain, {"W": W}) == W.T
    with pytest.raises(SpecFileError, match=f"nesting deeper than {MAX_DEPTH} levels"):
        parse_expression(chain + ".T", {"W": W})
    with pytest.raises(SpecFileError, match="nesting deeper"):  # nodes without a position
        parse_expression("lambda: " * (MAX_DEPTH + 5) + "w", {"w": w})


def test_deep_spec_expression_is_a_spec_error(tmp_path, capsys):
    loss = "exp(" * 99 + "w1*w2" + ")" * 99 + " + " + "w1" + ".T" * 99
    spec = tmp_path / "deep.toml"
    spec.write_text(SPEC.format(loss=loss), encoding="utf-8")
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "nesting deeper than 100 levels" in err.splitlines()[0]
    assert "AttributeError" not in err and "--debug" not in err and "Traceback" not in err


def test_long_unknown_name_is_cut(tmp_path, capsys):
    name = "a" * 9000
    with pytest.raises(SpecFileError) as error:
        parse_expression(f"w + {name}", {"w": sp.Symbol("w")}, where="[system] loss")
    message = str(error.value)
    assert "unknown name 'aaaa" in message and len(message) < 300
    spec = tmp_path / "long.toml"
    spec.write_text(SPEC.format(loss=f"w1*w2 + {name}"), encoding="utf-8")
    assert main(["run", str(spec)]) == 2
    first = capsys.readouterr().err.splitlines()[0]
    assert "unknown name" in first and len(first) < 400


def test_long_message_is_cut_to_one_line(tmp_path, capsys):
    bad = script(tmp_path, "import symnoether as sn\nraise sn.InvalidInputError('x' * 9000)\n")
    assert main(["run", str(bad)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert len(line) <= len("symnoether: error: ") + 1000 and line.endswith("…")


# -- the command line ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e300", "inf", "1e10"])
def test_huge_timeout_means_no_budget_not_an_overflow(value, capsys):
    """A budget beyond MAX_TIMEOUT (about 31 years) is no budget: the run completes,
    with no OverflowError from the timer (it was one before)."""
    assert main(["run", "scalar_pair", "--timeout", value]) == 0
    err = capsys.readouterr().err
    assert "OverflowError" not in err and "error" not in err
    assert MAX_TIMEOUT == 1e9


def test_largest_timeout_is_accepted(capsys):
    assert main(["run", "scalar_pair", "--timeout", "1e9"]) == 0
    assert "OverflowError" not in capsys.readouterr().err


def test_syntax_error_names_the_script_and_line(tmp_path, capsys):
    broken = script(tmp_path, "import sympy\n\ndef derivation(:\n    pass\n")
    assert main(["run", str(broken)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{broken}, line 3: invalid Python" in line and "def derivation(:" in line
    assert "runpy" not in line
    helper = script(tmp_path, "x = = 1\n", name="helper_module_broken.py")
    importer = script(
        tmp_path,
        f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport helper_module_broken\n",
        name="importer.py",
    )
    assert main(["run", str(importer)]) == 2  # the module that is broken, not the importer
    assert f"{helper}, line 1: invalid Python" in one_error_line(capsys.readouterr().err)
    sys.modules.pop("helper_module_broken", None)


PAIR = """
    import sys
    import sympy as sp
    import symnoether as sn
    from symnoether import models

    def derivation():
        pair = models.scalar_pair()
        eta = sp.Symbol("eta", positive=True)
        deriv = sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators)
        {tail}
        return deriv
"""


@pytest.mark.parametrize(
    "tail, code, expected",
    [
        ("sys.exit(7)", 1, "exited at deriv.py:11 with status 7"),
        ("sys.exit('no convergence')", 1, "exited at deriv.py:11: no convergence"),
        ("raise SystemExit(0)", 2, "exited at deriv.py:11 (status 0) before derivation()"),
        ("assert deriv.law('rescale').conserved", 1, "failed its check at deriv.py:11"),
    ],
)
def test_script_exit_status_becomes_1(tail, code, expected, tmp_path, capsys):
    path = script(tmp_path, PAIR.format(tail=tail))
    assert main(["run", str(path)]) == code
    err = capsys.readouterr().err
    assert expected in err.splitlines()[0] and "Traceback" not in err
    if "exit" in tail:
        assert str(path) in one_error_line(err)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_interrupt_is_one_line_and_130(tmp_path):
    """Ctrl-C (SIGINT) while a slow script runs: one line on stderr and exit code 130."""
    slow = script(tmp_path, "import time\nprint('ready', flush=True)\ntime.sleep(120)\n")
    env = {**os.environ, "SYMNOETHER_PROGRESS": "0"}
    child = subprocess.Popen(
        [sys.executable, "-m", "symnoether", "run", str(slow)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        child.kill()
    assert child.returncode == 130
    assert "interrupted" in one_error_line(err)


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback_and_no_hint(where, tmp_path):
    buggy = script(tmp_path, "def derivation():\n    return {}['missing']\n")
    argv = ["--debug", "run", str(buggy)] if where == "before" else ["run", str(buggy), "--debug"]
    done = cli(*argv)
    assert done.returncode == 2
    assert "Traceback" in done.stderr and "KeyError" in done.stderr
    assert "run with --debug" not in done.stderr
    assert done.stderr.rstrip().splitlines()[-1].startswith("symnoether: error: the derivation")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_list_never_reads_a_special_file(tmp_path):
    """A FIFO named x.toml blocked the listing forever (as a symlink to /dev/zero did);
    it is now listed as unreadable, without being opened, and the others still are."""
    folder = tmp_path / "specs"
    folder.mkdir()
    os.mkfifo(folder / "x.toml")
    (folder / "good.toml").write_text("# A good spec.\n", encoding="utf-8")
    start = time.monotonic()
    done = cli("list", "--dir", str(folder), timeout=60)
    assert time.monotonic() - start < 60 and done.returncode == 0
    lines = dict(line.split("  —  ") for line in done.stdout.splitlines())
    assert lines[str(folder / "good.toml")] == "A good spec."
    assert lines[str(folder / "x.toml")] == "cannot be read: a FIFO, not a regular file"
    assert done.stderr.splitlines() == [
        f"symnoether: warning: {folder / 'x.toml'}: cannot be read: a FIFO, not a regular file"
    ]
    run = cli("run", str(folder / "x.toml"), timeout=60)
    assert run.returncode == 2 and "is a FIFO, not a regular file" in run.stderr
