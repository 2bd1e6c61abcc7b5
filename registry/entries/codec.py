"""Log entries of the registry (docs/design.md §4.6): parsing, validation and canonical encoding.

A leaf is the RFC 8785 (JCS) encoding of one JSON object with a versioned `kind` and the
`logged_at` the log assigned when it sequenced the entry. Binary values are lowercase hex for
hashes and ids, standard base64 for DER and signatures. Everything here is pure.
"""

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, cast, overload

import rfc8785

from ledger.encoding import decode_base64
from ledger.errors import MalformedError
from ledger.tiles import MAX_ENTRY_SIZE
from registry.entries.formats import (
    C2paCaptureEntry,
    CaptureEntry,
    Claim,
    DeviceEntry,
    Entry,
    RevocationEntry,
    ScopedRevocationEntry,
    VendorEntry,
)
from registry.imaging.features import FEATURE_NAMES

# Final, so that mypy reads each as its literal: `entry["kind"] == CAPTURE` narrows an `Entry`.
VENDOR: Final = "vendor/v1"
DEVICE: Final = "device/v1"
CAPTURE: Final = "capture/v1"
REVOCATION: Final = "revocation/v1"
REVOCATION_V2: Final = "revocation/v2"  # scoped: a device, a CA or a vendor root; firmware
C2PA_CAPTURE: Final = "c2pa-capture/v1"  # registry.c2pa.evidence: a C2PA claim as evidence
KINDS = (VENDOR, DEVICE, CAPTURE, REVOCATION, C2PA_CAPTURE, REVOCATION_V2)
REVOCATION_KINDS = (REVOCATION, REVOCATION_V2)
CAPTURE_KINDS = (CAPTURE, C2PA_CAPTURE)
ROLES = ("camera", "generator")

CAPTURE_CONTEXT = b"provenance-ledger/capture/v1\n"
REVOCATION_CONTEXT = b"provenance-ledger/revocation/v1\n"
REVOCATION_V2_CONTEXT = b"provenance-ledger/revocation/v2\n"

_HEX = re.compile(r"[0-9a-f]+")
_FEATURE_NAME = re.compile(r"[a-z0-9][a-z0-9./-]{0,63}")
MAX_FEATURES = 16
_MAX_INT = 2**53 - 1  # JSON integers beyond this do not survive every JSON parser
_CLAIM_FIELDS = {
    "device", "counter", "captured_at", "media_type", "width", "height",
    "sha256", "pdq", "pdq_quality", "phash",
}  # fmt: skip
_OPTIONAL_CLAIM_FIELDS = {"meta", "features", "firmware"}
MAX_FIRMWARE = 100
# Printable ASCII only, not str.isprintable(): that depends on the Unicode database of the
# Python running it, so an auditor on another version could judge the same claim otherwise;
# and a firmware-scoped revocation matches the string exactly, where look-alike or invisible
# characters (bidi overrides, zero-width joiners) would let two releases read the same.
_FIRMWARE = re.compile(rf"[\x20-\x7e]{{1,{MAX_FIRMWARE}}}")


def canonical(value: Mapping[str, object]) -> bytes:
    """RFC 8785 JSON Canonicalization Scheme, UTF-8.

    For values made only of ASCII-keyed objects, arrays, strings, integers up to 2**53, booleans
    and null, the standard library's sorted, compact, non-ASCII-preserving encoding is byte for
    byte the JCS output (JCS sorts keys by UTF-16 code units, which for ASCII is the same order,
    and escapes strings exactly as `json` does). Other values - floats, non-ASCII keys - goes to
    the `rfc8785` package. tests/registry/test_entries.py checks the two agree.
    """
    try:
        if _simple(value):
            text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            return text.encode()
        # rfc8785 checks the value's types itself (CanonicalizationError), so any JSON value
        # may be handed over.
        return rfc8785.dumps(dict(value))  # type: ignore[arg-type]
    except (UnicodeEncodeError, rfc8785.CanonicalizationError) as exc:
        raise MalformedError(
            f"value cannot be canonicalized as JSON: {exc}", code="bad_json"
        ) from None


def canonical_claim(claim: Mapping[str, object]) -> bytes:
    """JCS of a capture claim that `check_claim` accepted. Its keys are ASCII, its numbers safe
    integers and its other values strings (or a features object of strings), so the standard
    library's encoder gives the JCS bytes directly, without `canonical`'s walk over the value:
    the hot path of admission and of a full audit. tests/registry/test_entries.py compares the two."""
    try:
        return json.dumps(claim, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except UnicodeEncodeError as exc:
        raise MalformedError(
            f"claim cannot be canonicalized as JSON: {exc}", code="bad_json"
        ) from None


def _simple(value: object) -> bool:
    """Only ASCII-keyed objects, arrays, strings, safe integers, booleans and null?"""
    # By exact type, not isinstance: a subclass (an OrderedDict, an IntEnum) may encode
    # differently, so it goes to rfc8785.
    stack: list[object] = [value]
    while stack:
        item = stack.pop()
        if item is None or type(item) is str or type(item) is bool:
            continue
        if type(item) is int:
            if not -_MAX_INT <= item <= _MAX_INT:
                return False
        elif type(item) is dict:
            for key, child in item.items():
                if type(key) is not str or not key.isascii():
                    return False
                stack.append(child)
        elif type(item) is list:
            stack.extend(item)
        else:
            return False
    return True


def encode_entry(entry: Mapping[str, object]) -> bytes:
    leaf = canonical(entry)
    if len(leaf) > MAX_ENTRY_SIZE:
        raise MalformedError(
            f"{entry.get('kind', 'entry')} is {len(leaf)} bytes as a log entry; the limit is "
            f"{MAX_ENTRY_SIZE}",
            code="entry_too_large",
        )
    return leaf


def capture_message(claim: Mapping[str, object]) -> bytes:
    """What the device signs: "provenance-ledger/capture/v1\\n" || JCS(claim)."""
    return CAPTURE_CONTEXT + canonical(claim)


# A capture entry's keys in JCS order are claim < kind < logged_at < sig, so its leaf and its
# record id can be assembled around the claim's canonical bytes, which are computed once per
# record (tests/registry/test_entries.py checks both against canonical() of the whole object).


def capture_leaf(claim_jcs: bytes, sig_b64: str, logged_at: int) -> bytes:
    """JCS({"kind": "capture/v1", "logged_at": ..., "claim": ..., "sig": ...})."""
    leaf = b"".join(
        [b'{"claim":', claim_jcs, b',"kind":"capture/v1","logged_at":', str(logged_at).encode(),
         b',"sig":"', sig_b64.encode("ascii"), b'"}']
    )  # fmt: skip
    if len(leaf) > MAX_ENTRY_SIZE:
        raise MalformedError(
            f"capture/v1 is {len(leaf)} bytes as a log entry; the limit is {MAX_ENTRY_SIZE}",
            code="entry_too_large",
        )
    return leaf


def capture_record_id(claim_jcs: bytes, sig_b64: str) -> bytes:
    """SHA-256 of JCS({"claim": ..., "sig": ...}): the identity of a submitted record."""
    return hashlib.sha256(
        b'{"claim":' + claim_jcs + b',"sig":"' + sig_b64.encode("ascii") + b'"}'
    ).digest()


def revocation_message(revocation: Mapping[str, object]) -> bytes:
    """What the CA signs: the context of its kind (revocation/v1 or revocation/v2) || JCS of
    the revocation without `sig` and `logged_at` (the log assigns logged_at after the CA
    signed). Each kind has its own context, so a signature over one is never read as the
    other."""
    signed = {k: v for k, v in revocation.items() if k not in ("sig", "logged_at")}
    context = (
        REVOCATION_V2_CONTEXT if revocation.get("kind") == REVOCATION_V2 else REVOCATION_CONTEXT
    )
    return context + canonical(signed)


# --- field checks: each names the field and what it must be ---


def field(obj: Mapping[str, object], name: str, where: str) -> Any:
    """`obj[name]`, or MalformedError naming the field: unchecked JSON, which
    the caller checks next (as the *_field functions below do)."""
    if name not in obj:
        raise MalformedError(f"{where} is missing {name!r}", code="missing_field")
    return obj[name]


def hex_field(obj: Mapping[str, object], name: str, where: str, hex_chars: int) -> str:
    value = field(obj, name, where)
    if not isinstance(value, str) or len(value) != hex_chars or not _HEX.fullmatch(value):
        raise MalformedError(
            f"{where} {name!r} must be {hex_chars} lowercase hex characters, got {value!r:.80}",
            code=f"bad_{name}",
        )
    return value


def int_field(
    obj: Mapping[str, object], name: str, where: str, low: int = 0, high: int = _MAX_INT
) -> int:
    value = field(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise MalformedError(
            f"{where} {name!r} must be an integer from {low} to {high}, got {value!r:.40}",
            code=f"bad_{name}",
        )
    return value


def str_field(obj: Mapping[str, object], name: str, where: str, max_length: int = 200) -> str:
    value = field(obj, name, where)
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise MalformedError(
            f"{where} {name!r} must be a non-empty string of at most {max_length} characters",
            code=f"bad_{name}",
        )
    return value


def b64_field(obj: Mapping[str, object], name: str, where: str) -> bytes:
    value = field(obj, name, where)
    if isinstance(value, str):
        try:
            decoded = decode_base64(value, f"{where} {name!r}")
        except MalformedError:
            decoded = b""
        if decoded:
            return decoded
    raise MalformedError(
        f"{where} {name!r} must be non-empty canonical standard base64", code=f"bad_{name}"
    )


def b64(data: bytes) -> str:
    """Standard base64 with padding: how every binary value but a hash is logged."""
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    """Standard base64 with its alphabet and padding checked (binascii.Error, a ValueError,
    otherwise). Not the canonical-form check of `b64_field` (ledger.encoding.decode_base64):
    for values that check already passed, or that the registry wrote itself."""
    return base64.b64decode(text, validate=True)


def check_claim(claim: object, *, counter: bool = True) -> Claim:
    """A capture claim's shape: every field present, typed and in range (no signature check).
    A c2pa-capture/v1 claim (`counter=False`) has every field but the counter."""
    if not isinstance(claim, dict):
        raise MalformedError("capture record 'claim' must be a JSON object", code="bad_claim")
    allowed = _CLAIM_FIELDS if counter else _CLAIM_FIELDS - {"counter"}
    unknown = set(claim) - allowed - _OPTIONAL_CLAIM_FIELDS
    if unknown:
        raise MalformedError(
            f"capture claim has unknown fields {sorted(unknown)}; allowed: "
            f"{sorted(allowed | _OPTIONAL_CLAIM_FIELDS)}",
            code="unknown_field",
        )
    where = "capture claim"
    hex_field(claim, "device", where, 64)
    if counter:
        int_field(claim, "counter", where)
    int_field(claim, "captured_at", where)
    str_field(claim, "media_type", where, 100)
    int_field(claim, "width", where, 1, 1_000_000)
    int_field(claim, "height", where, 1, 1_000_000)
    hex_field(claim, "sha256", where, 64)
    hex_field(claim, "pdq", where, 64)
    int_field(claim, "pdq_quality", where, 0, 100)
    hex_field(claim, "phash", where, 16)
    if "meta" in claim:
        hex_field(claim, "meta", where, 64)
    if "features" in claim:
        _check_features(claim["features"])
    if "firmware" in claim:
        check_firmware(claim["firmware"])
    return cast(Claim, claim)  # every field checked above


def is_firmware(value: object) -> bool:
    """Would `check_firmware` accept `value`?"""
    return isinstance(value, str) and _FIRMWARE.fullmatch(value) is not None


def check_firmware(value: object) -> str:
    """A claim's `firmware`: the vendor's name of the release that took the picture (e.g.
    "2.00"), 1 to MAX_FIRMWARE printable ASCII characters."""
    if not is_firmware(value):
        raise MalformedError(
            f"capture claim 'firmware' must be a string of 1 to {MAX_FIRMWARE} printable ASCII "
            f"characters (space to '~'; no control characters such as NUL or newline), got "
            f"{value!r:.80}",
            code="bad_firmware",
        )
    return cast(str, value)


def _check_features(features: object) -> None:
    """A map of at most MAX_FEATURES versioned names to lowercase hex; the features the
    registry indexes (registry.imaging.features.FEATURE_NAMES) must be PDQ hashes (64 hex)."""
    if not isinstance(features, dict) or len(features) > MAX_FEATURES:
        raise MalformedError(
            f"capture claim 'features' must be an object of at most {MAX_FEATURES} hashes",
            code="bad_features",
        )
    for name, value in features.items():
        if not _FEATURE_NAME.fullmatch(name):
            raise MalformedError(
                f"capture claim 'features': name {name[:80]!r} must be 1-64 characters of "
                "a-z, 0-9, '.', '-', '/' (e.g. 'pdq-top80-v1')",
                code="bad_features",
            )
        if not isinstance(value, str) or not _HEX.fullmatch(value) or len(value) > 1024:
            raise MalformedError(
                f"capture claim 'features': {name!r} must be lowercase hex (at most 1024 digits)",
                code="bad_features",
            )
        if name in FEATURE_NAMES and len(value) != 64:
            raise MalformedError(
                f"capture claim 'features': {name!r} must be a PDQ hash, 64 lowercase hex digits",
                code="bad_features",
            )


def check_capture_record(record: object) -> tuple[dict[str, Any], bytes]:
    """A submitted capture record {claim, sig} (optionally with kind): the claim and signature."""
    if not isinstance(record, dict):
        raise MalformedError("a capture record must be a JSON object", code="bad_record")
    if record.get("kind", CAPTURE) != CAPTURE:
        raise MalformedError(f"record kind must be {CAPTURE!r}", code="bad_kind")
    unknown = set(record) - {"kind", "claim", "sig"}
    if unknown:
        raise MalformedError(
            f"capture record has unknown fields {sorted(unknown)}", code="unknown_field"
        )
    # Returned as the plain dict it is (a registry.entries.formats.Claim once checked): that is
    # how admission (registry.admission.registry._Pending) holds it.
    claim = field(record, "claim", "capture record")
    check_claim(claim)
    signature = b64_field(record, "sig", "capture record")
    return claim, signature


def parse_entry(leaf: bytes) -> Entry:
    """Decode a leaf the log holds; entries are JSON objects with a known kind. Only that is
    checked: the entry has the shape of registry.entries.formats.Entry of its kind when the
    registry admitted it, and a leaf the registry did not admit itself has its fields
    checked by its verifier (registry.audit.auditor, registry.bundle.bundle)."""
    try:
        entry = json.loads(leaf)
    except (UnicodeDecodeError, ValueError, RecursionError):  # Recursion: nested too deep
        raise MalformedError("log entry is not JSON", code="bad_entry") from None
    if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
        raise MalformedError("log entry has no known kind", code="bad_entry")
    return cast(Entry, entry)  # the kind is known; the fields are the verifier's to check


@overload
def parse_entry_as(leaf: bytes, kind: Literal["vendor/v1"]) -> VendorEntry: ...
@overload
def parse_entry_as(leaf: bytes, kind: Literal["device/v1"]) -> DeviceEntry: ...
@overload
def parse_entry_as(leaf: bytes, kind: Literal["capture/v1"]) -> CaptureEntry: ...
@overload
def parse_entry_as(leaf: bytes, kind: Literal["c2pa-capture/v1"]) -> C2paCaptureEntry: ...
@overload
def parse_entry_as(leaf: bytes, kind: Literal["revocation/v1"]) -> RevocationEntry: ...
@overload
def parse_entry_as(leaf: bytes, kind: Literal["revocation/v2"]) -> ScopedRevocationEntry: ...
def parse_entry_as(leaf: bytes, kind: str) -> Entry:
    """`parse_entry` of a leaf the caller knows the kind of (from a derived table, say),
    checked: a leaf of another kind is malformed, never read as the wrong shape."""
    entry = parse_entry(leaf)
    if entry["kind"] != kind:
        raise MalformedError(f"log entry is a {entry['kind']}, not a {kind}", code="bad_entry")
    return entry


def parse_capture(leaf: bytes) -> CaptureEntry | C2paCaptureEntry:
    """`parse_entry` of a leaf the caller knows is a capture of either kind, checked."""
    entry = parse_entry(leaf)
    if entry["kind"] == CAPTURE or entry["kind"] == C2PA_CAPTURE:
        return entry
    raise MalformedError(f"log entry is a {entry['kind']}, not a capture", code="bad_entry")
