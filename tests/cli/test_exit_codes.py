"""One exit-code table for every `prov` command (README.md, docs/errors.md): 0 clean, 1
verification failed or not found, 2 bad input or configuration, 3 the server cannot be reached,
is not a server, failed or is busy, 4 verified with cautions.

Every leaf command of `cli.main.main` has its cases here, and a new command without any fails
`test_every_command_has_its_cases`. Each case runs in-process (CliRunner): bad input (exit 2) for
every command, and for each command that talks HTTP, a server where nothing listens and a web
site that is not a log (exit 3, the URL named, no HTML printed)."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from cli.main import main
from ledger.witness import write_new_cosigner
from testkit.pki import make_pki
from tests.support.not_a_server import PAGE, html_site, nobody_listens, taken_port
from tests.support.prov_cli import assert_exit, one_line
from tests.support.registry_fixtures import picture

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_log"
BAD, UNREACHABLE, NOT_A_SERVER = "bad input", "unreachable", "not a server"
EXPECTED = {BAD: 2, UNREACHABLE: 3, NOT_A_SERVER: 3}


@dataclass(frozen=True)
class World:
    """What the cases need: files to name, and where the server is for a server case."""

    dir: Path
    url: str  # the server of a server case (nobody listens there, or a web site)
    port: int  # a port another socket holds
    vkey: str  # a log's verifier key (the legacy log's)

    def file(self, name: str, data: bytes = b"") -> str:
        path = self.dir / name
        if not path.exists():
            path.write_bytes(data)
        return str(path)

    @property
    def local(self) -> list[str]:
        """Root options naming a local log that cannot be opened (bad configuration)."""
        return ["--data-dir", str(self.dir / "data"), "--database", "not a database url"]

    @property
    def server(self) -> list[str]:
        return ["--data-dir", str(self.dir / "client"), "--server", self.url]


Case = Callable[[World], list[str]]


def _pki_files(world: World) -> dict[str, str]:
    """PEM files of a vendor root, an intermediate CA and a device, and the root's key."""
    if (world.dir / "root.pem").exists():
        return {n: str(world.dir / f"{n}.pem") for n in ("root", "ca", "device", "root_key")}
    pki = make_pki(datetime.now(UTC), intermediate=True)
    key = pki.root.private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    (world.dir / "root_key.pem").write_bytes(key)
    (world.dir / "root_key.pem").chmod(0o600)
    for name, cert in (("root", pki.root), ("ca", pki.intermediates[0]), ("device", pki.device)):
        (world.dir / f"{name}.pem").write_bytes(cert.pem)
    return _pki_files(world)


def _vendor_add(world: World) -> list[str]:
    root = _pki_files(world)["root"]
    return ["vendor", "add", "--name", "V", "--role", "camera", "--root-cert", root]


def _enroll(world: World) -> list[str]:
    files = _pki_files(world)
    return ["device", "enroll", files["device"], "--chain", files["ca"]]


def _revoke(world: World) -> list[str]:
    files = _pki_files(world)
    return [
        "revoke", "--device", "ab" * 32, "--compromised-since", "2020-01-01T00:00:00Z",
        "--reason", "key extracted", "--signer-key", files["root_key"],
        "--signer-cert", files["root"],
    ]  # fmt: skip


def _witness_key(world: World) -> str:
    path = world.dir / "witness.key"
    if not path.exists():
        write_new_cosigner(path, "witness.example/w1")
    return str(path)


def _malformed_config(world: World) -> list[str]:
    (world.dir / "xdg" / "prov").mkdir(parents=True, exist_ok=True)
    (world.dir / "xdg" / "prov" / "config.toml").write_text('server = "http://a"\nserver = \n')
    return ["config", "show"]


def _served(command: Case) -> dict[str, Case]:
    """The two server cases of a command that takes the server from --server."""
    return {
        UNREACHABLE: lambda w: [*w.server, *command(w)],
        NOT_A_SERVER: lambda w: [*w.server, *command(w)],
    }


def _at_url(command: Callable[[World, str], list[str]]) -> dict[str, Case]:
    """The two server cases of a command that takes the log's URL as an argument."""
    return {UNREACHABLE: lambda w: command(w, w.url), NOT_A_SERVER: lambda w: command(w, w.url)}


def _watch(world: World, url: str) -> list[str]:
    return ["audit", "watch", url, "--log-key", world.vkey, "--state", str(world.dir / "s.json")]


def _replay(world: World, url: str) -> list[str]:
    return ["audit", "replay", url, "--log-key", world.vkey, "--workers", "1"]


def _refresh(world: World, url: str) -> list[str]:
    return ["verify", str(LEGACY / "bundle.json"), "--log-key", world.vkey, "--refresh", url]


def _records(world: World, line: str) -> str:
    return world.file(f"records-{len(line)}.jsonl", (line + "\n").encode())


CASES: dict[str, dict[str, Case]] = {
    "init": {BAD: lambda w: [*w.local, "init"]},
    "serve": {BAD: lambda w: ["--data-dir", str(w.dir), "serve", "--port", str(w.port)]},
    "log status": {
        BAD: lambda w: [*w.local, "log", "status"],
        **_served(lambda w: ["log", "status"]),
    },
    "log witness": {BAD: lambda w: ["--data-dir", str(w.dir), "log", "witness"]},
    "vendor add": {
        BAD: lambda w: [
            "vendor",
            "add",
            "--name",
            "V",
            "--role",
            "camera",
            "--root-cert",
            str(w.dir / "missing.pem"),
        ],
        **_served(_vendor_add),
    },  # fmt: skip
    "reindex": {BAD: lambda w: [*w.local, "reindex"]},
    "device enroll": {
        BAD: lambda w: ["device", "enroll", str(w.dir / "missing.pem")],
        **_served(_enroll),
    },  # fmt: skip
    "device show": {
        BAD: lambda w: [*w.local, "device", "show", "ab" * 32],
        **_served(lambda w: ["device", "show", "ab" * 32]),
    },
    "capture sign": {
        BAD: lambda w: [
            "capture",
            "sign",
            str(w.dir / "missing.jpg"),
            "--device-key",
            "k",
            "--device-cert",
            "c",
        ]
    },  # fmt: skip
    "submit": {
        BAD: lambda w: [*w.server, "submit", _records(w, "not json")],
        **_served(lambda w: ["submit", _records(w, "{}")]),
    },
    "revoke": {
        BAD: lambda w: [
            "revoke",
            "--device",
            "ab" * 32,
            "--compromised-since",
            "yesterday",
            "--reason",
            "r",
            "--signer-key",
            "k",
            "--signer-cert",
            "c",
        ],
        **_served(_revoke),
    },  # fmt: skip
    "lookup": {
        BAD: lambda w: ["lookup", str(w.dir / "missing.jpg")],
        **_served(lambda w: ["lookup", w.file("found.png", picture(1))]),
    },
    "bundle": {BAD: lambda w: ["bundle", "-1"], **_served(lambda w: ["bundle", "0"])},
    "verify": {
        BAD: lambda w: ["verify", str(w.dir / "missing.json"), "--log-key", w.vkey],
        **_at_url(_refresh),
    },  # fmt: skip
    "audit watch": {BAD: lambda w: _watch(w, "ftp://log.example"), **_at_url(_watch)},
    "audit replay": {BAD: lambda w: _replay(w, "log.example"), **_at_url(_replay)},
    "clusters": {BAD: lambda w: [*w.local, "clusters"], **_served(lambda w: ["clusters"])},
    "witness init": {
        BAD: lambda w: [
            "witness",
            "init",
            "--name",
            "not a key name",
            "--key-file",
            str(w.dir / "w.key"),
        ]
    },  # fmt: skip
    "witness serve": {
        BAD: lambda w: [
            "witness",
            "serve",
            "--log",
            w.vkey,
            "--key-file",
            _witness_key(w),
            "--database",
            f"sqlite:///{w.dir / 'w.db'}",
            "--port",
            str(w.port),
        ],
    },  # fmt: skip
    "witness status": {BAD: lambda w: ["witness", "status", "--database", "not a url"]},
    "c2pa ingest": {
        BAD: lambda w: ["c2pa", "ingest", str(w.dir / "missing.jpg")],
        **_served(lambda w: ["c2pa", "ingest", w.file("camera.jpg", picture(2))]),
    },
    "c2pa receipt": {
        BAD: lambda w: ["c2pa", "receipt", "-1"],
        **_served(lambda w: ["c2pa", "receipt", "0", "--out", str(w.dir / "r.json")]),
    },
    "demo": {BAD: lambda w: ["demo", "--captures", "0"]},
    "config show": {BAD: _malformed_config},
    "config set": {BAD: lambda w: ["config", "set", "server", "ftp://log.example"]},
}


def _leaves(group: click.Group, prefix: str = "") -> Iterator[str]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _leaves(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}"


def test_every_command_has_its_cases() -> None:
    leaves = set(_leaves(main))
    assert leaves - CASES.keys() == set(), "a command with no exit-code cases: add them here"
    assert CASES.keys() - leaves == set(), "cases of a command that no longer exists"
    for command, cases in CASES.items():
        assert BAD in cases, command


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for name in ("PROV_SERVER", "PROV_WITNESSES", "PROV_DATA_DIR", "PROV_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    vkey = (LEGACY / "log.vkey").read_text().strip()
    with taken_port() as port:
        yield World(tmp_path, nobody_listens(), port, vkey)


CASE_IDS = [(command, kind) for command, cases in CASES.items() for kind in cases]


@pytest.mark.parametrize(("command", "kind"), CASE_IDS, ids=[f"{c}: {k}" for c, k in CASE_IDS])
def test_the_exit_code_of(world: World, command: str, kind: str) -> None:
    if kind == NOT_A_SERVER:
        with html_site() as site:
            world = World(world.dir, site, world.port, world.vkey)
            result = CliRunner().invoke(main, CASES[command][kind](world))
    else:
        result = CliRunner().invoke(main, CASES[command][kind](world))

    assert_exit(result, EXPECTED[kind])
    if kind != BAD:
        assert world.url in one_line(result.output), result.output  # which server, named
        assert PAGE.decode() not in result.output and "<html" not in result.output
        assert "check" in result.output  # and the fix: the URL, --server or PROV_SERVER


def test_a_busy_port_says_which_and_what_to_do(world: World) -> None:
    result = CliRunner().invoke(main, CASES["serve"][BAD](world))

    assert_exit(
        result, 2, f"port {world.port} on 127.0.0.1 is in use",
        "stop the other server or choose another with --port",
    )  # fmt: skip
