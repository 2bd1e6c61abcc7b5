"""Issue 17: every auditor message names the file or URL it is about, and with --compare-url
`prov audit watch` says whether the log itself checked out before it reports the mirror's
failure. Counts and times are said as registry.wording says them."""

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

import cli.audit_commands
from cli.main import main
from ledger import Checkpoint, Signer, sign_checkpoint
from ledger.remote import RemoteLog
from registry import Registry
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.forked_copy import KeptOpen, forked_copy, served_store
from tests.support.registry_fixtures import record

LOG_URL, MIRROR_URL, FORK_URL = "http://log.example", "http://mirror.example", "http://fork.example"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers


@pytest.fixture
def clients(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, TestClient]]:
    """The log (also served as its honest mirror) and a forked copy of the same size, each at
    its own URL as the CLI sees it."""
    registry.submit_captures([record(enrolled.device, s, s, clock.now_ms - 1000) for s in (1, 2)])
    size = registry.store.latest_checkpoint().size
    with (
        served_store(registry.store, signer, tmp_path / "log") as log,
        forked_copy(registry.store, signer, clock, tmp_path / "fork", size - 1, 1) as fork,
        served_store(fork, signer, tmp_path / "fork") as forked,
    ):
        served = {LOG_URL: log, MIRROR_URL: log, FORK_URL: forked}
        monkeypatch.setattr(cli.audit_commands, "RemoteLog", _remotes(served))
        yield served


def _remotes(clients: dict[str, TestClient]) -> Callable[..., RemoteLog]:
    def remote(url: str, **_: object) -> RemoteLog:
        client = clients.get(url)
        return RemoteLog(url, timeout=2) if client is None else KeptOpen(url, http=client)

    return remote


def watch(signer: Signer, tmp_path: Path, *options: str) -> Result:
    state = tmp_path / "watch.json"
    return CliRunner().invoke(
        main,
        ["audit", "watch", LOG_URL, "--log-key", signer.verifier.vkey, "--state", str(state),
         "--evidence-dir", str(tmp_path / "evidence"), *options],
    )  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_compare_file_that_is_not_a_checkpoint_is_named(
    clients: dict[str, TestClient], signer: Signer, tmp_path: Path
) -> None:
    notcp = tmp_path / "notcp.txt"
    notcp.write_text("hello\n")
    result = watch(signer, tmp_path, "--compare", str(notcp))
    assert result.exit_code == 2, result.output
    assert f"--compare {notcp}: not a checkpoint: " in result.output
    missing = watch(signer, tmp_path, "--compare", str(tmp_path / "absent.txt"))
    assert f"--compare {tmp_path / 'absent.txt'}: " in missing.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_log_url_is_named_when_its_checkpoint_does_not_verify(
    clients: dict[str, TestClient], signer: Signer, tmp_path: Path
) -> None:
    other = Signer.generate(signer.name).verifier.vkey
    state = tmp_path / "watch.json"
    result = CliRunner().invoke(
        main, ["audit", "watch", LOG_URL, "--log-key", other, "--state", str(state)]
    )
    assert result.exit_code == 1
    assert f"the log at {LOG_URL}: " in result.output and "not signed" in result.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_failing_mirror_is_reported_after_the_log_checked_out(
    clients: dict[str, TestClient], signer: Signer, tmp_path: Path, registry: Registry
) -> None:
    size = registry.store.latest_checkpoint().size
    checked = f"the log at {LOG_URL} checked out to size {size}"
    unreachable = watch(signer, tmp_path, "--compare-url", UNREACHABLE)
    assert unreachable.exit_code == 3, unreachable.output
    assert f"{checked} " in unreachable.output
    assert f"its mirror at {UNREACHABLE}: cannot reach" in unreachable.output

    forked = watch(signer, tmp_path, "--compare-url", FORK_URL)
    assert forked.exit_code == 1, forked.output
    assert "ALARM" in forked.output and f"{checked} " in forked.output
    assert f"its mirror at {FORK_URL}" in forked.output and "SPLIT VIEW" in forked.output
    assert "evidence: " in forked.output and (tmp_path / "evidence").is_dir()

    agreed = watch(signer, tmp_path, "--compare-url", MIRROR_URL)
    assert agreed.exit_code == 0, agreed.output
    assert "agrees with 1 other checkpoint\n" in agreed.output
    assert "checkpoint(s)" not in agreed.output


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_split_view_names_the_log_by_its_url(
    clients: dict[str, TestClient], signer: Signer, tmp_path: Path, registry: Registry
) -> None:
    size = registry.store.latest_checkpoint().size
    other = tmp_path / "other.checkpoint"
    other.write_bytes(sign_checkpoint(Checkpoint(signer.name, size, b"\x07" * 32), signer))
    result = watch(signer, tmp_path, "--compare", str(other))
    assert result.exit_code == 1
    assert "SPLIT VIEW" in result.output and f"the log at {LOG_URL} shows" in result.output
