"""The on-disk form of a sweep: a directory of Parquet part files and a manifest.

``manifest.json`` holds the sweep's identity: the hash of the derivation (its kernel
source and law names), the grid (swept names, values, seeds), the check and every
option that changes a row. Each finished chunk of grid points is written as its own
``part-<first item>-<count>.parquet``, atomically (a hidden temporary file, then
:func:`os.replace`), so an interrupted or killed sweep leaves only whole part files
and a rerun with the same identity skips the (point, seed) pairs they hold. A
directory whose manifest differs, or that holds files but no manifest, is refused
with :class:`~symnoether.errors.SweepMismatchError`: nothing is overwritten or mixed.

Examples
--------
>>> import tempfile, pandas as pd
>>> folder = tempfile.mkdtemp()
>>> store = SweepStore.open(folder, {"check": "validate"})
>>> store.write(pd.DataFrame({"point": [0], "seed": [3], "law": ["psi1"]}), first=0)
>>> sorted(store.done())
[(0, 3)]
>>> try:
...     SweepStore.open(folder, {"check": "discrete"})
... except SweepMismatchError as err:
...     print(str(err).split(";")[0])  # doctest: +ELLIPSIS
the directory ... holds another sweep (its check differs)
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from ..errors import OutputPathError, SweepMismatchError
from .kernel_cache import atomic_write_bytes

__all__ = ["SweepStore", "MANIFEST", "FORMAT"]

MANIFEST = "manifest.json"
FORMAT = "symnoether-sweep/1"


class SweepStore:
    """A sweep's output directory, opened for writing (see the module docstring)."""

    def __init__(self, path: Path, manifest: dict):
        self.path = path
        self.manifest = manifest

    @classmethod
    def open(cls, path, manifest: dict) -> SweepStore:
        """Create ``path`` with ``manifest``, or reopen it when it holds the same sweep.

        Raises :class:`OutputPathError` when ``path`` is a file or cannot be created, and
        :class:`SweepMismatchError` when it holds another sweep or foreign files.
        """
        path = Path(path)
        manifest = json.loads(json.dumps({"format": FORMAT, **manifest}, sort_keys=True))
        if path.exists() and not path.is_dir():
            raise OutputPathError(f"the sweep's output {path} is a file; pass a directory")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputPathError(
                f"the sweep's output directory {path} cannot be created ({err}); pass a "
                "writable directory"
            ) from None
        target = path / MANIFEST
        if target.exists():
            try:
                stored = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise SweepMismatchError(
                    f"the directory {path} has an unreadable {MANIFEST} ({err}); pass another "
                    "directory, or delete this one to start afresh"
                ) from None
            if stored != manifest:
                keys = sorted(
                    key
                    for key in set(stored) | set(manifest)
                    if not isinstance(stored, dict) or stored.get(key) != manifest.get(key)
                )
                raise SweepMismatchError(
                    f"the directory {path} holds another sweep (its "
                    f"{', '.join(keys) or 'manifest'} differs); pass another directory, or "
                    "delete this one to start afresh (a rerun of the same sweep resumes it)"
                )
        else:
            foreign = [p.name for p in path.iterdir()]
            if foreign:
                shown = ", ".join(sorted(foreign)[:3]) + (", …" if len(foreign) > 3 else "")
                raise SweepMismatchError(
                    f"the directory {path} holds files but no sweep manifest ({shown}); pass "
                    "an empty or new directory"
                )
            atomic_write_bytes(target, json.dumps(manifest, indent=1, sort_keys=True).encode())
        return cls(path, manifest)

    def parts(self) -> list[Path]:
        """The finished part files, in name order."""
        return sorted(self.path.glob("part-*.parquet"))

    def done(self) -> set[tuple[int, int]]:
        """The (point, seed) pairs already written."""
        import pandas as pd

        pairs: set[tuple[int, int]] = set()
        for part in self.parts():
            frame = pd.read_parquet(part, columns=["point", "seed"])
            pairs.update(zip(frame["point"].tolist(), frame["seed"].tolist()))
        return pairs

    def write(self, rows, *, first: int) -> None:
        """Write one chunk's rows as a part file named by its first item (atomic)."""
        target = self.path / f"part-{first:09d}-{len(rows):06d}.parquet"
        buffer = io.BytesIO()  # one chunk's rows: small, serialized in memory
        rows.to_parquet(buffer, index=False)
        atomic_write_bytes(target, buffer.getvalue())

    def table(self):
        """Every row written so far, a DataFrame (None when there is none)."""
        import pandas as pd

        parts = self.parts()
        if not parts:
            return None
        return pd.concat([pd.read_parquet(p) for p in parts], ignore_index=True)
