"""`prov`: the Provenance Ledger command line.

The commands live by audience, one module each: operator_commands (init, serve, log, vendor,
reindex), device_commands (device, capture, submit, revoke), factcheck_commands (lookup,
bundle), verify_commands (verify), audit_commands (audit, clusters), witness_commands (witness), c2pa_commands
(c2pa), config_commands (config), and demo. This module is only the root group: its options and its error handling.
"""

import contextlib
import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from cli import (
    audit_commands,
    c2pa_commands,
    device_commands,
    factcheck_commands,
    revoke_commands,
    verify_commands,
)
from cli import operator_commands as operator
from cli.config_commands import config
from cli.demo import demo
from cli.errors import exit_code_for
from cli.witness_commands import witness_group
from ledger import LedgerError, LogConfig

errors = Console(stderr=True)


class ProvGroup(click.Group):
    """Turns the ledger's errors into a one-line message and the exit code from cli/errors.py;
    with --json, also into a JSON error on stdout, so a script reading stdout always gets JSON:
    `{"error": {"type": code, "message": ..., "exit_code": n}}`."""

    def invoke(self, ctx: click.Context) -> Any:
        args = [*ctx._protected_args, *ctx.args]  # what the leaf is parsed from, kept for --json
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            if _wants_json(self, ctx, args):
                _print_json_error(code=exc.code, message=str(exc), exit_code=exit_code_for(exc))
            ctx.exit(exit_code_for(exc))
        except click.ClickException as exc:  # a usage error: click prints it on stderr
            if _wants_json(self, ctx, args):
                _print_json_error(code="bad_usage", message=exc.format_message(), exit_code=2)
            raise


def _wants_json(group: click.Group, ctx: click.Context, args: list[str]) -> bool:
    """Whether the leaf command `args` name was given --json: parsed again, leniently (the
    parse that failed, or the command that raised, left no context behind)."""
    command: click.Command = group
    context = ctx
    while isinstance(command, click.Group) and args:
        with contextlib.suppress(click.ClickException):
            name, found, args = command.resolve_command(context, args)
            if found is None or name is None:
                return False
            context = found.make_context(name, list(args), parent=context, resilient_parsing=True)
            command, args = found, [*context._protected_args, *context.args]
            continue
        return False
    return bool(context.params.get("as_json")) and context is not ctx


def _print_json_error(*, code: str, message: str, exit_code: int) -> None:
    error = {"type": code, "message": message, "exit_code": exit_code}
    click.echo(json.dumps({"error": error}, indent=2))


@click.group(cls=ProvGroup)
@click.option(
    "--data-dir",
    envvar="PROV_DATA_DIR",
    type=click.Path(file_okay=False),
    help="Directory holding the log key and the default SQLite database [./prov-data].",
)
@click.option(
    "--database",
    envvar="PROV_DATABASE_URL",
    help="SQLAlchemy URL of the log database, e.g. postgresql+psycopg://user@host/db.",
)
@click.option(
    "--server",
    envvar="PROV_SERVER",
    help="Registry commands call this server's HTTP API instead of the local database "
    "[PROV_SERVER, else `server` in ~/.config/prov/config.toml].",
)
@click.pass_context
def main(
    ctx: click.Context, data_dir: str | None, database: str | None, server: str | None
) -> None:
    """Provenance Ledger: an append-only, auditable registry of camera captures."""
    ctx.obj = LogConfig.from_env(data_dir, database)


COMMANDS: dict[str, click.Command] = {
    # the log operator
    "init": operator.init,
    "serve": operator.serve,
    "log": operator.log,
    "vendor": operator.vendor,
    "reindex": operator.reindex,
    # devices and their vendors
    "device": device_commands.device,
    "capture": device_commands.capture,
    "submit": device_commands.submit,
    "revoke": revoke_commands.revoke,
    # fact-checkers
    "lookup": factcheck_commands.lookup,
    "bundle": factcheck_commands.bundle,
    "verify": verify_commands.verify,
    # auditors
    "audit": audit_commands.audit,
    "clusters": audit_commands.clusters,
    # witnesses, C2PA, the demo
    "witness": witness_group,
    "c2pa": c2pa_commands.c2pa,
    "demo": demo,
    # the user's own defaults
    "config": config,
}
for _name, _command in COMMANDS.items():
    main.add_command(_command, name=_name)
