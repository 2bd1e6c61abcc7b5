"""The JSON of an audit's state (`EntryAuditor.to_json`), which a stopped replay resumes from.

Binary values are standard base64. The keys marked NotRequired are absent from states saved
by older versions; `EntryAuditor.load_json` says what it does without them.
"""

import base64
from dataclasses import dataclass
from typing import NotRequired, TypedDict

from registry.admission import rules
from registry.admission.capture_origin import check_certificates, origin_id
from registry.admission.certs import VendorRoot, load_vendor_root
from registry.audit.priority import CautionJson, PriorityState
from registry.entries.codec import b64
from registry.entries.formats import VendorEntry

__all__ = [
    "CLAIM_KEY_BYTES",
    "AuditState",
    "AuditedDevice",
    "AuditedVendor",
    "DeviceState",
    "EnrolledState",
    "InvalidJson",
    "VendorState",
    "claims_from_state",
    "claims_state",
    "devices_from_state",
    "devices_state",
    "enrolled_from_state",
    "enrolled_state",
    "vendor_certificates",
    "vendors_from_state",
    "vendors_state",
]

# The auditor keeps 16 bytes of each claim id (registry.entries.claim_identity): enough to
# tell claims apart (a collision needs 2**64 claims), half the memory of the full id.
CLAIM_KEY_BYTES = 16
_INDEX_BYTES = 8


@dataclass(frozen=True)
class AuditedVendor:
    """A vendor/v1 entry the audit accepted."""

    root: VendorRoot
    role: str
    certificates: str | None = None  # vendor/v1 "certificates" (registry.admission.capture_origin)

    def origin_of(self, device: rules.EnrolledDevice) -> str:
        """The origin of one of its devices' captures, as reg_devices.origin_id holds it."""
        return origin_id(device.device_id, device.issuer_id, self.certificates)


@dataclass(frozen=True)
class AuditedDevice:
    """A device/v1 entry the audit accepted."""

    enrolled: rules.EnrolledDevice
    path: tuple[bytes, ...]  # the verified path's CA certificates, issuer first, root last


class InvalidJson(TypedDict):
    index: int
    kind: str
    code: str
    reason: str


class VendorState(TypedDict):
    root: str  # base64 DER
    role: str
    certificates: NotRequired[str]  # present for a per-capture vendor only


class EnrolledState(TypedDict):  # rules.EnrolledDevice, its key in base64
    device_id: str
    vendor_id: str
    issuer_id: str
    algorithm: str
    public_key: str
    not_before_ms: int
    not_after_ms: int


class DeviceState(TypedDict):
    enrolled: EnrolledState
    path: list[str]  # base64 DER, issuer first


class AuditState(TypedDict):
    """`EntryAuditor.to_json`: what a resumed replay needs. The keys marked NotRequired are
    absent from states saved by older versions (`load_json` says what it does without them)."""

    counts: dict[str, int]
    invalid: list[InvalidJson]
    cautions: NotRequired[list[CautionJson]]
    vendors: dict[str, VendorState]
    devices: dict[str, DeviceState]
    revoked: dict[str, int]
    claims: str  # base64 of (16-byte claim id || 8-byte index)*
    revocations: NotRequired[dict[str, list[tuple[int, int]]]]  # device -> (index, since)*
    # revocation/v2, subject -> [index, since, scope, firmware | None]* (registry.audit.scoped)
    scoped: NotRequired[dict[str, list[tuple[int, int, str, list[str] | None]]]]
    last_logged_at: int
    priority: NotRequired[PriorityState]
    latest_index: NotRequired[int | None]


def enrolled_state(enrolled: rules.EnrolledDevice) -> EnrolledState:
    return {
        "device_id": enrolled.device_id,
        "vendor_id": enrolled.vendor_id,
        "issuer_id": enrolled.issuer_id,
        "algorithm": enrolled.algorithm,
        "public_key": b64(enrolled.public_key),
        "not_before_ms": enrolled.not_before_ms,
        "not_after_ms": enrolled.not_after_ms,
    }


def enrolled_from_state(state: EnrolledState) -> rules.EnrolledDevice:
    return rules.EnrolledDevice(
        device_id=state["device_id"],
        vendor_id=state["vendor_id"],
        issuer_id=state["issuer_id"],
        algorithm=state["algorithm"],
        public_key=base64.b64decode(state["public_key"]),
        not_before_ms=state["not_before_ms"],
        not_after_ms=state["not_after_ms"],
    )


def vendor_certificates(entry: VendorEntry) -> str | None:
    """A vendor/v1's `certificates`: None if absent, else it must be "per-capture" (admission
    leaves the field out rather than write null, so a null is an entry it did not write)."""
    return check_certificates(entry["certificates"]) if "certificates" in entry else None


def vendors_state(vendors: dict[str, AuditedVendor]) -> dict[str, VendorState]:
    states: dict[str, VendorState] = {}
    for k, v in vendors.items():
        states[k] = {"root": b64(v.root.der), "role": v.role}
        if v.certificates is not None:
            states[k]["certificates"] = v.certificates
    return states


def vendors_from_state(state: dict[str, VendorState]) -> dict[str, AuditedVendor]:
    return {
        k: AuditedVendor(
            load_vendor_root(base64.b64decode(v["root"])), v["role"], v.get("certificates")
        )
        for k, v in state.items()
    }


def devices_state(devices: dict[str, AuditedDevice]) -> dict[str, DeviceState]:
    return {
        k: {"enrolled": enrolled_state(v.enrolled), "path": [b64(c) for c in v.path]}
        for k, v in devices.items()
    }


def devices_from_state(state: dict[str, DeviceState]) -> dict[str, AuditedDevice]:
    return {
        k: AuditedDevice(
            enrolled_from_state(v["enrolled"]),
            # "path", not the "chain" of older state files: those held the chain as
            # logged (a KeyError here: the replay starts over, as the message says).
            tuple(base64.b64decode(c) for c in v["path"]),
        )
        for k, v in state.items()
    }


def claims_state(claims: dict[bytes, int]) -> str:
    """Truncated claim id -> index of its first capture, packed as in `AuditState.claims`."""
    return b64(b"".join(k + i.to_bytes(_INDEX_BYTES, "big") for k, i in claims.items()))


def claims_from_state(state: str) -> dict[bytes, int]:
    packed, size = base64.b64decode(state), CLAIM_KEY_BYTES + _INDEX_BYTES
    return {
        packed[i : i + CLAIM_KEY_BYTES]: int.from_bytes(packed[i + CLAIM_KEY_BYTES : i + size])
        for i in range(0, len(packed), size)
    }
