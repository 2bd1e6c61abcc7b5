"""Issue 17: the auditor's and the witness's outputs say times in ISO 8601 UTC and counts in
words (registry.wording), never a raw repr or a millisecond value, and name their subject."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

import cli.audit_commands
from cli.main import main
from ledger import Checkpoint, Signer, open_engine, sign_checkpoint
from ledger.cosignature import Cosigner
from ledger.note import write_private_key_file
from ledger.witness import Witness
from registry import Registry
from registry.audit.replay import replay_log
from registry.wording import iso_utc
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.forked_copy import KeptOpen, served_store
from tests.support.in_process import served
from tests.support.registry_fixtures import record, smuggle
from tests.support.status_fixtures import capture, hex_id, resign_without, revoke_device

LOG_URL = "http://log.example"
NOW_S = 1_800_000_000  # 2027-01-15T08:00:00Z


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replay_prints_the_signed_note_as_its_lines_and_counts_in_words(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    capture(registry, enrolled, 37, 1, clock.now_ms - 5_000)
    revocation = revoke_device(registry, enrolled, clock.now_ms - 10_000)
    key = signer.verifier.vkey
    with served_store(registry.store, signer, tmp_path / "log") as client:
        monkeypatch.setattr(
            cli.audit_commands, "RemoteLog", lambda url, **_: KeptOpen(url, http=client)
        )
        honest = CliRunner().invoke(main, ["audit", "replay", LOG_URL, "--log-key", key])
        device = bytes.fromhex(hex_id(enrolled.device.der))
        note = resign_without(registry, signer, device, revocation)
        lied = CliRunner().invoke(main, ["audit", "replay", LOG_URL, "--log-key", key])
    assert honest.exit_code == 0, honest.output
    assert "(1 subject, 1 entry naming it)" in honest.output
    assert "(s)" not in honest.output and "(ies)" not in honest.output
    assert lied.exit_code == 1, lied.output
    lines = lied.output.splitlines()
    start = lines.index("       the note as signed:")
    shown = [line.removeprefix("         ") for line in lines[start + 1 :]]
    assert shown[: len(note.decode().splitlines())] == note.decode().splitlines()
    assert "\\n" not in lied.output and "'" not in lied.output.split("the note as signed")[1]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_backwards_logged_at_is_said_in_iso_utc(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, 37, 1, clock.now_ms - 5_000)
    good = json.loads(registry.store.entry(index))
    earlier = good["logged_at"] - 90_000
    first = smuggle(registry, signer, clock, [{**good, "logged_at": earlier}])
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    (backwards,) = [i for i in report.invalid if i.index == first]
    assert backwards.code == "logged_at_backwards"
    assert iso_utc(earlier) in backwards.reason and iso_utc(good["logged_at"]) in backwards.reason
    assert str(earlier) not in backwards.reason


def _witnessed(url: str, signer: Signer) -> Engine:
    """A witness database that cosigned the log at 5 entries and kept one refusal."""
    engine = open_engine(url)
    witness = Witness(
        engine, Cosigner.generate("witness.example.org/w1"), {signer.name: signer.verifier}
    )
    root = bytes(range(32))
    note = sign_checkpoint(Checkpoint(signer.name, 5, root), signer)
    assert witness.add_checkpoint(b"old 0\n\n" + note, NOW_S).status == 200
    other = sign_checkpoint(Checkpoint(signer.name, 5, b"\x07" * 32), signer)
    assert witness.add_checkpoint(b"old 5\n\n" + other, NOW_S + 10).status == 409
    return engine


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_witness_status_says_when_in_iso_utc_and_counts_in_words(
    migrated_url: str, signer: Signer
) -> None:
    _witnessed(migrated_url, signer).dispose()
    shown = CliRunner().invoke(main, ["witness", "status", "--database", migrated_url])
    assert shown.exit_code == 0, shown.output
    assert f"cosigned at {iso_utc(NOW_S * 1000)}" in shown.output
    assert "1 refusal kept" in shown.output and str(NOW_S) not in shown.output


def test_clusters_say_spans_and_counts_in_words(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    # The same picture twice, logged 13.6 s apart: one cluster of two.
    for counter in (1, 2):
        (result,) = registry.submit_captures([record(enrolled.device, 5, counter, clock.now_ms)])
        assert result.accepted, result
        clock.now_ms += 13_600
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    base = ["--data-dir", str(tmp_path), "--database", migrated_url]
    shown = CliRunner().invoke(main, [*base, "clusters"])
    assert shown.exit_code == 0, shown.output
    assert "2 captures, 1 cluster\n" in shown.output
    assert "13 seconds" in shown.output and "14 s" not in shown.output
