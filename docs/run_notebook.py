"""Execute the documentation notebooks top to bottom and fail on any error.

CI runs this after installing the ``docs`` extra, so the tutorial never goes
stale::

    python docs/run_notebook.py                      # docs/tutorial.ipynb
    python docs/run_notebook.py NOTEBOOK --output executed.ipynb

Each notebook runs with :mod:`nbclient` in a kernel started from *this*
interpreter (a throw-away kernelspec pointing at ``sys.executable``, so a
``python3`` kernel registered elsewhere on the machine cannot be picked up), in a
scratch working directory (files the notebook writes do not land in the
checkout). The run fails (exit 1) when a cell raises, when a cell runs longer
than ``--timeout`` seconds, or when the outputs lack what the tutorial promises:
rendered LaTeX (a ``text/latex`` output) and inline plots (an ``image/png``
output). The stored notebook is kept without outputs (``tests/test_docs.py``
checks that); ``--output`` writes the executed copy for reading.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

DOCS = Path(__file__).resolve().parent
KERNEL = "symnoether-docs"
# Each notebook must show these MIME types somewhere in its outputs.
REQUIRED_OUTPUTS = ("text/latex", "image/png")


def kernel_manager(folder: Path):
    """A kernel manager whose only kernelspec runs ipykernel on this interpreter."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = folder / "kernels" / KERNEL
    spec.mkdir(parents=True)
    # log level ERROR: ipykernel's start-up notices (a loopback TCP connection, the parent
    # exiting after shutdown) are no news in CI; a cell's errors still come back as outputs
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    argv.append("--IPKernelApp.log_level=ERROR")
    kernel = {"argv": argv, "display_name": "symnoether docs", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel), encoding="utf-8")
    specs = KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)
    return KernelManager(kernel_name=KERNEL, kernel_spec_manager=specs)


def mime_types(notebook) -> set[str]:
    """Every MIME type among the notebook's rich outputs."""
    found = set()
    for cell in notebook.cells:
        for output in cell.get("outputs", ()):
            found.update(output.get("data", {}))
    return found


def stderr_text(notebook) -> list[str]:
    """Text the cells wrote to stderr (warnings), one entry per cell that wrote any."""
    return [
        "".join(o.get("text", "") for o in cell.get("outputs", ()) if o.get("name") == "stderr")
        for cell in notebook.cells
        if any(o.get("name") == "stderr" for o in cell.get("outputs", ()))
    ]


def run(path: Path, *, timeout: int, output: Path | None) -> list[str]:
    """Execute ``path``; return the problems found (empty when it ran cleanly)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="symnoether-notebook-") as scratch:
        folder = Path(scratch)
        client = NotebookClient(
            notebook,
            km=kernel_manager(folder),
            kernel_name=KERNEL,
            timeout=timeout,
            allow_errors=False,
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            client.execute()
        except CellExecutionError as err:  # the traceback of the failing cell, as Jupyter shows it
            return [f"a cell raised:\n{err}"]
        except (CellControlSignal, TimeoutError, RuntimeError) as err:
            return [f"execution stopped: {type(err).__name__}: {err}"]
        finally:
            if output is not None:
                nbformat.write(notebook, output)
    problems = [
        f"no {mime} output: the tutorial promises it inline"
        for mime in REQUIRED_OUTPUTS
        if mime not in mime_types(notebook)
    ]
    for text in stderr_text(notebook):
        print(f"note: {path.name} wrote to stderr:\n{text.rstrip()}", file=sys.stderr)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=[DOCS / "tutorial.ipynb"])
    parser.add_argument("--timeout", type=int, default=300, help="seconds per cell (300)")
    parser.add_argument("--output", type=Path, help="write the executed notebook here")
    args = parser.parse_args(argv)
    if args.output is not None and len(args.notebooks) != 1:
        parser.error("--output takes one notebook")
    failed = 0
    for path in args.notebooks:
        start = time.perf_counter()
        problems = run(path, timeout=args.timeout, output=args.output)
        seconds = time.perf_counter() - start
        status = "FAILED" if problems else "ok"
        print(f"{path.name}: {status} in {seconds:.1f} s")
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
