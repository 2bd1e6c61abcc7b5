"""`prov serve --workers N` shares the machine's CPUs among its workers, for image decodes and
signature processes: each counting every CPU as its own let N workers decode N x CPUs images at
once and keep N x CPUs verify processes (bench/hostile_bench.py)."""

import os
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from cli import operator_commands
from ledger import LogConfig
from registry.config import cpu_share

WORKER_ENV = ("PROV_DATA_DIR", "PROV_DATABASE_URL", "PROV_LOG_KEY_FILE", "PROV_WITNESS_PUSH")


@pytest.mark.parametrize(
    ("workers", "cpus", "slots"), [(1, 2, 2), (2, 2, 1), (4, 2, 1), (2, 8, 4), (3, 8, 2)]
)
def test_the_cpus_are_shared_among_the_workers(workers: int, cpus: int, slots: int) -> None:
    assert cpu_share(workers, cpus) == slots


def _environment_the_workers_get(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> dict[str, str]:
    for name in WORKER_ENV:
        monkeypatch.setenv(name, "")  # restored after the test, whatever the command sets
    seen: dict[str, str] = {}

    def run(*_args: Any, **_kwargs: Any) -> None:
        seen.update(os.environ)

    monkeypatch.setattr(uvicorn, "run", run)
    config = LogConfig(tmp_path, f"sqlite:///{tmp_path / 'log.db'}", tmp_path / "log.key")
    operator_commands._supervise_workers(config, "127.0.0.1", 0, workers, "text")
    return seen


@pytest.mark.parametrize("name", ["PROV_DECODE_CONCURRENCY", "PROV_VERIFY_WORKERS"])
def test_each_worker_gets_its_share_of_the_cpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    # Set first, so that undoing it removes what the command sets (delenv of an unset name
    # records nothing to undo).
    for each in ("PROV_DECODE_CONCURRENCY", "PROV_VERIFY_WORKERS"):
        monkeypatch.setenv(each, "")
        monkeypatch.delenv(each)
    seen = _environment_the_workers_get(tmp_path, monkeypatch, workers=2)
    assert seen[name] == str(cpu_share(2))
    assert int(seen[name]) <= max(1, (os.cpu_count() or 1) // 2)


def test_the_operators_settings_stand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROV_DECODE_CONCURRENCY", "7")
    monkeypatch.setenv("PROV_VERIFY_WORKERS", "5")
    seen = _environment_the_workers_get(tmp_path, monkeypatch, workers=2)
    assert (seen["PROV_DECODE_CONCURRENCY"], seen["PROV_VERIFY_WORKERS"]) == ("7", "5")
