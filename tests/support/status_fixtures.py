"""Helpers of the status-proof tests (issue 15, part 1): captures, revocations of the device or
(smuggled, as revocation/v2 entries: the status index keys them by their subject) of a CA or the
vendor root, bundles and their JSON, and a dishonest operator's tampering with the status index."""

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from cli.client import HttpClient
from ledger import Signer
from ledger.remote import RemoteLog
from ledger.schema import log_status_entries, log_status_notes
from ledger.status import status_root
from ledger.status_note import StatusCommitment, sign_status
from registry import Registry
from registry.bundle.build import build_bundle
from registry.bundle.refresh import FreshSource
from registry.entries.sdk import sign_capture, sign_revocation
from testkit.pki import DevicePKI, IssuedCert
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client
from tests.support.registry_fixtures import picture, smuggle


def hex_id(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def capture(registry: Registry, pki: DevicePKI, seed: int, counter: int, captured_at: int) -> int:
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, counter, captured_at
    )
    (result,) = registry.submit_captures([record])
    assert result.receipt is not None, result.reason
    return result.receipt.index


def revoke_device(
    registry: Registry, pki: DevicePKI, since: int, device: IssuedCert | None = None
) -> int:
    """A revocation/v1 of the device (or `device`), signed by its issuing CA, admitted."""
    ca = pki.intermediates[0] if pki.intermediates else pki.root
    target = device or pki.device
    revocation = sign_revocation(
        hex_id(target.der), since, "key extracted", ca.private_key, ca.certificate
    )
    return registry.revoke(revocation).index


def smuggle_scoped(
    registry: Registry, signer: Signer, clock: FixedClock, pki: DevicePKI, subject: bytes,
    scope: str, since: int,
) -> int:  # fmt: skip
    """A revocation/v2 naming `subject` (a CA's or the root's DER), well formed but signed by
    no one, put in the log past admission: what the status index keys by its subject whatever
    its signature, and what every verifier must refuse."""
    ders = [c.der for c in pki.intermediates]
    above = ders[ders.index(subject) :] if scope == "ca" and subject in ders else []
    entry = {
        "kind": "revocation/v2", "vendor": hex_id(pki.root.der), "scope": scope,
        "subject": hex_id(subject), "certs": [base64.b64encode(d).decode() for d in above],
        "compromised_since": since,
        "reason": "CA key extracted", "signer": hex_id(pki.root.der),
        "sig": base64.b64encode(b"\x00" * 64).decode(), "logged_at": clock.now_ms,
    }  # fmt: skip
    return smuggle(registry, signer, clock, [entry])


def bundle_of(registry: Registry, index: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(build_bundle(registry.store, index))
    return data


def canonical(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode()


def listed(bundle: dict[str, Any]) -> list[int]:
    return [part["index"] for part in bundle.get("revocations", [])]


def resign_without(registry: Registry, signer: Signer, subject: bytes, index: int) -> bytes:
    """The operator drops (subject, index) from the status index and re-signs the latest
    checkpoint's status note over what is left, with the log key: a commitment that omits a
    revocation, consistent with every proof the server then gives. Returns the new note."""
    store = registry.store
    latest = store.latest_checkpoint()
    with store.engine.begin() as connection:
        connection.execute(
            delete(log_status_entries).where(
                log_status_entries.c.subject == subject, log_status_entries.c.leaf_index == index
            )
        )
        rows = connection.execute(
            select(log_status_entries.c.subject, log_status_entries.c.leaf_index).where(
                log_status_entries.c.leaf_index < latest.size
            )
        ).all()
        items: dict[bytes, list[int]] = {}
        for row in sorted(rows, key=lambda r: r.leaf_index):
            items.setdefault(bytes(row.subject), []).append(int(row.leaf_index))
        root = status_root(items)
        commitment = StatusCommitment(
            latest.checkpoint.origin, latest.size, latest.checkpoint.root_hash, root
        )
        note = sign_status(commitment, signer)
        connection.execute(
            update(log_status_notes)
            .where(log_status_notes.c.tree_size == latest.size)
            .values(status_root=root, note=note)
        )
    return note


class InProcess:
    """A FreshSource (registry.bundle.refresh) over the API in this process: what
    `prov verify --refresh URL` fetches, without a server process."""

    def __init__(self, client: TestClient) -> None:
        self._http = HttpClient("http://testserver", http=client)
        self._log = RemoteLog("http://testserver", http=client)

    def bundle(self, index: int) -> bytes:
        return self._http.bundle(index)

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return self._log.consistency_proof(old, new)


@contextmanager
def source(registry: Registry, signer: Signer, tmp_path: Path) -> Iterator[FreshSource]:
    """The registry's API as a refresh source (e.g. `refresh_bundle(old, fresh, key)` inside)."""
    with api_client(registry, signer, tmp_path) as client:
        yield InProcess(client)
