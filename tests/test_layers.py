"""The package layering of `dpo/`, read from the source: imports only flow downwards.

Every module belongs to a unit: its package (`dpo.storage.db` → `storage`), or, for the
top-level modules, the module itself. Each unit has a rank; a module may import its own unit
and units of a lower rank, lazily (inside a function) as well as at the top. Units of the same
rank are peers and do not import each other. The table below is the architecture, in one
place: README's "Layout" describes it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

DPO = Path(__file__).resolve().parent.parent / "dpo"

FOUNDATION = {"__init__", "errors", "vocab", "config", "validation", "currencies", "localdays"}
FOUNDATION |= {"metrics", "kpis"}
"""Top-level modules every layer may use: vocabularies, errors, configuration-file lookup,
checks of user input, the metric and KPI tables. They import only each other."""

RANKS: dict[str, int] = {
    "foundation": 0,
    "web": 0,  # static files of the dashboard page
    "connectors": 1,  # upstreams → fact rows; know nothing of the database
    "settings": 2,  # every setting, the connectors' sections included
    "storage": 3,  # engine, tables, migrations, bulk fact writes, locks
    "resources": 4,  # organizations, sources, goals, tokens
    "ingest": 5,  # the sync engine
    "rollup": 5,  # hourly and daily rollups
    "reporting": 6,  # reports, channels, charts
    "ops": 6,  # job history, monitoring, status, doctor
    "insights": 7,  # anomalies, trends, recommendations, pacing, narrative
    "jobs": 8,  # lock + job_run + exit code around each unit of work
    "api": 9,  # dpo serve
    "cli": 10,  # dpo …; `dpo serve` starts the API
    "__main__": 11,
}


def unit_of(module: str) -> str:
    """`dpo.storage.db` → `storage`; `dpo.kpis` → `foundation`; `dpo` → `foundation`."""
    parts = module.split(".")
    name = parts[1] if len(parts) > 1 else "__init__"
    return "foundation" if name in FOUNDATION else name


def module_name(path: Path) -> str:
    rel = path.relative_to(DPO.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> Iterable[tuple[str, int, bool]]:
    """The dpo modules `path` imports: (module, line, at module level)."""
    tree = ast.parse(path.read_text(), str(path))
    top = set(map(id, tree.body))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from dpo.insights import pacing` imports the module dpo.insights.pacing
            subs = [f"{node.module}.{a.name}" for a in node.names]
            names = [s if s in known else node.module for s in subs]
        else:
            continue
        for name in names:
            if name == "dpo" or name.startswith("dpo."):
                yield name, node.lineno, id(node) in top


def graph() -> dict[str, list[tuple[str, int, bool]]]:
    """Every module of dpo/ (migrations aside) → the dpo modules it imports."""
    paths = [p for p in sorted(DPO.rglob("*.py")) if "migrations" not in p.parts]
    known = {module_name(p) for p in paths}
    return {module_name(p): list(imports_of(p, known)) for p in paths}


def violations(edges: Mapping[str, Iterable[tuple[str, int, bool]]]) -> list[str]:
    """Imports that go up the layers, or sideways between peers."""
    found = []
    for module, imported in edges.items():
        here = unit_of(module)
        for target, line, _ in imported:
            there = unit_of(target)
            if there == here:
                continue
            if there not in RANKS or here not in RANKS:
                found.append(
                    f"{module}:{line}: {there if there not in RANKS else here} has no rank"
                )
            elif RANKS[there] >= RANKS[here]:
                found.append(f"{module}:{line} imports {target}: {here} may not import {there}")
    return found


def cycles(edges: Mapping[str, Iterable[tuple[str, int, bool]]]) -> list[list[str]]:
    """Cycles among module-level imports (lazy imports inside functions do not count)."""
    succ = {m: sorted({t for t, _, top in imp if top and t in edges}) for m, imp in edges.items()}
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in succ.get(m, []):
            if state.get(t) == 1:
                found.append([*stack[stack.index(t) :], t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(succ):
        if m not in state:
            visit(m)
    return found


def test_every_unit_of_dpo_has_a_rank() -> None:
    units = {unit_of(m) for m in graph()}
    assert units - set(RANKS) == set(), "give the new package a rank in RANKS (and README)"
    assert set(RANKS) - units == set(), "a ranked unit no longer exists"
    modules = {m.split(".")[1] for m in graph() if m.count(".") == 1}
    assert FOUNDATION - {"__init__"} <= modules


def test_imports_flow_down_the_layers() -> None:
    assert violations(graph()) == []


def test_no_import_cycles_between_modules() -> None:
    assert cycles(graph()) == []


@pytest.mark.parametrize(
    ("module", "target"),
    [
        ("dpo.storage.db", "dpo.cli.render"),  # storage → the command line
        ("dpo.reporting.reports", "dpo.api.deps"),  # library → the API
        ("dpo.connectors.ga", "dpo.storage.db"),  # a connector touching the database
        ("dpo.ingest.sync", "dpo.rollup.aggregate"),  # between peers
        ("dpo.kpis", "dpo.jobs.runner"),  # the foundation reaching up
    ],
)
def test_an_upward_import_is_refused(module: str, target: str) -> None:
    edges = graph()
    edges[module] = [*edges[module], (target, 1, False)]
    assert [v for v in violations(edges) if v.startswith(f"{module}:1 ")] != []


def test_a_cycle_is_found() -> None:
    edges = graph()
    edges["dpo.kpis"] = [*edges["dpo.kpis"], ("dpo.metrics", 1, True)]
    edges["dpo.metrics"] = [*edges.get("dpo.metrics", []), ("dpo.kpis", 1, True)]
    assert any("dpo.kpis" in c and "dpo.metrics" in c for c in cycles(edges))
