"""`prov`'s registry commands as tests drive them: the command line local or through a real
`prov serve` (the `cli` fixture runs a test three ways), a vendor PKI on disk, and the steps
(add a vendor, enroll, sign, submit) the CLI tests share.

The registry uses the wall clock, so certificates are made around `datetime.now(UTC)` and
captures are dated now unless a test says otherwise.
"""

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from cli.files import load_key
from cli.main import main
from ledger import Verifier, open_checkpoint, verify_inclusion
from registry.entries.sdk import key_fingerprint
from testkit.pki import PrivateKey, make_device, make_pki
from tests.support.prov_cli import Prov, assert_exit
from tests.support.registry_fixtures import picture
from tests.support.serving import prov_serve

TOKEN = "operator-secret"
SERVE_READY_SECONDS = 20
NO_EKU = "certificate has no C2PA claim-signing or document-signing EKU"


STATE = "state"  # $XDG_STATE_HOME under the test's tmp_path: capture counters go there


@pytest.fixture
def no_prov_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The options under test decide; a developer's PROV_* variables must not. State that
    `prov` keeps per user (capture counters) goes under the test's directory, not $HOME."""
    for name in list(os.environ):
        if name.startswith("PROV_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / STATE))


def counter_file(tmp_path: Path, key: Path) -> Path:
    """Where `capture sign` keeps the counter of the key in `key` (cli.files.next_counter)."""
    fingerprint = key_fingerprint(load_key(str(key)))
    return tmp_path / STATE / "prov" / "counters" / f"{fingerprint}.counter"


# --- the command line, local or remote ---


@dataclass
class Cli:
    """`prov` with the options that say where the registry is: local options or --server."""

    options: list[str]
    vkey: Verifier | None = None  # the log's key, to check receipts
    server: "Server | None" = None

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, [*self.options, *args])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert_exit(result, 0)
        return result

    def json(self, *args: str) -> Any:
        """Run with --json, which must succeed; the parsed output."""
        return json.loads(self.ok(*args, "--json").stdout)


@dataclass
class Server:
    base_url: str
    vkey: Verifier


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """A real `prov serve` on a fresh SQLite log, with PROV_ADMIN_TOKEN set, stopped afterwards."""
    data_dir = tmp_path / "server"
    vkey = Prov(data_dir).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    env["PROV_ADMIN_TOKEN"] = TOKEN
    options = ["--data-dir", str(data_dir)]
    with prov_serve(options, tmp_path / "serve.log", env, SERVE_READY_SECONDS) as base_url:
        yield Server(base_url, vkey)


def local_cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """`prov --data-dir D [--database URL]` after `prov init`, with PROV_ADMIN_TOKEN set.

    SQLite is the data directory's default log.db (`sqlite_url` is tmp_path/log.db), so it is
    reached without --database; PostgreSQL is given with --database."""
    monkeypatch.setenv("PROV_ADMIN_TOKEN", TOKEN)
    sqlite = database_url.startswith("sqlite")
    prov = Prov(tmp_path) if sqlite else Prov(tmp_path, database_url)
    if sqlite:
        assert prov.config.database_url == database_url
    vkey = prov.init()
    options = ["--data-dir", str(tmp_path)]
    return Cli(options if sqlite else [*options, "--database", database_url], vkey)


@pytest.fixture
def local(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The local registry only, on SQLite and on PostgreSQL."""
    return local_cli(tmp_path, database_url, monkeypatch)


@pytest.fixture(params=["sqlite", "postgresql", "server"])
def cli(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The registry three ways: local SQLite, local PostgreSQL, and a server via --server."""
    if request.param != "server":
        url: str = request.getfixturevalue(f"{request.param}_url")
        return local_cli(tmp_path, url, monkeypatch)
    running: Server = request.getfixturevalue("server")
    # The client's own data directory is empty: --server must not need (or touch) it.
    client_dir = str(tmp_path / "client")
    return Cli(["--data-dir", client_dir, "--server", running.base_url], running.vkey, running)


@pytest.fixture
def device_side(tmp_path: Path) -> Cli:
    """`prov` for `capture sign`, which touches no log: its data directory does not exist."""
    return Cli(["--data-dir", str(tmp_path / "no-log")])


# --- certificates, keys and images on disk ---


@dataclass(frozen=True)
class Files:
    root_cert: Path
    root_key: Path
    ca_cert: Path
    ca_key: Path
    device_cert: Path
    device_key: Path
    no_eku_cert: Path
    not_a_cert: Path
    device_id: str
    vendor_id: str
    dir: Path

    def image(self, seed: int) -> Path:
        """A distinct small PNG, written on first use."""
        path = self.dir / f"image-{seed}.png"
        if not path.exists():
            path.write_bytes(picture(seed))
        return path


def write_key(path: Path, key: PrivateKey) -> Path:
    """A PEM key file readable by its owner alone, as `capture sign` requires."""
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    path.chmod(0o600)
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """A vendor root, an intermediate CA and a device (plus a no-EKU device), as PEM files."""
    now = datetime.now(UTC)
    pki = make_pki(now, intermediate=True)
    ca = pki.intermediates[0]
    no_eku = make_device(ca, now, eku=None, common_name="Example Camera Co. X100 #0002")
    folder = tmp_path / "pki"
    folder.mkdir()
    return Files(
        root_cert=write(folder / "root.pem", pki.root.pem),
        root_key=write_key(folder / "root.key", pki.root.private_key),
        ca_cert=write(folder / "ca.pem", ca.pem),
        ca_key=write_key(folder / "ca.key", ca.private_key),
        device_cert=write(folder / "dev.pem", pki.device.pem),
        device_key=write_key(folder / "dev.key", pki.device.private_key),
        no_eku_cert=write(folder / "noeku.pem", no_eku.pem),
        not_a_cert=write(folder / "notes.txt", b"this is not a certificate\n"),
        device_id=hashlib.sha256(pki.device.der).hexdigest(),
        vendor_id=hashlib.sha256(pki.root.der).hexdigest(),
        dir=folder,
    )


# --- steps ---


def add_vendor(cli: Cli, files: Files, *extra: str) -> Result:
    return cli(
        "vendor", "add", "--name", "Example Camera Co.", "--role", "camera",
        "--root-cert", str(files.root_cert), "--admin-token", TOKEN, *extra,
    )  # fmt: skip


def enroll(cli: Cli, files: Files, cert: Path | None = None, *extra: str) -> Result:
    return cli(
        "device", "enroll", str(cert or files.device_cert), "--chain", str(files.ca_cert), *extra
    )


def register_and_enroll(cli: Cli, files: Files) -> Files:
    """The vendor registered and the device enrolled, through the CLI."""
    assert_exit(add_vendor(cli, files), 0)
    assert_exit(enroll(cli, files), 0)
    return files


def sign(cli: Cli, files: Files, seed: int, *extra: str) -> Result:
    return cli(
        "capture", "sign", str(files.image(seed)),
        "--device-key", str(files.device_key), "--device-cert", str(files.device_cert), *extra,
    )  # fmt: skip


def signed(cli: Cli, files: Files, seed: int, *extra: str) -> dict[str, Any]:
    """`capture sign`, which must succeed and print exactly one JSON line; the record."""
    result = sign(cli, files, seed, *extra)
    assert_exit(result, 0)
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    record: dict[str, Any] = json.loads(lines[0])
    return record


def collect(path: Path, *lines: str) -> Path:
    """Append lines to a JSONL file, as `prov capture sign ... >> records.jsonl` does."""
    with path.open("a") as out:
        for line in lines:
            out.write(line + "\n")
    return path


def records_file(cli: Cli, files: Files, seeds: range, name: str = "records.jsonl") -> Path:
    """Sign one capture per seed and collect the sign outputs in one file."""
    path = files.dir / name
    for seed in seeds:
        collect(path, sign(cli, files, seed).stdout.strip())
    return path


def submit(cli: Cli, path: Path, *extra: str) -> Result:
    return cli("submit", str(path), *extra)


def submitted(cli: Cli, path: Path, *extra: str) -> dict[str, Any]:
    """`submit --json`, whatever its exit code; the parsed summary."""
    result = submit(cli, path, "--json", *extra)
    assert result.exit_code in (0, 1), result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def device_info(cli: Cli, device_id: str) -> dict[str, Any]:
    info: dict[str, Any] = cli.json("device", "show", device_id)
    return info


def assert_proven(cli: Cli, receipt: dict[str, Any]) -> None:
    """The receipt's inclusion proof verifies against its checkpoint, signed by the log key."""
    assert cli.vkey is not None
    checkpoint = open_checkpoint(receipt["checkpoint"].encode(), cli.vkey)
    assert checkpoint.size == receipt["tree_size"]
    verify_inclusion(
        base64.b64decode(receipt["leaf_hash"]),
        receipt["index"],
        checkpoint.size,
        [base64.b64decode(h) for h in receipt["inclusion_proof"]],
        checkpoint.root_hash,
    )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
