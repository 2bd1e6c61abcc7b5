"""The fact-checker's commands: `prov lookup`, `prov bundle` (`prov verify` is in
cli/verify_commands.py).

`lookup` and `bundle` act where cli/common.open_client says.
"""

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from cli.common import console, json_option, open_client, print_cautions
from cli.errors import EXIT_CAUTION, EXIT_FAILED
from cli.files import (
    force_option,
    read_input_file,
    refuse_existing,
    write_bundle_file,
    write_new_file,
)
from ledger import StorageError, parse_checkpoint
from ledger.note import parse_note
from ledger.store import MAX_STORED_INT
from registry.bundle.format import parse_bundle, text_field


@click.command()
@click.argument("index", type=click.IntRange(0))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the bundle here [stdout].")
@force_option
@click.pass_context
def bundle(ctx: click.Context, index: int, out: str | None, force: bool) -> None:
    """Fetch the offline proof bundle of the capture at INDEX."""
    if out:
        refuse_existing(Path(out), force=force)  # before the fetch: a refusal costs no call
    with open_client(ctx) as client:
        data = client.bundle(index)
    if out:
        write_new_file(Path(out), data, force=force)
    else:
        click.echo(data.decode())


_VERDICT_WORDS = {
    "registered": "[bold green]registered[/]: these exact file bytes were registered at capture time",
    "near-duplicate": "[bold green]near-duplicate[/]: a registered capture looks like this image",
    "disclosed-synthetic": "[bold yellow]disclosed-synthetic[/]: a generator disclosed this image",
    "not-found": "[bold red]not-found[/]: nothing registered looks like this image",
}


@click.command()
@click.argument("image", type=click.Path(dir_okay=False))
@json_option
@click.option(
    "--bundle-dir", type=click.Path(file_okay=False), help="Write each match's proof bundle here."
)
@force_option
@click.pass_context
def lookup(
    ctx: click.Context, image: str, as_json: bool, bundle_dir: str | None, force: bool
) -> None:
    """Look IMAGE up: the verdict, the matching captures, and their proof bundles."""
    data = read_input_file(image, "image")
    with open_client(ctx) as client:
        result = client.lookup_image(data, image)
        if bundle_dir:
            directory = Path(bundle_dir)
            directory.mkdir(parents=True, exist_ok=True)
            for match in result["matches"]:
                index = _match_index(match.get("leaf_index"))
                data = client.bundle(index)
                _check_bundle_index(data, index)
                match["bundle_file"] = str(write_bundle_file(directory, index, data, force=force))
    cautions = result.get("cautions", [])
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_lookup(result, cautions, bundle_dir)
    if result["verdict"] == "not-found":
        ctx.exit(EXIT_FAILED)
    if cautions:
        ctx.exit(EXIT_CAUTION)


def _match_index(value: object) -> int:
    """A match's leaf index as the server sent it, which names a file: an int in the log's
    range, or the answer is refused."""
    if type(value) is not int or not 0 <= value <= MAX_STORED_INT:
        raise StorageError(
            f"the server named a match by leaf index {str(value)[:40]!r}, not a log index: "
            "no bundle was written for it"
        )
    return value


def _check_bundle_index(data: bytes, index: int) -> None:
    """The bundle proves the capture at `index`, inside the tree of its checkpoint."""
    bundle = parse_bundle(data)
    checkpoint = parse_checkpoint(parse_note(text_field(bundle["checkpoint"], "checkpoint")).text)
    capture: object = bundle["capture"]
    proven = capture.get("index") if isinstance(capture, dict) else None
    if type(proven) is not int or proven != index or index >= checkpoint.size:
        raise StorageError(
            f"the server's bundle for leaf index {index} does not prove that index in its tree "
            f"of {checkpoint.size}: no bundle was written for it"
        )


def _print_lookup(
    result: dict[str, Any], cautions: list[dict[str, Any]], bundle_dir: str | None
) -> None:
    print_cautions(cautions)
    words = _VERDICT_WORDS[result["verdict"]]
    if cautions:
        # Not the clean colour: the verdict stands, but with the cautions above.
        words = words.replace("[bold green]", "[bold yellow]", 1) + " - WITH CAUTIONS (above)"
    console.print(words)
    if result["matches"]:
        console.print(_matches_table(result["matches"]))
    for match in result["matches"]:
        for note in match.get("notes", []):  # absent from servers before scoped revocations
            console.print(f"note, log entry {match['leaf_index']}: {escape(note)}", highlight=False)
    if bundle_dir:
        console.print(f"proof bundles written to {bundle_dir}")


def _matches_table(matches: list[dict[str, Any]]) -> Table:
    table = Table(
        "index", "PDQ", "pHash", "matched", "vendor", "role", "device", "captured",
        "logged after", "compromised", "log order",
    )  # fmt: skip
    for m in matches:
        captured = datetime.fromtimestamp(m["captured_at_ms"] / 1000, UTC)
        table.add_row(
            str(m["leaf_index"]), "exact" if m["exact"] else str(m["pdq_distance"]),
            str(m["phash_distance"]), _how(m), escape(m["vendor_name"]), m["role"],
            m["device_id"][:12], captured.isoformat(timespec="seconds"),
            f"{m['delay_ms'] / 1000:.0f} s", "yes" if m["in_compromise_window"] else "no",
            _log_order(m, matches),
        )  # fmt: skip
    return table


def _log_order(match: dict[str, Any], matches: list[dict[str, Any]]) -> str:
    """Which came first, by the log (never by the claimed capture time): "first logged", or
    "after #N" naming the first logged match."""
    if match.get("first_logged"):
        return "first logged"
    first = next((m["leaf_index"] for m in matches if m.get("first_logged")), None)
    return "" if first is None else f"after #{first}"  # "": a server without log order


def _how(match: dict[str, Any]) -> str:
    """How a lookup match was found, e.g. "top80 ~ pdq-top80-v1" or "rotate-90 ~ pdq"."""
    if match["exact"]:
        return "same file"
    how = f"{match['probe']} ~ {match['matched_hash']}"
    return how + " (+pHash)" if match["evidence"] == "pdq+phash" else how
