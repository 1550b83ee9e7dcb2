"""The SQL that bypasses SQLAlchemy names only tables and columns that `storage.tables` defines.

`dpo jobs list` reads the job history through the bare driver (`storage/quick.py`) with plain
SQL kept in one module, `ops/history.py`. Every SQL text there is read here: each table it
names must exist, and each column must belong to the table it is taken from — so renaming or
dropping a column in `storage/tables.py` fails this test, not a user's `dpo jobs list`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from dpo.storage import tables

HISTORY = Path(__file__).resolve().parent.parent / "dpo" / "ops" / "history.py"
SQL_WORDS = {
    "select", "from", "where", "and", "or", "in", "left", "join", "on", "group", "by", "order",
    "limit", "desc", "asc", "max", "min", "count", "as", "is", "null", "not",
}  # fmt: skip
_SOURCE = re.compile(r"\b(?:from|join)\s+(\w+)(?:\s+(?!on\b|where\b|group\b|order\b)(\w+))?", re.I)
_QUALIFIED = re.compile(r"\b(\w+)\.(\w+)\b")
_WORD = re.compile(r"\b[a-z_][a-z0-9_]*\b", re.I)


def sql_texts(path: Path) -> list[str]:
    """The string constants of a module that are SQL (or pieces of it)."""
    tree = ast.parse(path.read_text())
    texts = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    return [t for t in texts if re.search(r"\b(SELECT|WHERE|ORDER BY|GROUP BY)\b", t)]


def problems(texts: list[str]) -> list[str]:
    """Unknown tables, and columns their table does not have, in some SQL texts."""
    found: list[str] = []
    aliases: dict[str, str] = {}
    for text in texts:  # aliases are shared: pieces are joined onto the main statement
        for table, alias in _SOURCE.findall(text):
            aliases[alias or table] = table
            aliases[table] = table
    for text in texts:
        named = {t for t, _ in _SOURCE.findall(text)}
        for table in named:
            if table not in tables.metadata.tables and table != "alembic_version":
                found.append(f"unknown table {table}")
        for alias, column in _QUALIFIED.findall(text):
            table = aliases.get(alias)
            if table is None:
                found.append(f"unknown table alias {alias} in {text.strip()[:60]!r}")
            elif column not in tables.metadata.tables[table].c:
                found.append(f"{table} has no column {column}")
        if len(named) == 1 and "." not in text:  # a single-table statement: bare columns
            (table,) = named
            if table in tables.metadata.tables:
                columns = tables.metadata.tables[table].c
                words = {w for w in _WORD.findall(text) if w.lower() not in SQL_WORDS}
                found += [
                    f"{table} has no column {w}"
                    for w in sorted(words - {table})
                    if w not in columns
                ]
    return found


def test_the_job_history_sql_matches_the_tables() -> None:
    texts = sql_texts(HISTORY)
    assert len(texts) >= 4  # the statement and its pieces are found at all
    assert problems(texts) == []


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("SELECT r.id, r.rows_read FROM job_run r", "job_run has no column rows_read"),
        ("SELECT id FROM organisation WHERE slug = ?", "unknown table organisation"),
        ("SELECT id FROM organization WHERE name_slug = ?", "organization has no column name_slug"),
        ("SELECT x.id FROM job_run r", "unknown table alias x"),
    ],
)
def test_a_column_or_table_that_does_not_exist_is_found(sql: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in problems([sql]))
