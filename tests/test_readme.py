"""The README's REPL example runs and prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


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


def test_repl_example_prints_the_documented_law():
    (example,) = _blocks("python")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "README.md", "exec"), {})
    documented = next(block for block in _blocks("") if "Noether's learning dynamics" in block)
    assert printed.getvalue().strip() == documented.strip()


def test_readme_shows_both_commands():
    (commands,) = _blocks("bash")
    assert "python -m pip install -e '.[test]' && python -m pytest" in commands
    assert "symnoether run derivations/normalization_rmsprop.py" in commands
    assert (Path(__file__).parent.parent / "derivations" / "normalization_rmsprop.py").exists()
