"""The command reference in README.md and docs/cli.md is generated from the code and kept so."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cogapp import Cog

ROOT = Path(__file__).resolve().parent.parent
FILES = ("README.md", "docs/cli.md")


def cog_check(*paths: Path) -> int:
    """cog's --check: 0 when every generated block matches what the code generates now."""
    return int(Cog().main(["cog", "--check", "--verbosity=0", *map(str, paths)]))


def test_the_reference_is_in_step_with_the_commands() -> None:
    assert cog_check(*(ROOT / f for f in FILES)) == 0, "run: cog -r README.md docs/cli.md"


@pytest.mark.parametrize("name", FILES)
def test_a_stale_reference_is_caught(name: str, tmp_path: Path) -> None:
    copy = tmp_path / Path(name).name
    shutil.copy(ROOT / name, copy)
    text = copy.read_text()
    start = text.index("]]] -->") + len("]]] -->")  # the generated output begins here
    generated = text[start:]
    assert "dpo sync" in generated
    copy.write_text(text[:start] + generated.replace("dpo sync", "dpo synchronise", 1))
    assert cog_check(copy) != 0
