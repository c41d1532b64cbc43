"""Security catalogue, outputs (issue 12, sections 3 and 4): an output never clobbers
what it must not, and text from a spec never acts in a terminal, TeX or Markdown.

Each test below fails against the code as the review found it: the input was
overwritten, the FIFO replaced, the mode reset to 0644, the empty path skipped, the
escape sequence printed raw, the title's HTML rendered, the ``\\includegraphics``
argument broken out of. Nothing here touches a real device file: a device is
simulated by the file's reported mode; FIFOs and sockets are made in the test's folder.

==================================================  ================================================
finding                                             test
==================================================  ================================================
``--markdown spec.toml`` overwrites the input       test_an_input_is_never_an_output
``--latex script.py`` overwrites the input          test_an_input_is_never_an_output
a folder as the output                              test_a_folder_is_refused
a FIFO replaced by a regular file                   test_a_fifo_is_refused_and_kept
``--latex /dev/null`` replaced the device (root)    test_a_device_is_refused_and_kept
a socket replaced                                   test_a_socket_is_refused_and_kept
a FIFO put there while the document is written      test_a_fifo_appearing_during_the_write_is_kept
one path for two options, silently clobbered        test_one_file_for_two_options_is_refused
an existing 0600 file comes back 0644               test_an_existing_file_keeps_its_mode
a new file ignores the umask                        test_a_new_file_follows_the_umask
``--latex ''`` silently skipped                     test_an_empty_path_is_an_error
a symbolic link replaced by a file                  test_a_symbolic_link_is_written_through
escape sequences in ``title`` reach the terminal    test_control_characters_never_reach_the_terminal
… and the progress line, the listing, errors        test_control_characters_never_reach_the_terminal
control characters in ``title`` reach the ``.tex``  test_title_cannot_break_or_inject_tex
``\\input`` after a ``}`` in the title              test_title_cannot_break_or_inject_tex
raw HTML in a Markdown title                        test_markdown_cannot_carry_raw_html
a fence in a report line ends the code block        test_markdown_cannot_carry_raw_html
the ``--plot`` path unescaped in the Markdown       test_plot_path_is_escaped_in_markdown
``--plot`` path unescaped in ``\\includegraphics``  test_plot_path_is_escaped_in_latex
==================================================  ================================================

To extend: add a row above and a test that plants the attack and fails without the fix.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

import symnoether as sn
from symnoether.cli import main
from symnoether.errors import OutputPathError
from symnoether.io import export, files

PDFLATEX = shutil.which("pdflatex")

SPEC = """\
# {summary}
title = {title}
[system]
coordinates = ["w1", "w2"]
loss = "(1 - w1*w2)**2/2"
rule = "gradient_descent"
[parameters]
lr = 0.1
[generators]
rescale = ["w1", "-w2"]
[initial]
w1 = 1.5
w2 = 0.2
[validation]
t_end = 1.0
"""

HOSTILE = "evil\x1b[31mRED\x1b]0;owned\x07\r\u202eTXT\x9b2J <b>x</b>"
"""A title that, printed raw, colours the terminal, retitles its window, returns the
cursor, reverses the text and (C1 CSI) clears the screen."""


def spec(folder: Path, title: str = "a plain title", summary: str = "A spec.") -> Path:
    path = folder / "pair.toml"
    path.write_text(SPEC.format(title=json.dumps(title), summary=summary), encoding="utf-8")
    return path


def untouched_script(folder: Path) -> tuple[Path, Path]:
    """A script that leaves a marker when it runs: refusals must come before it does."""
    marker = folder / "ran"
    script = folder / "deriv.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    return script, marker


def controls(text: str) -> list[str]:
    """The control (Cc) and bidirectional-format characters of ``text``, but line feed."""
    bidi = {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068"}
    return [c for c in text if (unicodedata.category(c) == "Cc" and c != "\n") or c in bidi]


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("symnoether: error: ") and "Traceback" not in err
    return lines[0]


# -- section 3: outputs never clobber ------------------------------------------------------


@pytest.mark.parametrize("option", ["--latex", "--markdown", "--plot"])
def test_an_input_is_never_an_output(option, tmp_path, capsys):
    source = spec(tmp_path)
    before = source.read_bytes()
    for spelling in (str(source), f"{tmp_path}/./pair.toml"):
        assert main(["run", str(source), option, spelling]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert option in line and "the input being run" in line
    assert source.read_bytes() == before
    script, marker = untouched_script(tmp_path)
    link = tmp_path / "alias.tex"
    link.symlink_to(script)
    assert main(["run", str(script), option, str(link)]) == 2  # the script, by another name
    assert "the input being run" in one_error_line(capsys.readouterr().err)
    assert not marker.exists() and script.read_text().startswith("open(")


def test_a_folder_is_refused(tmp_path, capsys):
    script, marker = untouched_script(tmp_path)
    for path in (tmp_path, f"{tmp_path / 'new'}/"):  # an existing folder; a name ending in /
        assert main(["run", str(script), "--latex", str(path)]) == 2
        one_error_line(capsys.readouterr().err)
    assert not marker.exists() and not (tmp_path / "new").exists()
    with pytest.raises(OutputPathError, match="it is a folder"):
        export.write_text(tmp_path, "x")


def _run_cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """The command in a child process: a write into a FIFO would block it, not the tests."""
    env = {**os.environ, "SYMNOETHER_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "symnoether", *argv],
        capture_output=True, text=True, timeout=timeout, env=env,
    )  # fmt: skip


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_is_refused_and_kept(tmp_path):
    fifo = tmp_path / "out.md"
    os.mkfifo(fifo)
    source = spec(tmp_path)
    done = _run_cli("run", str(source), "--markdown", str(fifo))
    assert done.returncode == 2
    assert "it is a FIFO" in one_error_line(done.stderr) and done.stdout == ""
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_is_refused_and_kept(tmp_path, monkeypatch):
    """``--latex /dev/null`` as root replaced the device. Simulated: the output's stat
    reports a character device (no real device file is touched)."""
    target = tmp_path / "null"
    target.write_text("the device", encoding="utf-8")
    real_stat = os.stat

    def as_a_device(path, *args, **kwargs):
        status = real_stat(path, *args, **kwargs)
        if Path(path) == target:
            fields = list(status)
            fields[0] = stat.S_IFCHR | 0o666
            return os.stat_result(fields)
        return status

    monkeypatch.setattr(export.os, "stat", as_a_device)
    with pytest.raises(OutputPathError, match="it is a character device"):
        export.write_text(target, "clobbered")
    script, marker = untouched_script(tmp_path)
    assert main(["run", str(script), "--latex", str(target)]) == 2
    assert not marker.exists()
    assert target.read_text(encoding="utf-8") == "the device"


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no Unix sockets")
def test_a_socket_is_refused_and_kept(tmp_path):
    path = tmp_path / "out.tex"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(OutputPathError, match="it is a socket"):
            export.write_text(path, "x")
        assert stat.S_ISSOCK(os.lstat(path).st_mode)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_appearing_during_the_write_is_kept(tmp_path):
    """Checked again right before the rename: a FIFO created meanwhile is not replaced,
    and no temporary file is left behind."""
    target = tmp_path / "plot.png"

    def write_and_race(handle):
        handle.write(b"data")
        os.mkfifo(target)

    with pytest.raises(OutputPathError, match="it is a FIFO"):
        files._atomic(target, write_and_race)
    assert stat.S_ISFIFO(os.lstat(target).st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["plot.png"]


@pytest.mark.parametrize(
    "first, second",
    [("--latex", "--markdown"), ("--latex", "--plot"), ("--markdown", "--plot")],
)
def test_one_file_for_two_options_is_refused(first, second, tmp_path, capsys):
    script, marker = untouched_script(tmp_path)
    out = tmp_path / "out.png"
    for other in (str(out), f"{tmp_path}/sub/../out.png", str(tmp_path / "link.png")):
        (tmp_path / "sub").mkdir(exist_ok=True)
        if not (tmp_path / "link.png").is_symlink():
            (tmp_path / "link.png").symlink_to(out)
        assert main(["run", str(script), first, str(out), second, other]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert first in line and second in line and "same file" in line
    out.write_text("old", encoding="utf-8")
    twin = tmp_path / "twin.png"
    os.link(out, twin)  # a hard link: another name of the same file
    assert main(["run", str(script), first, str(out), second, str(twin)]) == 2
    assert "same file" in one_error_line(capsys.readouterr().err)
    assert not marker.exists() and out.read_text(encoding="utf-8") == "old"


def test_an_existing_file_keeps_its_mode(tmp_path, capsys):
    source = spec(tmp_path)
    out = tmp_path / "private.md"
    out.write_text("old", encoding="utf-8")
    out.chmod(0o600)
    assert main(["run", str(source), "--markdown", str(out), "--no-kernels"]) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8").startswith("# a plain title")
    out.chmod(0o640)
    export.write_text(out, "new")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640 and out.read_text() == "new"


def test_a_new_file_follows_the_umask(tmp_path):
    previous = os.umask(0o027)
    try:
        export.write_text(tmp_path / "new.tex", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "new.tex").stat().st_mode) == 0o640  # 0666 & ~0027


@pytest.mark.parametrize("option", ["--latex", "--markdown", "--plot"])
def test_an_empty_path_is_an_error(option, tmp_path, capsys):
    script, marker = untouched_script(tmp_path)
    assert main(["run", str(script), option, ""]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"{option}: output path '' is not a file name" in line
    assert not marker.exists()
    with pytest.raises(OutputPathError, match="is not a file name"):
        export.write_text("", "x")


def test_a_symbolic_link_is_written_through(tmp_path):
    """The file a link points to is rewritten (keeping its mode); the link stays a link."""
    real = tmp_path / "real.md"
    real.write_text("old", encoding="utf-8")
    real.chmod(0o600)
    link = tmp_path / "link.md"
    link.symlink_to(real)
    export.write_text(link, "new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


# -- section 4: text from a spec never acts ------------------------------------------------


def test_control_characters_never_reach_the_terminal(tmp_path, capsys, monkeypatch):
    source = spec(tmp_path, HOSTILE)
    monkeypatch.setenv("SYMNOETHER_PROGRESS", "1")  # the progress line, on stderr
    assert main(["run", str(source)]) == 0
    captured = capsys.readouterr()
    assert controls(captured.out) == [] and controls(captured.err) == []
    first = captured.out.splitlines()[0]
    assert first.startswith("evil\\x1b[31mRED\\x1b]0;owned\\x07\\x0d\\u202eTXT\\x9b2J")
    (tmp_path / "listed.toml").write_text(f"# listed {HOSTILE}\n", encoding="utf-8")
    assert main(["list", "--dir", str(tmp_path)]) == 0  # the listing shows the comment
    listed = capsys.readouterr().out
    assert "listed evil\\x1b" in listed and controls(listed) == []
    bad = tmp_path / "bad.py"  # an error message carrying the title
    bad.write_text(f"import symnoether as sn\nraise sn.InvalidInputError({HOSTILE!r})\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "evil\\x1b[31m" in err and controls(err) == []


@pytest.mark.skipif(PDFLATEX is None, reason="pdflatex absent: apt-get install texlive-latex-base")
def test_title_cannot_break_or_inject_tex(tmp_path, capsys):
    """Control characters and a ``}`` that would close the title's group and run
    ``\\input``: the document compiles, with the title as text, and reads no file."""
    secret = tmp_path / "secret.tex"
    secret.write_text(r"\typeout{SECRET-READ}", encoding="utf-8")
    title = HOSTILE + "\n\n}\\input{" + secret.stem + "}\\iffalse{"
    source = spec(tmp_path, title)
    out = tmp_path / "doc.tex"
    assert main(["run", str(source), "--latex", str(out), "--no-kernels"]) == 0
    text = out.read_text(encoding="utf-8")
    assert controls(text) == [] and "\\input{" not in text
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", out.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    assert "SECRET-READ" not in done.stdout


def _rendered(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")  # CommonMark, as GitHub and Jupyter
    return markdown_it.MarkdownIt("commonmark").render(markdown)


def test_markdown_cannot_carry_raw_html(tmp_path, capsys):
    title = '<script>alert(1)</script><img src=x onerror="alert(2)"> [a](javascript:x) *b*'
    source = spec(tmp_path, title)
    out = tmp_path / "doc.md"
    assert main(["run", str(source), "--markdown", str(out), "--no-kernels"]) == 0
    markdown = out.read_text(encoding="utf-8")
    html = _rendered(markdown)
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<em>" not in html.split("</h1>")[0]
    heading = html.split("</h1>")[0].removeprefix("<h1>")
    assert heading == (  # the title, as text (CommonMark escapes < > " & in text)
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt; "
        "[a](javascript:x) *b*"
    )

    class Report:  # a validation report's text is shown in a code block
        def __str__(self):
            return "law ok\n```\n<script>alert(3)</script>\n````"

    deriv = sn.load(source).derive()
    html = _rendered(export.markdown_document(deriv, reports=[Report()], kernels=False))
    assert "<script" not in html and "&lt;script&gt;alert(3)" in html


def test_plot_path_is_escaped_in_markdown(tmp_path):
    deriv = sn.load(spec(tmp_path)).derive()
    name = 'a b) <img src=x onerror="alert(1)"> (c.png'
    markdown = export.markdown_document(deriv, base=tmp_path, figure=tmp_path / name)
    tags = re.findall(r"<img[^>]*>", _rendered(markdown))
    assert len(tags) == 1  # one image, no attribute but its link and text:
    link = re.fullmatch(r'<img src="([^"<> ]*)" alt="validation plot" ?/?>', tags[0])
    assert link is not None, tags[0]
    assert unquote(link[1]) == name  # the link points at the figure, whole


def test_plot_path_is_escaped_in_latex(tmp_path, capsys):
    script, marker = untouched_script(tmp_path)
    for bad in ("a}\\input{x}.png", "b%.png", "c#.png", "d\n.png", 'e".png', "f\x1b.png"):
        tex = str(tmp_path / "doc.tex")
        assert main(["run", str(script), "--latex", tex, "--plot", str(tmp_path / bad)]) == 2
        line = one_error_line(capsys.readouterr().err)
        assert "--plot" in line and "cannot go into the LaTeX document" in line
        assert controls(line) == []
    assert not marker.exists()
    deriv = sn.load(spec(tmp_path)).derive()
    with pytest.raises(OutputPathError, match="TeX cannot include"):
        export.latex_document(deriv, figure="a}b.png")
    if PDFLATEX is None:
        pytest.skip("pdflatex absent: the awkward but valid name is not compiled")
    name = "plot dir/run 1_a$&^~'.png"  # valid in a name: included as it is
    (tmp_path / "plot dir").mkdir()
    (tmp_path / name).write_bytes(_tiny_png())
    out = tmp_path / "doc.tex"
    export.write_latex(deriv, out, figure=tmp_path / name, kernels=False)
    done = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", out.name],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:]
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert f"<use {name}>" in log.replace("\n", "")  # pdflatex embedded that very file


def _tiny_png() -> bytes:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = plt.figure(figsize=(1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
