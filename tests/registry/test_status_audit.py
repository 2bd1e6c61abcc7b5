"""Issue 15, part 1: `prov audit replay` recomputes the status index from every leaf and checks
the log's signed status commitment against it; the API serves the notes and proofs it needs.

The attack: the operator (who holds the log key) drops a revocation from the status index and
re-signs the checkpoint's status note. Its bundles then omit the revocation and still verify
offline - the note is log-signed - but the replay flags the note, with the note as signed and
the revocation it leaves out as evidence. Both databases.
"""

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from cli.errors import EXIT_FAILED, EXIT_OK
from cli.main import main
from ledger import Signer
from ledger.schema import log_status_notes
from ledger.status import EMPTY_STATUS_ROOT, parse_status_proof, verify_status
from ledger.status_note import StatusCommitment, open_status, sign_status
from registry import Registry
from registry.audit.replay import replay_log
from registry.audit.status_audit import STATUS_COMMITMENT_MISMATCH
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client, served
from tests.support.status_fixtures import (
    bundle_of,
    capture,
    hex_id,
    listed,
    resign_without,
    revoke_device,
    smuggle_scoped,
)

SEED = 37


def test_an_honest_log_s_status_commitment_is_checked(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    smuggle_scoped(registry, signer, clock, enrolled, enrolled.root.der, "vendor", 0)
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.status is not None and report.status.checked
    assert report.status_findings == []
    assert "commits to the index recomputed from its entries (2 subjects" in report.status.detail
    answer = report.to_json()
    assert answer["status"]["checked"] is True and answer["status_findings"] == []


def test_a_commitment_that_omits_a_revocation_is_flagged(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    note = resign_without(registry, signer, bytes.fromhex(hex_id(enrolled.device.der)), revocation)

    # The bundle the server now builds omits the revocation, and verifies offline: the note is
    # signed by the log key, so only an auditor's recomputation can show the lie.
    bundle = bundle_of(registry, index)
    assert listed(bundle) == [] and bundle["status"]["note"] == note.decode()
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert report.ok and report.cautions == ()

    with served(registry, signer, tmp_path) as remote:
        replayed = replay_log(remote, signer.verifier, workers=1)
    assert not replayed.ok and replayed.invalid == [] and replayed.findings == []
    (finding,) = replayed.status_findings
    assert finding.code == STATUS_COMMITMENT_MISMATCH
    assert finding.tree_size == registry.store.latest_checkpoint().size
    assert finding.note == note.decode() and finding.evidence == (revocation,)
    answer = replayed.to_json()
    assert answer["ok"] is False
    assert answer["status_findings"][0]["evidence"] == [revocation]


def test_a_commitment_that_adds_a_revocation_is_flagged(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    """The other lie: a note over an index that lists an entry no revocation makes."""
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    _forge_note(registry, signer, {bytes.fromhex(hex_id(enrolled.device.der)): [index]})
    with served(registry, signer, tmp_path) as remote:
        replayed = replay_log(remote, signer.verifier, workers=1)
    (finding,) = replayed.status_findings
    assert finding.code == STATUS_COMMITMENT_MISMATCH and "leaves out, or adds" in finding.reason


def test_a_note_for_another_tree_or_key_is_flagged(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    latest = registry.store.latest_checkpoint()
    stranger = Signer.generate(signer.name)
    commitment = StatusCommitment(
        signer.name, latest.size, latest.checkpoint.root_hash, EMPTY_STATUS_ROOT
    )
    _store_note(registry, sign_status(commitment, stranger))
    with served(registry, signer, tmp_path / "first") as remote:
        replayed = replay_log(remote, signer.verifier, workers=1)
    (finding,) = replayed.status_findings
    assert "is not valid" in finding.reason
    other_tree = StatusCommitment(signer.name, latest.size, bytes(32), EMPTY_STATUS_ROOT)
    _store_note(registry, sign_status(other_tree, signer))
    with served(registry, signer, tmp_path / "second") as remote:
        replayed = replay_log(remote, signer.verifier, workers=1)
    (finding,) = replayed.status_findings
    assert "not the checkpoint's" in finding.reason


def test_a_resumed_replay_keeps_its_index(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    state = tmp_path / "replay.json"
    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    with served(registry, signer, tmp_path / "first") as remote:
        first = replay_log(remote, signer.verifier, workers=1, state_path=state)
    assert first.ok and first.status is not None and first.status.checked
    capture(registry, enrolled, SEED + 1, 2, clock.now_ms - 20_000)  # before the compromise
    resign_without(registry, signer, bytes.fromhex(hex_id(enrolled.device.der)), revocation)
    with served(registry, signer, tmp_path / "second") as remote:
        second = replay_log(remote, signer.verifier, workers=1, state_path=state)
    assert second.started_at == first.checkpoint.size  # resumed, yet the old revocation counts
    (finding,) = second.status_findings
    assert finding.evidence == (revocation,)


def test_a_state_saved_before_status_checks_is_not_checked(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    state = tmp_path / "replay.json"
    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    with served(registry, signer, tmp_path / "first") as remote:
        replay_log(remote, signer.verifier, workers=1, state_path=state)
    saved = json.loads(state.read_text())
    del saved["status"]  # as an older version wrote it
    state.write_text(json.dumps(saved))
    capture(registry, enrolled, SEED + 1, 2, clock.now_ms - 1_000)
    with served(registry, signer, tmp_path / "second") as remote:
        resumed = replay_log(remote, signer.verifier, workers=1, state_path=state)
    assert resumed.ok and resumed.status is not None and not resumed.status.checked
    assert "saved before status checks" in resumed.status.detail


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_audit_replay_prints_the_finding(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    from ledger.note import write_private_key_file
    from tests.support.serving import prov_serve

    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    options = ["--data-dir", str(tmp_path), "--database", migrated_url]
    vkey = signer.verifier.vkey
    with prov_serve(options, tmp_path / "serve.log") as base:
        clean = CliRunner().invoke(main, ["audit", "replay", base, "--log-key", vkey])
        assert clean.exit_code == EXIT_OK, clean.output
        assert "status commitment: the status note for checkpoint" in clean.output
        resign_without(registry, signer, bytes.fromhex(hex_id(enrolled.device.der)), revocation)
        flagged = CliRunner().invoke(main, ["audit", "replay", base, "--log-key", vkey])
    assert flagged.exit_code == EXIT_FAILED, flagged.output
    assert "STATUS checkpoint" in flagged.output and STATUS_COMMITMENT_MISMATCH in flagged.output
    assert f"(evidence: entries {revocation})" in flagged.output
    assert "provenance-ledger/status/v1" in flagged.output


# --- the endpoints ---


def test_the_api_serves_status_notes_and_proofs(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    old_size = registry.store.latest_checkpoint().size
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    size = registry.store.latest_checkpoint().size
    device = hex_id(enrolled.device.der)
    with api_client(registry, signer, tmp_path) as client:
        latest = client.get("/checkpoint/status")
        assert latest.status_code == 200 and latest.headers["cache-control"] == "no-store"
        commitment = open_status(latest.content, signer.verifier)
        assert commitment.size == size
        given = client.get(f"/v1/status/{old_size}").json()
        assert given["tree_size"] == old_size
        old = open_status(given["note"].encode(), signer.verifier)
        proofs = {}
        for at, root in ((old_size, old.status_root), (size, commitment.status_root)):
            answer = client.get(f"/v1/status/{at}/proofs/{device}").json()
            proof = parse_status_proof(base64.b64decode(answer["proof"]))
            proofs[at] = (
                list(verify_status(root, bytes.fromhex(device), proof)),
                answer["indexes"],
            )
        assert proofs == {old_size: ([], []), size: ([revocation], [revocation])}
        future = client.get(f"/v1/status/{size + 5}")
        assert future.status_code == 404 and future.json()["error"]["type"] == "no_status_note"
        assert client.get(f"/v1/status/{size}/proofs/{device.upper()}").status_code == 400
        assert client.get("/v1/status/-1").status_code in (400, 422)


def _forge_note(registry: Registry, signer: Signer, items: dict[bytes, list[int]]) -> None:
    from ledger.status import status_root

    latest = registry.store.latest_checkpoint()
    commitment = StatusCommitment(
        signer.name, latest.size, latest.checkpoint.root_hash, status_root(items)
    )
    _store_note(registry, sign_status(commitment, signer))


def _store_note(registry: Registry, note: bytes) -> None:
    latest = registry.store.latest_checkpoint()
    with registry.store.engine.begin() as connection:
        connection.execute(
            update(log_status_notes)
            .where(log_status_notes.c.tree_size == latest.size)
            .values(note=note)
        )
