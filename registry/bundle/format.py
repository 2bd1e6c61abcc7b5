"""The bundle format, parsed: one JSON document that proves a capture was logged, by which device
of which vendor, checkable offline with nothing but the log's verifier key.

    {"format": "provenance-ledger/bundle/v1", "log": <log key name>, "checkpoint": <signed note>,
     "capture": {"index": N, "entry": <base64 leaf>, "proof": <C2SP tlog-proof>},
     "device": {...}, "vendor": {...},
     "revocations"?: [{"index": N, "entry": ..., "proof": ...}, ...],
     "status"?: {"note": <signed status note>, "subjects": [{"subject": <hex>, "proof": ...}]}}

`revocations` (added beside the others; absent when there are none, so older bundles are
unchanged) holds every revocation the log holds at the bundle's checkpoint against the device,
each with its inclusion proof: `registry.bundle.verify` checks them and applies them as
cautions (registry.admission.caution_rule). `status` (added later, beside them; absent from
older bundles) proves that list complete: the log's signed status note for the bundle's
checkpoint and a status proof for the device, each CA on its verified path and the vendor
root (`registry.bundle.status`); `revocations` then holds exactly the entries those list.

The tlog-proofs are against the same signed checkpoint, which is also given on its own. Bundles
are written as compact JSON (registry.bundle.build), so every byte is meaningful: changing any
byte of one makes it unparseable or makes a check fail (tests/registry/test_bundle.py flips every byte).
"""

import json
from typing import Any, NotRequired, TypedDict, cast

from ledger.errors import MalformedError

__all__ = [
    "FORMAT",
    "MAX_REVOCATIONS",
    "PARTS",
    "REVOCATIONS",
    "STATUS",
    "Bundle",
    "Entry",
    "ProvenPart",
    "parse_bundle",
    "text_field",
]

FORMAT = "provenance-ledger/bundle/v1"
PARTS = ("capture", "device", "vendor")
REVOCATIONS = "revocations"  # the optional part: the device's revocations, each proven
STATUS = "status"  # the optional part: the status proofs (registry.bundle.status)
MAX_REVOCATIONS = 1000  # far beyond any device's; a bound on what a verifier parses

Entry = dict[str, Any]  # a log entry as registry.entries.codec.parse_entry returns it


class ProvenPart(TypedDict):
    """One logged entry with its inclusion proof, as a bundle carries it."""

    index: int
    entry: str  # the leaf, base64
    proof: str  # a C2SP tlog-proof against the bundle's checkpoint


class Bundle(TypedDict):
    """A parsed bundle: its fields are exactly these, but their contents are unchecked."""

    format: str
    log: object
    checkpoint: object
    capture: object
    device: object
    vendor: object
    revocations: NotRequired[list[object]]
    status: NotRequired[object]


def parse_bundle(data: bytes) -> Bundle:
    """The bundle's fields, in its canonical compact form; MalformedError for anything else."""
    try:
        bundle = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # Recursion: nested too deep
        raise MalformedError(f"bundle is not JSON: {exc}", code="bad_bundle") from None
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT:
        raise MalformedError(f"bundle is not a {FORMAT} document", code="bad_bundle")
    fields = {"format", "log", "checkpoint", *PARTS}
    if not fields <= set(bundle) <= fields | {REVOCATIONS, STATUS}:
        raise MalformedError(
            f"bundle fields must be exactly {sorted(fields)}, optionally with {REVOCATIONS!r} "
            f"and {STATUS!r}",
            code="bad_bundle",
        )
    if REVOCATIONS in bundle and (
        not isinstance(bundle[REVOCATIONS], list)
        or not 1 <= len(bundle[REVOCATIONS]) <= MAX_REVOCATIONS
    ):
        raise MalformedError(
            f"bundle {REVOCATIONS!r} must be a list of 1 to {MAX_REVOCATIONS} proven entries",
            code="bad_bundle",
        )
    body = data[:-1] if data.endswith(b"\n") else data
    if json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode() != body:
        raise MalformedError("bundle is not in its canonical compact form", code="bad_bundle")
    return cast(Bundle, bundle)


def text_field(value: object, what: str) -> bytes:
    """A bundle's text field as UTF-8. JSON can carry lone surrogates ("\\ud800") that no UTF-8
    encodes: the encoder's ValueError would be a crash, or an unreadable reason."""
    if not isinstance(value, str):
        raise MalformedError(f"bundle {what} must be a string", code="bad_bundle")
    try:
        return value.encode()
    except UnicodeEncodeError:
        raise MalformedError(
            f"bundle {what} is not Unicode text (it holds a lone surrogate)", code="bad_bundle"
        ) from None
