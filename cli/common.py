"""What the command modules share: where they act (open_client), common options, rendering.

Where commands act: on the local database (`--data-dir` / `--database`) unless `--server URL`
(`PROV_SERVER`) is given, in which case they call that server's HTTP API (cli/client.py).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from cli.client import HttpClient, LocalClient, RegistryClient
from ledger.cosignature import CosignatureVerifier
from registry import RegistrySettings, open_registry

console = Console(soft_wrap=True)

admin_token_option = click.option(
    "--admin-token", envvar="PROV_ADMIN_TOKEN", help="The operator's token [PROV_ADMIN_TOKEN]."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


@contextmanager
def open_client(ctx: click.Context) -> Iterator[RegistryClient]:
    """The registry these commands talk to: the server given by --server, else the local one."""
    server: str | None = ctx.find_root().params.get("server")
    client: RegistryClient
    if server:
        client = HttpClient(server)
    else:
        client = LocalClient(open_registry(RegistrySettings.from_env(ctx.obj)))
    try:
        yield client
    finally:
        client.close()


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
