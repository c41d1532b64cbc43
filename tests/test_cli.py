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


# -- export, validation, spec files, progress (issue 5) ---------------------------------

HOOK = """
    def validation():
        return {"q0": [1.5, 0.2], "params": {"eta": 0.1}, "t_end": 2.0}
"""

WRONG_LAW = (
    """
    import dataclasses
    import sympy as sp
    import symnoether as sn
    from symnoether import models

    def derivation():
        pair = models.scalar_pair()
        eta = sp.Symbol("eta", positive=True)
        deriv = sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators)
        # Drop the kinetic breaking: the law now (wrongly) claims Q is conserved.
        wrong = dataclasses.replace(deriv.law("rescale"), kinetic_breaking=sp.S.Zero)
        return dataclasses.replace(deriv, laws=(wrong,))
"""
    + HOOK
)


def _pair_script(tmp_path: Path) -> Path:
    return _script(tmp_path, PAIR.format(check="True") + HOOK)


def test_run_exports_latex_and_markdown(tmp_path, capsys):
    script = _pair_script(tmp_path)
    tex, md = tmp_path / "out.tex", tmp_path / "out.md"
    argv = ["run", str(script), "--latex", str(tex), "--markdown", str(md), "--no-kernels"]
    assert main(argv) == 0
    assert r"\begin{document}" in tex.read_text(encoding="utf-8")
    assert r"Q_{\text{rescale}}" in tex.read_text(encoding="utf-8")
    assert "$$" in md.read_text(encoding="utf-8")
    assert capsys.readouterr().err == ""  # stderr is no terminal: no progress lines


def test_validate_and_plot(tmp_path, capsys):
    script = _pair_script(tmp_path)
    png, md = tmp_path / "plot.png", tmp_path / "out.md"
    argv = ["run", str(script), "--validate", "--backend", "numpy", "--plot", str(png)]
    assert main([*argv, "--markdown", str(md), "--no-kernels"]) == 0
    assert "validation PASSED" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![validation plot](plot.png)" in md.read_text(encoding="utf-8")


def test_a_law_failing_validation_exits_1(tmp_path, capsys):
    script = _script(tmp_path, WRONG_LAW)
    assert main(["run", str(script), "--validate", "--backend", "numpy"]) == 1
    captured = capsys.readouterr()
    assert "validation FAILED" in captured.out
    err = captured.err.splitlines()
    assert err[0].startswith("symnoether: error: a law failed numerical validation")
    assert err[1].startswith("  hint:") and len(err) == 2


def test_toml_spec_goes_through_specfile_load(tmp_path, capsys, monkeypatch):
    from symnoether import models

    calls = []

    class Spec:
        validation = {"q0": (1.5, 0.2), "params": {"eta": 0.1}}

        def derive(self):
            import sympy as sp

            import symnoether as sn

            pair = models.scalar_pair()
            eta = sp.Symbol("eta", positive=True)
            return sn.derive(pair.system(sn.rules.gradient_descent(eta)), pair.generators,
                             title="from a spec file")  # fmt: skip

    from symnoether import cli

    monkeypatch.setattr(cli.specfile, "load", lambda path: calls.append(Path(path)) or Spec())
    spec = tmp_path / "pair.toml"
    spec.write_text("", encoding="utf-8")
    assert main(["run", str(spec), "--validate", "--backend", "numpy"]) == 0
    assert calls == [spec]
    out = capsys.readouterr().out
    assert "from a spec file" in out and "validation PASSED" in out


def test_unwritable_output_fails_before_deriving(tmp_path, capsys):
    script = _script(tmp_path, "raise SystemExit('the script must not run')\n")
    missing = tmp_path / "no" / "out.tex"
    assert main(["run", str(script), "--latex", str(missing)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and str(missing) in err[0] and "create the output folder" in err[1]


def test_a_bug_in_the_script_is_one_line_then_traceback_with_debug(tmp_path, capsys):
    script = _script(tmp_path, "def derivation():\n    return undefined_name\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err
    assert "raised NameError at deriv.py:2" in err and "Traceback" not in err
    assert main(["run", str(script), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_progress_lines_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch):
    script = _pair_script(tmp_path)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", str(script)]) == 0
    err = capsys.readouterr().err
    assert "deriving deriv.py" in err and "done" in err
    assert main(["run", str(script), "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--validate", "--latex", "--markdown", "--plot", "--quiet", "--debug"):
        assert option in out
    assert "exit codes: 0 success; 1" in out and "validation()" in out


def test_list_includes_spec_files(tmp_path, capsys):
    (tmp_path / "a.toml").write_text("# A spec file.\ntitle = 'a'\n", encoding="utf-8")
    assert main(["list", "--dir", str(tmp_path)]) == 0
    assert "a.toml  —  A spec file." in capsys.readouterr().out
