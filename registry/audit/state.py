"""The JSON of an audit's state (`EntryAuditor.to_json`), which a stopped replay resumes from.

Binary values are standard base64. The keys marked NotRequired are absent from states saved
by older versions; `EntryAuditor.load_json` says what it does without them.
"""

import base64
from typing import NotRequired, TypedDict

from registry.admission import rules
from registry.audit.priority import CautionJson, PriorityState

__all__ = [
    "AuditState",
    "DeviceState",
    "EnrolledState",
    "InvalidJson",
    "VendorState",
    "enrolled_from_state",
    "enrolled_state",
]


class InvalidJson(TypedDict):
    index: int
    kind: str
    code: str
    reason: str


class VendorState(TypedDict):
    root: str  # base64 DER
    role: str


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
    last_logged_at: int
    priority: NotRequired[PriorityState]
    latest_index: NotRequired[int | None]


def enrolled_state(enrolled: rules.EnrolledDevice) -> EnrolledState:
    return {
        "device_id": enrolled.device_id,
        "vendor_id": enrolled.vendor_id,
        "issuer_id": enrolled.issuer_id,
        "algorithm": enrolled.algorithm,
        "public_key": base64.b64encode(enrolled.public_key).decode(),
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
