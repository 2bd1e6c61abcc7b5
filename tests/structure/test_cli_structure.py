"""cli/ keeps its shape (issue 14): small modules and functions, commands by audience, and
commands that parse, call the registry or the client, and render (no queries, no commits)."""

import ast
from pathlib import Path

from click.testing import CliRunner

from cli.main import main

CLI = Path(__file__).resolve().parents[2] / "cli"
# What a command module must not reach for: the registry owns queries and transactions.
# (Opening an engine is allowed: `prov witness status` opens the witness's database.)
QUERY_BUILDERS = {"select", "insert", "update", "delete", "text", "Session", "sessionmaker"}
TRANSACTIONS = {"commit", "begin", "execute", "rollback"}

COMMANDS = {
    "audit", "bundle", "c2pa", "capture", "clusters", "config", "demo", "device", "init", "log",
    "lookup", "reindex", "revoke", "serve", "submit", "vendor", "verify", "witness",
}  # fmt: skip


def _modules() -> list[Path]:
    return sorted(CLI.glob("*.py"))


def test_no_cli_module_is_over_400_lines() -> None:
    long = {p.name: n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert not long


def test_no_cli_function_is_over_60_lines() -> None:
    long = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                if node.end_lineno - node.lineno + 1 > 60:
                    long.append(f"{path.name}:{node.name}")
    assert not long


def test_command_modules_build_no_queries_and_commit_nothing() -> None:
    offending = []
    for path in _modules():
        if not path.name.endswith("_commands.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                offending += [
                    f"{path.name}: {a.name}" for a in node.names if a.name in QUERY_BUILDERS
                ]
            if isinstance(node, ast.Attribute) and node.attr in TRANSACTIONS:
                offending.append(f"{path.name}:{node.lineno}: .{node.attr}")
    assert not offending


def test_prov_lists_the_same_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = result.output.split("Commands:", 1)[1].split()
    assert set(listed) >= COMMANDS
    assert set(main.commands) == COMMANDS
