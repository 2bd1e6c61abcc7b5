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
are written in one canonical form, compact and key-sorted (registry.bundle.build), and read in
any JSON formatting: a bundle an editor or `jq` saved again (indented, keys reordered, a
trailing newline) is the same bundle. Formatting carries no meaning, so accepting it weakens
nothing; the content stays strict: no duplicate key (a second value a reader could take for the
first), no field the format does not name, no number that is not an integer (none is), and
changing any byte of the content makes the bundle unparseable or makes a check fail
(tests/registry/test_bundle.py flips every byte; test_bundle_formatting.py reformats).
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


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise MalformedError(
                f"bundle has the key {key!r:.80} twice in one object; a bundle names each once",
                code="bad_bundle",
            )
        found[key] = value
    return found


def _not_an_integer(text: str) -> None:
    raise MalformedError(
        f"bundle holds the number {text:.40}, which is not an integer; every number in a "
        "bundle is one",
        code="bad_bundle",
    )


def _load(data: bytes) -> object:
    """JSON in any formatting, strictly: duplicate keys, fractions, exponents, NaN and
    Infinity are refused, where json.loads would keep the last value or a float."""
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_float=_not_an_integer,
            parse_constant=_not_an_integer,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # Recursion: nested too deep
        if isinstance(exc, MalformedError):
            raise
        raise MalformedError(f"bundle is not JSON: {exc}", code="bad_bundle") from None


def parse_bundle(data: bytes) -> Bundle:
    """The bundle's fields, from JSON in any formatting; MalformedError for anything else."""
    bundle = _load(data)
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
    for part in [*(bundle[name] for name in PARTS), *bundle.get(REVOCATIONS, [])]:
        index = part["index"] if isinstance(part, dict) and "index" in part else 0
        if type(index) is not int or index < 0:  # True == 1: a bool must not pass for one
            raise MalformedError(
                f"a proven entry's 'index' must be a non-negative integer, got {index!r:.40}",
                code="bad_bundle",
            )
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
