"""The symnoether command: run, list, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from symnoether.cli import main

ROOT = Path(__file__).parent.parent
HEADLINE = ROOT / "derivations" / "normalization_rmsprop.py"


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "deriv.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


PAIR = """
    import sympy as sp
    import symnoether as sn
    from symnoether import models

    def derivation():
        pair = models.scalar_pair()
        eta = sp.Symbol("eta", positive=True)
        deriv = sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators,
                          title="rescale under GD")
        assert {check}
        return deriv
"""


def test_run_prints_system_law_and_equations(tmp_path, capsys):
    script = _script(tmp_path, PAIR.format(check="not deriv.law('rescale').conserved"))
    assert main(["run", str(script)]) == 0
    out = capsys.readouterr().out
    for piece in ("rescale under GD", "Lagrangian", "equations of motion", "charge", "wdot1"):
        assert piece in out


def test_failed_assertion_exits_1_with_the_failing_line(tmp_path, capsys):
    script = _script(tmp_path, PAIR.format(check="deriv.law('rescale').conserved"))
    assert main(["run", str(script)]) == 1
    err = capsys.readouterr().err
    assert "failed its check" in err and "deriv.law('rescale').conserved" in err
    assert "Traceback" not in err


def test_missing_script_exits_2(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.py")]) == 2
    err = capsys.readouterr().err
    assert "nope.py" in err and "Traceback" not in err


def test_script_without_derivation_exits_2(tmp_path, capsys):
    script = _script(tmp_path, "x = 1\n")
    assert main(["run", str(script)]) == 2
    assert "defines no derivation()" in capsys.readouterr().err


def test_symnoether_error_inside_script_exits_2(tmp_path, capsys):
    script = _script(
        tmp_path,
        """
        import symnoether as sn
        def derivation():
            return sn.rules.gradient_descent(-1)
        """,
    )
    assert main(["run", str(script)]) == 2
    assert "learning rate lr = -1 is not positive" in capsys.readouterr().err


def test_debug_shows_the_traceback(tmp_path, capsys):
    script = _script(tmp_path, "x = 1\n")
    assert main(["--debug", "run", str(script)]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_list_shows_the_gallery(capsys):
    assert main(["list", "--dir", str(ROOT / "derivations")]) == 0
    out = capsys.readouterr().out
    assert "normalization_rmsprop.py" in out and "RMSProp" in out


def test_console_script_runs_the_headline_derivation():
    """README command 1, through the installed entry point's module."""
    done = subprocess.run(
        [sys.executable, "-m", "symnoether", "run", str(HEADLINE)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert "[scale]" in done.stdout and "u = r⁴ accumulator" in done.stdout


@pytest.mark.parametrize("argv", [[], ["frobnicate"]])
def test_bad_usage_exits_2(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
