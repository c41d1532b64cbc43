"""One-way data flow (DESIGN.md, "Architecture"), checked from the source.

The package is a pipeline of stages, one sub-package each::

    errors, budget → core → symmetry | numerics → io → cli

``symmetry`` and ``numerics`` sit side by side: neither imports the other. Inside
a stage, a module imports only modules listed before it. Every import of the
package is collected with :mod:`ast` — relative and absolute, also those inside
functions (imported on use) — so a lazy import cannot hide a backward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symnoether"

# The stages; a stage may import the stages it lists (besides itself).
STAGES = {
    "errors": set(),
    "budget": {"errors"},
    "core": {"errors", "budget"},
    "symmetry": {"errors", "budget", "core"},
    "numerics": {"errors", "budget", "core"},
    "io": {"errors", "budget", "core", "symmetry", "numerics"},
    "cli": {"errors", "budget", "core", "symmetry", "numerics", "io"},
    "__main__": {"cli"},
}

# Inside a stage, the modules in the order of the data flow.
MODULES = {
    "core": ["dag", "display", "typeset", "vocabulary", "matrix_printers", "matrix_display",
             "rules", "checks", "system", "boundaries", "branches", "jet", "traces", "matrices",
             "matrix_values", "matrix_checks", "matrix_system", "dynamics", "charges",
             "stochastic", "matrix_noether", "noether", "charge_display", "matrix_charge_equation",
             "charge_equation", "equilibrium", "collapse", "stability", "models", "__init__"],
    "symmetry": ["actions", "breaking", "members", "products", "algebra", "grouping", "sampling",
                 "coefficients", "sampled", "general", "traces", "structured", "parsing",
                 "discrete", "search", "rational", "lierank", "ansatz", "lawbound", "matrixforms",
                 "vectorforms", "matrix_laws", "laws", "__init__"],
    "numerics": ["drivers", "cache_trust", "kernel_cache", "kernel_source", "matrix_printer",
                 "matrix_kernels", "matrix_codegen", "codegen",
                 "arguments", "reports", "compiled", "discrete", "validate", "stochastic_drivers",
                 "stochastic_report", "stochastic_mc", "sweep_grid",
                 "sweep_store", "sweep_batch", "sweep_progress", "sweep_tasks", "sweeps",
                 "__init__"],
    "io": ["mathwidth", "linebreak", "notation", "latex_python", "files", "export",
           "derivation", "expansion", "expressions", "spec_tables", "specfile", "phase",
           "__init__"],
    "cli": ["progress", "gallery", "scripts", "sweep_command", "__init__"],
}  # fmt: skip

# Backward imports made on use, each for a stated reason (documented where it is).
ALLOWED = {
    # LearningSystem.symmetries() is a shortcut for find_symmetries(system)
    ("core.system", "symmetry.search"),
    # LearningSystem(...) on MatrixSymbol layers returns a MatrixSystem
    ("core.system", "core.matrix_system"),
}


def imported_modules(path: Path) -> set[str]:
    """Dotted names, relative to ``symnoether``, of the package modules ``path`` imports."""
    relative = path.relative_to(PACKAGE).with_suffix("").parts
    package = list(relative[:-1]) if relative[-1] != "__init__" else list(relative[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("symnoether.")]
            found.update(name.removeprefix("symnoether.") for name in names)
            continue
        if node.level == 0:
            if node.module and node.module.startswith("symnoether."):
                found.add(node.module.removeprefix("symnoether."))
            elif node.module == "symnoether":
                found.update(alias.name for alias in node.names)
            continue
        base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
        if node.module:
            found.add(".".join([*base, node.module]))
        else:
            found.update(".".join([*base, alias.name]) for alias in node.names)
    return found


def stage_of(module: str) -> str:
    return module.split(".")[0]


def all_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(PACKAGE).with_suffix("").parts) for path in PACKAGE.rglob("*.py")
    )


def test_every_module_has_a_place():
    for module in all_modules():
        if module == "__init__":
            continue
        stage = stage_of(module)
        assert stage in STAGES, f"{module}: add its stage to STAGES"
        if "." in module:
            name = module.split(".", 1)[1]
            assert name in MODULES[stage], f"add {name} to MODULES[{stage!r}] in data-flow order"


@pytest.mark.parametrize("module", [m for m in all_modules() if m != "__init__"])
def test_imports_only_earlier_stages(module):
    stage = stage_of(module)
    path = PACKAGE.joinpath(*module.split(".")).with_suffix(".py")
    backward = set()
    for imported in imported_modules(path):
        if (module, imported) in ALLOWED:
            continue
        other = stage_of(imported)
        if other == stage and "." in module:
            order = MODULES[stage]
            name, target = module.split(".", 1)[1], imported.split(".")[1:2]
            if target and target[0] in order and order.index(target[0]) >= order.index(name):
                backward.add(imported)
        elif other != stage and other in STAGES and other not in STAGES[stage]:
            backward.add(imported)
    assert not backward, f"{module} imports the later or sibling stage(s) {sorted(backward)}"


def test_the_stage_order_is_the_pipeline():
    """Each stage only reaches back: no stage lists itself or a stage that lists it."""
    for stage, allowed in STAGES.items():
        assert stage not in allowed
        for earlier in allowed:
            assert stage not in STAGES[earlier], f"{stage} and {earlier} import each other"
    assert "numerics" not in STAGES["symmetry"] and "symmetry" not in STAGES["numerics"]


def test_a_backward_import_is_caught(tmp_path):
    """The checker itself: lazy imports of later stages inside a function are found."""
    folder = tmp_path / "core"
    folder.mkdir()
    source = folder / "fake.py"
    source.write_text(
        "def f():\n    from ..io.export import to_latex\n    from .. import cli\n"
        "    from .noether import noether\n    import symnoether.numerics.codegen\n"
    )
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path
    try:
        found = imported_modules(source)
    finally:
        PACKAGE = saved
    assert found == {"io.export", "cli", "core.noether", "numerics.codegen"}
