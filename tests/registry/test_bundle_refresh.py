"""Issue 15, part 1: `prov verify --refresh URL` reports the revocation status now.

A bundle proves its status as of its checkpoint; a device revoked after it is clean as of that
checkpoint, and the refresh shows the revocation - from a fresh bundle that verifies offline,
proves the same capture entry and whose checkpoint extends the old one. A log that forked, or
rolled back, or answers with another capture, fails the refresh.
"""

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.errors import EXIT_CAUTION, EXIT_OK
from cli.main import main
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings, open_registry
from registry.bundle.build import build_bundle
from registry.bundle.refresh import refresh_bundle
from registry.bundle.verify import verify_bundle
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW, REVOCATION_STATUS_UNPROVEN
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client
from tests.support.registry_fixtures import TOKEN
from tests.support.status_fixtures import (
    InProcess,
    bundle_of,
    canonical,
    capture,
    revoke_device,
    source,
)

SEED = 41


def test_revoked_after_the_checkpoint_refresh_shows_the_revocation(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    old = build_bundle(registry.store, index)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    then = verify_bundle(old, signer.verifier)
    assert then.ok and then.cautions == ()  # clean as of its checkpoint
    with source(registry, signer, tmp_path) as fresh:
        refreshed = refresh_bundle(old, fresh, signer.verifier)
    assert refreshed.ok, refreshed.checks
    assert [c.name for c in refreshed.checks] == ["fresh bundle", "same capture", "log consistency"]
    assert "extends this bundle's checkpoint" in refreshed.checks[-1].detail
    now = refreshed.report
    assert now is not None and now.status is not None and then.status is not None
    assert [r.index for r in now.status.revocations] == [revocation]
    assert now.status.size > then.status.size
    assert {c.code for c in now.cautions} == {CAPTURED_IN_COMPROMISE_WINDOW}


def test_refreshing_a_current_bundle_finds_the_same_tree(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    with source(registry, signer, tmp_path) as fresh:
        refreshed = refresh_bundle(build_bundle(registry.store, index), fresh, signer.verifier)
    assert refreshed.ok and "the same tree" in refreshed.checks[-1].detail


def test_a_stripped_bundle_refreshed_is_proven(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    bundle = bundle_of(registry, index)
    del bundle["status"], bundle["revocations"]
    stripped = canonical(bundle)
    assert {c.code for c in verify_bundle(stripped, signer.verifier).cautions} == {
        REVOCATION_STATUS_UNPROVEN
    }
    with source(registry, signer, tmp_path) as fresh:
        refreshed = refresh_bundle(stripped, fresh, signer.verifier)
    assert refreshed.ok and refreshed.report is not None
    assert {c.code for c in refreshed.report.cautions} == {CAPTURED_IN_COMPROMISE_WINDOW}


class Substitute:
    """A log that answers a refresh with what the test chooses."""

    def __init__(self, bundle: bytes, proof: list[bytes] | None = None) -> None:
        self._bundle, self._proof = bundle, proof or []

    def bundle(self, index: int) -> bytes:
        return self._bundle

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        return self._proof


def test_a_fresh_bundle_of_another_capture_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    other = capture(registry, enrolled, SEED + 1, 2, clock.now_ms - 4_000)
    old = build_bundle(registry.store, index)
    refreshed = refresh_bundle(
        old, Substitute(build_bundle(registry.store, other)), signer.verifier
    )
    assert not refreshed.ok
    assert refreshed.checks[-1].name == "same capture" and not refreshed.checks[-1].ok


def test_a_rolled_back_log_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    older = build_bundle(registry.store, index)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    newer = build_bundle(registry.store, index)
    # The log answers with its older tree (the one before the revocation).
    refreshed = refresh_bundle(newer, Substitute(older), signer.verifier)
    assert not refreshed.ok and "rolled back" in refreshed.checks[-1].detail


def test_a_bad_consistency_proof_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    old = build_bundle(registry.store, index)
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    new = build_bundle(registry.store, index)
    refreshed = refresh_bundle(old, Substitute(new, [bytes(32)] * 3), signer.verifier)
    assert not refreshed.ok and "forked" in refreshed.checks[-1].detail


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the fork copies the file
def test_a_forked_log_fails_the_refresh(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    """Two histories signed by one key that share the capture: the bundle from one, a fresh
    bundle from the other. Each verifies alone; the consistency proof shows the fork."""
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    database = registry.store.engine.url.database
    assert database is not None
    registry.store.engine.dispose()  # its last connection folds the WAL into the file
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    for part in Path(database).parent.glob(Path(database).name + "*"):  # -wal, -shm if any
        shutil.copy(part, fork_dir / part.name.replace(Path(database).name, "fork.db"))
    # This history revokes the device; the other logs two other captures instead.
    revoke_device(registry, enrolled, clock.now_ms - 10_000)
    ours = build_bundle(registry.store, index)
    write_private_key_file(fork_dir / "log.key", signer.to_string(), "log")
    settings = RegistrySettings(
        log=LogConfig(fork_dir, f"sqlite:///{fork_dir / 'fork.db'}", fork_dir / "log.key"),
        admin_token=TOKEN, verify_workers=0,
    )  # fmt: skip
    forked = open_registry(settings, clock=FixedClock(clock.now_ms))
    try:
        capture(forked, enrolled, SEED + 2, 2, clock.now_ms - 3_000)
        capture(forked, enrolled, SEED + 3, 3, clock.now_ms - 2_000)
        theirs = build_bundle(forked.store, index)
        assert verify_bundle(ours, signer.verifier).ok
        assert verify_bundle(theirs, signer.verifier).ok
        with api_client(forked, signer, tmp_path / "fork-api") as client:
            refreshed = refresh_bundle(ours, InProcess(client), signer.verifier)
    finally:
        forked.close()
    assert not refreshed.ok
    (last,) = refreshed.checks[-1:]
    assert last.name == "log consistency" and "forked" in last.detail


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_verify_refresh(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path,
    migrated_url: str,
) -> None:  # fmt: skip
    from tests.support.serving import prov_serve

    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 5_000)
    path = tmp_path / "b.json"
    path.write_bytes(build_bundle(registry.store, index))
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    vkey = signer.verifier.vkey
    options = ["--data-dir", str(tmp_path), "--database", migrated_url]
    with prov_serve(options, tmp_path / "serve.log") as base:
        clean = CliRunner().invoke(
            main, ["verify", str(path), "--log-key", vkey, "--refresh", base]
        )
        assert clean.exit_code == EXIT_OK, clean.output
        assert "still clean now" in clean.stdout
        revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
        text = CliRunner().invoke(main, ["verify", str(path), "--log-key", vkey, "--refresh", base])
        shown = CliRunner().invoke(
            main, ["verify", str(path), "--log-key", vkey, "--refresh", base, "--json"]
        )
    assert text.exit_code == EXIT_CAUTION, text.output
    assert text.stdout.index(CAPTURED_IN_COMPROMISE_WINDOW) < text.stdout.index("status as of")
    assert "clean: no revocation" in text.stdout
    assert "now, status as of checkpoint" in text.stdout
    assert f"1 revocation(s): log entry {revocation} of the device" in text.stdout
    answer = json.loads(shown.stdout)
    assert shown.exit_code == EXIT_CAUTION and answer["ok"] is True
    assert answer["status"]["then"]["revocations"] == []
    assert [r["index"] for r in answer["status"]["now"]["revocations"]] == [revocation]
    assert [c["code"] for c in answer["cautions"]] == [CAPTURED_IN_COMPROMISE_WINDOW]
    bad = CliRunner().invoke(main, ["verify", str(path), "--log-key", vkey, "--refresh", "ftp://x"])
    assert bad.exit_code == 2
