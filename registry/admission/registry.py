"""The registry's write side: vendors, devices, captures and revocations, appended to the log.

`Registry` is the façade every route and command calls; each kind lives in its own module
(`vendors`, `devices`, `captures`, `c2pa_ingest`, `revocations`, `reindex`). Each operation
checks what it can outside the log's write lock (shapes, certificates, capture signatures: the
expensive part, spread over worker processes), then decides the rest inside it (replays,
revocations, counters) in `Sequencer.append_decided`, where the entries get their `logged_at`
and the derived rows are written in the same transaction as the leaves.
"""

from collections.abc import Sequence
from typing import Any

from ledger import LogStore, Sequencer
from ledger.sequencer import Clock
from registry.admission import c2pa_ingest, captures, devices, reindex, revocations, vendors
from registry.admission.context import Writer
from registry.admission.results import CaptureResult, Receipt
from registry.config import RegistrySettings

__all__ = ["CaptureResult", "Receipt", "Registry"]


class Registry:
    def __init__(
        self,
        store: LogStore,
        sequencer: Sequencer | None,
        settings: RegistrySettings,
        now: Clock,
    ) -> None:
        self._writer = Writer(store, sequencer, settings, now)
        self._verifier = captures.SignatureVerifier(settings.verify_workers)

    @property
    def store(self) -> LogStore:
        return self._writer.store

    @property
    def settings(self) -> RegistrySettings:
        return self._writer.settings

    def start_verify_workers(self) -> None:
        """Start the signature-verification processes now: otherwise the first large batch waits
        for them, seconds where they are spawned (as in `prov serve --workers N`)."""
        self._verifier.start()

    def close(self) -> None:
        self._verifier.close()

    def check_admin_token(self, admin_token: str | None) -> None:
        """Raise unless `admin_token` is the operator's token (compared in constant time)."""
        vendors.check_admin_token(self._writer.settings, admin_token)

    def add_vendor(
        self,
        name: str,
        role: str,
        root_der: bytes,
        admin_token: str | None,
        certificates: str | None = None,
    ) -> Receipt:
        """Register a vendor's self-signed root CA (operator only); `certificates`
        "per-capture" for a vendor that signs each capture with a one-time certificate."""
        return vendors.add_vendor(self._writer, name, role, root_der, admin_token, certificates)

    def enroll_device(self, cert_der: bytes, chain_der: Sequence[bytes]) -> Receipt:
        """Enroll a device certificate that chains to a registered vendor root."""
        return devices.enroll_device(self._writer, cert_der, chain_der)

    def device(self, device_id: str) -> dict[str, Any]:
        """The enrolled device whose id is, or uniquely starts with, `device_id` (8 or more
        hex characters, either case)."""
        return devices.find_device(self._writer, device_id)

    def submit_captures(self, records: Sequence[object]) -> list[CaptureResult]:
        """Admit a batch of device-signed capture records; one result per record, in order."""
        return captures.submit_captures(self._writer, self._verifier, records)

    def ingest_c2pa(self, data: bytes, name: str = "image") -> CaptureResult:
        """Log a camera's C2PA-signed file as a c2pa-capture/v1 entry."""
        return c2pa_ingest.ingest_c2pa(self._writer, data, name)

    def revoke(self, revocation: object) -> Receipt:
        """Log a CA-signed revocation (revocation/v1 of a device, or revocation/v2 of a device,
        a CA or a vendor root, optionally limited to firmware releases), dated by its
        compromise."""
        return revocations.revoke(self._writer, revocation)

    def reindex(self, chunk: int = 10_000) -> int:
        """Drop every derived row and rebuild them from the log's entries; returns the count."""
        return reindex.reindex(self._writer, chunk)
