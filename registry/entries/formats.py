"""The shapes of the logged entries (docs/design.md §4.6), as types.

Each entry kind is a `TypedDict`, not a dataclass: every caller - admission, the indexer, the
bundle, the audit, the API - reads entries as the JSON objects they are (`entry["claim"]
["device"]`), and the leaf is the JCS of exactly that object, so a dict type gives the fields
their types without a conversion layer or a changed call site. The SDK builds them and the
audit and C2PA evidence read them; `check_claim` (registry.entries.codec) returns a `Claim`;
`parse_entry` and `check_capture_record` still return plain dicts of these shapes, since
their callers index an entry whose kind they know from an index table, where a union would
need narrowing first. Binary values are lowercase hex (hashes, ids) or standard base64 (DER,
signatures, C2PA boxes); times are milliseconds since the Unix epoch.

`parse_entry` checks only that a leaf is a JSON object of a known kind: the field types below
hold for every entry the registry admitted, and a verifier of a leaf it did not admit (the
audit, a bundle) checks the fields before relying on them.
"""

from typing import Literal, NotRequired, TypedDict

from registry.imaging.hashing import ClaimFields

__all__ = [
    "C2paCaptureEntry",
    "C2paEvidence",
    "CaptureEntry",
    "CaptureRecord",
    "Claim",
    "DeviceEntry",
    "Entry",
    "RevocationBody",
    "RevocationEntry",
    "ScopedRevocationBody",
    "ScopedRevocationEntry",
    "SignedRevocation",
    "SignedScopedRevocation",
    "VendorEntry",
]


class Claim(ClaimFields):
    """What a device signs (capture/v1) or what the registry measured of a C2PA capture's file
    (c2pa-capture/v1, which has every field but `counter`). The image's fields (sha256, width,
    height, media_type, pdq, pdq_quality, phash, features: versioned name -> hex) are
    registry.imaging.hashing.ClaimFields."""

    device: str  # hex SHA-256 of the device certificate's DER
    counter: NotRequired[int]  # capture/v1 only: the device's monotonic capture counter
    captured_at: int  # ms
    meta: NotRequired[str]  # 64 hex: the hash of metadata the device keeps
    # The vendor's name of the firmware release that took the picture, 1-100 printable ASCII
    # (registry.entries.codec.check_firmware): signed by the device in a capture/v1 claim; in a
    # c2pa-capture/v1 claim the registry's reading of the camera-signed claim_generator_info
    # (registry.c2pa.firmware), which the audit re-derives.
    firmware: NotRequired[str]


class CaptureRecord(TypedDict):
    """A capture as submitted (POST /v1/captures, `prov submit`): the claim and its signature."""

    kind: NotRequired[Literal["capture/v1"]]
    claim: Claim
    sig: str  # base64 of the device's signature over the context || JCS(claim)


class RevocationBody(TypedDict):
    """What a CA signs to revoke a device (the context || JCS of this)."""

    kind: Literal["revocation/v1"]
    device: str  # hex device id
    compromised_since: int  # ms: captures from then on are suspect
    reason: str
    signer: str  # hex SHA-256 of the signing CA certificate's DER


class C2paEvidence(TypedDict):
    """A c2pa-capture/v1 entry's `c2pa`: the bytes the camera's C2PA claim signs and hashes."""

    manifest: str  # the manifest's label (a URN)
    claim: str  # base64 CBOR claim
    signature: str  # base64 COSE_Sign1
    assertions: dict[str, str]  # label -> base64 assertion superbox payload


class VendorEntry(TypedDict):
    kind: Literal["vendor/v1"]
    logged_at: int
    name: str
    role: str  # registry.entries.codec.ROLES: "camera" or "generator"
    root: str  # base64 DER of the vendor's root CA
    # "per-capture": its devices sign each capture with a one-time certificate, so a capture's
    # origin is the CA that issued it (registry.admission.capture_origin); absent: one per device
    certificates: NotRequired[Literal["per-capture"]]


class DeviceEntry(TypedDict):
    kind: Literal["device/v1"]
    logged_at: int
    cert: str  # base64 DER of the device certificate
    chain: list[str]  # base64 DER intermediates of the verified path, issuer first
    vendor: str  # hex vendor id


class CaptureEntry(TypedDict):
    kind: Literal["capture/v1"]
    logged_at: int
    claim: Claim
    sig: str


class C2paCaptureEntry(TypedDict):
    kind: Literal["c2pa-capture/v1"]
    logged_at: int
    claim: Claim  # without counter
    c2pa: C2paEvidence


class SignedRevocation(RevocationBody):
    """A revocation as submitted (POST /v1/revocations)."""

    sig: str  # base64 of the CA's signature over the context || JCS(body)


class RevocationEntry(SignedRevocation):
    logged_at: int


class ScopedRevocationBody(TypedDict):
    """What a CA signs to revoke a device, a CA or a whole vendor root, optionally only for
    captures whose signed claim names given firmware releases (revocation/v2: the v2 context ||
    JCS of this; registry.admission.revocation_rules)."""

    kind: Literal["revocation/v2"]
    scope: Literal["device", "ca", "vendor"]
    subject: str  # hex id (SHA-256 of the DER) of the device, CA or vendor root it names
    vendor: str  # hex vendor id (its root's)
    # base64 DER: for scope "ca" the subject CA, then each CA above it, up to and without the
    # root (so the entry proves where the CA sits); empty for "device" and "vendor"
    certs: list[str]
    firmware: NotRequired[list[str]]  # absent: every capture of the subject
    compromised_since: int  # ms
    reason: str
    signer: str  # hex id of the signing CA: the subject or a CA above it, or the root


class SignedScopedRevocation(ScopedRevocationBody):
    sig: str


class ScopedRevocationEntry(SignedScopedRevocation):
    logged_at: int


Entry = (
    VendorEntry
    | DeviceEntry
    | CaptureEntry
    | C2paCaptureEntry
    | RevocationEntry
    | ScopedRevocationEntry
)
