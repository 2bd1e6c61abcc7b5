"""`c2pa-capture/v1` entries: a camera's C2PA claim signature as the evidence of a capture.

A camera that signs Content Credentials at capture time has already signed what this registry
needs: the file's hard binding (a hash of its bytes, outside the manifest) and, in its actions
assertion, when it was created. Such a capture is logged as

    {"kind": "c2pa-capture/v1", "logged_at": ms,
     "claim": {device, captured_at, media_type, width, height, sha256, pdq, pdq_quality, phash,
               [features], [firmware]},
     "c2pa": {"manifest": URN, "claim": base64 CBOR, "signature": base64 COSE_Sign1,
              "assertions": {label: base64 assertion box}}}

`claim` has capture/v1's fields without `counter` (C2PA has none), so lookups, bundles and
origin clusters treat both kinds alike. Who vouches for what differs, and `check_evidence` says
so: `device` and `captured_at` are proven by the camera's signature (the signer's certificate is
the enrolled device; the time is the `when` of the signed `c2pa.created` action; `firmware`, when
logged, is the `version` of the signed claim_generator_info, registry.c2pa.firmware), and the
hard binding is signed by it; `sha256`, the perceptual hashes, the media type and the size are the
registry's measurements of the file it was given at ingest, logged by the operator.

The `c2pa` object holds exactly the bytes C2PA signs and hashes, so an auditor re-verifies from
the entry alone, with `check_evidence`: the COSE_Sign1 signature over the detached claim by the
leaf of its protected x5chain header (`registry.c2pa.cose`); each logged assertion against the
hash the claim lists for it (C2PA §8.3: SHA-256 of the assertion superbox without its 8-byte
header); one of them a hard binding (`c2pa.hash.*`); `captured_at` equal to the signed creation
time; a logged `firmware` equal to the signed one. Pure functions: no clock, no I/O.
"""

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from ledger.errors import MalformedError, VerificationError
from registry.c2pa.cose import Decoded, decode_cbor, verify_detached
from registry.c2pa.firmware import check_firmware_claim
from registry.c2pa.jumbf import (
    ASSERTIONS_UUID,
    CLAIM_UUID,
    MANIFEST_UUID,
    SIGNATURE_UUID,
    STORE_UUID,
    box,
    manifest,
    min_app11_length,
    superbox,
    superbox_content,
)
from registry.entries.codec import (
    C2PA_CAPTURE,
    b64,
    b64_field,
    check_claim,
    field,
    int_field,
    str_field,
    unb64,
)
from registry.entries.formats import C2paEvidence

_CREATED = "c2pa.created"
_ACTIONS = ("c2pa.actions.v2", "c2pa.actions")
_HARD_BINDING_PREFIX = "c2pa.hash."
HASH_DATA = "c2pa.hash.data"
_URI_PREFIX = "self#jumbf=c2pa.assertions/"
_CLAIM_LABELS = ("c2pa.claim.v2", "c2pa.claim")
MAX_ASSERTION_BYTES = 16 * 1024  # the logged ones are small; a thumbnail never is


@dataclass(frozen=True)
class Evidence:
    """What a verified claim signature proves."""

    chain: tuple[bytes, ...]  # DER, the signer first: the device certificate and intermediates
    captured_at: int  # ms, from the signed c2pa.created action
    hard_binding: str  # its assertion label, e.g. c2pa.hash.data
    hard_binding_hash: str  # hex, the signed hash of the file's bytes outside the manifest

    @property
    def device_id(self) -> str:
        return hashlib.sha256(self.chain[0]).hexdigest()


def _assertion_data(box_payload: bytes, label: str) -> Decoded:
    """The CBOR content of an assertion superbox given without its header."""
    return decode_cbor(superbox_content(box_payload, label), f"assertion {label}")


def evidence_from_store(store: bytes, manifest_label: str) -> C2paEvidence:
    """The entry's `c2pa` object for manifest `manifest_label` of a manifest store: its claim,
    signature, and the hard-binding and actions assertions (what the entry relies on)."""
    found = manifest(store, manifest_label)
    claim_box = next((found.child(label) for label in _CLAIM_LABELS if found.child(label)), None)
    signature_box = found.child("c2pa.signature")
    assertions_box = found.child("c2pa.assertions")
    if claim_box is None or signature_box is None or assertions_box is None:
        raise MalformedError(
            f"manifest {manifest_label} lacks a claim, a signature or assertions",
            code="c2pa_malformed",
        )
    kept = {
        box.label: b64(box.payload)
        for box in assertions_box.children
        if box.label.startswith(_HARD_BINDING_PREFIX) or box.label in _ACTIONS
    }
    return {
        "manifest": manifest_label,
        "claim": b64(claim_box.content()),
        "signature": b64(signature_box.content()),
        "assertions": kept,
    }


def check_evidence(c2pa: object) -> Evidence:
    """Verify an entry's `c2pa` object on its own; raise MalformedError or VerificationError."""
    if not isinstance(c2pa, Mapping) or set(c2pa) != {
        "manifest",
        "claim",
        "signature",
        "assertions",
    }:
        raise MalformedError(
            "c2pa must be an object with manifest, claim, signature and assertions",
            code="c2pa_malformed",
        )
    str_field(c2pa, "manifest", "c2pa", 200)
    claim_bytes = b64_field(c2pa, "claim", "c2pa")
    signature_bytes = b64_field(c2pa, "signature", "c2pa")
    logged = field(c2pa, "assertions", "c2pa")
    if not isinstance(logged, Mapping) or not logged:
        raise MalformedError("c2pa assertions must be a non-empty object", code="c2pa_malformed")
    assertions = {
        str(label): b64_field({"a": value}, "a", f"c2pa assertion {label}")
        for label, value in logged.items()
    }
    chain = verify_detached(signature_bytes, claim_bytes)
    claim = decode_cbor(claim_bytes, "the C2PA claim")
    if not isinstance(claim, Mapping):
        raise MalformedError("the C2PA claim is not a CBOR map", code="c2pa_malformed")
    listed = _hashed_assertions(claim)
    for label, data in assertions.items():
        if len(data) > MAX_ASSERTION_BYTES:
            raise MalformedError(f"c2pa assertion {label} is too large", code="c2pa_malformed")
        expected = listed.get(label)
        if expected is None:
            raise VerificationError(
                f"c2pa assertion {label} is not one the signed claim lists",
                code="assertion.hashedURI.missing",
            )
        if hashlib.sha256(data).digest() != expected:
            raise VerificationError(
                f"c2pa assertion {label} does not match the hash in the signed claim",
                code="assertion.hashedURI.mismatch",
            )
    binding = _hard_binding(listed, assertions)
    checked = cast(C2paEvidence, c2pa)  # its four fields checked above
    bound = hash_data(checked)
    check_exclusions(checked, bound)
    return Evidence(chain, _creation_time(assertions), binding, bound.hash.hex())


@dataclass(frozen=True)
class HashData:
    """A c2pa.hash.data assertion: the signed SHA-256 of the file without its exclusions."""

    hash: bytes
    exclusions: tuple[tuple[int, int], ...]  # (start, length)


def _hard_binding(listed: Mapping[str, bytes], assertions: Mapping[str, bytes]) -> str:
    """The claim's one hard binding, which must be a logged c2pa.hash.data: C2PA allows one
    per claim, and the only one this registry can recompute for a JPEG is the data hash."""
    bindings = [label for label in listed if label.startswith(_HARD_BINDING_PREFIX)]
    if not bindings:
        raise VerificationError(
            "the signed claim lists no hard-binding assertion (c2pa.hash.*)",
            code="claim.hardBindings.missing",
        )
    if len(bindings) > 1:
        raise VerificationError(
            f"the signed claim lists more than one hard binding ({', '.join(sorted(bindings))})",
            code="c2pa_multiple_hard_bindings",
        )
    if bindings != [HASH_DATA]:
        raise VerificationError(
            f"the hard binding is {bindings[0]}; this registry checks JPEG captures bound by "
            f"{HASH_DATA}",
            code="c2pa_unsupported_binding",
        )
    if HASH_DATA not in assertions:
        raise VerificationError(
            f"the entry does not log the claim's hard binding {HASH_DATA}",
            code="claim.hardBindings.missing",
        )
    return HASH_DATA


def hash_data(c2pa: C2paEvidence) -> HashData:
    """The logged c2pa.hash.data of an entry's `c2pa` object, its fields type-checked."""
    label = HASH_DATA
    bound = _assertion_data(unb64(c2pa["assertions"][label]), label)
    if not isinstance(bound, Mapping):
        raise MalformedError(f"{label} is not a CBOR map", code="c2pa_malformed")
    if bound.get("alg", "sha256") != "sha256":
        raise VerificationError(
            f"{label} hashes with {bound.get('alg')!r}, not sha256", code="algorithm.unsupported"
        )
    signed_hash = bound.get("hash")
    if not isinstance(signed_hash, bytes) or len(signed_hash) != 32:
        raise MalformedError(f"{label} carries no SHA-256 hash", code="c2pa_malformed")
    exclusions = bound.get("exclusions") or []
    if not isinstance(exclusions, list) or not all(
        isinstance(e, Mapping)
        and set(e) == {"start", "length"}
        and all(type(e[k]) is int and e[k] >= 0 for k in ("start", "length"))
        for e in exclusions
    ):
        raise MalformedError(
            f"{label} exclusions must be a list of {{start, length}}", code="c2pa_malformed"
        )
    return HashData(signed_hash, tuple((e["start"], e["length"]) for e in exclusions))


def check_exclusions(c2pa: C2paEvidence, bound: HashData) -> None:
    """What the entry alone shows of the hard binding: in a JPEG it excludes exactly one range,
    the APP11 segments holding the manifest store, after the start-of-image marker; and that
    range is long enough to hold at least the logged manifest (rebuilt by `manifest_store`;
    the store it was cut from also held what the log omits, such as the thumbnail, so this is
    a lower bound). Whether the range is exactly those segments needs the file
    (registry.c2pa.binding.check_hard_binding)."""
    if len(bound.exclusions) != 1:
        raise VerificationError(
            f"{HASH_DATA} excludes {len(bound.exclusions)} ranges; a JPEG's excludes exactly "
            "one, its manifest store's APP11 segments",
            code="c2pa_exclusion_mismatch",
        )
    ((start, length),) = bound.exclusions
    needed = min_app11_length(len(manifest_store(c2pa)))
    if start < 2 or length < needed:
        raise VerificationError(
            f"{HASH_DATA} excludes bytes {start}..{start + length}, which cannot hold the "
            f"manifest it belongs to ({needed} bytes of APP11 segments at least, after the "
            "2-byte start of image)",
            code="c2pa_exclusion_mismatch",
        )


def _hashed_assertions(claim: Mapping[Decoded, Decoded]) -> dict[str, bytes]:
    """label -> hash, for every assertion the claim lists (v2 created and gathered, v1)."""
    if claim.get("alg", "sha256") != "sha256":
        raise VerificationError(
            f"claim hash algorithm {claim.get('alg')!r} is not sha256", code="algorithm.unsupported"
        )
    listed: dict[str, bytes] = {}
    for key in ("created_assertions", "gathered_assertions", "assertions"):
        for reference in claim.get(key) or []:
            url, digest = reference.get("url"), reference.get("hash")
            if isinstance(url, str) and url.startswith(_URI_PREFIX) and isinstance(digest, bytes):
                listed[url[len(_URI_PREFIX) :]] = digest
    return listed


def _creation_time(assertions: Mapping[str, bytes]) -> int:
    """The `when` of the signed c2pa.created action, in ms."""
    for label in _ACTIONS:
        if label not in assertions:
            continue
        data = _assertion_data(assertions[label], label)
        for action in data.get("actions", []) if isinstance(data, Mapping) else []:
            if (
                isinstance(action, Mapping)
                and action.get("action") == _CREATED
                and "when" in action
            ):
                return _parse_time(action["when"])
    raise VerificationError(
        "the manifest states no capture time: no signed c2pa.created action with a `when`",
        code="c2pa_no_capture_time",
    )


def _parse_time(value: object) -> int:
    try:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedError(
            f"capture time {value!r} is not ISO 8601", code="c2pa_malformed"
        ) from None
    if when.tzinfo is None:
        raise MalformedError(f"capture time {value!r} has no time zone", code="c2pa_malformed")
    return int(when.timestamp() * 1000)


def check_entry(entry: Mapping[str, object]) -> Evidence:
    """A whole c2pa-capture/v1 entry: its fields, its evidence, and a claim that says what the
    evidence proves (the signer is the device; the capture time is the signed one)."""
    if set(entry) != {"kind", "logged_at", "claim", "c2pa"}:
        raise MalformedError(
            f"{C2PA_CAPTURE} entries have exactly kind, logged_at, claim and c2pa",
            code="unknown_field",
        )
    claim = check_claim(entry["claim"], counter=False)
    evidence = check_evidence(entry["c2pa"])
    if claim["device"] != evidence.device_id:
        raise VerificationError(
            "the claim's device is not the certificate that signed the C2PA claim",
            code="c2pa_device_mismatch",
        )
    if int_field(claim, "captured_at", C2PA_CAPTURE) != evidence.captured_at:
        raise VerificationError(
            "captured_at differs from the time the C2PA manifest signs", code="c2pa_time_mismatch"
        )
    check_firmware_claim(claim, cast(C2paEvidence, entry["c2pa"]))  # checked just above
    return evidence


def manifest_store(c2pa: C2paEvidence) -> bytes:
    """A C2PA manifest store (application/c2pa) rebuilt from an entry's `c2pa` object: the
    claim, its signature and the logged assertions, byte for byte what the camera signed and
    hashed. Assertions the log does not keep (the thumbnail: the log is public and holds nothing
    that shows more of the picture than a PDQ hash) are absent, so a C2PA validator reading it
    confirms the signature and trust and reports those as `assertion.missing`; without the
    image, it cannot check the hard binding either."""
    assertions = b"".join(box(b"jumb", unb64(value)) for value in c2pa["assertions"].values())
    claim = decode_cbor(unb64(c2pa["claim"]), "the C2PA claim")
    claim_label = "c2pa.claim.v2" if "created_assertions" in claim else "c2pa.claim"
    return superbox(
        STORE_UUID,
        "c2pa",
        superbox(
            MANIFEST_UUID,
            c2pa["manifest"],
            superbox(ASSERTIONS_UUID, "c2pa.assertions", assertions),
            superbox(CLAIM_UUID, claim_label, box(b"cbor", unb64(c2pa["claim"]))),
            superbox(SIGNATURE_UUID, "c2pa.signature", box(b"cbor", unb64(c2pa["signature"]))),
        ),
    )
