"""The README's REPL example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _blocks(language: str) -> list[str]:
    """The fenced blocks opened with ```language (one pass over the fences)."""
    blocks, current, opened = [], [], None
    for line in README.splitlines():
        if line.startswith("```"):
            if opened is None:
                opened, current = line[3:].strip(), []
            else:
                if opened == language:
                    blocks.append("\n".join(current) + "\n")
                opened = None
        elif opened is not None:
            current.append(line)
    return blocks


def test_repl_example_prints_the_documented_law(tmp_path, monkeypatch):
    example, pipeline, widths = _blocks("python")
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), namespace)
    documented = next(block for block in _blocks("") if "Noether's learning dynamics" in block)
    assert printed.getvalue().strip() == documented.strip()
    # The pipeline continues in the same session and prints what its comments say.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    pipeline = pipeline.replace('"derivations/', f'"{ROOT}/derivations/')
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(pipeline, "README.md", "exec"), namespace)
    assert printed.getvalue().split("\n")[:2] == ["1 ['scale']", "True True 2"]
    assert (tmp_path / "nld.md").read_text(encoding="utf-8").count("$$") >= 2
    # Real widths: the matrix-level example prints what its comments say.
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(widths, "README.md", "exec"), namespace)
    said = [
        line.split("# ")[1] for line in widths.splitlines() if "print(" in line and "# " in line
    ]
    lines = printed.getvalue().strip().split("\n")
    assert lines[0] == said[0] and lines[2] == said[2] and lines[3] == said[3].split(" (")[0]
    assert lines[1].startswith("(eta*(beta + 1)/2) e^{t/τ} (Ẇ1 W1ᵀ") and "W2ᵀ Ẇ2" in lines[1]


def test_readme_shows_both_commands():
    (commands,) = _blocks("bash")
    assert "python -m pip install -e '.[test]' && python -m pytest" in commands
    assert "symnoether run derivations/normalization_rmsprop.py" in commands
    assert (Path(__file__).parent.parent / "derivations" / "normalization_rmsprop.py").exists()
