"""The `prov` command line: init, log status, exit codes and messages, and a real `prov serve`.

init and status run on SQLite (the data directory's default log.db) and on PostgreSQL
(--database); `prov init` runs the migrations itself, so these take the un-migrated
`database_url` fixture.
"""

import base64
import hashlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, inspect

from ledger import (
    LogConfig,
    Verifier,
    hash_leaf,
    open_checkpoint,
    tree_hash,
)
from tests.support.prov_cli import ORIGIN, Prov, assert_exit, one_line
from tests.support.serving import prov_serve

EMPTY_ROOT_B64 = base64.b64encode(hashlib.sha256(b"").digest()).decode()
SERVE_READY_SECONDS = 15


@pytest.fixture(autouse=True)
def _no_prov_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The options under test decide; a developer's PROV_* variables must not."""
    for name in ("PROV_DATA_DIR", "PROV_DATABASE_URL", "PROV_LOG_KEY_FILE", "PROV_ORIGIN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def prov(tmp_path: Path, database_url: str) -> Prov:
    """`prov` on an empty database of each kind. SQLite uses the data directory's default
    log.db (which is exactly `database_url`); PostgreSQL is given with --database."""
    if database_url.startswith("sqlite"):
        assert LogConfig.from_env(tmp_path).database_url == database_url
        return Prov(tmp_path)
    return Prov(tmp_path, database_url)


def root_b64(leaves: list[bytes]) -> str:
    return base64.b64encode(tree_hash([hash_leaf(leaf) for leaf in leaves])).decode()


# prov init


def test_init_writes_a_key_only_its_owner_can_read(prov: Prov) -> None:
    prov.init()

    assert stat.S_IMODE(os.stat(prov.key_file).st_mode) == 0o600


def test_init_prints_the_vkey_of_a_key_named_after_the_origin(prov: Prov) -> None:
    vkey = prov.init()

    assert vkey.name == ORIGIN
    assert vkey == prov.config.load_signer().verifier


def test_init_twice_reuses_the_key_and_keeps_the_log(prov: Prov) -> None:
    first = prov.init()
    prov.append([b"a", b"b", b"c"])

    second = prov.init()

    assert second.vkey == first.vkey
    assert prov.status()["tree_size"] == 3


def test_init_refuses_a_database_that_holds_another_log(prov: Prov, tmp_path: Path) -> None:
    prov.init()
    other = Prov(tmp_path / "other", prov.config.database_url)

    result = other("init", "--origin", "example.org/other")

    assert_exit(result, 2, "example.org/x", "example.org/other")


# prov log status


def test_status_of_a_new_log_is_the_signed_empty_tree(prov: Prov, database_url: str) -> None:
    vkey = prov.init()

    status = prov.status()

    assert status["origin"] == ORIGIN
    assert status["tree_size"] == 0
    assert status["root_hash"] == EMPTY_ROOT_B64
    assert status["vkey"] == vkey.vkey
    assert status["database"] == database_url


def test_status_follows_appended_leaves(prov: Prov) -> None:
    prov.init()
    leaves = [f"leaf {i}".encode() for i in range(300)]

    prov.append(leaves[:1])
    after_one = prov.status()
    prov.append(leaves[1:])
    after_all = prov.status()

    assert (after_one["tree_size"], after_one["root_hash"]) == (1, root_b64(leaves[:1]))
    assert (after_all["tree_size"], after_all["root_hash"]) == (300, root_b64(leaves))


def test_status_for_people_names_the_origin_and_size(prov: Prov) -> None:
    prov.init()
    prov.append([b"x", b"y"])

    result = prov("log", "status")

    assert result.exit_code == 0, result.output
    assert ORIGIN in result.stdout
    assert "tree_size 2" in one_line(result.stdout)


def test_status_shows_the_key_fingerprint_the_pages_show(prov: Prov) -> None:
    """The pages' footer and /how-to-verify compare keys by a 16-hex fingerprint; the command a
    fact-checker gets the key with shows the same one (the SHA-256 of the vkey string)."""
    vkey = prov.init().vkey
    fingerprint = hashlib.sha256(vkey.encode()).hexdigest()[:16]

    assert prov.status()["fingerprint"] == fingerprint
    result = prov("log", "status")
    assert result.exit_code == 0, result.output
    assert f"fingerprint {fingerprint}" in one_line(result.stdout)


def test_status_vkey_prints_only_the_key_for_a_file(prov: Prov) -> None:
    """`prov log status --vkey > log.vkey`: the README's journeys keep the key so, without jq."""
    vkey = prov.init().vkey
    result = prov("log", "status", "--vkey")
    assert result.exit_code == 0, result.output
    assert result.stdout == vkey + "\n"


def test_status_without_a_log_database_asks_for_prov_init(prov: Prov) -> None:
    assert_exit(prov("log", "status"), 2, "prov init")


def test_status_without_a_log_leaves_no_empty_database_behind(tmp_path: Path) -> None:
    assert_exit(Prov(tmp_path)("log", "status"), 2, "no log database at", "prov init")
    assert not (tmp_path / "log.db").exists()


def test_init_with_another_origin_than_the_existing_key_is_refused(prov: Prov) -> None:
    prov.init()
    assert_exit(prov("init", "--origin", "other.example/log"), 2, ORIGIN, "other.example/log")
    assert prov.status()["origin"] == ORIGIN


# Bad configuration: exit 2 and a message that says what is wrong


@pytest.mark.parametrize(
    "contents",
    ["garbage\n", "", "PRIVATE+KEY+truncated\n", "PRIVATE+KEY+example.org/x+00000000+AAAA\n"],
    ids=["garbage", "empty", "truncated", "short-seed"],
)
def test_status_with_a_corrupt_key_file_says_so(tmp_path: Path, contents: str) -> None:
    prov = Prov(tmp_path)
    prov.init()
    prov.key_file.write_text(contents)

    assert_exit(prov("log", "status"), 2, "key file")


def test_status_with_a_binary_key_file_says_so(tmp_path: Path) -> None:
    prov = Prov(tmp_path)
    prov.init()
    prov.key_file.write_bytes(b"\xab\xcd" * 32)

    assert_exit(prov("log", "status"), 2, "key file")


@pytest.mark.parametrize("command", [["log", "status"], ["init"]])
def test_database_that_is_not_a_url_is_bad_input(tmp_path: Path, command: list[str]) -> None:
    result = Prov(tmp_path, "not a url")(*command)

    assert_exit(result, 2, "not a SQLAlchemy URL")


@pytest.mark.parametrize("command", [["log", "status"], ["init"]])
def test_database_url_of_an_unknown_kind_is_bad_input(tmp_path: Path, command: list[str]) -> None:
    result = Prov(tmp_path, "nonsense://")(*command)

    assert_exit(result, 2, "nonsense://")


def test_init_with_an_unreachable_database_is_bad_input(tmp_path: Path) -> None:
    result = Prov(tmp_path, "postgresql+psycopg://postgres@127.0.0.1:1/none")("init")

    assert_exit(result, 2, "prov init")


@pytest.mark.parametrize("url", ["not a url", "nonsense://"])
def test_init_with_a_bad_database_writes_no_key(tmp_path: Path, url: str) -> None:
    prov = Prov(tmp_path, url)

    assert prov("init").exit_code == 2
    assert not prov.key_file.exists()


@pytest.mark.parametrize("url", ["[/]", "[bold]x"])
def test_error_messages_show_the_input_verbatim(tmp_path: Path, url: str) -> None:
    # Messages quote user input; it must not be read as Rich markup (or crash on it).
    assert_exit(Prov(tmp_path, url)("log", "status"), 2, f"'{url}'")


# prov serve


@dataclass
class Server:
    base_url: str
    vkey: Verifier


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `prov serve` subprocess on a fresh log, stopped after the test."""
    vkey = Prov(tmp_path).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    options = ["--data-dir", str(tmp_path)]
    with prov_serve(options, tmp_path / "serve.log", env, SERVE_READY_SECONDS) as base_url:
        yield Server(base_url, vkey)


def test_serve_with_two_workers_answers_from_both(tmp_path: Path) -> None:
    vkey = Prov(tmp_path).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    options = ["--data-dir", str(tmp_path)]
    log = tmp_path / "serve.log"
    # Two workers, each starting its signature processes: on a busy 2-core machine that took
    # more than 15 s once, so this waits longer (a hang bound, not a speed goal).
    with prov_serve(options, log, env, 60, ["--workers", "2"]) as base_url:
        # A fresh connection per request, so the kernel spreads them over both workers.
        for _ in range(20):
            response = httpx.get(f"{base_url}/checkpoint", timeout=5)
            assert response.status_code == 200, response.text
            assert open_checkpoint(response.content, vkey).origin == ORIGIN
        status = httpx.get(f"{base_url}/v1/log", timeout=5).json()
        assert status["tree_size"] == 0 and status["vkey"] == vkey.vkey
    assert log.read_text().count("Application startup complete") == 2


def test_serve_publishes_the_checkpoint_signed_by_the_log_key(server: Server) -> None:
    response = httpx.get(f"{server.base_url}/checkpoint", timeout=5)

    assert response.status_code == 200, response.text
    checkpoint = open_checkpoint(response.content, server.vkey)
    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 0)


# prov init leaves nothing behind when it fails


def _tables(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _fresh(tmp_path: Path, database_url: str) -> Prov:
    """`prov` with a data directory that does not exist yet, on the empty test database."""
    data_dir = tmp_path / "new" / "data"
    if database_url.startswith("sqlite"):
        return Prov(data_dir, f"sqlite:///{data_dir / 'log.db'}")
    return Prov(data_dir, database_url)


@pytest.mark.parametrize("origin", ["bad origin", "x+y", "tab\there"])
def test_init_with_a_bad_origin_leaves_nothing(
    tmp_path: Path, database_url: str, origin: str
) -> None:
    prov = _fresh(tmp_path, database_url)

    assert_exit(prov("init", "--origin", origin), 2, "key name")

    assert not (tmp_path / "new").exists()
    if not database_url.startswith("sqlite"):
        assert _tables(database_url) == []


def test_init_refused_by_the_database_leaves_no_key_and_keeps_the_log(
    prov: Prov, tmp_path: Path, database_url: str
) -> None:
    prov.init()
    prov.append([b"a"])
    tables = _tables(prov.config.database_url)
    other = Prov(tmp_path / "other", prov.config.database_url)

    assert_exit(other("init", "--origin", "example.org/other"), 2, "example.org/x")

    assert not (tmp_path / "other").exists()
    assert _tables(prov.config.database_url) == tables
    assert prov.status()["tree_size"] == 1


def test_init_that_fails_after_the_migrations_drops_the_tables_it_made(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prov = _fresh(tmp_path, database_url)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("PROV_LOG_KEY_FILE", str(blocker / "log.key"))  # cannot be written

    result = prov("init", "--origin", ORIGIN)

    assert result.exit_code != 0
    assert not (tmp_path / "new").exists()
    if not database_url.startswith("sqlite"):
        assert _tables(database_url) == []


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://prov:hunter2@127.0.0.1:1/log",
        "postgresql+nosuchdriver://prov:hunter2@127.0.0.1:1/log",
        "postgresql+psycopg://prov:hunter2@127.0.0.1:1/log?sslmode=nonsense",
    ],
    ids=["closed-port", "no-driver", "bad-option"],
)
@pytest.mark.parametrize("command", [["log", "status"], ["init"]])
def test_database_errors_never_print_the_password(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    result = Prov(tmp_path, url)(*command)

    assert_exit(result, 2)
    assert "hunter2" not in result.output
