"""The device side and its vendor: `prov device enroll | show`, `prov capture sign`,
`prov submit` (`prov revoke`: cli/revoke_commands).

`capture sign` is always local: it is the device, and touches no log. The others act where
cli/common.open_client says (the local database, or `--server URL`).
"""

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from cli.client import RegistryClient
from cli.common import console, emit, json_option, open_client, parse_time_ms
from cli.device_view import device_lines
from cli.errors import EXIT_FAILED
from cli.files import (
    check_key_private,
    default_state_dir,
    force_option,
    load_certificate,
    load_certificates,
    load_key,
    next_counter,
    read_input_file,
    read_records,
    refuse_existing,
    write_new_file,
)
from registry.admission.devices import device_id_of
from registry.entries.codec import check_firmware
from registry.entries.sdk import check_signer, key_fingerprint, sign_capture
from registry.imaging.hashing import hash_image
from registry.open import now_ms

# The device's clock, for the certificate's validity and the default capture time; tests
# replace it to sign at a given moment.
clock = now_ms


@click.group()
def device() -> None:
    """Enroll and inspect devices."""


@device.command("enroll")
@click.argument("cert", type=click.Path(dir_okay=False))
@click.option(
    "--chain",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Intermediate CA file(s), issuer first.",
)
@json_option
@click.pass_context
def device_enroll(ctx: click.Context, cert: str, chain: tuple[str, ...], as_json: bool) -> None:
    """Enroll a device certificate that chains to a registered vendor root."""
    cert_der = load_certificates(cert, "device certificate")[0]
    chain_der = [der for path in chain for der in load_certificates(path, "chain certificate")]
    with open_client(ctx) as client:
        receipt = client.enroll_device(cert_der, chain_der)
    device_id = device_id_of(cert_der)
    state = "already enrolled at" if receipt["duplicate"] else "enrolled at"
    emit(
        {"device_id": device_id, **receipt},
        as_json,
        f"device {state} index {receipt['index']}\ndevice id: {device_id}",
    )


@device.command("show")
@click.argument("device_id")
@json_option
@click.pass_context
def device_show(ctx: click.Context, device_id: str, as_json: bool) -> None:
    """Show an enrolled device: vendor, certificate, validity, captures, revocations.

    DEVICE_ID is the id `device enroll` printed, or 8 or more of its first characters."""
    with open_client(ctx) as client:
        info = client.device(device_id)
    emit(info, as_json, "\n".join(device_lines(info)))


@click.group()
def capture() -> None:
    """The device side: sign captures."""


@capture.command("sign")
@click.argument("image", type=click.Path(dir_okay=False))
@click.option(
    "--device-key",
    required=True,
    type=click.Path(dir_okay=False),
    help="PEM private key of the device.",
)
@click.option(
    "--device-cert",
    required=True,
    type=click.Path(dir_okay=False),
    help="PEM or DER device certificate.",
)
@click.option(
    "--counter",
    type=click.IntRange(0),
    help="Capture counter [the key's next one, kept in the state directory].",
)
@click.option("--captured-at", help="Capture time: ms since the epoch or ISO 8601 [now].")
@click.option(
    "--firmware",
    metavar="TEXT",
    help="The firmware release taking the picture (vendor-defined, e.g. 2.00), signed in the claim.",
)
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the record here instead of stdout."
)
@click.option(
    "--state-dir",
    envvar="PROV_STATE_DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where each key's counter is kept [$XDG_STATE_HOME/prov or ~/.local/state/prov].",
)
@force_option
def capture_sign(
    image: str,
    device_key: str,
    device_cert: str,
    counter: int | None,
    captured_at: str | None,
    firmware: str | None,
    out: str | None,
    state_dir: Path | None,
    force: bool,
) -> None:
    """Hash IMAGE and sign a capture record (one JSON line; `>> records.jsonl` collects many).

    Refused, before any counter is used, when the key file is readable by others, the key is
    not the certificate's, or the certificate is outside its validity now."""
    if out:
        refuse_existing(Path(out), force=force)
    data = read_input_file(image, "image")
    key = load_key(device_key)
    check_key_private(device_key)
    cert = load_certificate(device_cert, "device certificate")
    now = clock()
    check_signer(key, cert, now)
    when = parse_time_ms(captured_at) if captured_at else now
    if firmware is not None:
        check_firmware(firmware)  # before the counter, as the image: a refusal uses none up
    hashes = hash_image(data, image)  # before the counter: a bad image must not use one up
    if counter is None:
        state = state_dir or default_state_dir()
        counter = next_counter(state, key_fingerprint(key), device_key)
    record = sign_capture(
        data, key, cert, counter, when, name=image, hashes=hashes, firmware=firmware
    )
    line = json.dumps(record, separators=(",", ":"))
    if out:
        write_new_file(Path(out), (line + "\n").encode(), force=force)
    else:
        click.echo(line)


@click.command()
@click.argument("records_file", metavar="RECORDS.jsonl", type=click.Path(dir_okay=False))
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@click.pass_context
def submit(ctx: click.Context, records_file: str, batch_size: int, as_json: bool) -> None:
    """Submit signed capture records, one JSON object per line, in batches."""
    numbered = read_records(records_file)
    with open_client(ctx) as client:
        results = _submit_in_batches(client, numbered, batch_size, show_progress=not as_json)
    summary = _summarize(results)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)
    if summary["rejected"]:
        ctx.exit(EXIT_FAILED)


def _submit_in_batches(
    client: RegistryClient, numbered: list[tuple[int, Any]], batch_size: int, show_progress: bool
) -> list[dict[str, Any]]:
    """Every record's result, its `position` in the whole file and its `line` number in it."""
    lines = [number for number, _ in numbered]
    records = [record for _, record in numbered]
    results: list[dict[str, Any]] = []
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), disable=not show_progress) as progress:
        task = progress.add_task("submit", total=len(records))
        for start in range(0, len(records), batch_size):
            batch = client.submit_captures(records[start : start + batch_size])
            for result in batch:
                result["position"] += start
                result["line"] = lines[result["position"]]
            results.extend(batch)
            progress.update(task, advance=len(batch))
    return results


def _summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    accepted = [r for r in results if r["accepted"]]
    return {
        "accepted": len(accepted),
        "duplicates": sum(1 for r in accepted if r["duplicate"]),
        "rejected": sum(1 for r in results if not r["accepted"]),
        "counters_out_of_order": sum(
            1 for r in accepted if r["counter_status"] not in (None, "ok")
        ),
        "results": results,
    }


def _print_summary(summary: dict[str, Any]) -> None:
    console.print(
        f"accepted {summary['accepted']} ({summary['duplicates']} already logged), "
        f"rejected {summary['rejected']}, out-of-order counters {summary['counters_out_of_order']}"
    )
    for r in summary["results"]:
        if not r["accepted"]:
            console.print(
                f"  record {r['line']}: [red]{r['code']}[/] {escape(r['reason'])}", highlight=False
            )
