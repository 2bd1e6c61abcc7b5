"""`prov`: the Provenance Ledger command line."""

import base64
import json
import time
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

import migrations
from cli.audit_commands import audit as audit_group
from cli.c2pa_commands import c2pa as c2pa_group
from cli.demo import demo as demo_command
from cli.errors import exit_code_for
from cli.registry_commands import COMMANDS
from cli.witness_commands import witness_group
from ledger import ConfigurationError, LedgerError, LogConfig, LogStore, Sequencer, open_engine
from ledger.database import describe
from ledger.witnessing import WitnessLoop, WitnessPusher, parse_witnesses

DEFAULT_ORIGIN = "localhost/provenance-ledger"
console = Console()
errors = Console(stderr=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ProvGroup(click.Group):
    """Turns the ledger's errors into a one-line message and the exit code from cli/errors.py."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LedgerError as exc:
            errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            ctx.exit(exit_code_for(exc))


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
    help="Registry commands call this server's HTTP API instead of the local database.",
)
@click.pass_context
def main(
    ctx: click.Context, data_dir: str | None, database: str | None, server: str | None
) -> None:
    """Provenance Ledger: an append-only, auditable registry of camera captures."""
    ctx.obj = LogConfig.from_env(data_dir, database)


@main.command()
@click.option(
    "--origin",
    envvar="PROV_ORIGIN",
    help="The log's origin and key name: a schema-less URL such as example.org/provenance/log "
    f"[default: {DEFAULT_ORIGIN}].",
)
@click.pass_obj
def init(config: LogConfig, origin: str | None) -> None:
    """Create the database (migrations) and the log's Ed25519 key (0600)."""
    signer = config.load_signer() if config.key_file.exists() else None
    if signer is not None and origin is not None and origin != signer.name:
        raise ConfigurationError(
            f"{config.key_file} is the key of the log {signer.name!r}, not {origin!r}; "
            "use another --data-dir for a new log"
        )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    migrations.upgrade(config.database_url)  # before writing a key, so a bad URL leaves none
    if signer is None:
        signer = config.write_new_key(origin or DEFAULT_ORIGIN)
        console.print(f"wrote a new log key to {config.key_file} (mode 0600)")
    else:
        console.print(f"using the existing log key {config.key_file}")
    store = LogStore(open_engine(config.database_url))
    latest = Sequencer(store, signer, now_ms).initialize()
    console.print(f"log {signer.name!r} is ready at tree size {latest.size}")
    click.echo(f"verifier key: {signer.verifier.vkey}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1),
    help="Server processes; each keeps its own near-duplicate index in memory.",
)  # fmt: skip
@click.pass_obj
def serve(config: LogConfig, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (C2SP tiles and checkpoint, /v1 JSON, /docs)."""
    import os

    import uvicorn

    from api import create_app
    from registry import RegistrySettings

    if workers == 1:
        app = create_app(RegistrySettings.from_env(config))
        app.state.prov.registry.start_verify_workers()
        uvicorn.run(app, host=host, port=port)
        return
    # Each worker builds its own app from the environment (api.app.app_from_env); this
    # process only supervises them and is the one that pushes checkpoints to the witnesses.
    os.environ.update(
        PROV_DATA_DIR=str(config.data_dir),
        PROV_DATABASE_URL=config.database_url,
        PROV_LOG_KEY_FILE=str(config.key_file),
        PROV_WITNESS_PUSH="0",
    )
    loop = None
    endpoints = parse_witnesses(config.witnesses)
    if endpoints and config.load_verifier() is not None:
        pusher = WitnessPusher(LogStore(open_engine(config.database_url)), endpoints)
        loop = WitnessLoop(pusher, config.witness_interval_s)
        loop.start()
    try:
        uvicorn.run("api.app:app_from_env", factory=True, workers=workers, host=host, port=port)
    finally:
        if loop is not None:
            loop.stop()


@main.group()
def log() -> None:
    """Inspect the transparency log."""


@log.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_obj
def status(config: LogConfig, as_json: bool) -> None:
    """Print the log's origin, size, root hash and verifier key."""
    store = LogStore(open_engine(config.database_url))
    latest = store.latest_checkpoint()
    verifier = config.load_verifier()
    report = {
        "origin": latest.checkpoint.origin,
        "tree_size": latest.size,
        "root_hash": base64.b64encode(latest.checkpoint.root_hash).decode(),
        "vkey": verifier.vkey if verifier else None,
        "database": describe(store.engine),
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        shown = value if value is not None else "(the log key is not on this machine)"
        console.print(f"[bold]{key:>9}[/] {shown}", soft_wrap=True)


@log.command()
@click.option(
    "--witness", "witnesses", multiple=True,
    help="'URL VKEY' of a witness (repeatable) [PROV_WITNESSES].",
)  # fmt: skip
@click.pass_obj
def witness(config: LogConfig, witnesses: tuple[str, ...]) -> None:
    """Push the latest checkpoint to the witnesses once and store their cosignatures."""
    endpoints = parse_witnesses(";".join(witnesses) or config.witnesses)
    if not endpoints:
        raise ConfigurationError("no witnesses: give --witness 'URL VKEY' or set PROV_WITNESSES")
    pusher = WitnessPusher(LogStore(open_engine(config.database_url)), endpoints)
    try:
        results = pusher.push()
    finally:
        pusher.close()
    for result in results:
        if result.error is None:
            console.print(
                f"[green]cosigned[/] {result.witness}: size {result.tree_size} at {result.timestamp}"
            )
        else:
            console.print(f"[yellow]{escape(result.witness)}[/]: {escape(result.error)}")
    if any(r.error not in (None, "already cosigned") for r in results):
        raise SystemExit(1)


main.add_command(demo_command, name="demo")
main.add_command(audit_group, name="audit")
main.add_command(witness_group, name="witness")
main.add_command(c2pa_group, name="c2pa")
for _name, _command in COMMANDS.items():
    main.add_command(_command, name=_name)
