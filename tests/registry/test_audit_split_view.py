"""Issue 17: `prov audit replay` resumed against a forked copy of the log it pinned reports a
split view (the history shown is inconsistent with the pinned checkpoint), not changed entries,
and writes the evidence as `prov audit watch` does: both signed checkpoints, the consistency
proof that failed, and what is wrong with them."""

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

import cli.audit_commands
from cli.main import main
from ledger import Signer
from ledger.checkpoint import open_checkpoint
from ledger.merkle import verify_consistency
from ledger.remote import RemoteLog
from registry import Registry
from registry.audit.replay import replay_log
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.forked_copy import KeptOpen, forked_copy, served_store
from tests.support.registry_fixtures import record

LOG_URL, FORK_URL = "http://log.example", "http://fork.example"


def logged(registry: Registry, enrolled: DevicePKI, clock: FixedClock, seeds: range) -> int:
    results = registry.submit_captures(
        [record(enrolled.device, s, s, clock.now_ms - 1000) for s in seeds]
    )
    assert all(r.accepted for r in results)
    return registry.store.latest_checkpoint().size


def remotes(clients: dict[str, TestClient]) -> Callable[..., RemoteLog]:
    """Stands in for RemoteLog(url) in the CLI: each URL is one of the in-process logs."""
    return lambda url, **_: KeptOpen(url, http=clients[url])


@pytest.mark.parametrize("own", [0, 3], ids=["same-size", "larger"])
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_replay_against_a_forked_copy_is_a_split_view_with_evidence(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    own: int,
) -> None:
    size = logged(registry, enrolled, clock, range(1, 5))
    state, evidence = tmp_path / "replay.json", tmp_path / "evidence"
    with served_store(registry.store, signer, tmp_path / "log") as client:
        pinned = replay_log(KeptOpen(LOG_URL, http=client), signer.verifier, state_path=state)
    assert pinned.ok
    saved = state.read_text()
    # The copy keeps all but the last entry and replaces it (same size), or adds three more.
    with (
        forked_copy(registry.store, signer, clock, tmp_path / "fork", size - 1, own + 1) as fork,
        served_store(fork, signer, tmp_path / "fork") as client,
    ):
        report = replay_log(
            KeptOpen(FORK_URL, http=client), signer.verifier, state_path=state, workers=1
        )
    assert not report.ok
    assert report.split is not None
    text = report.split.reason
    assert "split view" in text.lower() and str(state) in text and FORK_URL in text
    assert f"pinned at size {size}" in text
    assert all("changed, removed or replaced" not in f.reason for f in report.findings)
    assert state.read_text() == saved  # the pinned history stays pinned
    (directory,) = evidence.iterdir()
    assert report.split.evidence == directory
    first = open_checkpoint((directory / "first.checkpoint").read_bytes(), signer.verifier)
    second = open_checkpoint((directory / "second.checkpoint").read_bytes(), signer.verifier)
    assert (first.size, second.size) == (size, size + own)
    assert first.root_hash != second.root_hash
    if own:  # the log's own proof from the pinned tree to its new one, which cannot verify
        lines = (directory / "consistency.proof").read_text().splitlines()
        assert lines[:2] == [f"old {size}", f"new {size + own}"]
        proof = [base64.b64decode(line) for line in lines[2:]]
        with pytest.raises(Exception, match="not an extension"):
            verify_consistency(first.size, second.size, first.root_hash, second.root_hash, proof)
    assert "split view" in (directory / "ALARM.txt").read_text().lower()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_audit_replay_prints_the_split_view_and_where_the_evidence_is(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    size = logged(registry, enrolled, clock, range(1, 4))
    state, evidence = tmp_path / "replay.json", tmp_path / "found"
    base = ["audit", "replay", "--log-key", signer.verifier.vkey, "--state", str(state)]
    with (
        served_store(registry.store, signer, tmp_path / "log") as log,
        forked_copy(registry.store, signer, clock, tmp_path / "fork", size - 2, 4) as fork,
        served_store(fork, signer, tmp_path / "fork") as forked,
    ):
        monkeypatch.setattr(
            cli.audit_commands, "RemoteLog", remotes({LOG_URL: log, FORK_URL: forked})
        )
        runner = CliRunner()
        honest = runner.invoke(main, [*base, LOG_URL, "--workers", "1"])
        assert honest.exit_code == 0, honest.output
        split = runner.invoke(
            main, [*base, FORK_URL, "--workers", "1", "--evidence-dir", str(evidence)]
        )
        as_json = runner.invoke(
            main, [*base, FORK_URL, "--workers", "1", "--evidence-dir", str(evidence), "--json"]
        )
    assert split.exit_code == 1, split.output
    assert "SPLIT VIEW" in split.output and "changed, removed or replaced" not in split.output
    assert f"pinned at size {size}" in split.output
    # Each run writes its evidence (runs within one second share the directory).
    assert any(f"evidence: {d}" in split.output for d in evidence.iterdir())
    report = json.loads(as_json.stdout)
    assert report["ok"] is False and "split view" in report["split_view"]["reason"].lower()
    assert Path(report["split_view"]["evidence"]).parent == evidence
