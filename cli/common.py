"""What the command modules share: where they act (open_client), common options, rendering.

Where commands act: on the server given by `--server URL`, `PROV_SERVER` or the config file
(cli/config.py), through its HTTP API (cli/client.py); else on the local database
(`--data-dir` / `--database`).
"""

import errno
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from cli.client import HttpClient, LocalClient, RegistryClient
from cli.config import config_path, server_for
from ledger.cosignature import CosignatureVerifier
from ledger.errors import ConfigurationError
from registry import RegistrySettings, open_registry
from registry.admission.registry import Registry

console = Console(soft_wrap=True)

admin_token_option = click.option(
    "--admin-token", envvar="PROV_ADMIN_TOKEN", help="The operator's token [PROV_ADMIN_TOKEN]."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


@contextmanager
def open_client(ctx: click.Context) -> Iterator[RegistryClient]:
    """The registry these commands talk to: the configured server, else the local one."""
    server = server_for(ctx)
    client: RegistryClient = HttpClient(server) if server else LocalClient(_open_local(ctx))
    try:
        yield client
    finally:
        client.close()


def _open_local(ctx: click.Context) -> Registry:
    """The local registry. Without one, the server is what the user most likely forgot (a
    fact-checker has no log of their own), so the message says that first."""
    try:
        return open_registry(RegistrySettings.from_env(ctx.obj))
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"no server given: pass --server URL, set PROV_SERVER, or run `prov config set "
            f"server URL` (writes {config_path()}). Or, to use a log on this machine: {exc}",
            code=exc.code,
        ) from None


def check_port_free(host: str, port: int) -> None:
    """Refuse, before the server starts, a port another process listens on (uvicorn would
    print a raw OSError and exit 3, the code of an unreachable server). Bound the way uvicorn
    binds (SO_REUSEADDR), so a port left in TIME_WAIT is not reported as taken."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigurationError(
            f"--host {host!r} is not an address of this machine ({exc}); use e.g. 127.0.0.1",
            code="bad_listen_address",
        ) from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigurationError(
                    f"port {port} on {host} is in use; stop the other server or choose "
                    "another with --port",
                    code="port_in_use",
                ) from None
            raise ConfigurationError(
                f"cannot listen on {host} port {port}: {exc.strerror}; choose another --host "
                "or --port",
                code="bad_listen_address",
            ) from None


def parse_time_ms(text: str) -> int:
    """Milliseconds since the epoch, given as an integer or an ISO 8601 time with a zone."""
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither milliseconds since the epoch nor ISO 8601"
        ) from None
    if moment.tzinfo is None:
        raise click.BadParameter(f"{text!r} has no time zone; add Z or +00:00")
    return int(moment.timestamp() * 1000)


def emit(result: Any, as_json: bool, human: str) -> None:
    """`result` as indented JSON with --json, else the one human line (printed as is)."""
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        console.print(human, highlight=False, markup=False)


def print_cautions(cautions: list[dict[str, Any]]) -> None:
    """Cautions come first, before any verdict line: a reader who stops at the first line must
    not take a cautioned verdict for a clean one (registry.cautions)."""
    for caution in cautions:
        evidence = caution["evidence"]
        where = f" (log entries {', '.join(map(str, evidence))})" if evidence else ""
        console.print(
            f"[bold yellow]CAUTION[/] {escape(caution['code'])}: {escape(caution['message'])}{where}",
            highlight=False,
        )


def witness_keys_required(
    witness_keys: tuple[str, ...], min_witnesses: int | None
) -> tuple[list[CosignatureVerifier], int]:
    """The witnesses' cosignature keys, and how many must have cosigned: as given, or one when
    any key is given (`--witness-key`, `--min-witnesses` of prov verify and prov audit replay)."""
    witnesses = [CosignatureVerifier.from_vkey(k) for k in witness_keys]
    return witnesses, min_witnesses if min_witnesses is not None else min(1, len(witnesses))
