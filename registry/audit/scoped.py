"""The audit's view of revocations: revocation/v1 (`checked_device_revocation`) and revocation/v2 (registry.admission.revocation_rules): each one checked
as admission checks it, then applied to every later capture whose device, CA path or vendor
root it names. Its state is JSON, beside the rest of registry.audit.state."""

import hashlib
from collections.abc import Mapping, Sequence

from ledger.errors import LedgerError
from registry.admission import rules
from registry.admission.caution_rule import Revocation, revocation_from_entry
from registry.admission.revocation_rules import check_scoped_revocation, parse_scoped_revocation
from registry.audit.state import AuditedDevice, AuditedVendor

__all__ = ["ScopedRevocations", "checked_device_revocation"]

ScopedState = dict[str, list[tuple[int, int, str, list[str] | None]]]  # subject -> ...*


def checked_device_revocation(
    entry: Mapping[str, object], devices: Mapping[str, AuditedDevice]
) -> tuple[str, int]:
    """A logged revocation/v1 checked as admission checks it (its device enrolled before it,
    signed by the device's issuer or root on its verified path): (device, compromised_since)."""
    body, signature = rules.parse_revocation({k: v for k, v in entry.items() if k != "logged_at"})
    device = devices.get(body["device"])
    if device is None:
        raise LedgerError(
            f"revocation names device {body['device']}, which was not enrolled before it",
            code="unknown_device",
        )
    ca = rules.ca_certificate(body["signer"], body["device"], device.path)
    rules.check_revocation(body, signature, ca)
    return body["device"], body["compromised_since"]


class ScopedRevocations:
    def __init__(self) -> None:
        self._by_subject: dict[str, list[Revocation]] = {}

    def add(
        self,
        entry: Mapping[str, object],
        index: int,
        vendors: Mapping[str, AuditedVendor],
        devices: Mapping[str, AuditedDevice],
    ) -> None:
        """Check a logged revocation/v2 against what the log held before it; LedgerError if
        admission would have refused it (then it applies to nothing)."""
        body, signature = parse_scoped_revocation(
            {k: v for k, v in entry.items() if k != "logged_at"}
        )
        vendor = vendors.get(body["vendor"])
        if vendor is None:
            raise LedgerError(
                f"revocation names vendor {body['vendor']}, which was not logged before it",
                code="unknown_vendor",
            )
        device_path: tuple[bytes, ...] = ()
        if body["scope"] == "device":
            device = devices.get(body["subject"])
            if device is None:
                raise LedgerError(
                    f"revocation names device {body['subject']}, which was not enrolled before it",
                    code="unknown_device",
                )
            device_path = device.path
        check_scoped_revocation(body, signature, vendor.root.der, device_path)
        revocation = revocation_from_entry(index, dict(body))
        self._by_subject.setdefault(revocation.subject, []).append(revocation)

    def applying(self, device_id: str, path: Sequence[bytes]) -> list[Revocation]:
        """The revocation/v2 entries that name this device or a CA on its verified path."""
        if not self._by_subject:
            return []  # the common case: no CA hashing per capture
        subjects = {device_id, *(hashlib.sha256(der).hexdigest() for der in path)}
        return [r for s in subjects for r in self._by_subject.get(s, ())]

    def to_json(self) -> ScopedState:
        return {
            subject: [
                (
                    r.index,
                    r.compromised_since,
                    r.scope,
                    None if r.firmware is None else [*r.firmware],
                )
                for r in found
            ]
            for subject, found in self._by_subject.items()
        }

    def load_json(self, data: ScopedState) -> None:
        self._by_subject = {
            subject: [
                Revocation(
                    int(index), subject, int(since), str(scope),
                    None if firmware is None else tuple(str(f) for f in firmware),
                )
                for index, since, scope, firmware in found
            ]
            for subject, found in data.items()
        }  # fmt: skip
