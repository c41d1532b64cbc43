"""Security catalogue, trust boundaries (issue 12, section 6): the README's Security
section says what each input may and may not do, including that a Dask cluster must be
trusted. The rules themselves are tested in the other files of this folder."""

from __future__ import annotations

from pathlib import Path

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else None]


def test_readme_states_every_trust_boundary():
    text = " ".join(section("Security").split())
    for boundary in ("A spec file", "A derivation script", "The kernel cache",
                     "An output path", "A Dask cluster"):  # fmt: skip
        assert f"**{boundary}**" in text, boundary
    assert "never `eval`'d" in text and "Run only scripts you trust" in text
    assert "HMAC" in text and "Use only a cluster you trust" in text
    assert "tests/security/" in text
