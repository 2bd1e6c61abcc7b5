"""`prov vendor | device | capture | submit | revoke | reindex`: thin commands over registry/.

Where they act: on the local database (`--data-dir` / `--database`) unless `--server URL`
(`PROV_SERVER`) is given, in which case they call that server's HTTP API. `capture sign` is
always local: it is the device side and touches no log. `reindex` is always local: only the
operator's machine holds the database and the key.
"""

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli.client import HttpClient, LocalClient, RegistryClient
from cli.errors import EXIT_CAUTION, EXIT_FAILED
from ledger import Verifier
from ledger.cosignature import CosignatureVerifier
from ledger.errors import MalformedError
from registry import RegistrySettings, open_registry
from registry.bundle.verify import verify_bundle
from registry.entries.sdk import SigningKey, sign_capture, sign_revocation
from registry.imaging.hashing import hash_image, query_hashes

console = Console(soft_wrap=True)


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


def read_input_file(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MalformedError(
            f"cannot read {what} {path}: {exc.strerror}", code="unreadable_file"
        ) from None


def load_certificates(path: str, what: str) -> list[bytes]:
    """DER of every certificate in a PEM file (one or more) or a DER file."""
    data = read_input_file(path, what)
    try:
        if b"-----BEGIN" in data:
            return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        return [x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)]
    except ValueError as exc:
        raise MalformedError(
            f"{path} is not a PEM or DER certificate: {exc}", code="cert_malformed"
        ) from None


def load_key(path: str) -> SigningKey:
    try:
        key = load_pem_private_key(read_input_file(path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise MalformedError(
            f"{path} is not an unencrypted PEM private key: {exc}", code="bad_key_file"
        ) from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise MalformedError(
            f"{path} holds a {type(key).__name__}, not an ECDSA, Ed25519 or RSA key",
            code="bad_key_file",
        )
    return key


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


@contextmanager
def _locked(path: Path) -> Iterator[Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def next_counter(key_path: str) -> int:
    """The device's next capture counter, kept in `<key>.counter` and advanced under a lock."""
    with _locked(Path(key_path + ".counter")) as handle:
        handle.seek(0)
        text = handle.read().strip()
        value = int(text) + 1 if text.isdigit() else 1
        handle.seek(0)
        handle.truncate()
        handle.write(f"{value}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value


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


def _emit(result: Any, as_json: bool, human: str) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        console.print(human, highlight=False, markup=False)


admin_token_option = click.option(
    "--admin-token", envvar="PROV_ADMIN_TOKEN", help="The operator's token [PROV_ADMIN_TOKEN]."
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


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
    _emit(receipt, as_json, f"vendor {name!r} ({role}) {state} index {receipt['index']}")


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
    state = "already enrolled at" if receipt["duplicate"] else "enrolled at"
    _emit(receipt, as_json, f"device {state} index {receipt['index']}")


@device.command("show")
@click.argument("device_id")
@json_option
@click.pass_context
def device_show(ctx: click.Context, device_id: str, as_json: bool) -> None:
    """Show an enrolled device: vendor, key, validity, captures, revocations."""
    with open_client(ctx) as client:
        info = client.device(device_id)
    lines = [f"{k:>14} {v}" for k, v in info.items()]
    _emit(info, as_json, "\n".join(lines))


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
    "--counter", type=click.IntRange(0), help="Capture counter [next value kept beside the key]."
)
@click.option("--captured-at", help="Capture time: ms since the epoch or ISO 8601 [now].")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Write the record here instead of stdout."
)
def capture_sign(
    image: str,
    device_key: str,
    device_cert: str,
    counter: int | None,
    captured_at: str | None,
    out: str | None,
) -> None:
    """Hash IMAGE and sign a capture record (one JSON line; `>> records.jsonl` collects many)."""
    data = read_input_file(image, "image")
    key = load_key(device_key)
    cert = x509.load_der_x509_certificate(load_certificates(device_cert, "device certificate")[0])
    when = parse_time_ms(captured_at) if captured_at else time.time_ns() // 1_000_000
    hashes = hash_image(data, image)  # before the counter: a bad image must not use one up
    number = counter if counter is not None else next_counter(device_key)
    record = sign_capture(data, key, cert, number, when, name=image, hashes=hashes)
    line = json.dumps(record, separators=(",", ":"))
    if out:
        Path(out).write_text(line + "\n")
    else:
        click.echo(line)


def _read_records(path: str) -> list[tuple[int, Any]]:
    """(line number, record) for every non-blank line."""
    records = []
    for number, line in enumerate(
        read_input_file(path, "records file").decode("utf-8", "replace").splitlines(), 1
    ):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except (ValueError, RecursionError) as exc:  # Recursion: nested too deep
            raise MalformedError(
                f"{path} line {number} is not JSON (or nests too deep): {exc}", code="bad_record"
            ) from None
    if not records:
        raise MalformedError(f"{path} holds no records", code="empty_batch")
    return records


@click.command()
@click.argument("records_file", metavar="RECORDS.jsonl", type=click.Path(dir_okay=False))
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@click.pass_context
def submit(ctx: click.Context, records_file: str, batch_size: int, as_json: bool) -> None:
    """Submit signed capture records, one JSON object per line, in batches."""
    numbered = _read_records(records_file)
    lines = [number for number, _ in numbered]
    records = [record for _, record in numbered]
    results: list[dict[str, Any]] = []
    columns = (TextColumn("submitting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with (
        open_client(ctx) as client,
        Progress(*columns, console=Console(stderr=True), disable=as_json) as progress,
    ):
        task = progress.add_task("submit", total=len(records))
        for start in range(0, len(records), batch_size):
            batch = client.submit_captures(records[start : start + batch_size])
            for result in batch:
                result["position"] += start
                result["line"] = lines[result["position"]]
            results.extend(batch)
            progress.update(task, advance=len(batch))
    accepted = [r for r in results if r["accepted"]]
    rejected = [r for r in results if not r["accepted"]]
    summary = {
        "accepted": len(accepted),
        "duplicates": sum(1 for r in accepted if r["duplicate"]),
        "rejected": len(rejected),
        "counters_out_of_order": sum(
            1 for r in accepted if r["counter_status"] not in (None, "ok")
        ),
        "results": results,
    }
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        console.print(
            f"accepted {summary['accepted']} ({summary['duplicates']} already logged), "
            f"rejected {summary['rejected']}, out-of-order counters {summary['counters_out_of_order']}"
        )
        for r in rejected:
            console.print(
                f"  record {r['line']}: [red]{r['code']}[/] {escape(r['reason'])}", highlight=False
            )
    if rejected:
        ctx.exit(EXIT_FAILED)


@click.command()
@click.option(
    "--device", "device_id", required=True, help="Device id (hex SHA-256 of its certificate)."
)
@click.option("--compromised-since", required=True, help="ms since the epoch or ISO 8601.")
@click.option("--reason", required=True)
@click.option(
    "--signer-key",
    required=True,
    type=click.Path(dir_okay=False),
    help="PEM key of the vendor root or issuing CA.",
)
@click.option(
    "--signer-cert",
    required=True,
    type=click.Path(dir_okay=False),
    help="Its certificate (PEM or DER).",
)
@json_option
@click.pass_context
def revoke(
    ctx: click.Context,
    device_id: str,
    compromised_since: str,
    reason: str,
    signer_key: str,
    signer_cert: str,
    as_json: bool,
) -> None:
    """Sign and log a revocation of a device, dated by its compromise."""
    cert = x509.load_der_x509_certificate(load_certificates(signer_cert, "signer certificate")[0])
    revocation = sign_revocation(
        device_id, parse_time_ms(compromised_since), reason, load_key(signer_key), cert
    )
    with open_client(ctx) as client:
        receipt = client.revoke(revocation)
    _emit(receipt, as_json, f"revocation logged at index {receipt['index']}")


@click.command()
@click.pass_obj
def reindex(config: Any) -> None:
    """Drop the registry's derived tables and rebuild them from the log."""
    registry = open_registry(RegistrySettings.from_env(config))
    try:
        count = registry.reindex()
    finally:
        registry.close()
    console.print(f"rebuilt the registry's indexes from {count} log entries")


@click.command()
@click.argument("bundle_file", metavar="BUNDLE", type=click.Path(dir_okay=False))
@click.option(
    "--log-key", required=True, envvar="PROV_LOG_VKEY", help="The log's verifier key (vkey)."
)
@click.option(
    "--image", type=click.Path(dir_okay=False), help="Also check this image against the capture."
)
@click.option(
    "--witness-key", "witness_keys", multiple=True, envvar="PROV_WITNESS_VKEYS",
    help="A witness's cosignature vkey: its cosignature dates the capture. Repeatable.",
)  # fmt: skip
@click.option(
    "--min-witnesses", type=click.IntRange(0), default=None,
    help="How many of the given witnesses must have cosigned [1 if any --witness-key].",
)  # fmt: skip
@json_option
@click.pass_context
def verify(
    ctx: click.Context,
    bundle_file: str,
    log_key: str,
    image: str | None,
    witness_keys: tuple[str, ...],
    min_witnesses: int | None,
    as_json: bool,
) -> None:
    """Check a proof bundle offline: checkpoint, witnesses, inclusion, chain, signature, image."""
    key = Verifier.from_vkey(log_key)
    witnesses = [CosignatureVerifier.from_vkey(k) for k in witness_keys]
    required = min_witnesses if min_witnesses is not None else min(1, len(witnesses))
    image_hashes, data = None, None
    if image:
        data = read_input_file(image, "image")
        image_hashes = query_hashes(data, image)
    report = verify_bundle(
        read_input_file(bundle_file, "bundle"), key, image_hashes, witnesses, required, data
    )
    cautions = [c.to_json() for c in report.cautions]
    if as_json:
        checks = [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks]
        times = [
            {"what": t.what, "at_ms": t.at_ms, "vouched_by": t.vouched_by} for t in report.times
        ]
        click.echo(
            json.dumps(
                {"ok": report.ok, "checks": checks, "times": times, "cautions": cautions},
                indent=2,
            )
        )
    else:
        print_cautions(cautions)
        for check in report.checks:
            mark = "[green]ok  [/]" if check.ok else "[red]FAIL[/]"
            console.print(f"{mark} {escape(check.name)}: {escape(check.detail)}")
        for claim in report.times:
            console.print(f"     {escape(claim.describe())}")
        if not report.ok:
            console.print("[bold red]bundle does NOT verify[/]")
        elif cautions:
            console.print(
                f"[bold yellow]bundle verified, with cautions[/]: {len(cautions)} listed above"
            )
        else:
            console.print("[bold green]bundle verified[/]")
    if not report.ok:
        ctx.exit(EXIT_FAILED)
    if cautions:
        ctx.exit(EXIT_CAUTION)


@click.command()
@click.argument("index", type=click.IntRange(0))
@click.option("--out", type=click.Path(dir_okay=False), help="Write the bundle here [stdout].")
@click.pass_context
def bundle(ctx: click.Context, index: int, out: str | None) -> None:
    """Fetch the offline proof bundle of the capture at INDEX."""
    with open_client(ctx) as client:
        data = client.bundle(index)
    if out:
        Path(out).write_bytes(data)
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
@click.pass_context
def lookup(ctx: click.Context, image: str, as_json: bool, bundle_dir: str | None) -> None:
    """Look IMAGE up: the verdict, the matching captures, and their proof bundles."""
    data = read_input_file(image, "image")
    with open_client(ctx) as client:
        result = client.lookup_image(data, image)
        if bundle_dir:
            directory = Path(bundle_dir)
            directory.mkdir(parents=True, exist_ok=True)
            for match in result["matches"]:
                path = directory / f"capture-{match['leaf_index']}.bundle.json"
                path.write_bytes(client.bundle(match["leaf_index"]))
                match["bundle_file"] = str(path)
    cautions = result.get("cautions", [])
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        print_cautions(cautions)
        words = _VERDICT_WORDS[result["verdict"]]
        if cautions:
            # Not the clean colour: the verdict stands, but with the cautions above.
            words = words.replace("[bold green]", "[bold yellow]", 1) + " - WITH CAUTIONS (above)"
        console.print(words)
        if result["matches"]:
            table = Table(
                "index",
                "PDQ",
                "pHash",
                "matched",
                "vendor",
                "role",
                "device",
                "captured",
                "logged after",
                "compromised",
                "log order",
            )
            for m in result["matches"]:
                table.add_row(
                    str(m["leaf_index"]), "exact" if m["exact"] else str(m["pdq_distance"]),
                    str(m["phash_distance"]), _how(m), escape(m["vendor_name"]), m["role"],
                    m["device_id"][:12], datetime.fromtimestamp(m["captured_at_ms"] / 1000, UTC).isoformat(timespec="seconds"),
                    f"{m['delay_ms'] / 1000:.0f} s", "yes" if m["in_compromise_window"] else "no",
                    _log_order(m, result["matches"]),
                )  # fmt: skip
            console.print(table)
        if bundle_dir:
            console.print(f"proof bundles written to {bundle_dir}")
    if result["verdict"] == "not-found":
        ctx.exit(EXIT_FAILED)
    if cautions:
        ctx.exit(EXIT_CAUTION)


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


@click.command()
@click.option("--at", "at", type=click.IntRange(0), help="Tree size to compute at [latest].")
@json_option
@click.option("--top", default=10, show_default=True, type=click.IntRange(1), help="Rows shown.")
@click.pass_context
def clusters(ctx: click.Context, at: int | None, as_json: bool, top: int) -> None:
    """Near-duplicate clusters and suspicious origins, recomputable from the log at a size."""
    with open_client(ctx) as client:
        data = client.clusters(at)
    if as_json:
        click.echo(data.decode())
        return
    report = json.loads(data)
    checkpoint = report["checkpoint"]
    console.print(
        f"origins at tree size {checkpoint['tree_size']} (root {checkpoint['root_hash']}): "
        f"{report['captures']} captures, {len(report['clusters'])} clusters"
    )
    suspicious = [d for d in report["devices"] if d["suspicious"]]
    console.print(
        f"[bold]suspicious devices[/]: {len(suspicious)} of {len(report['devices'])} with any signal"
    )
    for row in report["devices"][:top]:
        mark = "[red]![/]" if row["suspicious"] else " "
        console.print(
            f"{mark} {row['device'][:16]} ({escape(row['vendor_name'])}) score {row['score'] / 1000:.2f}: "
            + escape("; ".join(row["reasons"]))
        )
    if report["vendors"]:
        console.print("[bold]vendors[/]")
        for row in report["vendors"][:top]:
            console.print(
                f"  {escape(row['vendor_name'])}: score {row['score'] / 1000:.2f}, "
                f"{row['suspicious_devices']} suspicious device(s)"
            )
    table = Table("anchor", "members", "devices", "roles", "span")
    for group in report["clusters"][:top]:
        table.add_row(
            str(group["anchor"]), str(len(group["members"])), str(len(group["devices"])),
            ", ".join(group["roles"]), f"{group['span_ms'] / 1000:.0f} s",
        )  # fmt: skip
    console.print(table)


COMMANDS = {
    "clusters": clusters,
    "vendor": vendor,
    "device": device,
    "capture": capture,
    "submit": submit,
    "revoke": revoke,
    "reindex": reindex,
    "verify": verify,
    "bundle": bundle,
    "lookup": lookup,
}
