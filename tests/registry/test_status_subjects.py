"""The registry's status rule: a revocation names its device (v1) or subject (v2); nothing else
names anything, and no leaf makes the rule raise. On a registry log (SQLite and PostgreSQL),
the status index holds each revocation under the device it revokes."""

import hashlib
import json

from ledger import LogStore, Signer, open_status, status_root, verify_status
from registry import Registry
from registry.entries.codec import canonical
from registry.entries.sdk import device_id, sign_capture, sign_revocation
from registry.entries.status_subjects import status_subjects
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import picture

DEVICE = hashlib.sha256(b"device").hexdigest()
CA = hashlib.sha256(b"ca").hexdigest()


def test_a_v1_revocation_names_its_device() -> None:
    leaf = canonical({"kind": "revocation/v1", "device": DEVICE, "compromised_since": 1})
    assert status_subjects(leaf) == (bytes.fromhex(DEVICE),)


def test_a_v2_revocation_names_its_subject() -> None:
    leaf = canonical({"kind": "revocation/v2", "subject": CA, "scope": "ca", "device": DEVICE})
    assert status_subjects(leaf) == (bytes.fromhex(CA),)


def test_other_kinds_name_nothing() -> None:
    for kind in ["capture/v1", "device/v1", "vendor/v1", "revocation/v3", "revocation/"]:
        leaf = canonical({"kind": kind, "device": DEVICE, "subject": CA})
        assert status_subjects(leaf) == (), kind


def test_malformed_revocations_name_nothing() -> None:
    leaves = [
        b'{"kind":"revocation/v1","device":',  # not JSON
        b'["kind":"revocation/v1"]',
        b'{"kind":"revocation/v1"}',  # no device
        canonical({"kind": "revocation/v1", "device": DEVICE.upper()}),
        canonical({"kind": "revocation/v1", "device": DEVICE[:62]}),
        canonical({"kind": "revocation/v1", "device": 7}),
        canonical({"kind": "revocation/v2", "device": DEVICE}),  # v2 names its `subject`
        canonical({"kind": "revocation/v2", "subject": [CA]}),
        b'{"kind":["revocation/v1"],"x":"\\"kind\\":\\"revocation/"}',  # an unhashable kind
        b'\xff{"kind":"revocation/v1"}',
        b'{"a":' * 100_000 + b'"kind":"revocation/v1"',  # nested too deep
    ]
    for leaf in leaves:
        assert status_subjects(leaf) == (), leaf[:60]


def test_a_nested_revocation_kind_names_nothing() -> None:
    # The fast path lets it through to the parse, which reads only the top-level kind.
    nested = {"kind": "revocation/v1", "device": DEVICE}
    leaf = canonical({"kind": "capture/v1", "claim": nested, "device": DEVICE})
    assert b'"kind":"revocation/' in leaf
    assert status_subjects(leaf) == ()


def test_the_registry_log_indexes_its_revocations(
    registry: Registry, enrolled: DevicePKI, signer: Signer, clock: FixedClock
) -> None:
    pki = enrolled
    store: LogStore = registry.store
    record = sign_capture(picture(1), pki.device.private_key, pki.device.certificate, 1, clock())
    (captured,) = registry.submit_captures([record])
    assert captured.receipt is not None
    ca = pki.intermediates[0]
    revocation = sign_revocation(
        device_id(pki.device.certificate),
        clock.now_ms - 1000,
        "key extracted",
        ca.private_key,
        ca.certificate,
    )
    revoked = registry.revoke(revocation).index
    size = store.latest_checkpoint().size
    device = bytes.fromhex(device_id(pki.device.certificate))
    assert store.status_items(size) == {device: [revoked]}
    note = store.status_note(size)
    assert note is not None
    commitment = open_status(note, signer.verifier)
    assert commitment.status_root == status_root({device: [revoked]})
    proofs = store.status_proofs(size, [device, bytes.fromhex(CA)])
    assert verify_status(commitment.status_root, device, proofs[device]) == (revoked,)
    assert verify_status(commitment.status_root, bytes.fromhex(CA), proofs[bytes.fromhex(CA)]) == ()
    # The leaf the index points at is the revocation itself.
    entry = json.loads(store.entry(revoked))
    assert (entry["kind"], entry["device"]) == ("revocation/v1", device_id(pki.device.certificate))
