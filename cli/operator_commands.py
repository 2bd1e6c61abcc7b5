"""The log operator's commands: `prov init`, `prov serve`, `prov log status | witness`,
`prov vendor add`, `prov reindex`.

They act on the operator's own machine (`--data-dir` / `--database`, where the log key is),
except `vendor add`, which acts where cli/common.open_client says, and `log status`, which
asks the server instead when one is given (anyone may: a fact-checker needs the log's key).
"""

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

import migrations
from cli import SHUTDOWN_GRACE_S, common
from cli.common import admin_token_option, check_port_free, emit, json_option, open_client
from cli.config import server_for
from cli.files import load_certificates
from cli.log_status import local_status, print_local_status, remote_status
from ledger import ConfigurationError, LogConfig, LogStore, Signer, open_engine
from ledger.errors import LedgerError
from ledger.published import refusal
from ledger.witnessing import (
    PushResult,
    WitnessEndpoint,
    WitnessLoop,
    WitnessPusher,
    parse_witnesses,
)
from registry import RegistrySettings, open_registry
from registry.config import cpu_share
from registry.open import now_ms, registry_sequencer
from registry.wording import iso_utc

DEFAULT_ORIGIN = "localhost/provenance-ledger"
# Not soft-wrapping, unlike cli/common.console: these lines have always wrapped at the width.
console = Console()
err_console = Console(stderr=True, soft_wrap=True)
START_PUSH_S = 5.0  # per witness, so an unreachable one delays the start by this at most
# uvicorn kills (SIGKILL) and replaces a worker that does not answer its supervisor's ping in
# time; its default, 5 s, is shorter than a worker takes to start on a busy machine.
WORKER_HEALTHCHECK_S = 30


@click.command()
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
    # Made (and the origin checked as a key name) before anything is written; kept in memory
    # until the database is ready, so a bad URL leaves no key.
    new_signer = Signer.generate(origin or DEFAULT_ORIGIN) if signer is None else None
    with _undone_on_failure(config):
        config.data_dir.mkdir(parents=True, exist_ok=True)
        migrations.upgrade(config.database_url)
        if new_signer is not None:
            signer = config.write_key(new_signer)
            console.print(f"wrote a new log key to {config.key_file} (mode 0600)")
        else:
            console.print(f"using the existing log key {config.key_file}")
        assert signer is not None
        engine = open_engine(config.database_url)
        try:
            latest = registry_sequencer(
                LogStore(engine), signer, now_ms, mark=config.published_mark()
            ).initialize()
        finally:
            engine.dispose()
    console.print(f"log {signer.name!r} is ready at tree size {latest.size}")
    click.echo(f"verifier key: {signer.verifier.vkey}")


@contextmanager
def _undone_on_failure(config: LogConfig) -> Iterator[None]:
    """If the body fails, remove what it created: the key file, the SQLite file, the data
    directory, and on another database the tables, if it held none before. What existed
    before is left exactly as it was."""
    existed = {path: path.exists() for path in (config.data_dir, config.key_file)}
    created_dir = None  # the outermost directory mkdir(parents=True) will create
    if not config.data_dir.exists():
        created_dir = config.data_dir.absolute()
        while not created_dir.parent.exists():
            created_dir = created_dir.parent
    sqlite_file = migrations.sqlite_file(config.database_url)
    had_sqlite = sqlite_file is not None and sqlite_file.exists()
    had_tables = sqlite_file is not None or migrations.holds_tables(config.database_url)
    try:
        yield
    except BaseException:
        if not existed[config.key_file]:
            _remove(config.key_file)
        if sqlite_file is not None and not had_sqlite:
            for suffix in ("", "-wal", "-shm", "-journal"):
                _remove(Path(f"{sqlite_file}{suffix}"))
        if not had_tables:
            migrations.drop_all_tables(config.database_url)
        if created_dir is not None and created_dir.is_dir():
            shutil.rmtree(created_dir, ignore_errors=True)
        raise


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # best effort: the failure itself is what to report
        path.unlink(missing_ok=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option(
    "--workers", default=1, show_default=True, type=click.IntRange(min=1),
    help="Server processes; each keeps its own near-duplicate index in memory.",
)  # fmt: skip
@click.pass_obj
def serve(config: LogConfig, host: str, port: int, workers: int) -> None:
    """Serve the HTTP API (C2SP tiles and checkpoint, /v1 JSON, /docs)."""
    import uvicorn

    from api import create_app
    from api.logs import log_format_from_env
    from api.settings import ApiSettings

    log_format = log_format_from_env()
    check_port_free(host, port)
    _check_before_serving(config)
    if workers == 1:
        settings = RegistrySettings.from_env(config)
        app = create_app(ApiSettings(settings, log_requests=log_format == "json"))
        app.state.prov.registry.start_verify_workers()
        run_options = _log_options(log_format)
        # proxy_headers off: uvicorn would take X-Forwarded-For from 127.0.0.1 as the client;
        # api.forwarded believes it from PROV_TRUSTED_PROXIES only.
        uvicorn.run(
            app, host=host, port=port, proxy_headers=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S, **run_options,  # type: ignore[arg-type]
        )  # fmt: skip
        return
    _serve_workers(config, host, port, workers, log_format)


def _log_options(log_format: str) -> dict[str, object]:
    """uvicorn.run's logging options: with JSON logs, ours (api.logs), its access log off
    (api.observe writes one line per request instead, without the query string)."""
    from api.logs import uvicorn_log_config

    config = uvicorn_log_config(log_format)
    return {} if config is None else {"log_config": config, "access_log": False}


def _pusher(config: LogConfig, endpoints: tuple[WitnessEndpoint, ...]) -> WitnessPusher:
    store = LogStore(open_engine(config.database_url))
    return WitnessPusher(store, endpoints, mark=config.published_mark(), timeout=START_PUSH_S)


def _check_before_serving(config: LogConfig) -> None:
    """Ask the witnesses once (one that cosigned more than the database holds proves it was
    restored from an older backup), then say loudly if the log must refuse to sequence."""
    if config.load_verifier() is None:
        return  # a read-only server never sequences
    endpoints = parse_witnesses(config.witnesses)
    if endpoints:
        pusher = _pusher(config, endpoints)
        try:
            _print_push_results(pusher.push(ask_all=True))
        except LedgerError as exc:
            err_console.print(f"[yellow]witnesses[/]: {escape(str(exc))}")
        finally:
            pusher.close()
    problem = refusal(LogStore(open_engine(config.database_url)), config.published_mark())
    if problem is not None:
        err_console.print(
            f"[bold red]REFUSING TO SEQUENCE ({problem.code}):[/] {escape(str(problem))}"
        )


def _serve_workers(config: LogConfig, host: str, port: int, workers: int, log_format: str) -> None:
    """Each worker builds its own app from the environment (api.app.app_from_env); this
    process only supervises them and is the one that pushes checkpoints to the witnesses.
    Their metrics meet in a private directory made for this run (api.metrics)."""
    from api.metrics import multiprocess_directory

    with multiprocess_directory():
        _supervise_workers(config, host, port, workers, log_format)


def _supervise_workers(
    config: LogConfig, host: str, port: int, workers: int, log_format: str
) -> None:
    import uvicorn

    from api.metrics import count_pushes, witness_pushes

    os.environ.update(
        PROV_DATA_DIR=str(config.data_dir),
        PROV_DATABASE_URL=config.database_url,
        PROV_LOG_KEY_FILE=str(config.key_file),
        PROV_WITNESS_PUSH="0",
    )
    # The machine's CPUs are shared by the workers, unless the operator said otherwise.
    for name in ("PROV_DECODE_CONCURRENCY", "PROV_VERIFY_WORKERS"):
        os.environ.setdefault(name, str(cpu_share(workers)))
    loop = None
    endpoints = parse_witnesses(config.witnesses)
    if endpoints and config.load_verifier() is not None:
        pusher = _pusher(config, endpoints)
        # Counted in the metrics directory, so /metrics in any worker shows this process's.
        loop = WitnessLoop(pusher, config.witness_interval_s, count_pushes(witness_pushes(None)))
        loop.start()
    try:
        # The workers stop their own verify processes in the app's lifespan (api.app): uvicorn
        # forwards SIGTERM and SIGINT to them, lets requests in flight finish, and joins them.
        uvicorn.run(
            "api.app:app_from_env", factory=True, workers=workers, host=host, port=port,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            proxy_headers=False,  # as in serve: api.forwarded decides whom to believe
            **_log_options(log_format),  # type: ignore[arg-type]
        )  # fmt: skip
    finally:
        if loop is not None:
            loop.stop()


@click.group()
def log() -> None:
    """Inspect the transparency log."""


@log.command()
@json_option
@click.option(
    "--vkey",
    "vkey_only",
    is_flag=True,
    help="Print only the verifier key, e.g. `prov log status --vkey > log.vkey`.",
)
@click.pass_context
def status(ctx: click.Context, as_json: bool, vkey_only: bool) -> None:
    """Print the log's origin, size, root hash and verifier key (of the server, if given)."""
    server = server_for(ctx)
    report = remote_status(server) if server else local_status(ctx.obj)
    if vkey_only:
        if not isinstance(report["vkey"], str):
            where = f"the server {server} does not say" if server else "it is not on this machine"
            raise ConfigurationError(
                f"no verifier key to print: {where}; give --server URL of the log, or "
                "--data-dir of a log whose key is here",
                code="no_log_key",
            )
        click.echo(report["vkey"])
    elif as_json:
        click.echo(json.dumps(report, indent=2))
    elif server:
        for key in ("origin", "tree_size", "root_hash", "vkey", "fingerprint", "server"):
            shown = report[key] if report[key] is not None else "(the server does not say)"
            console.print(f"[bold]{key:>11}[/] {escape(str(shown))}", soft_wrap=True)
    else:
        print_local_status(report)


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
    pusher = _pusher(config, endpoints)
    try:
        results = pusher.push()
    finally:
        pusher.close()
    _print_push_results(results)
    failures = [r.exit_code for r in results if r.error is not None]
    if failures:
        # The gravest first: a witness that refused (1) says more than one not reached (3).
        raise SystemExit(min(failures))


def _print_push_results(results: list[PushResult]) -> None:
    """What each witness answered, or that it was not asked: never a time it did not give."""
    for result in results:
        name = escape(result.witness)
        if result.error is not None:
            console.print(f"[yellow]{name}[/]: not cosigned: {escape(result.error)}")
        elif result.already_cosigned:
            console.print(
                f"{name}: already cosigned size {result.tree_size} (its cosignature is stored; "
                "the witness was not contacted)"
            )
        else:
            when = iso_utc((result.timestamp or 0) * 1000)
            console.print(
                f"[green]cosigned[/] {name}: size {result.tree_size}, its cosignature dated {when}"
            )


@click.group()
def vendor() -> None:
    """Register vendors (operator only)."""


@vendor.command("add")
@click.option("--name", required=True, help="The vendor's name.")
@click.option("--role", required=True, type=click.Choice(["camera", "generator"]))
@click.option(
    "--root-cert", required=True, type=click.Path(dir_okay=False), help="PEM or DER root CA."
)
@admin_token_option
@json_option
@click.pass_context
def vendor_add(
    ctx: click.Context, name: str, role: str, root_cert: str, admin_token: str | None, as_json: bool
) -> None:
    """Log a vendor's self-signed root CA as a trust anchor."""
    roots = load_certificates(root_cert, "root certificate")
    with open_client(ctx) as client:
        receipt = client.add_vendor(name, role, roots[0], admin_token)
    state = "already in the log at" if receipt["duplicate"] else "logged at"
    emit(receipt, as_json, f"vendor {name!r} ({role}) {state} index {receipt['index']}")


@click.command()
@click.pass_obj
def reindex(config: LogConfig) -> None:
    """Drop the registry's derived tables and rebuild them from the log."""
    # Always local, even with --server: only the operator's machine holds the database and key.
    registry = open_registry(RegistrySettings.from_env(config))
    try:
        count = registry.reindex()
    finally:
        registry.close()
    common.console.print(f"rebuilt the registry's indexes from {count} log entries")
