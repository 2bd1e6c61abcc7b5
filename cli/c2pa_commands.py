"""`prov c2pa`: the registry and C2PA Content Credentials (docs/c2pa.md).

`ingest` and `receipt` act where the registry commands act: the local database, or
`--server URL`."""

import json
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from cli.client import RegistryClient
from cli.common import json_option, open_client
from cli.errors import EXIT_OK, exit_code_for
from cli.files import (
    bundle_path,
    force_option,
    read_input_file,
    refuse_existing,
    write_new_file,
)
from ledger.errors import LedgerError

console = Console(soft_wrap=True)


@click.group()
def c2pa() -> None:
    """Content Credentials (C2PA): ingest signed camera files, receipts for captures."""


@c2pa.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@click.pass_context
def ingest(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Log C2PA-signed JPEGs straight from the camera as c2pa-capture/v1 entries.

    Each file's manifest is validated offline against the registered vendor roots; its signer
    is enrolled as a device if it is not yet. A refused file is reported with c2pa's own
    validation code and the others still go in. Exit 0 if every file was logged, 1 if one
    failed validation, 2 if one was not a signed JPEG at all."""
    with open_client(ctx) as client:
        results, exit_code = _ingest_each(client, files)
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        _print_ingested(results)
    ctx.exit(exit_code)


@c2pa.command()
@click.argument("index", type=click.IntRange(0))
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the receipt here [capture-INDEX.bundle.json].",
)
@force_option
@click.pass_context
def receipt(ctx: click.Context, index: int, out: str | None, force: bool) -> None:
    """Write the proof bundle of the capture at INDEX as a sidecar file, to travel beside the
    image; `prov verify` checks it offline."""
    path = Path(out) if out else bundle_path(Path(), index)
    refuse_existing(path, force=force)  # before fetching too, so a refusal costs no server call
    with open_client(ctx) as client:
        data = client.bundle(index)
    write_new_file(path, data, force=force)
    console.print(f"wrote the receipt of capture {index} to {path} ({len(data)} bytes)")


def _ingest_each(
    client: RegistryClient, files: tuple[str, ...]
) -> tuple[list[dict[str, object]], int]:
    """Each file's result (a refusal too: the others still go in) and the worst exit code."""
    results: list[dict[str, object]] = []
    exit_code = EXIT_OK
    for path in files:
        try:
            logged = client.ingest_c2pa(read_input_file(path, "image"), Path(path).name)
        except LedgerError as exc:
            exit_code = max(exit_code, exit_code_for(exc))
            results.append({"file": path, "accepted": False, "code": exc.code, "reason": str(exc)})
            continue
        results.append({"file": path, **logged})
    return results, exit_code


def _print_ingested(results: list[dict[str, object]]) -> None:
    for result in results:
        if result["accepted"]:
            again = " (already logged)" if result.get("duplicate") else ""
            console.print(
                f"[green]logged[/] {escape(str(result['file']))}: entry {result['index']}{again}"
            )
        else:
            console.print(
                f"[red]refused[/] {escape(str(result['file']))}: {escape(str(result['code']))}: "
                f"{escape(str(result['reason']))}"
            )
