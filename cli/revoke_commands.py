"""`prov revoke`: sign and log a revocation, dated by its compromise.

One device without `--firmware` is a revocation/v1, as before. A CA (`--ca`), the whole vendor
(`--all-devices`), or anything limited to firmware releases (`--firmware`, repeatable) is a
revocation/v2 (docs/design.md §4.6), which also needs the vendor root (`--vendor-root`).
"""

import click
from cryptography import x509

from cli.common import emit, json_option, open_client, parse_time_ms
from cli.files import load_certificate, load_certificates, load_key
from registry.entries.sdk import SigningKey, sign_revocation, sign_scoped_revocation


@click.command()
@click.option(
    "--device", "device_id",
    help="Revoke this device: its id (hex SHA-256 of its certificate) or 8+ of its first characters.",
)  # fmt: skip
@click.option(
    "--ca", "ca_cert", type=click.Path(dir_okay=False),
    help="Revoke this CA certificate (PEM or DER) and every device under it.",
)  # fmt: skip
@click.option(
    "--all-devices", is_flag=True, help="Revoke the vendor root: every device of the vendor."
)
@click.option(
    "--above", type=click.Path(dir_okay=False),
    help="With --ca: the CAs between it and the root, nearest first (PEM; the root may follow).",
)  # fmt: skip
@click.option(
    "--vendor-root", type=click.Path(dir_okay=False),
    help="The vendor's root certificate (needed for --ca, --all-devices and --firmware).",
)  # fmt: skip
@click.option(
    "--firmware", "releases", multiple=True,
    help="Only captures whose signed claim names this firmware release (repeatable).",
)  # fmt: skip
@click.option("--compromised-since", required=True, help="ms since the epoch or ISO 8601.")
@click.option("--reason", required=True)
@click.option(
    "--signer-key", required=True, type=click.Path(dir_okay=False),
    help="PEM key of the signing CA: the revoked CA or one above it, the issuing CA, or the root.",
)  # fmt: skip
@click.option(
    "--signer-cert", required=True, type=click.Path(dir_okay=False),
    help="Its certificate (PEM or DER).",
)  # fmt: skip
@json_option
@click.pass_context
def revoke(
    ctx: click.Context,
    device_id: str | None,
    ca_cert: str | None,
    all_devices: bool,
    above: str | None,
    vendor_root: str | None,
    releases: tuple[str, ...],
    compromised_since: str,
    reason: str,
    signer_key: str,
    signer_cert: str,
    as_json: bool,
) -> None:
    """Sign and log a revocation of a device, a CA or a whole vendor, dated by its compromise
    and optionally limited to firmware releases."""
    chosen = [name for name, on in (("--device", device_id), ("--ca", ca_cert),
                                    ("--all-devices", all_devices)) if on]  # fmt: skip
    if len(chosen) != 1:
        raise click.UsageError(
            "name what to revoke: exactly one of --device, --ca or --all-devices"
        )
    if above and not ca_cert:
        raise click.UsageError("--above lists the CAs above a revoked CA: use it with --ca")
    if (device_id is None or releases) and not vendor_root:
        raise click.UsageError(
            f"{chosen[0]}{' with --firmware' if device_id else ''} makes a revocation/v2, "
            "which names its vendor: add --vendor-root ROOT.pem"
        )
    since = parse_time_ms(compromised_since)
    key, cert = load_key(signer_key), load_certificate(signer_cert, "signer certificate")
    with open_client(ctx) as client:
        if device_id is not None:  # the id as signed is the full one, whatever was typed
            device_id = client.device(device_id)["device_id"]
        receipt = client.revoke(
            _sign(device_id, ca_cert, above, vendor_root, releases, since, reason, key, cert)
        )
    # The same signed revocation sent again is not logged again: its first receipt comes back.
    state = "already in the log at" if receipt["duplicate"] else "logged at"
    emit(receipt, as_json, f"revocation {state} index {receipt['index']}")


def _sign(
    device_id: str | None,
    ca_cert: str | None,
    above: str | None,
    vendor_root: str | None,
    releases: tuple[str, ...],
    since: int,
    reason: str,
    key: SigningKey,
    cert: x509.Certificate,
) -> dict[str, object]:
    """The signed revocation: a revocation/v1 of one device without firmware, else a v2."""
    if device_id and not releases:
        return sign_revocation(device_id, since, reason, key, cert)
    assert vendor_root is not None  # checked by the command, before any file is read
    root = load_certificate(vendor_root, "vendor root")
    subject: x509.Certificate | str = device_id or root
    scope = "device" if device_id else "vendor"
    if ca_cert:
        subject, scope = load_certificate(ca_cert, "CA certificate"), "ca"
    return sign_scoped_revocation(
        scope=scope, subject=subject, vendor_root=root, above=_above(above, root),
        compromised_since=since, reason=reason, ca_key=key, ca_cert=cert,
        firmware=list(releases) or None,
    )  # fmt: skip


def _above(path: str | None, root: x509.Certificate) -> list[x509.Certificate]:
    """The CAs of `path` up to, and without, the vendor root."""
    if path is None:
        return []
    found = [x509.load_der_x509_certificate(der) for der in load_certificates(path, "--above")]
    return [c for c in found if c != root]
