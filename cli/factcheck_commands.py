"""The fact-checker's commands: `prov lookup`, `prov bundle` (`prov verify` is in
cli/verify_commands.py).

`lookup` and `bundle` act where cli/common.open_client says.
"""

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from cli.client import RegistryClient
from cli.common import console, json_option, open_client, print_cautions
from cli.errors import EXIT_CAUTION, EXIT_FAILED
from cli.files import (
    force_option,
    read_input_file,
    refuse_existing,
    write_bundle_file,
    write_new_file,
)
from cli.lookup_batch import (
    BATCH_EXIT_HELP,
    Answer,
    batch_exit_code,
    csv_text,
    hash_set,
    image_files,
    look_up_each,
    look_up_hashes,
    print_batch,
    summary,
)
from ledger import StorageError, parse_checkpoint
from ledger.note import parse_note
from ledger.store import MAX_STORED_INT
from registry.bundle.format import parse_bundle, text_field
from registry.lookup.explain import NOT_FOUND_ADVICE, likeness, log_order, survived
from registry.wording import duration, iso_utc


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
    "not-found": "[bold]not-found[/]: nothing registered looks like this image (that proves nothing either way)",
}


@click.command(epilog=BATCH_EXIT_HELP)
@click.argument("images", nargs=-1, required=True, type=click.Path())
@json_option
@click.option(
    "--bundle-dir", type=click.Path(file_okay=False), help="Write each match's proof bundle here."
)
@click.option("-r", "--recursive", is_flag=True, help="Look in a directory's subdirectories too.")
@click.option(
    "--csv", "csv_file", type=click.Path(dir_okay=False), help="Also write one CSV row per image."
)
@click.option(
    "--hash-only",
    is_flag=True,
    help="Hash the images here and send only the hashes (POST /v1/lookups for several): "
    "the images never leave this machine.",
)
@force_option
@click.pass_context
def lookup(
    ctx: click.Context,
    images: tuple[str, ...],
    as_json: bool,
    bundle_dir: str | None,
    recursive: bool,
    csv_file: str | None,
    hash_only: bool,
    force: bool,
) -> None:
    """Look IMAGES up: the verdict, the matching captures, and their proof bundles.

    One file: its verdict and matches. Several files, or a directory (its images; with -r its
    subdirectories' too): one line per image and the counts per verdict, --json one document
    with a result per image; a file that is not an image is that image's error.
    """
    files = image_files(images, recursive)
    single = len(images) == 1 and len(files) == 1 and files[0] == images[0]
    with open_client(ctx) as client:
        if single:
            # One image: its errors are the command's (exit 2), as before batches.
            answers = [Answer(files[0], _look_up_one(client, files[0], hash_only))]
        else:
            answers = (look_up_hashes if hash_only else look_up_each)(client, files)
        if bundle_dir:
            written: dict[int, str] = {}
            for answer in answers:
                _write_bundles(client, answer, Path(bundle_dir), written, force)
    if single:
        _finish_one(ctx, answers[0], as_json, csv_file, force)
    else:
        _finish_batch(ctx, answers, as_json, csv_file, force)


def _look_up_one(client: RegistryClient, file: str, hash_only: bool) -> dict[str, Any]:
    data = read_input_file(file, "image")
    if not hash_only:
        return client.lookup_image(data, file)
    [result] = client.lookup_hashes([hash_set(data, file)])
    if "error" in result:
        raise StorageError(f"the server refused the hashes of {file}: {result['error']}")
    return result


def _write_bundles(
    client: RegistryClient,
    answer: Answer,
    directory: Path,
    written: dict[int, str],
    force: bool,
) -> None:
    """Each match's bundle, once per capture however many images matched it; its file named
    from the checked leaf index only (cli/files.write_bundle_file)."""
    if answer.lookup is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    for match in answer.lookup["matches"]:
        index = _match_index(match.get("leaf_index"))
        if index not in written:
            data = client.bundle(index)
            _check_bundle_index(data, index)
            written[index] = str(write_bundle_file(directory, index, data, force=force))
        match["bundle_file"] = written[index]
        answer.bundle_files.append(written[index])


def _finish_one(
    ctx: click.Context,
    answer: Answer,
    as_json: bool,
    csv_file: str | None,
    force: bool,
) -> None:
    result = answer.lookup or {}
    cautions = result.get("cautions", [])
    if csv_file:
        write_new_file(Path(csv_file), csv_text([answer]).encode(), force=force)
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        _print_lookup(result, cautions, answer)
    if result["verdict"] == "not-found":
        ctx.exit(EXIT_FAILED)
    if cautions:
        ctx.exit(EXIT_CAUTION)


def _finish_batch(
    ctx: click.Context, answers: list[Answer], as_json: bool, csv_file: str | None, force: bool
) -> None:
    code = batch_exit_code(answers)
    if csv_file:
        write_new_file(Path(csv_file), csv_text(answers).encode(), force=force)
    if as_json:
        document = {
            "results": [a.to_json() for a in answers],
            "summary": summary(answers),
            "exit_code": code,
        }
        click.echo(json.dumps(document, indent=2))
    else:
        print_batch(console, answers)
    ctx.exit(code)


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


WIDE_TABLE = 150  # columns the match table needs before its cells are cut


def _print_lookup(result: dict[str, Any], cautions: list[dict[str, Any]], answer: Answer) -> None:
    print_cautions(cautions)
    words = _VERDICT_WORDS[result["verdict"]]
    if cautions:
        # Not the clean colour: the verdict stands, but with the cautions above.
        words = words.replace("[bold green]", "[bold yellow]", 1) + " - WITH CAUTIONS (above)"
    console.print(words)
    if result["verdict"] == "not-found":
        console.print(NOT_FOUND_ADVICE, highlight=False)
    if result["matches"]:
        _print_matches(result["matches"])
    for match in result["matches"]:
        for note in match.get("notes", []):  # absent from servers before scoped revocations
            console.print(f"note, log entry {match['leaf_index']}: {escape(note)}", highlight=False)
    _print_bundle_files(result["matches"], answer)


def _print_bundle_files(matches: list[dict[str, Any]], answer: Answer) -> None:
    """Which file proves which entry, and the command that checks one without this server: the
    next step of a fact-checker's journey (README)."""
    for match in matches:
        if "bundle_file" in match:
            console.print(
                f"proof bundle of log entry {match['leaf_index']}: {escape(match['bundle_file'])}",
                highlight=False,
            )
    if answer.bundle_files:
        console.print(
            f"check one offline: prov verify {escape(answer.bundle_files[0])} --log-key VKEY "
            f"--image {escape(answer.file)} (the log's key VKEY: `prov log status`, and its /how-to-verify "
            "page for other places to compare it with)",
            highlight=False,
        )


def _print_matches(matches: list[dict[str, Any]]) -> None:
    """The table where it fits; in a narrower terminal (80 columns by default) rich would cut
    every cell to a few letters, so there each match is told in lines instead."""
    if console.width >= WIDE_TABLE:
        console.print(_matches_table(matches))
        return
    order = [(m["leaf_index"], bool(m.get("first_logged"))) for m in matches]
    for m in matches:
        distance = "exact" if m["exact"] else str(m["pdq_distance"])
        console.print(
            f"log entry {m['leaf_index']}, {_log_order(m, order)}: {_how(m)}\n"
            f"    PDQ {distance}, pHash {m['phash_distance']}; {escape(m['vendor_name'])} "
            f"({m['role']}), device {m['device_id'][:12]}\n"
            f"    captured {iso_utc(m['captured_at_ms'])}, logged {duration(m['delay_ms'])} "
            f"later; in a compromise window: {'yes' if m['in_compromise_window'] else 'no'}",
            highlight=False,
        )


def _matches_table(matches: list[dict[str, Any]]) -> Table:
    table = Table(
        "index", "PDQ", "pHash", "likeness", "vendor", "role", "device", "captured",
        "logged after", "compromised", "log order",
    )  # fmt: skip
    order = [(m["leaf_index"], bool(m.get("first_logged"))) for m in matches]
    for m in matches:
        table.add_row(
            str(m["leaf_index"]), "exact" if m["exact"] else str(m["pdq_distance"]),
            str(m["phash_distance"]), _how(m), escape(m["vendor_name"]), m["role"],
            m["device_id"][:12], iso_utc(m["captured_at_ms"]), duration(m["delay_ms"]),
            "yes" if m["in_compromise_window"] else "no",
            _log_order(m, order),
        )  # fmt: skip
    return table


def _log_order(match: dict[str, Any], order: list[tuple[int, bool]]) -> str:
    """Which came first, by the log (never by the claimed capture time)."""
    return log_order(match["leaf_index"], bool(match.get("first_logged")), order)


def _how(match: dict[str, Any]) -> str:
    """The match's likeness in words and the edit it survived, e.g. "very close; found rotated
    by a quarter turn" (the probe and hash names are in --json)."""
    words = likeness(match["exact"], match["pdq_distance"])
    if match["exact"]:
        return words
    edit = survived(match["probe"], match["matched_hash"], match["evidence"])
    return f"{words}; {edit}" if edit else words
