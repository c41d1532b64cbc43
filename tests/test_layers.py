"""One-way data flow (DESIGN.md, "Architecture"): a module of ``symnoether`` imports
only modules of earlier stages, spec → symmetry → laws → codegen → validate → export.

Every relative import is collected from the source with :mod:`ast`, also those inside
functions (imported on use), so a lazy import cannot hide a backward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symnoether"

# A module may import the modules listed before it.
STAGES = [
    "errors", "display", "budget", "_drivers",                  # foundations
    "vocabulary", "rules", "_spec_checks", "spec", "jet",        # spec
    "dynamics", "noether", "models",                             # laws
    "symmetry_actions", "symmetry_algebra", "symmetry_numerics",  # symmetry
    "symmetry_structured", "symmetry",
    "_kernel_cache", "_kernel_source", "codegen",                # codegen
    "_arguments", "_reports", "_compiled", "_discrete", "validate",  # validate
    "derivation",
    "latex_notation", "latex_python", "export",                  # export
    "expressions", "_spectables", "specfile",                    # spec files
    "cli", "__main__", "__init__",
]  # fmt: skip

# Backward imports made on use, each for a stated reason.
ALLOWED = {
    # LearningSystem.symmetries() is a shortcut for find_symmetries(system)
    ("spec", "symmetry"),
    # Derivation.to_latex() / to_markdown() are shortcuts for export's documents
    ("derivation", "export"),
}


def relative_imports(path: Path) -> set[str]:
    """Modules of the package that ``path`` imports (``from .x import``, ``from . import x``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("symnoether."):
                found.add(node.module.split(".")[1])
    return found


def test_every_module_has_a_stage():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules == set(STAGES), "add new modules to STAGES in the order of the data flow"


@pytest.mark.parametrize("module", STAGES)
def test_imports_only_earlier_stages(module):
    position = STAGES.index(module)
    later = {
        imported
        for imported in relative_imports(PACKAGE / f"{module}.py")
        if imported in STAGES and STAGES.index(imported) >= position
    }
    backward = later - {imported for source, imported in ALLOWED if source == module}
    assert not backward, f"{module} imports the later stage(s) {sorted(backward)}"


def test_a_backward_import_is_caught(tmp_path):
    """The checker itself: a lazy import of a later stage inside a function is found."""
    source = tmp_path / "fake.py"
    source.write_text("def f():\n    from .export import to_latex\n    from . import cli\n")
    assert relative_imports(source) == {"export", "cli"}
