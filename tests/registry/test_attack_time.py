"""Issue 13, holes 7 and 8: time evidence one bad clock could break, and an honest log that
failed its own audit.

Hole 7: with k of n witnesses required, the witnessed time is the k-th earliest cosignature,
so one slow witness no longer fails every bundle and one lying witness cannot set "existed no
later than"; a `logged_at` later than k witnesses' cosignatures of a tree holding the entry is
flagged by `prov verify` and by `prov audit replay` (`logged_after_cosigned`).

Hole 8: the sequencer never assigns a `logged_at` below the previous batch's, whatever the
clock of the replica that appends, so an honest log replays clean (`logged_at_backwards` stays
for old logs that do hold one).

Cosignatures are made with the witnesses' keys at chosen times and stored as the pusher stores
them (log_cosignatures), so each test says exactly what each witness's clock read."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import insert

from cli.main import main
from ledger import LogConfig, LogStore, Signer
from ledger.cosignature import Cosigner
from ledger.database import open_engine
from ledger.note import parse_note, write_private_key_file
from ledger.schema import log_cosignatures
from registry import Registry, RegistrySettings
from registry.audit.auditor import EntryAuditor
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import BundleReport, verify_bundle
from registry.entries.codec import CAPTURE
from registry.open import registry_sequencer
from registry.wording import iso_utc
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import DAY_MS, TOKEN, record, smuggle
from tests.support.serving import prov_serve

WITNESSES = ("witness.example.org/w1", "witness.example.org/w2", "witness.example.org/w3")


@pytest.fixture
def cosigners() -> list[Cosigner]:
    return [Cosigner.generate(name) for name in WITNESSES]


def cosign(store: LogStore, cosigner: Cosigner, size: int, at_ms: int) -> None:
    """`cosigner` cosigns the log's checkpoint at `size` when its clock reads `at_ms`."""
    body = parse_note(store.checkpoint_at(size).note).text
    timestamp = at_ms // 1000
    signature = cosigner.cosign(body, timestamp)
    with store.engine.begin() as connection:
        connection.execute(
            insert(log_cosignatures).values(
                tree_size=size, key_name=signature.name, key_id=signature.key_id,
                timestamp=timestamp, line=signature.line(),
            )
        )  # fmt: skip


def logged_capture(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> int:
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, clock.now_ms - 5_000)])
    assert result.receipt is not None
    return result.receipt.index


def existed(report: BundleReport) -> int:
    (claim,) = [t for t in report.times if t.what == "existed no later than"]
    return int(claim.at_ms)


# --- hole 7 ---


def test_one_slow_witness_does_not_break_bundles(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner], tmp_path: Path,
) -> None:  # fmt: skip
    index = logged_capture(registry, enrolled, clock)
    size = registry.store.latest_checkpoint().size
    honest = clock.now_ms + 60_000
    cosign(registry.store, cosigners[0], size, honest)
    cosign(registry.store, cosigners[1], size, honest + 30_000)
    cosign(registry.store, cosigners[2], size, honest - DAY_MS)  # its clock is a day behind
    data = build_bundle(registry.store, index)
    keys = [c.verifier for c in cosigners]

    report = verify_bundle(data, signer.verifier, witnesses=keys, min_witnesses=2)
    assert report.ok, report.checks
    assert existed(report) == honest + 30_000 - (honest + 30_000) % 1000  # the 2nd earliest good
    (timing,) = [c for c in report.checks if c.name == "time evidence"]
    assert WITNESSES[2] in timing.detail and "outlier" in timing.detail

    # All three required: only two consistent cosignatures remain, so it fails and says why.
    three = verify_bundle(data, signer.verifier, witnesses=keys, min_witnesses=3)
    assert not three.ok and WITNESSES[2] in three.checks[-1].detail

    path = tmp_path / "bundle.json"
    path.write_bytes(data)
    options = [f"--witness-key={k.vkey}" for k in keys]
    shown = CliRunner().invoke(
        main,
        ["verify", str(path), "--log-key", signer.verifier.vkey, *options, "--min-witnesses", "2"],
    )
    assert shown.exit_code == 0, shown.output
    assert "bundle verified" in shown.output


def test_one_lying_witness_cannot_set_existed_time(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner],
) -> None:  # fmt: skip
    index = logged_capture(registry, enrolled, clock)
    size = registry.store.latest_checkpoint().size
    logged_at = json.loads(registry.store.entry(index))["logged_at"]
    honest = (logged_at // 1000 + 100) * 1000
    cosign(registry.store, cosigners[0], size, honest)
    cosign(registry.store, cosigners[1], size, honest + 40_000)
    # The liar claims it saw the log a second after the capture was logged: plausible on its
    # own, and earlier than any honest witness could vouch for.
    cosign(registry.store, cosigners[2], size, logged_at + 1_000)
    data = build_bundle(registry.store, index)
    keys = [c.verifier for c in cosigners]

    report = verify_bundle(data, signer.verifier, witnesses=keys, min_witnesses=2)
    assert report.ok, report.checks
    assert existed(report) == honest  # the 2nd earliest, not the liar's
    (claim,) = [t for t in report.times if t.what == "existed no later than"]
    assert WITNESSES[0] in claim.vouched_by and "2 of" in claim.vouched_by

    # A liar claiming an impossible time (a day before the capture) is set aside, reported.
    wild_liar = Cosigner.generate("witness.example.org/w4")
    cosign(registry.store, wild_liar, size, logged_at - DAY_MS)
    wild_keys = [cosigners[0].verifier, cosigners[1].verifier, wild_liar.verifier]
    data = build_bundle(registry.store, index)
    wild = verify_bundle(data, signer.verifier, witnesses=wild_keys, min_witnesses=2)
    assert wild.ok, wild.checks
    assert existed(wild) == honest + 40_000  # w1 and w2 are the only two consistent ones
    (timing,) = [c for c in wild.checks if c.name == "time evidence"]
    assert "witness.example.org/w4" in timing.detail and "set aside" in timing.detail

    # With one witness required the earliest is the answer, as before (k - 1 = 0 liars).
    one = verify_bundle(data, signer.verifier, witnesses=keys, min_witnesses=1)
    assert one.ok and existed(one) == (logged_at + 1_000) // 1000 * 1000


def _logged_late(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, cosigners: list[Cosigner]
) -> tuple[int, int, int]:
    """A capture logged with the operator's clock a day fast, then cosigned by all three
    witnesses with true clocks. Returns (capture index, tree size, true time)."""
    true_now = clock.now_ms
    clock.now_ms += DAY_MS  # the operator's clock (or the operator) lies forward
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, true_now - 5_000)])
    assert result.receipt is not None
    index = result.receipt.index
    size = registry.store.latest_checkpoint().size
    for offset, cosigner in enumerate(cosigners):
        cosign(registry.store, cosigner, size, true_now + 60_000 + offset * 1_000)
    return index, size, true_now


def test_logged_at_after_cosignature_is_flagged(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner], tmp_path: Path,
) -> None:  # fmt: skip
    index, size, _ = _logged_late(registry, enrolled, clock, cosigners)
    keys = [c.verifier for c in cosigners]
    data = build_bundle(registry.store, index)

    report = verify_bundle(data, signer.verifier, witnesses=keys, min_witnesses=2)
    assert not report.ok
    failed = report.checks[-1]
    assert failed.name == "time evidence" and not failed.ok
    logged_at = json.loads(registry.store.entry(index))["logged_at"]
    assert f"logged at {iso_utc(logged_at)}" in failed.detail
    assert WITNESSES[0] in failed.detail and WITNESSES[1] in failed.detail
    assert "cosigned" in failed.detail

    with served(registry, signer, tmp_path) as remote:
        replayed = replay_log(remote, signer.verifier, workers=1, witnesses=keys, min_witnesses=2)
        unwitnessed = replay_log(remote, signer.verifier, workers=1)
    assert {(i.index, i.code) for i in replayed.invalid} == {(index, "logged_after_cosigned")}
    assert not replayed.ok
    assert unwitnessed.ok  # without witness keys the replay cannot know

    # A newer batch the witnesses have not cosigned yet: the replay uses the latest checkpoint
    # they did cosign (of `size` entries), served beside /checkpoint.
    registry.submit_captures([record(enrolled.device, 4, 2, clock.now_ms)])
    assert registry.store.latest_checkpoint().size > size
    (tmp_path / "again").mkdir()
    with served(registry, signer, tmp_path / "again") as remote:
        later = replay_log(remote, signer.verifier, workers=1, witnesses=keys, min_witnesses=2)
    assert {(i.index, i.code) for i in later.invalid} == {(index, "logged_after_cosigned")}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # a real server: one is enough
def test_prov_audit_replay_takes_witness_keys(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner], tmp_path: Path, migrated_url: str,
) -> None:  # fmt: skip
    index, _, _ = _logged_late(registry, enrolled, clock, cosigners)
    write_private_key_file(tmp_path / "log.key", signer.to_string(), "log")
    options = ["--data-dir", str(tmp_path), "--database", migrated_url]
    keys = [f"--witness-key={c.verifier.vkey}" for c in cosigners]
    runner = CliRunner()
    with prov_serve(options, tmp_path / "serve.log") as base:
        failed = runner.invoke(
            main,
            ["audit", "replay", base, "--log-key", signer.verifier.vkey, *keys,
             "--min-witnesses", "2", "--workers", "1"],
        )  # fmt: skip
        too_many = runner.invoke(
            main,
            ["audit", "replay", base, "--log-key", signer.verifier.vkey, keys[0],
             "--min-witnesses", "2", "--workers", "1"],
        )  # fmt: skip
    assert failed.exit_code != 0, failed.output
    assert f"entry {index}" in failed.output and "logged_after_cosigned" in failed.output
    assert too_many.exit_code != 0 and "1 of the 2" in too_many.output


# --- hole 8 ---


def _logged_ats(store: LogStore) -> list[int]:
    size = store.latest_checkpoint().size
    return [json.loads(leaf)["logged_at"] for leaf in store.entries(0, size)]


def test_clock_step_back_keeps_logged_at_monotonic(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    for seed in range(1, 5):
        (result,) = registry.submit_captures(
            [record(enrolled.device, seed, seed, clock.now_ms - 10_000)]
        )
        assert result.accepted, result
        clock.now_ms -= 1_000  # an NTP step back between batches
    times = _logged_ats(registry.store)
    assert times == sorted(times)
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok, report.invalid

    # An old log that does hold a backwards logged_at is still reported, with its index.
    good = json.loads(registry.store.entry(2))
    assert good["kind"] == CAPTURE
    first = smuggle(registry, signer, clock, [{**good, "logged_at": times[-1] - 5_000}])
    (tmp_path / "again").mkdir()
    with served(registry, signer, tmp_path / "again") as remote:
        old = replay_log(remote, signer.verifier, workers=1)
    assert (first, "logged_at_backwards") in {(i.index, i.code) for i in old.invalid}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_skewed_replicas_keep_logged_at_monotonic(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    tmp_path: Path, migrated_url: str,
) -> None:  # fmt: skip
    # A second API replica on the same database, its clock 3 s behind the first's.
    slow_clock = FixedClock(clock.now_ms - 3_000)
    other_store = LogStore(open_engine(migrated_url))
    settings = RegistrySettings(
        log=LogConfig(tmp_path, migrated_url, tmp_path / "log.key"),
        admin_token=TOKEN,
        max_batch=50,
        verify_workers=0,
    )
    replica = Registry(
        other_store, registry_sequencer(other_store, signer, slow_clock), settings, slow_clock
    )
    try:
        for seed in range(1, 7):
            writer = registry if seed % 2 else replica
            (result,) = writer.submit_captures(
                [record(enrolled.device, seed, seed, slow_clock.now_ms - 10_000)]
            )
            assert result.accepted, result
    finally:
        replica.close()
        other_store.engine.dispose()
    times = _logged_ats(registry.store)
    assert times == sorted(times)
    auditor = EntryAuditor()
    size = registry.store.latest_checkpoint().size
    auditor.audit(0, registry.store.entries(0, size))
    auditor.finish()
    assert auditor.invalid == []
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.ok, report.invalid


def test_replay_checks_entries_verified_before_witnesses_cosigned(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner], tmp_path: Path,
) -> None:  # fmt: skip
    """A resumed replay: the late entry was verified by an earlier run, before any witness
    cosigned; the next run, with witness keys, still names it."""
    true_now = clock.now_ms
    clock.now_ms += DAY_MS
    (result,) = registry.submit_captures([record(enrolled.device, 3, 1, true_now - 5_000)])
    assert result.receipt is not None
    state = tmp_path / "replay.json"
    keys = [c.verifier for c in cosigners]
    with served(registry, signer, tmp_path) as remote:
        first = replay_log(remote, signer.verifier, state_path=state, workers=1)
        assert first.ok
        unwitnessed = replay_log(
            remote, signer.verifier, workers=1, witnesses=keys, min_witnesses=2
        )
        assert [f.where for f in unwitnessed.findings] == ["witness cosignatures"]
        assert "0 of the 2 witnesses required" in unwitnessed.findings[0].reason
        size = registry.store.latest_checkpoint().size
        for cosigner in cosigners:
            cosign(registry.store, cosigner, size, true_now + 60_000)
        second = replay_log(
            remote, signer.verifier, state_path=state, workers=1, witnesses=keys, min_witnesses=2
        )
    assert second.entries == 0
    assert {(i.index, i.code) for i in second.invalid} == {
        (result.receipt.index, "logged_after_cosigned")
    }


def test_one_lying_witness_cannot_make_an_honest_log_fail_replay(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer,
    cosigners: list[Cosigner], tmp_path: Path,
) -> None:  # fmt: skip
    logged_capture(registry, enrolled, clock)
    size = registry.store.latest_checkpoint().size
    cosign(registry.store, cosigners[0], size, clock.now_ms + 10_000)
    cosign(registry.store, cosigners[1], size, clock.now_ms + 20_000)
    cosign(registry.store, cosigners[2], size, clock.now_ms - DAY_MS)  # claims it saw it early
    keys = [c.verifier for c in cosigners]
    with served(registry, signer, tmp_path) as remote:
        two = replay_log(remote, signer.verifier, workers=1, witnesses=keys, min_witnesses=2)
        one = replay_log(remote, signer.verifier, workers=1, witnesses=keys, min_witnesses=1)
    assert two.ok, (two.invalid, two.findings)
    # Trusting any single witness, its word is enough: the entries are flagged.
    assert {i.code for i in one.invalid} == {"logged_after_cosigned"}
