"""`prov c2pa`: the registry and C2PA Content Credentials (docs/c2pa.md).

`receipt` acts where the registry commands act: the local database, or `--server URL`."""

from pathlib import Path

import click
from rich.console import Console

from cli.registry_commands import _client as registry_client
from ledger.errors import MalformedError

console = Console(soft_wrap=True)


@click.group()
def c2pa() -> None:
    """Content Credentials (C2PA): receipts for captures."""


@c2pa.command()
@click.argument("index", type=click.IntRange(0))
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="Write the receipt here [capture-INDEX.bundle.json].",
)
@click.option("--force", is_flag=True, help="Replace the file if it exists.")
@click.pass_context
def receipt(ctx: click.Context, index: int, out: str | None, force: bool) -> None:
    """Write the proof bundle of the capture at INDEX as a sidecar file, to travel beside the
    image; `prov verify` checks it offline."""
    path = Path(out or f"capture-{index}.bundle.json")
    # Checked before fetching too, so a refusal costs no server call.
    if path.exists() and not force:
        raise MalformedError(f"{path} exists; give --force to replace it", code="file_exists")
    with registry_client(ctx) as client:
        data = client.bundle(index)
    try:
        # Exclusive creation unless --force: a file that appeared meanwhile is not overwritten.
        with path.open("wb" if force else "xb") as file:
            file.write(data)
    except FileExistsError:
        raise MalformedError(
            f"{path} exists; give --force to replace it", code="file_exists"
        ) from None
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
    console.print(f"wrote the receipt of capture {index} to {path} ({len(data)} bytes)")
