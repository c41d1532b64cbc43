"""The symnoether command: run, list, exit codes and one-line errors."""

from __future__ import annotations

import os
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


def test_run_on_a_spec_without_generators_prints_the_conservation_laws(tmp_path, capsys):
    """V = ½(y − w₁w₂w₃x)² under gradient flow: the rescalings (w₁, −w₂, 0) and
    (w₁, 0, −w₃) span the symmetries; each Mψ = ψ is a gradient and ψ·∇V = 0, so two
    conserved charges (w₁² − w₂²)/2, (w₁² − w₃²)/2 (up to the basis chosen). Every
    ∇_θ ℓ is parallel to ∇(w₁w₂w₃), so dim Lie(W) = 1 and the bound is 3 − 1 = 2:
    complete."""
    spec = tmp_path / "triple.toml"
    spec.write_text(
        'title = "triple product"\n[system]\ncoordinates = ["w1", "w2", "w3"]\n'
        'data = ["x", "y"]\nloss = "(y - w1*w2*w3*x)**2/2"\nrule = "gradient_flow"\n',
        encoding="utf-8",
    )
    assert main(["run", str(spec), "--validate", "--backend", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "no [generators]" not in out
    assert "2 conserved combinations" in out
    assert "bound: 2 independent laws" in out and "(complete)" in out
    assert out.count("conserved             yes") == 2
    assert "validation PASSED" in out


def test_unwritable_output_fails_before_deriving(tmp_path, capsys):
    script = _script(tmp_path, "raise SystemExit('the script must not run')\n")
    missing = tmp_path / "no" / "out.tex"
    assert main(["run", str(script), "--latex", str(missing)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "create it first" in err[0]


def test_a_bug_in_the_script_is_one_line_then_traceback_with_debug(tmp_path, capsys):
    script = _script(tmp_path, "def derivation():\n    return undefined_name\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err
    assert "raised NameError at deriv.py:2" in err and "Traceback" not in err
    assert main(["run", str(script), "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err


def test_progress_on_a_terminal_unless_quiet(tmp_path, capsys, monkeypatch):
    script = _pair_script(tmp_path)
    monkeypatch.delenv("SYMNOETHER_PROGRESS", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["run", str(script)]) == 0
    captured = capsys.readouterr()
    assert "✓ deriving deriv.py (" in captured.err and "✓" not in captured.out
    assert main(["run", str(script), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "0")
    assert main(["run", str(script)]) == 0
    assert capsys.readouterr().err == ""


def test_progress_reports_every_stage_in_order(tmp_path, capsys, monkeypatch):
    script = _pair_script(tmp_path)
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "1")  # on, though stderr is no terminal
    argv = ["run", str(script), "--validate", "--backend", "numpy"]
    assert main([*argv, "--markdown", str(tmp_path / "out.md")]) == 0
    captured = capsys.readouterr()
    stages = [line.split(" (")[0] for line in captured.err.splitlines()]
    assert stages == [
        "✓ deriving deriv.py",
        "✓ compiling the kernels",
        "✓ validating the laws numerically",
        f"✓ writing Markdown to {tmp_path / 'out.md'}",
    ]
    assert "validation PASSED" in captured.out and "✓" not in captured.out


def test_activity_names_what_runs_from_the_stack():
    """The spinner's detail: the innermost frame of a known file names the activity."""
    from symnoether.cli.progress import activity

    def frame_in(filename: str, inner=None):
        code = compile("def call(inner):\n    return inner()\n", filename, "exec")
        namespace: dict = {}
        exec(code, namespace)
        return namespace["call"](inner or (lambda: sys._getframe(1)))

    assert activity(frame_in("/x/symnoether/symmetry/search.py")) == "symmetry search"
    assert activity(frame_in("/x/site-packages/numba/core/compiler.py")) == "numba compilation"
    assert activity(frame_in("C:\\py\\symnoether\\core\\noether.py")) == "Noether laws"
    assert activity(frame_in("/x/sympy/simplify/simplify.py")) == ""
    search = "/x/symnoether/symmetry/search.py"
    nested = frame_in(search, lambda: frame_in("/x/symnoether/core/dynamics.py"))
    assert activity(nested) == "equations of motion"  # the innermost known frame wins
    assert activity(None) == ""


SCALAR_PAIR_RUN = (sys.executable, "-m", "symnoether", "run", "scalar_pair", "--validate")
SCALAR_PAIR_RUN += ("--backend", "numpy")


def test_piped_output_has_no_progress_noise():
    """A real process with stdout and stderr piped: no spinner, no ✓ lines, no escapes."""
    env = {k: v for k, v in os.environ.items() if k != "SYMNOETHER_PROGRESS"}
    done = subprocess.run(
        [*SCALAR_PAIR_RUN],
        capture_output=True, text=True, timeout=600, env=env, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "\x1b" not in done.stdout and "✓" not in done.stdout
    assert "validation PASSED" in done.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_a_terminal_sees_the_spinner_and_the_stages():
    """stderr on a pseudo-terminal shows the spinner and the ✓ lines; stdout stays clean."""
    import pty
    import threading

    env = {k: v for k, v in os.environ.items() if k != "SYMNOETHER_PROGRESS"}
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*SCALAR_PAIR_RUN],
        stdout=subprocess.PIPE, stderr=slave, env=env, cwd=ROOT,
    )  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # the terminal closed with the process
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out = process.stdout.read().decode()
    assert process.wait(timeout=600) == 0
    reader.join(timeout=10)
    os.close(master)
    terminal = b"".join(chunks).decode()
    for stage in ("deriving scalar_pair.toml", "compiling the kernels", "validating the laws"):
        assert f"✓ {stage}" in terminal
    assert "⠋" in terminal or "⠙" in terminal  # the spinner ran
    assert "\x1b" not in out and "✓" not in out and "validation PASSED" in out


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


# -- the shipped gallery, hints, a bad file in a listing (issue 10) ---------------------

SHIPPED = sorted(p.name for p in [*ROOT.glob("derivations/*.py"), *ROOT.glob("derivations/*.toml")])
PAIR_TITLE = "Rescale symmetry of a scalar two-layer network under GD with weight decay"


def _listed(out: str) -> list[str]:
    return sorted(line.split("  —  ")[0] for line in out.splitlines())


def test_list_shows_the_shipped_gallery_from_any_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["list"]) == 0
    assert _listed(capsys.readouterr().out) == SHIPPED  # names that `run` takes
    monkeypatch.chdir(ROOT)  # in the checkout: paths relative to it, as before
    assert main(["list"]) == 0
    assert _listed(capsys.readouterr().out) == [f"derivations/{name}" for name in SHIPPED]


@pytest.mark.parametrize(
    "name", ["scalar_pair", "scalar_pair.toml", "derivations/scalar_pair.toml"]
)
def test_run_takes_the_name_of_a_shipped_derivation(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", name]) == 0
    assert PAIR_TITLE in capsys.readouterr().out


def test_a_local_file_wins_over_the_gallery(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scalar_pair.toml").write_text(
        (ROOT / "derivations" / "scalar_pair.toml")
        .read_text("utf-8")
        .replace(PAIR_TITLE, "my own copy"),
        encoding="utf-8",
    )
    assert main(["run", "scalar_pair.toml"]) == 0
    out = capsys.readouterr().out
    assert "my own copy" in out and PAIR_TITLE not in out


def test_a_name_must_resolve_unambiguously(tmp_path, monkeypatch):
    from symnoether.cli import gallery
    from symnoether.errors import DerivationScriptError

    (tmp_path / "twin.py").write_text('"""A script."""\n', encoding="utf-8")
    (tmp_path / "twin.toml").write_text("# A spec.\n", encoding="utf-8")
    monkeypatch.setattr(gallery, "gallery_folder", lambda: tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(DerivationScriptError, match=r"twin names both twin\.py and twin\.toml"):
        gallery.resolve_derivation("twin")
    assert gallery.resolve_derivation("twin.toml") == tmp_path / "twin.toml"
    with pytest.raises(DerivationScriptError, match=r"no derivation .* twn \(did you mean 'twin'"):
        gallery.resolve_derivation("twn")


def test_an_unknown_name_suggests_the_closest_and_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "normalisation_rmsprop"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "did you mean 'normalization_rmsprop'" in err[0]
    assert "--debug" not in "\n".join(err)


def test_gallery_folder_prefers_package_data_then_the_checkout(tmp_path, monkeypatch):
    from symnoether.cli import gallery

    site = tmp_path / "site-packages" / "symnoether"
    (site / "derivations").mkdir(parents=True)
    monkeypatch.setattr(gallery, "PACKAGE", site)
    assert gallery.gallery_folder() == site / "derivations"  # an installed wheel
    checkout = tmp_path / "checkout"
    (checkout / "derivations").mkdir(parents=True)
    monkeypatch.setattr(gallery, "PACKAGE", checkout / "symnoether")
    assert gallery.gallery_folder() is None  # no pyproject.toml: not a checkout
    (checkout / "pyproject.toml").write_text("", encoding="utf-8")
    assert gallery.gallery_folder() == checkout / "derivations"  # an editable install


def test_list_without_a_gallery_does_not_point_back_to_itself(capsys, monkeypatch):
    from symnoether.cli import gallery

    monkeypatch.setattr(gallery, "PACKAGE", Path("/nonexistent/symnoether"))
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert "shipped derivations are missing" in err and "reinstall" in err
    assert "`symnoether list`" not in err


def test_list_names_a_bad_file_and_goes_on(tmp_path, capsys):
    (tmp_path / "good.py").write_text('"""A good script."""\n', encoding="utf-8")
    (tmp_path / "broken.py").write_text("def derivation(:\n", encoding="utf-8")
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    assert main(["list", "--dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = {Path(line.split("  —  ")[0]).name: line for line in captured.out.splitlines()}
    assert set(lines) == {"good.py", "broken.py", "latin1.toml"}
    assert lines["good.py"].endswith("A good script.")
    assert "cannot be read: invalid Python at line 1" in lines["broken.py"]
    assert "cannot be read: not UTF-8 text" in lines["latin1.toml"]
    warnings = captured.err.splitlines()
    assert len(warnings) == 2 and all(w.startswith("symnoether: warning: ") for w in warnings)
    assert "broken.py" in warnings[0] and "latin1.toml" in warnings[1]


def test_list_survives_a_reader_that_leaves(tmp_path):
    """`symnoether list | head -1`: no BrokenPipeError reported as an internal error."""
    done = subprocess.run(
        f"{sys.executable} -m symnoether list | head -1", shell=True, cwd=ROOT,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.stdout.count("\n") == 1 and done.stderr == ""


# Input errors say what to fix: no "--debug" hint. Unexpected exceptions suggest it,
# and never once --debug is given.


def test_an_input_error_does_not_suggest_debug(tmp_path, capsys):
    script = _script(
        tmp_path,
        """
        import symnoether as sn
        def derivation():
            return sn.rules.gradient_descent(-1)
        """,
    )
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err
    assert "learning rate lr = -1 is not positive" in err and "--debug" not in err
    assert main(["run", str(script), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "run with --debug" not in err


def test_a_misspelt_rule_comes_first_through_the_cli(tmp_path, capsys):
    spec = tmp_path / "pair.toml"
    spec.write_text(
        '[system]\ncoordinates = ["w1", "w2"]\nloss = "(1 - w1*w2)**2/2"\n'
        'rule = "momentm"\n[parameters]\nlr = 0.1\nbeta = 0.9\n',
        encoding="utf-8",
    )
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "rule = 'momentm' is not a learning rule (did you mean 'momentum'?)" in err[0]
    assert "--debug" not in "\n".join(err) and "takes no" not in err[0]


def test_an_unexpected_error_suggests_debug_but_not_under_debug(tmp_path, capsys):
    script = _script(tmp_path, "def derivation():\n    return {}['missing']\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "symnoether: error: the derivation raised KeyError at deriv.py:2: 'missing'"
    assert err[1] == "  hint: run with --debug to see the traceback"
    assert main(["--debug", "run", str(script)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "run with --debug" not in err


def test_an_error_raised_inside_symnoether_is_reported_as_a_bug(tmp_path, capsys, monkeypatch):
    from symnoether import cli
    from symnoether.cli.gallery import PACKAGE

    namespace: dict = {}
    inside = PACKAGE / "io" / "derivation.py"  # as if raised by the library's own code
    exec(compile("def load(target):\n    raise KeyError('x')\n", str(inside), "exec"), namespace)
    monkeypatch.setattr(cli, "_load", namespace["load"])
    script = _script(tmp_path, "x = 1\n")
    assert main(["run", str(script)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("symnoether: error: internal error: symnoether raised KeyError")
    assert "--debug" in err[1] and "bug in symnoether" in err[1]
    assert main(["run", str(script), "--debug"]) == 2
    assert "run with --debug" not in capsys.readouterr().err


SGD_PAIR = """
    from dataclasses import replace

    import sympy as sp
    import symnoether as sn

    def derivation():
        eta = sp.Symbol("eta", positive=True)
        x, y = sn.data("x y")
        u, w = sn.coordinates("u w")
        system = sn.LearningSystem((u, w), (y - u * w * x) ** 2 / 2, rule=sn.rules.sgd(eta),
                                   data=(x, y), dataset={{x: [0.5, -1, 3], y: [2, 1, -1]}})
        law = sn.noether(system, (u, -w))
        law = {law}
        return sn.Derivation("rescale under SGD", system, sn.equations_of_motion(system),
                             ("rescale",), (law,))

    def validation():
        return {{"q0": [1.2, 0.4], "params": {{"eta": 0.05}}}}
"""


def test_sgd_laws_validate_by_monte_carlo(tmp_path, capsys):
    """`--validate` on an SGD derivation runs validate_sgd (the continuous check refuses
    SGD); a law with the noise drift's sign flipped fails it (|z| far above 4)."""
    script = _script(tmp_path, SGD_PAIR.format(law="law"))
    png = tmp_path / "sgd.png"
    argv = ["run", str(script), "--validate", "--backend", "numpy", "--plot", str(png)]
    assert main(argv) == 0
    assert "Monte Carlo validation PASSED" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wrong = _script(tmp_path, SGD_PAIR.format(law="replace(law, noise_drift=-law.noise_drift)"))
    assert main(["run", str(wrong), "--validate", "--backend", "numpy"]) == 1
    assert "Monte Carlo validation FAILED" in capsys.readouterr().out
