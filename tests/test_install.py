"""The gallery ships with the package: after ``pip install .`` and after the README's
``pip install -e .``, ``symnoether list`` and ``symnoether run NAME`` work from any
directory (issue 10).

Each install goes into a fresh virtual environment, as pip does it: the wheel or the
editable wheel is built by hatchling's PEP 517/660 hooks (the ones pip calls; without
build isolation, so nothing is downloaded) and installed by pip with ``--no-deps``.
The dependencies (SymPy, NumPy, ...) are lent from this interpreter by a ``.pth``
file written after the install, so that pip sees an empty environment. The commands
then run through the environment's own ``symnoether`` console script, from an empty
folder, without ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GALLERY = sorted(p.name for p in [*ROOT.glob("derivations/*.py"), *ROOT.glob("derivations/*.toml")])


def _pip_has_python_option() -> bool:
    import pip

    major, minor = (int(part) for part in re.findall(r"\d+", pip.__version__)[:2])
    return (major, minor) >= (22, 3)


pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("hatchling") is None
        or importlib.util.find_spec("editables") is None,
        reason="building the wheels needs hatchling and editables: pip install -e '.[test]'",
    ),
    pytest.mark.skipif(not _pip_has_python_option(), reason="needs pip >= 22.3 (--python)"),
    pytest.mark.skipif(sys.platform == "win32", reason="venv layout of POSIX"),
]


def _run(argv: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["SYMNOETHER_PROGRESS"] = "0"
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _build(kind: str, out: Path) -> Path:
    """hatchling's ``build_wheel`` or ``build_editable`` hook, run in the checkout."""
    code = f"import hatchling.build as b; print(b.build_{kind}({str(out)!r}))"
    done = _run([sys.executable, "-c", code], cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return out / done.stdout.strip().splitlines()[-1]


def _install(wheel: Path, home: Path) -> Path:
    """A fresh venv holding ``wheel`` (no dependencies), then lent this interpreter's
    site-packages; returns its bin folder."""
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    done = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel],
        cwd=home,
    )
    assert done.returncode == 0, done.stderr
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], home)
    lent = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    # Named to sort after the editable install's own .pth, so that its checkout comes first.
    (Path(purelib.stdout.strip()) / "zz_lent_dependencies.pth").write_text("\n".join(lent) + "\n")
    return home / "bin"


def _check_the_commands(bin_dir: Path, elsewhere: Path) -> str:
    """`list` and `run NAME` from an empty folder; returns where symnoether was imported."""
    where = _run([bin_dir / "python", "-c", "import symnoether; print(symnoether.__file__)"],
                 elsewhere)  # fmt: skip
    assert where.returncode == 0, where.stderr
    listing = _run([bin_dir / "symnoether", "list"], elsewhere)
    assert listing.returncode == 0, listing.stderr
    names = sorted(line.split("  —  ")[0] for line in listing.stdout.splitlines())
    assert names == GALLERY
    title = tomllib.loads((ROOT / "derivations" / "scalar_pair.toml").read_text("utf-8"))["title"]
    ran = _run([bin_dir / "symnoether", "run", "scalar_pair"], elsewhere)  # by name
    assert ran.returncode == 0, ran.stderr
    assert title in ran.stdout and ran.stderr == ""
    assert list(elsewhere.iterdir()) == []  # nothing written where it ran
    return where.stdout.strip()


def test_pip_install_ships_the_gallery(tmp_path):
    wheel = _build("wheel", tmp_path)
    inside = set(zipfile.ZipFile(wheel).namelist())
    assert {f"symnoether/derivations/{name}" for name in GALLERY} <= inside
    bin_dir = _install(wheel, tmp_path / "venv")
    (tmp_path / "elsewhere").mkdir()
    imported = _check_the_commands(bin_dir, tmp_path / "elsewhere")
    assert Path(imported).is_relative_to(tmp_path / "venv")  # the installed copy, not ROOT


def test_editable_install_reads_the_checkout_gallery(tmp_path):
    wheel = _build("editable", tmp_path)
    bin_dir = _install(wheel, tmp_path / "venv")
    (tmp_path / "elsewhere").mkdir()
    imported = _check_the_commands(bin_dir, tmp_path / "elsewhere")
    assert Path(imported).is_relative_to(ROOT)  # the checkout, live
