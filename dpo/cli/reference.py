"""The command-line reference, generated from the commands themselves.

`README.md` ("Commands") and `docs/cli.md` hold cog blocks that call these functions; running
`cog -r README.md docs/cli.md` rewrites them, and `tests/test_reference.py` fails when they are
out of step with the code.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dpo.cli.main import COMMANDS, app, load_command

WIDTH = 100


def _is_group(command: Any) -> bool:
    return hasattr(command, "list_commands")


def _context(command: Any, name: str, parent: Any = None) -> Any:
    return command.context_class(
        command, info_name=name, parent=parent, terminal_width=WIDTH, max_content_width=WIDTH
    )


def commands() -> Iterator[tuple[str, Any]]:
    """(path, click command) for every command and subcommand, in `dpo --help` order."""
    for name in COMMANDS:
        command = load_command(name)
        yield name, command
        if _is_group(command):
            ctx = _context(command, name)
            for sub in command.list_commands(ctx):
                found = command.get_command(ctx, sub)
                if found is not None and not found.hidden:
                    yield f"{name} {sub}", found


def commands_table() -> str:
    """A Markdown table: every command and its one-line summary."""
    lines = ["| command | what it does |", "|---|---|"]
    for path, command in commands():
        if _is_group(command):
            continue
        summary = command.get_short_help_str(limit=WIDTH * 2)
        lines.append(f"| `dpo {path}` | {summary} |")
    return "\n".join(lines) + "\n"


def full_reference() -> str:
    """Every command's `--help`, as Markdown sections."""
    import typer

    root_command = typer.main.get_command(app)
    root = _context(root_command, "dpo")
    out = [_section("dpo", root_command.get_help(root))]
    groups = {"": root}
    for path, command in commands():
        *parents, name = path.split()
        ctx = _context(command, name, parent=groups[" ".join(parents)])
        if _is_group(command):
            groups[path] = ctx
        out.append(_section(f"dpo {path}", command.get_help(ctx)))
    return "\n".join(out)


def _section(title: str, help_text: str) -> str:
    return f"## `{title}`\n\n```\n{help_text.rstrip()}\n```\n"
