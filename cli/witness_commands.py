"""`prov witness`: run a C2SP tlog-witness that cosigns other logs' checkpoints.

The witness keeps its own key and database, by default in `./prov-witness` (a SQLite file
`witness.sqlite` and the key `witness.key`), apart from any log's data directory.
"""

import base64
import json
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

import migrations
from cli import SHUTDOWN_GRACE_S
from cli.common import check_port_free
from ledger.database import describe, open_engine
from ledger.errors import ConfigurationError
from ledger.note import check_key_name
from ledger.witness import (
    count_refusals,
    load_cosigner,
    parse_log_keys,
    read_witnessed,
    write_new_cosigner,
)
from registry.wording import iso_utc, plural

DEFAULT_WITNESS_DIR = Path("prov-witness")

key_file_option = click.option(
    "--key-file",
    envvar="PROV_WITNESS_KEY_FILE",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_WITNESS_DIR / "witness.key",
    show_default=True,
    help="The witness's private key file (0600).",
)
database_option = click.option(
    "--database",
    envvar="PROV_WITNESS_DATABASE_URL",
    help="SQLAlchemy URL of the witness database [sqlite:///./prov-witness/witness.sqlite].",
)


def _database_url(database: str | None, *, create: bool = False) -> str:
    if database is not None:
        return database
    if create:
        DEFAULT_WITNESS_DIR.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(DEFAULT_WITNESS_DIR / 'witness.sqlite').resolve()}"


def _open_witness_database(url: str) -> Engine:
    # open_engine's own message for a missing SQLite file points at `prov init` (the log's).
    path = make_url(url).database if url.startswith("sqlite") else None
    if path and path != ":memory:" and not Path(path).exists():
        raise ConfigurationError(
            f"no witness database at {path}: create it with `prov witness init`, or point "
            "--database at an existing one"
        )
    return open_engine(url)


@click.group()
def witness_group() -> None:
    """Run a witness: cosign checkpoints of trusted logs that only ever grow (C2SP tlog-witness)."""


@witness_group.command()
@click.option(
    "--name",
    required=True,
    help="The witness's key name, a schema-less URL such as witness.example.org/w1.",
)
@key_file_option
@database_option
def init(name: str, key_file: Path, database: str | None) -> None:
    """Create the witness database (migrations) and its Ed25519 cosigning key (0600)."""
    check_key_name(name)
    cosigner = load_cosigner(key_file) if key_file.exists() else None
    if cosigner is not None and cosigner.name != name:
        raise ConfigurationError(
            f"{key_file} is the key of the witness {cosigner.name!r}, not {name!r}; "
            "use another --key-file for a new witness"
        )
    migrations.upgrade(
        _database_url(database, create=True)
    )  # before writing a key, so a bad URL leaves none
    if cosigner is None:
        cosigner = write_new_cosigner(key_file, name)
        click.echo(f"wrote a new witness key to {key_file} (mode 0600)")
    else:
        click.echo(f"using the existing witness key {key_file}")
    click.echo(f"verifier key: {cosigner.verifier.vkey}")


@witness_group.command()
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    envvar="PROV_WITNESS_LOGS",
    metavar="VKEY",
    help="Verifier key of a log to witness; its key name is the log's origin. Repeatable.",
)
@key_file_option
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=int)
def serve(
    logs: tuple[str, ...], key_file: Path, database: str | None, host: str, port: int
) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) and GET / (who this witness is)."""
    import uvicorn

    from api.witness_app import WitnessSettings, create_witness_app

    parse_log_keys(logs)  # a bad --log or key fails before the database is touched
    load_cosigner(key_file)
    check_port_free(host, port)
    url = _database_url(database, create=True)
    migrations.upgrade(url)
    app = create_witness_app(WitnessSettings(url, key_file, logs))
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=SHUTDOWN_GRACE_S)


@witness_group.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@database_option
def status(as_json: bool, database: str | None) -> None:
    """Print the latest cosigned checkpoint and the number of refusals kept, per log."""
    engine = _open_witness_database(_database_url(database))
    try:
        witnessed = {c.origin: c for c in read_witnessed(engine)}
        refusals = count_refusals(engine)
        where = describe(engine)
    finally:
        engine.dispose()
    logs: list[dict[str, Any]] = []
    for origin in sorted(witnessed.keys() | refusals.keys()):
        latest = witnessed.get(origin)
        logs.append(
            {
                "origin": origin,
                "tree_size": latest.size if latest else None,
                "root_hash": base64.b64encode(latest.root_hash).decode() if latest else None,
                "timestamp": latest.updated_ms // 1000 if latest else None,
                "refusals": refusals.get(origin, 0),
            }
        )
    if as_json:
        click.echo(json.dumps({"database": where, "logs": logs}, indent=2))
        return
    click.echo(f"database {where}")
    if not logs:
        click.echo("no checkpoint cosigned yet")
    for log in logs:
        shown = (
            "nothing cosigned"
            if log["tree_size"] is None
            else f"size {log['tree_size']}, root {log['root_hash']}, cosigned at "
            f"{iso_utc(log['timestamp'] * 1000)}"
        )
        click.echo(f"{log['origin']}: {shown}, {plural(log['refusals'], 'refusal')} kept")
