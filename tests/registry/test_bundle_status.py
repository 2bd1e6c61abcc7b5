"""Issue 15, part 1: a bundle proves its revocation status offline, and a server cannot omit a
revocation from it.

Each bundle carries the log's signed status note for its checkpoint and a status proof for the
device, each CA on its verified path and its vendor root (registry.bundle.status). The offline
verifier's result for: no revocation, a revocation before the checkpoint, one after it, a revoked
intermediate CA, a revoked vendor root; and the tampered bundles each of which must fail: a
revocation deleted, a status proof or note from an older checkpoint, another device's proof, a
note signed by another key. A stripped `status` verifies, but is cautioned as unproven. Both
databases (the bundles are built from each).
"""

import base64
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cli.errors import EXIT_CAUTION, EXIT_FAILED, EXIT_OK
from cli.main import main
from ledger import Signer
from ledger.checkpoint import open_checkpoint
from ledger.status import parse_status_proof, verify_status
from ledger.status_note import open_status
from registry import Registry
from registry.bundle.build import build_bundle, build_bundle_with_cautions
from registry.bundle.status import check_status
from registry.bundle.verify import BundleReport, verify_bundle
from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LOGGED_AFTER_REVOCATION,
    REVOCATION_STATUS_UNPROVEN,
)
from testkit.pki import DevicePKI, make_device
from testkit.revocations import revoke_ca, revoke_vendor
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import now_of
from tests.support.status_fixtures import (
    bundle_of,
    canonical,
    capture,
    hex_id,
    listed,
    revoke_device,
    smuggle_scoped,
)

SEED = 31


def status_check(report: BundleReport) -> str:
    (check,) = [c for c in report.checks if c.name == "revocation status"]
    assert check.ok, check.detail
    return check.detail


def failed(report: BundleReport) -> tuple[str, str]:
    assert not report.ok
    (check,) = [c for c in report.checks if not c.ok]
    return check.name, check.detail


def codes(report: BundleReport) -> set[str]:
    return {c.code for c in report.cautions}


def subjects_of(bundle: dict[str, Any]) -> list[str]:
    return [s["subject"] for s in bundle["status"]["subjects"]]


# --- what the verifier says ---


def test_a_device_with_no_revocation_is_proven_clean(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    bundle = bundle_of(registry, index)
    # One proof each for the device, its issuing CA and the vendor root, sorted.
    expected = sorted(
        hex_id(der)
        for der in (enrolled.device.der, enrolled.intermediates[0].der, enrolled.root.der)
    )
    assert subjects_of(bundle) == expected and "revocations" not in bundle
    report = verify_bundle(canonical(bundle), signer.verifier)
    assert report.ok, report.checks
    size = open_checkpoint(bundle["checkpoint"].encode(), signer.verifier).size
    assert status_check(report).startswith(f"revocation status as of checkpoint {size} (")
    assert "no revocation of the device, its CAs or its vendor root" in status_check(report)
    assert report.cautions == ()
    assert report.status is not None and report.status.proven and report.status.size == size


def test_a_device_revoked_before_the_checkpoint(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    assert listed(bundle) == [revocation]
    report = verify_bundle(canonical(bundle), signer.verifier)
    assert report.ok, report.checks
    assert f"1 revocation(s): log entry {revocation} of the device" in status_check(report)
    assert codes(report) == {CAPTURED_IN_COMPROMISE_WINDOW}
    data, server_cautions = build_bundle_with_cautions(registry.store, index)
    assert [c.code for c in server_cautions] == [CAPTURED_IN_COMPROMISE_WINDOW]


def test_a_device_revoked_after_the_checkpoint_is_clean_as_of_it(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    before = build_bundle(registry.store, index)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    then = verify_bundle(before, signer.verifier)
    assert then.ok and then.cautions == ()
    assert then.status is not None and then.status.revocations == ()
    now = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert now.status is not None and [r.index for r in now.status.revocations] == [revocation]
    assert now.status.size > then.status.size and codes(now) == {CAPTURED_IN_COMPROMISE_WINDOW}


def test_a_revoked_intermediate_ca_is_listed_under_the_ca(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    ca = enrolled.intermediates[0]
    revocation = smuggle_scoped(registry, signer, clock, enrolled, ca.der, "ca", 0)
    bundle = bundle_of(registry, index)
    assert listed(bundle) == [revocation]
    _assert_listed_under(bundle, signer, hex_id(ca.der), [revocation])
    # The listing check alone (the verdict on a revocation/v2 is scoped-revocations' part).
    detail, status = _check_status_alone(bundle, signer, enrolled)
    assert [(r.index, r.subject) for r in status.revocations] == [(revocation, hex_id(ca.der))]
    assert f"log entry {revocation} of CA {hex_id(ca.der)[:16]}…" in detail


def test_a_revoked_vendor_root_is_listed_under_the_root(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = smuggle_scoped(registry, signer, clock, enrolled, enrolled.root.der, "vendor", 0)
    bundle = bundle_of(registry, index)
    assert listed(bundle) == [revocation]
    _assert_listed_under(bundle, signer, hex_id(enrolled.root.der), [revocation])
    detail, _ = _check_status_alone(bundle, signer, enrolled)
    assert f"log entry {revocation} of the vendor root" in detail


def test_a_revoked_ca_cautions_the_verdict(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = registry.revoke(revoke_ca(enrolled, 0, 0)).index
    bundle = bundle_of(registry, index)
    assert listed(bundle) == [revocation]
    report = verify_bundle(canonical(bundle), signer.verifier)
    assert report.ok and CAPTURED_IN_COMPROMISE_WINDOW in codes(report)
    (check,) = [c for c in report.checks if c.name == "revocations"]
    assert f"log entry {revocation}: every device under CA" in check.detail


def test_a_revoked_vendor_root_cautions_the_verdict(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revocation = registry.revoke(revoke_vendor(enrolled, 0)).index
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert report.ok and CAPTURED_IN_COMPROMISE_WINDOW in codes(report)
    assert report.status is not None and [r.index for r in report.status.revocations] == [
        revocation
    ]


def test_a_forged_ca_revocation_in_the_log_fails_the_bundle(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    """An operator who slips an unsigned CA revocation past admission cannot make the bundle
    verify with it: the verifier checks its signature from the bundle's own certificates."""
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    smuggle_scoped(registry, signer, clock, enrolled, enrolled.intermediates[0].der, "ca", 0)
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    name, detail = failed(report)
    assert name == "revocations" and "revocation signature does not verify" in detail


def test_a_deeper_path_has_a_proof_for_every_ca(
    registry: Registry, clock: FixedClock, signer: Signer
) -> None:
    from testkit.pki import make_intermediate, make_root
    from tests.support.registry_fixtures import TOKEN

    now = now_of(clock)
    root = make_root(now)
    upper = make_intermediate(root, now, path_length=1, common_name="Upper CA")
    lower = make_intermediate(upper, now, common_name="Lower CA")
    device = make_device(lower, now)
    registry.add_vendor("Deep Camera Co.", "camera", root.der, TOKEN)
    registry.enroll_device(device.der, [lower.der, upper.der])
    pki = DevicePKI(root, (lower, upper), device)
    index = capture(registry, pki, SEED, 1, clock.now_ms - 5_000)
    revocation = smuggle_scoped(registry, signer, clock, pki, upper.der, "ca", 0)
    bundle = bundle_of(registry, index)
    assert subjects_of(bundle) == sorted(hex_id(c.der) for c in (root, upper, lower, device))
    assert listed(bundle) == [revocation]
    _assert_listed_under(bundle, signer, hex_id(upper.der), [revocation])


# --- tampered bundles ---


def test_a_deleted_revocation_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    del bundle["revocations"]  # the server (or anyone) leaves the revocation out
    report = verify_bundle(canonical(bundle), signer.verifier)
    name, detail = failed(report)
    assert name == "revocation status" and "does not carry: a revocation was left out" in detail
    path = tmp_path / "stripped.json"
    path.write_bytes(canonical(bundle))
    run = CliRunner().invoke(main, ["verify", str(path), "--log-key", signer.verifier.vkey])
    assert run.exit_code == EXIT_FAILED and "does NOT verify" in run.output


def test_one_of_two_revocations_deleted_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 1_000)  # after the capture
    second = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    bundle["revocations"] = [r for r in bundle["revocations"] if r["index"] != second]
    assert failed(verify_bundle(canonical(bundle), signer.verifier))[0] == "revocation status"


def test_a_status_note_from_an_older_checkpoint_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    old = bundle_of(registry, index)  # clean then
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    new = bundle_of(registry, index)
    # The old note and its proofs (non-membership) under the new checkpoint and its entries.
    new["status"] = old["status"]
    new.pop("revocations")
    name, detail = failed(verify_bundle(canonical(new), signer.verifier))
    assert name == "revocation status" and "a status proof from another checkpoint" in detail


def test_a_non_membership_proof_from_an_older_checkpoint_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    old = bundle_of(registry, index)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    new = bundle_of(registry, index)
    device = hex_id(enrolled.device.der)
    old_proof = next(s for s in old["status"]["subjects"] if s["subject"] == device)
    # The new note, with the device's old absence proof in place of its membership proof.
    new["status"]["subjects"] = [
        old_proof if s["subject"] == device else s for s in new["status"]["subjects"]
    ]
    new.pop("revocations")
    name, detail = failed(verify_bundle(canonical(new), signer.verifier))
    assert name == "revocation status" and "does not verify against the status note" in detail


def test_the_status_proof_of_another_device_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    other = make_device(enrolled.intermediates[0], now_of(clock), common_name="X100 #0002")
    registry.enroll_device(other.der, enrolled.chain_der)
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    other_pki = DevicePKI(enrolled.root, enrolled.intermediates, other)
    other_bundle = bundle_of(registry, capture(registry, other_pki, SEED + 1, 1, clock.now_ms))
    bundle = bundle_of(registry, index)
    assert bundle["checkpoint"] == other_bundle["checkpoint"]  # the same checkpoint and note
    mine, theirs = hex_id(enrolled.device.der), hex_id(other.der)
    their_proof = next(s for s in other_bundle["status"]["subjects"] if s["subject"] == theirs)
    # Their (clean) proof under my subject id, and my revocation left out.
    swapped = {**bundle, "status": {**bundle["status"]}}
    swapped["status"]["subjects"] = [
        {"subject": mine, "proof": their_proof["proof"]} if s["subject"] == mine else s
        for s in bundle["status"]["subjects"]
    ]
    swapped.pop("revocations")
    assert failed(verify_bundle(canonical(swapped), signer.verifier))[0] == "revocation status"
    # Their proof under their own id: the proofs are not for this bundle's device.
    renamed = {**bundle, "status": {**bundle["status"]}}
    renamed["status"]["subjects"] = sorted(
        [their_proof] + [s for s in bundle["status"]["subjects"] if s["subject"] != mine],
        key=lambda s: s["subject"],
    )
    renamed.pop("revocations")
    name, detail = failed(verify_bundle(canonical(renamed), signer.verifier))
    assert name == "revocation status" and "leave out the device" in detail


def test_a_status_note_signed_by_another_key_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    from ledger.status_note import sign_status

    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    commitment = open_status(bundle["status"]["note"].encode(), signer.verifier)
    impostor = Signer.generate(signer.name)  # the same name, another key
    forged = sign_status(commitment, impostor)
    bundle["status"]["note"] = forged.decode()
    name, _ = failed(verify_bundle(canonical(bundle), signer.verifier))
    assert name == "revocation status"


def test_an_extra_revocation_not_in_the_index_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    """A carried revocation the status index does not list (another device's, say) fails:
    `revocations` is exactly what the proofs list."""
    other = make_device(enrolled.intermediates[0], now_of(clock), common_name="X100 #0003")
    registry.enroll_device(other.der, enrolled.chain_der)
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    other_pki = DevicePKI(enrolled.root, enrolled.intermediates, other)
    other_index = capture(registry, other_pki, SEED + 2, 1, clock.now_ms - 5_000)
    revoke_device(registry, other_pki, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    bundle["revocations"] = bundle_of(registry, other_index)["revocations"]
    name, detail = failed(verify_bundle(canonical(bundle), signer.verifier))
    assert name == "revocation status" and "lists none of them" in detail


# --- stripped and old bundles ---


def test_a_stripped_status_is_cautioned_unproven_and_exits_4(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    del bundle["status"], bundle["revocations"]  # stripped to look clean
    report = verify_bundle(canonical(bundle), signer.verifier)
    assert report.ok, report.checks  # an older-format bundle: still a bundle
    assert codes(report) == {REVOCATION_STATUS_UNPROVEN}
    assert report.status is not None and not report.status.proven
    assert "not proven" in status_check(report)
    path = tmp_path / "stripped.json"
    path.write_bytes(canonical(bundle))
    run = CliRunner().invoke(main, ["verify", str(path), "--log-key", signer.verifier.vkey])
    assert run.exit_code == EXIT_CAUTION, run.output
    assert run.stdout.index(REVOCATION_STATUS_UNPROVEN) < run.stdout.index("bundle verified")
    assert "--refresh" in run.stdout
    as_json = CliRunner().invoke(
        main, ["verify", str(path), "--log-key", signer.verifier.vkey, "--json"]
    )
    assert as_json.exit_code == EXIT_CAUTION
    answer = json.loads(as_json.stdout)
    assert answer["status"]["proven"] is False
    assert [c["code"] for c in answer["cautions"]] == [REVOCATION_STATUS_UNPROVEN]


def test_a_stripped_status_keeps_the_revocations_it_still_carries(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    del bundle["status"]
    report = verify_bundle(canonical(bundle), signer.verifier)
    assert report.ok
    assert codes(report) == {REVOCATION_STATUS_UNPROVEN, CAPTURED_IN_COMPROMISE_WINDOW}


def test_a_clean_bundle_verifies_with_exit_0_and_says_as_of(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    path = tmp_path / "b.json"
    path.write_bytes(build_bundle(registry.store, index))
    run = CliRunner().invoke(main, ["verify", str(path), "--log-key", signer.verifier.vkey])
    assert run.exit_code == EXIT_OK, run.output
    assert "revocation status as of checkpoint" in run.stdout and "caution" not in run.stdout
    shown = CliRunner().invoke(
        main, ["verify", str(path), "--log-key", signer.verifier.vkey, "--json"]
    )
    status = json.loads(shown.stdout)["status"]
    assert status["proven"] is True and status["revocations"] == []


def test_captures_after_a_revocation_are_still_cautioned_with_status(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    since = clock.now_ms - 60_000
    revocation = revoke_device(registry, enrolled, since)
    index = capture(registry, enrolled, SEED, 1, since - 1)  # a thief's backdated capture
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert report.ok and codes(report) == {LOGGED_AFTER_REVOCATION}
    assert report.status is not None
    assert [r.index for r in report.status.revocations] == [revocation]


# --- helpers ---


def _assert_listed_under(
    bundle: dict[str, Any], signer: Signer, subject: str, indexes: list[int]
) -> None:
    """The subject's proof verifies against the signed note and lists exactly `indexes`."""
    commitment = open_status(bundle["status"]["note"].encode(), signer.verifier)
    for item in bundle["status"]["subjects"]:
        proof = parse_status_proof(base64.b64decode(item["proof"]))
        found = verify_status(commitment.status_root, bytes.fromhex(item["subject"]), proof)
        assert list(found) == (indexes if item["subject"] == subject else []), item["subject"]


def _check_status_alone(bundle: dict[str, Any], signer: Signer, pki: DevicePKI) -> tuple[str, Any]:
    entries = {
        name: json.loads(base64.b64decode(bundle[name]["entry"])) for name in ("device", "vendor")
    }
    checkpoint = open_checkpoint(bundle["checkpoint"].encode(), signer.verifier)
    return check_status(
        bundle["status"], checkpoint, signer.verifier, (entries["device"], entries["vendor"]),
        bundle.get("revocations", []),
    )  # fmt: skip
