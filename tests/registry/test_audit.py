"""`prov audit replay` end to end: a registry log re-validated from its tiles with the admission
rules (registry.admission.rules), entries the log should never have admitted reported with index and
reason, resuming from a state file, and the CLI against a real `prov serve`. Both databases."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from ledger import Checkpoint, Signer, sign_checkpoint
from ledger.note import write_private_key_file
from registry import Registry
from registry.audit.replay import replay_log
from registry.entries.codec import CAPTURE, DEVICE
from registry.entries.sdk import sign_revocation
from testkit.pki import DevicePKI, make_pki
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import now_of, record, smuggle
from tests.support.serving import prov_serve


def populate(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> None:
    """Vendor and device (from the fixtures), 6 captures, a revocation, 2 more captures."""
    results = registry.submit_captures(
        [record(enrolled.device, seed, seed, clock.now_ms - 10_000) for seed in range(1, 7)]
    )
    assert all(r.accepted for r in results)
    ca = enrolled.intermediates[0]
    assert results[0].receipt is not None
    device_id = json.loads(registry.store.entry(results[0].receipt.index))["claim"]["device"]
    registry.revoke(
        sign_revocation(
            device_id, clock.now_ms - 5_000, "key extracted", ca.private_key, ca.certificate
        )
    )
    later = registry.submit_captures(
        [record(enrolled.device, s, s, clock.now_ms - 8_000) for s in (7, 8)]
    )
    assert all(r.accepted for r in later)


def test_honest_registry_log_passes_with_counts(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    populate(registry, enrolled, clock)
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok, (report.invalid, report.findings)
    assert report.counts == {"vendor/v1": 1, "device/v1": 1, "capture/v1": 8, "revocation/v1": 1}
    assert report.entries == report.checkpoint.size == 11


def test_entries_admission_would_refuse_are_reported_with_index_and_reason(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    populate(registry, enrolled, clock)
    good = json.loads(registry.store.entry(2))  # the first capture
    assert good["kind"] == CAPTURE
    # The claim changed after signing: the signature no longer covers it.
    forged = {**good, "logged_at": clock.now_ms, "claim": {**good["claim"], "counter": 999}}
    stranger = make_pki(now_of(clock))  # a vendor the log never registered
    orphan_device = {
        "kind": DEVICE, "logged_at": clock.now_ms, "vendor": hashlib.sha256(stranger.root.der).hexdigest(),
        "cert": base64.b64encode(stranger.device.der).decode(), "chain": [],
    }  # fmt: skip
    after_revocation = {
        **good,
        "claim": {**good["claim"], "captured_at": clock.now_ms},
        "logged_at": clock.now_ms,
    }
    # A valid, signed capture, but not the canonical bytes admission logs (spaces, key order).
    not_canonical = json.dumps({**good, "logged_at": clock.now_ms}, indent=1).encode()
    nested_too_deep = b"[" * 30_000 + b"]" * 30_000  # beyond the JSON parser's recursion
    first = smuggle(
        registry,
        signer,
        clock,
        [forged, orphan_device, after_revocation, not_canonical, nested_too_deep],
    )
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.findings == []  # the tree itself is consistent: the entries are the problem
    found = {(i.index, i.code) for i in report.invalid}
    assert found == {
        (first, "bad_signature"),
        (first + 1, "unknown_vendor"),
        (first + 2, "device_revoked"),
        (first + 3, "not_canonical"),
        (first + 4, "bad_entry"),
    }
    assert not report.ok


def test_replay_resumes_from_its_state_file(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    state = tmp_path / "replay.json"
    registry.submit_captures([record(enrolled.device, s, s, clock.now_ms - 1000) for s in (1, 2)])
    with served(registry, signer, tmp_path) as remote:
        first = replay_log(remote, signer.verifier, state_path=state, workers=1)
        assert first.ok and first.started_at == 0 and first.entries == 4
        registry.submit_captures(
            [record(enrolled.device, s, s, clock.now_ms - 1000) for s in (3, 4, 5)]
        )
        second = replay_log(remote, signer.verifier, state_path=state, workers=1)
    assert second.ok, (second.invalid, second.findings)
    assert (second.started_at, second.entries) == (4, 3)
    assert second.counts == {"vendor/v1": 1, "device/v1": 1, "capture/v1": 5}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_audit_against_a_running_server(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    populate(registry, enrolled, clock)
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    runner = CliRunner()
    options = ["--data-dir", str(tmp_path), "--database", migrated_url]
    with prov_serve(options, tmp_path / "serve.log") as base:
        replayed = runner.invoke(
            main, ["audit", "replay", base, "--log-key", signer.verifier.vkey, "--workers", "2"]
        )
        assert replayed.exit_code == 0, replayed.output
        assert "the log verifies" in replayed.output and "capture/v1 8" in replayed.output
        state = tmp_path / "watch.json"
        watched = runner.invoke(
            main, ["audit", "watch", base, "--log-key", signer.verifier.vkey, "--state", str(state)]
        )
        assert watched.exit_code == 0, watched.output
        assert "size 11" in watched.output and state.exists()
        as_json = runner.invoke(
            main, ["audit", "replay", base, "--log-key", signer.verifier.vkey, "--json"]
        )
        assert json.loads(as_json.output)["ok"] is True
        # A smuggled forgery: the replay fails and names the entry.
        good = json.loads(registry.store.entry(2))
        forged = {**good, "logged_at": clock.now_ms, "claim": {**good["claim"], "counter": 5}}
        index = smuggle(registry, signer, clock, [forged])
        failed = runner.invoke(main, ["audit", "replay", base, "--log-key", signer.verifier.vkey])
        assert failed.exit_code == 1
        assert f"INVALID entry {index} (capture/v1, bad_signature)" in failed.output
        wrong_key = runner.invoke(
            main,
            [
                "audit",
                "watch",
                base,
                "--log-key",
                Signer.generate(signer.name).verifier.vkey,
                "--state",
                str(state),
            ],
        )
        assert wrong_key.exit_code == 1 and "not signed by any known key" in wrong_key.output
        # Another view of the same log agrees; a same-size checkpoint with another root, signed
        # by the log's key (what a split view hands someone else), raises the alarm.
        agreed = runner.invoke(
            main,
            ["audit", "watch", base, "--log-key", signer.verifier.vkey, "--state", str(state),
             "--compare-url", base],
        )  # fmt: skip
        assert agreed.exit_code == 0, agreed.output
        assert "agrees with 1 other checkpoint" in agreed.output
        size = registry.store.latest_checkpoint().size
        other = tmp_path / "other.checkpoint"
        other.write_bytes(sign_checkpoint(Checkpoint(signer.name, size, b"\x07" * 32), signer))
        split = runner.invoke(
            main,
            ["audit", "watch", base, "--log-key", signer.verifier.vkey, "--state", str(state),
             "--compare", str(other), "--evidence-dir", str(tmp_path / "evidence")],
        )  # fmt: skip
        assert split.exit_code == 1
        assert (
            "ALARM" in split.output and "SPLIT VIEW" in split.output and str(other) in split.output
        )
        (evidence,) = (tmp_path / "evidence").iterdir()
        assert {p.name for p in evidence.iterdir()} == {
            "first.checkpoint",
            "second.checkpoint",
            "ALARM.txt",
        }
