"""The rules of a scoped revocation (revocation/v2), beside revocation/v1's in `rules`.

A revocation/v2 names its `scope` and `subject`:

* "device": a device enrolled under the vendor; signed by any CA on the device's verified path
  (its issuer, a CA above it, or the root).
* "ca": an issuing or intermediate CA. The entry carries the CA's certificate and every CA
  above it up to the root (`certs`, subject first, root left out), so that the entry alone
  shows where the CA sits, even before any device under it is enrolled; signed by the CA
  itself or one above it.
* "vendor": the vendor root itself; signed by the root.

Optional `firmware` limits it to captures whose signed claim names one of those releases.
The signature is over "provenance-ledger/revocation/v2\\n" || JCS(the entry without `sig` and
`logged_at`). Admission, the indexer, the auditor and the offline bundle verifier apply these
same functions; none touches a database.
"""

import hashlib
from collections.abc import Mapping, Sequence
from typing import cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ledger.errors import MalformedError, VerificationError
from registry.admission import rules
from registry.admission.caution_rule import (
    SCOPES,
    Revocation,
    covers,
    describe,
    revocation_from_entry,
)
from registry.entries.codec import (
    REVOCATION,
    REVOCATION_V2,
    b64_field,
    check_firmware,
    field,
    hex_field,
    int_field,
    revocation_message,
    str_field,
)
from registry.entries.formats import ScopedRevocationBody
from registry.entries.signatures import verify_with_certificate
from registry.wording import iso_utc

__all__ = [
    "MAX_CERTS",
    "MAX_FIRMWARE_RELEASES",
    "check_revocation_on_path",
    "capture_refusal",
    "check_scoped_revocation",
    "parse_scoped_revocation",
    "subject_path",
]

MAX_CERTS = 8  # CAs between a revoked CA and its root: deeper paths are not enrolled either
MAX_FIRMWARE_RELEASES = 32
_FIELDS = {
    "kind", "scope", "subject", "vendor", "certs", "firmware", "compromised_since", "reason",
    "signer", "sig",
}  # fmt: skip


def _id(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def parse_scoped_revocation(revocation: object) -> tuple[ScopedRevocationBody, bytes]:
    """A submitted (or logged, without its logged_at) revocation/v2's fields: the signed body
    and the signature. Checks shape only; `check_scoped_revocation` checks the signature."""
    where = "revocation/v2"
    if not isinstance(revocation, dict):
        raise MalformedError("a revocation must be a JSON object", code="bad_revocation")
    unknown = set(revocation) - _FIELDS
    if unknown:
        raise MalformedError(
            f"{where} has unknown fields {sorted(unknown)}; allowed: {sorted(_FIELDS)}",
            code="unknown_field",
        )
    if revocation.get("kind") != REVOCATION_V2:
        raise MalformedError(f"revocation kind must be {REVOCATION_V2!r}", code="bad_kind")
    scope = field(revocation, "scope", where)
    if scope not in SCOPES:
        raise MalformedError(
            f"{where} scope must be one of {list(SCOPES)}, not {scope!r:.40}", code="bad_scope"
        )
    certs = field(revocation, "certs", where)
    if not isinstance(certs, list) or len(certs) > MAX_CERTS:
        raise MalformedError(
            f"{where} 'certs' must be a list of at most {MAX_CERTS} base64 DER certificates",
            code="bad_certs",
        )
    for cert in certs:
        b64_field({"certs": cert}, "certs", where)
    if (scope == "ca") != bool(certs):
        raise MalformedError(
            f"{where} 'certs' must hold the revoked CA and the CAs above it for scope 'ca', "
            "and be empty for 'device' and 'vendor'",
            code="bad_certs",
        )
    body: dict[str, object] = {
        "kind": REVOCATION_V2,
        "scope": scope,
        "subject": hex_field(revocation, "subject", where, 64),
        "vendor": hex_field(revocation, "vendor", where, 64),
        "certs": certs,
        "compromised_since": int_field(revocation, "compromised_since", where),
        "reason": str_field(revocation, "reason", where, 500),
        "signer": hex_field(revocation, "signer", where, 64),
    }
    if "firmware" in revocation:
        body["firmware"] = _firmware_releases(revocation["firmware"], where)
    return cast(ScopedRevocationBody, body), b64_field(revocation, "sig", where)


def _firmware_releases(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_FIRMWARE_RELEASES:
        raise MalformedError(
            f"{where} 'firmware' must be a list of 1 to {MAX_FIRMWARE_RELEASES} releases "
            "(leave it out to revoke every capture of the subject)",
            code="bad_firmware",
        )
    releases = [check_firmware(v) for v in value]
    if len(set(releases)) != len(releases):
        raise MalformedError(f"{where} 'firmware' lists a release twice", code="bad_firmware")
    return releases


def subject_path(body: ScopedRevocationBody, root_der: bytes) -> tuple[bytes, ...]:
    """DER of the revoked subject's CA path, subject first, root last, for scope "ca" (each
    certificate a CA directly issued by the next, the last by the root) or "vendor" (the root
    alone). The root must be the vendor's the entry names."""
    if body["vendor"] != _id(root_der):
        raise VerificationError(
            f"the revocation names vendor {body['vendor'][:16]}…, not the one whose root is given",
            code="revocation_wrong_vendor",
        )
    if body["scope"] == "vendor":
        if body["subject"] != body["vendor"]:
            raise VerificationError(
                "a vendor-scoped revocation must name the vendor root as its subject",
                code="revocation_bad_subject",
            )
        return (root_der,)
    path = [_cert_der(c) for c in body["certs"]] + [root_der]
    if _id(path[0]) != body["subject"]:
        raise VerificationError(
            "a CA-scoped revocation's first certificate must be the CA it names",
            code="revocation_bad_subject",
        )
    for child_der, parent_der in zip(path, path[1:], strict=False):
        _check_issued(child_der, parent_der)
    return tuple(path)


def _cert_der(value: str) -> bytes:
    return b64_field({"cert": value}, "cert", "revocation/v2 certs")


def _check_issued(child_der: bytes, parent_der: bytes) -> None:
    """`child` is a CA certificate that `parent` issued (name and signature)."""
    try:
        child = x509.load_der_x509_certificate(child_der)
        parent = x509.load_der_x509_certificate(parent_der)
        child.verify_directly_issued_by(parent)
        basic = child.extensions.get_extension_for_class(x509.BasicConstraints).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        raise VerificationError(
            f"revocation certificate {_id(child_der)[:16]}… is not a CA certificate issued by "
            f"{_id(parent_der)[:16]}…: the revoked CA must chain to the vendor root",
            code="revocation_bad_chain",
        ) from None
    if not basic.ca:
        raise VerificationError(
            f"revocation certificate {_id(child_der)[:16]}… is not a CA (basicConstraints)",
            code="revocation_bad_chain",
        )


def check_scoped_revocation(
    body: ScopedRevocationBody,
    signature: bytes,
    root_der: bytes,
    device_ca_path: Sequence[bytes] = (),
) -> tuple[bytes, ...]:
    """Raise unless the revocation is signed by its subject or a CA above it. For scope
    "device", `device_ca_path` is the verified CA path of the device it names (issuer first,
    root last: `DeviceCertificate.path_der`); the caller found it by the subject. Returns the
    subject's CA path (for a device, the path above it)."""
    if body["scope"] == "device":
        if not device_ca_path:
            raise VerificationError(
                "a device-scoped revocation must be judged against the device's verified path",
                code="revocation_bad_subject",
            )
        if body["vendor"] != _id(root_der) or device_ca_path[-1] != root_der:
            raise VerificationError(
                "the revoked device belongs to another vendor", code="revocation_wrong_vendor"
            )
        path = tuple(device_ca_path)
        signers = path  # any CA on the device's path; the device cannot revoke itself
    else:
        path = subject_path(body, root_der)
        signers = path
    by_id = {_id(der): der for der in signers}
    if body["signer"] not in by_id:
        raise VerificationError(
            f"revocation signer {body['signer'][:16]}… is neither the {body['scope']} it "
            "names nor a CA above it on its path to the vendor root",
            code="revocation_bad_signer",
        )
    ca = x509.load_der_x509_certificate(by_id[body["signer"]])
    if not verify_with_certificate(ca, signature, revocation_message(dict(body))):
        raise VerificationError(
            f"revocation signature does not verify with the key of CA {body['signer'][:16]}…",
            code="revocation_bad_signature",
        )
    return path


def check_revocation_on_path(
    entry: Mapping[str, object], path_der: Sequence[bytes], *, index: int = 0
) -> Revocation:
    """A logged revocation (v1 or v2, with or without logged_at) judged against one device:
    `path_der` is the device certificate's DER, then its verified path, root last. Raise
    unless it names the device or a CA on that path and is signed as its kind requires."""
    ids = [_id(der) for der in path_der]
    fields = {k: v for k, v in entry.items() if k not in ("logged_at", "_index")}
    if entry.get("kind") == REVOCATION:
        body, signature = rules.parse_revocation(fields)
        if body["device"] != ids[0]:
            raise VerificationError(
                f"the revocation at log entry {index} names device {body['device'][:16]}…, "
                "not this device or a CA on its path",
                code="revocation_not_on_path",
            )
        ca = rules.ca_certificate(body["signer"], ids[0], path_der[1:])
        rules.check_revocation(body, signature, ca)
        return Revocation(index, body["device"], body["compromised_since"])
    scoped, signature = parse_scoped_revocation(fields)
    named = ids[:1] if scoped["scope"] == "device" else ids[1:]
    if scoped["subject"] not in named:
        raise VerificationError(
            f"the revocation at log entry {index} names {scoped['scope']} "
            f"{scoped['subject'][:16]}…, not this device or a CA on its path",
            code="revocation_not_on_path",
        )
    device_ca_path = path_der[1:] if scoped["scope"] == "device" else ()
    check_scoped_revocation(scoped, signature, path_der[-1], device_ca_path)
    return revocation_from_entry(index, dict(scoped))


def capture_refusal(
    device: str, captured_at: int, firmware: str | None, revocations: Sequence[Revocation]
) -> tuple[str, str] | None:
    """A capture claimed at or after the compromise of a revocation that covers it (its
    device, a CA on its path or its vendor root; for one limited to firmware, only if the
    claim names one of those releases) is refused, whenever the device was enrolled."""
    hit = [r for r in revocations if covers(r, firmware) and captured_at >= r.compromised_since]
    if not hit:
        return None
    first = min(hit, key=lambda r: r.index)
    reason = (
        f"device {device} is covered by the revocation at log entry {first.index} "
        f"({describe(first)}): compromised since {iso_utc(first.compromised_since)}, at or "
        f"before this capture ({iso_utc(captured_at)})"
    )
    if first.scope == "ca":
        return ("ca_revoked", reason)
    if first.scope == "vendor":
        return ("vendor_revoked", reason)
    return ("device_revoked", reason)
