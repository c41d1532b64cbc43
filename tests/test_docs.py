"""The documentation: the tutorial notebook, its runner, and the API reference's coverage.

CI executes the notebook (``docs/run_notebook.py``) and builds the reference
(``sphinx-build -W``) after installing the ``docs`` extra; these tests check, in
the plain test environment, what those steps take for granted: the stored
notebook is clean and parses, every public name has a place in the reference,
and plots stay inline in a notebook. The runner's own failure modes are tested
where nbclient and ipykernel are installed (``.ci/run`` runs this file again
after installing the extra).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import json
import re
import types
from pathlib import Path

import pytest

import symnoether as sn

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOK = DOCS / "tutorial.ipynb"
STAGES = ("core", "symmetry", "numerics", "io", "errors")


def notebook_cells() -> list[dict]:
    return json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]


def test_the_notebook_is_stored_without_outputs():
    """Outputs are made by CI's run, never committed (they would go stale)."""
    document = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert document["nbformat"] == 4
    assert document["metadata"]["kernelspec"]["name"] == "python3"
    code = [cell for cell in document["cells"] if cell["cell_type"] == "code"]
    assert code, "the tutorial has no code cells"
    for cell in code:
        assert cell["outputs"] == [], "".join(cell["source"])[:80]
        assert cell["execution_count"] is None, "".join(cell["source"])[:80]


def test_the_notebook_cells_are_python():
    """Every code cell parses (IPython magics such as %matplotlib aside)."""
    for cell in notebook_cells():
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        lines = ["" if line.lstrip().startswith("%") else line for line in source.splitlines()]
        ast.parse("\n".join(lines))


def test_the_notebook_covers_the_pipeline():
    """The tutorial calls what it promises: derive, symmetries, validate with plots,
    the real optimizer, export; and plots inline."""
    source = "\n".join("".join(c["source"]) for c in notebook_cells() if c["cell_type"] == "code")
    for call in ("sn.LearningSystem(", "sn.noether(", "sn.derive(", ".symmetries(",
                 ".broken_by(system)", "sn.validate(", "sn.validate_discrete(", ".plot()",
                 ".to_latex(", ".to_markdown(", "%matplotlib inline"):  # fmt: skip
        assert call in source, call


def api_pages() -> dict[str, str]:
    return {page.stem: page.read_text(encoding="utf-8") for page in (DOCS / "api").glob("*.rst")}


def documented_modules() -> set[str]:
    """Modules an api page runs ``automodule`` on (members come from their ``__all__``)."""
    found = set()
    for text in api_pages().values():
        found.update(re.findall(r"^\.\. automodule:: (\S+)", text, flags=re.MULTILINE))
    return found


def declared_data(page: str) -> set[str]:
    """Names documented by hand with ``.. data::`` on ``page``, in the module its
    automodule sets (autodoc skips constants that have no docstring of their own)."""
    return set(re.findall(r"^\.\. data:: (\w+)$", api_pages()[page], flags=re.MULTILINE))


def is_autodocumented(obj: object) -> bool:
    """Classes, functions (also wrapped, e.g. by lru_cache) and modules; not constants."""
    return inspect.isclass(obj) or inspect.isroutine(inspect.unwrap(obj))


def test_every_stage_page_documents_its_stage():
    modules = documented_modules()
    for stage in STAGES:
        assert f"symnoether.{stage}" in modules, f"no api page runs automodule on {stage}"
    toc = (DOCS / "index.rst").read_text(encoding="utf-8")
    for page in api_pages():
        assert f"api/{page}" in toc, f"docs/api/{page}.rst is not in the index's toctree"


@pytest.mark.parametrize("stage", STAGES)
def test_every_public_name_of_a_stage_is_in_the_reference(stage):
    """autodoc documents classes, functions and modules of ``__all__``; a constant
    needs a ``.. data::`` entry, or it would be skipped without a warning."""
    package = importlib.import_module(f"symnoether.{stage}")
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ in documented_modules(), f"{obj.__name__} has no api section"
        elif not is_autodocumented(obj):
            assert name in declared_data(stage), (
                f"symnoether.{stage}.{name} is a constant: add a '.. data::' entry to "
                f"docs/api/{stage}.rst"
            )


def test_every_name_of_the_package_is_documented_on_a_stage_page_and_listed():
    """``sn.X`` is documented where its stage exports it, and the top page lists it."""
    homes = {stage: importlib.import_module(f"symnoether.{stage}") for stage in STAGES}
    top = api_pages()["symnoether"]
    for name in sn.__all__:
        obj = getattr(sn, name)
        if isinstance(obj, types.ModuleType):
            assert obj.__name__ in documented_modules(), f"{obj.__name__} has no api section"
        else:
            owners = [s for s, m in homes.items() if name in m.__all__ and getattr(m, name) is obj]
            assert owners, f"sn.{name} is in no stage's __all__, so no api page documents it"
            if owners == ["errors"]:
                continue  # the errors page documents the family; the top page links to it
        assert re.search(rf"[~.`]{name}\b", top), f"docs/api/symnoether.rst does not list {name}"


def test_report_plots_keep_the_notebook_backend(tmp_path):
    """``report.plot()`` draws with the caller's backend (inline in Jupyter) rather
    than switching matplotlib to Agg, which would hide every later plot in a notebook."""
    import matplotlib
    import matplotlib.pyplot as plt

    w1, w2 = sn.coordinates("w1 w2")
    flow = sn.LearningSystem((w1, w2), (1 - w1 * w2) ** 2 / 2, rule=sn.rules.gradient_flow())
    report = sn.validate(flow, sn.noether(flow, (w1, -w2)), [1.5, 0.2], t_end=1.0, backend="numpy")
    before = matplotlib.get_backend()
    try:
        plt.switch_backend("pdf")  # any non-Agg backend stands in for the inline one
        figure = report.plot()
        assert matplotlib.get_backend().lower() == "pdf"
        plt.close(figure)
    finally:
        plt.switch_backend(before)


# -- the runner (needs the docs extra: nbclient, nbformat, ipykernel) -------------------


@pytest.fixture(scope="module")
def runner():
    for module in ("nbclient", "nbformat", "ipykernel"):
        pytest.importorskip(module, reason="the docs extra is not installed")
    spec = importlib.util.spec_from_file_location("run_notebook", DOCS / "run_notebook.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_notebook(path: Path, *sources: str) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nbformat.write(new_notebook(cells=[new_code_cell(s) for s in sources]), path)
    return path


def test_the_runner_fails_on_a_cell_error(runner, tmp_path, capsys):
    path = write_notebook(tmp_path / "broken.ipynb", "x = 1", "1 / 0", "never = 'reached'")
    problems = runner.run(path, timeout=60, output=tmp_path / "out.ipynb")
    assert len(problems) == 1 and "ZeroDivisionError" in problems[0]
    assert runner.main([str(path)]) == 1


def test_the_runner_fails_without_inline_latex_and_plots(runner, tmp_path):
    path = write_notebook(tmp_path / "plain.ipynb", "print('no rich output')")
    problems = runner.run(path, timeout=60, output=None)
    assert len(problems) == 2
    assert "text/latex" in problems[0] and "image/png" in problems[1]
