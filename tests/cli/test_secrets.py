"""Hostile input, the secrets: the admin token and the log's and witness's private keys never
appear in a response or a log line; key files are created 0600 whatever the umask; and a
server refuses to start on a key file that group or others can read or write."""

import base64
import hashlib
import os
import stat
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from cli.main import main
from ledger import LogConfig, Signer
from ledger.errors import ConfigurationError
from ledger.note import read_private_key_file
from registry import RegistrySettings
from registry.entries.codec import b64
from testkit.pki import make_pki
from tests.support.databases import ORIGIN
from tests.support.registry_fixtures import picture, record
from tests.support.serving import PROV, free_port, prov_serve, witness_serve

TOKEN = "operator-token-3f9c1e77"
WRONG_TOKENS = ["not-the-token-5a1b", TOKEN + "x", TOKEN[:-1]]
WITNESS = "witness.example.org/secrets"


@pytest.fixture
def env() -> dict[str, str]:
    """The environment of a `prov` subprocess: this one's, without any PROV_ variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}


def run(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PROV), *arguments], capture_output=True, text=True, env=env, check=False
    )


def vkey_of(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("verifier key: ")]
    return line.removeprefix("verifier key: ")


def key_secrets(key_file: Path) -> list[str]:
    """Every spelling of a key file's secret worth looking for: the whole PRIVATE+KEY line, its
    base64 part, and the 32-byte seed in base64 and in hex."""
    line = key_file.read_text().strip()
    assert line.startswith("PRIVATE+KEY+")
    encoded = line.split("+", 4)[4]  # the base64 may itself hold a "+"
    seed = base64.b64decode(encoded)[1:]
    assert len(seed) == 32
    return [line, encoded, base64.b64encode(seed).decode().rstrip("="), seed.hex()]


def leaks(data: bytes, secrets: list[str]) -> list[str]:
    return [secret for secret in secrets if secret.encode() in data]


def exchange(response: httpx.Response) -> bytes:
    """What a client saw of one response: its status line, headers and body."""
    headers = "".join(f"{name}: {value}\n" for name, value in response.headers.items())
    return f"{response.status_code}\n{headers}\n".encode() + response.content


@dataclass
class Servers:
    log: str  # base URL of `prov serve`
    witness: str  # base URL of `prov witness serve`
    secrets: list[str]
    seen: list[bytes]  # every response, as exchange() renders it

    def get(self, url: str) -> httpx.Response:
        response = httpx.get(url, timeout=30)
        self.seen.append(exchange(response))
        return response

    def post(self, url: str, **options: object) -> httpx.Response:
        response = httpx.post(url, timeout=30, **options)  # type: ignore[arg-type]
        self.seen.append(exchange(response))
        return response


def wait_for_cosignature(servers: Servers) -> None:
    """The log has pushed a checkpoint and serves the witness's cosignature (bounded wait)."""
    deadline = time.monotonic() + 20
    while f"\u2014 {WITNESS} ".encode() not in servers.get(f"{servers.log}/checkpoint").content:
        assert time.monotonic() < deadline, "the witness never cosigned"
        time.sleep(0.2)


def exercise(servers: Servers, database_url: str) -> None:
    """Successful and failing requests to every kind of endpoint of both servers."""
    log, witness = servers.log, servers.witness
    pki = make_pki(datetime.now(UTC), intermediate=True)
    vendor = {"name": "Example Camera Co.", "role": "camera", "root": b64(pki.root.der)}
    auth = {"Authorization": f"Bearer {TOKEN}"}

    # The operator's token: right, wrong, misspelled, in the wrong scheme, missing.
    for wrong in WRONG_TOKENS:
        headers = {"Authorization": f"Bearer {wrong}"}
        assert servers.post(f"{log}/v1/vendors", json=vendor, headers=headers).status_code == 401
    for header in (f"Basic {TOKEN}", TOKEN, "Bearer"):
        headers = {"Authorization": header}
        assert servers.post(f"{log}/v1/vendors", json=vendor, headers=headers).status_code == 401
    assert servers.post(f"{log}/v1/vendors", json=vendor).status_code == 401
    assert servers.post(f"{log}/v1/vendors", json=vendor, headers=auth).status_code == 200
    bad_root = {**vendor, "root": b64(b"not a certificate")}
    assert servers.post(f"{log}/v1/vendors", json=bad_root, headers=auth).status_code == 400

    # Devices, captures, revocations, lookups: accepted and refused.
    device = {"cert": b64(pki.device.der), "chain": [b64(c) for c in pki.chain_der]}
    assert servers.post(f"{log}/v1/devices", json=device).status_code == 200
    assert servers.post(f"{log}/v1/devices", json={"cert": "!!"}).status_code == 400
    capture = record(pki.device, 3, 1, time.time_ns() // 1_000_000 - 1000)
    captured = servers.post(f"{log}/v1/captures", json={"records": [capture]})
    assert captured.json()["accepted"] == 1
    assert servers.post(f"{log}/v1/captures", content=b'{"records": [').status_code == 400
    device_id = hashlib.sha256(pki.device.der).hexdigest()
    forged = {"device": device_id, "compromised_since": 0, "reason": "test",
              "signer": device_id, "sig": b64(b"\0" * 64)}  # fmt: skip
    assert servers.post(f"{log}/v1/revocations", json=forged).status_code in (400, 404, 422)
    image = {"image": ("found.png", picture(3), "image/png")}
    assert servers.post(f"{log}/v1/lookup", files=image).json()["verdict"] == "registered"
    assert servers.post(f"{log}/v1/lookup", content=b"junk").status_code == 400
    assert servers.post(f"{log}/", files=image).status_code == 200
    junk = {"image": ("junk.png", b"junk", "image/png")}
    assert servers.post(f"{log}/", files=junk).status_code == 400

    # Reads, documents and errors.
    wait_for_cosignature(servers)
    index = captured.json()["results"][0]["index"]
    for path in (
        "/", "/docs", "/openapi.json", "/v1/log", "/v1/log/entries/0", f"/v1/bundles/{index}",
        "/tile/0/000.p/1", "/tile/entries/000.p/1", "/v1/clusters", "/origins",
        f"/v1/devices/{device_id}",
    ):  # fmt: skip
        assert servers.get(f"{log}{path}").status_code == 200, path
    for path in ("/v1/log/entries/999", "/v1/bundles/0", "/v1/log/proof/inclusion?index=x",
                 "/tile/9/000", "/no/such/page"):  # fmt: skip
        assert 400 <= servers.get(f"{log}{path}").status_code < 500
    assert servers.post(f"{log}/v1/log").status_code == 405

    # The witness: who it is, and checkpoints it must refuse.
    assert servers.get(f"{witness}/").status_code == 200
    assert servers.post(f"{witness}/add-checkpoint", content=b"old 1\n").status_code == 400
    assert servers.post(f"{witness}/add-checkpoint", content=b"x" * 10_000).status_code >= 400

    # A database error: the database loses a table under the running server. The answer is
    # generic (api.errors): 503 storage_unavailable where the driver calls it operational
    # (SQLite's "no such table"), else 500 storage_error; the detail goes to the log only.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE reg_revocations RENAME TO reg_revocations_gone"))
    engine.dispose()
    lost = servers.get(f"{log}/v1/devices/{device_id}")
    assert lost.status_code in (500, 503), lost.text
    assert lost.json()["error"]["type"] in ("storage_error", "storage_unavailable")


def test_no_secret_leaves_a_server_in_a_response_or_a_log_line(
    tmp_path: Path, database_url: str, env: dict[str, str]
) -> None:
    log_dir, witness_dir = tmp_path / "log", tmp_path / "witness"
    init = run(env, "--data-dir", str(log_dir), "--database", database_url, "init",
               "--origin", ORIGIN)  # fmt: skip
    assert init.returncode == 0, init.stderr
    witness_storage = ["--key-file", str(witness_dir / "witness.key"),
                       "--database", f"sqlite:///{tmp_path / 'witness.db'}"]  # fmt: skip
    witness_init = run(env, "witness", "init", "--name", WITNESS, *witness_storage)
    assert witness_init.returncode == 0, witness_init.stderr
    secrets = [TOKEN, *key_secrets(log_dir / "log.key"), *key_secrets(witness_dir / "witness.key")]
    # The commands that made the keys print only the public halves.
    printed = init.stdout + init.stderr + witness_init.stdout + witness_init.stderr
    assert leaks(printed.encode(), secrets) == []

    log_file, witness_file = tmp_path / "serve.log", tmp_path / "witness.log"
    witness_options = ["--log", vkey_of(init.stdout), *witness_storage]
    with witness_serve(witness_options, witness_file, env) as witness:
        served_env = {
            **env,
            "PROV_ADMIN_TOKEN": TOKEN,
            "PROV_WITNESSES": f"{witness} {vkey_of(witness_init.stdout)}",
            "PROV_WITNESS_INTERVAL": "0.2",
        }
        options = ["--data-dir", str(log_dir), "--database", database_url]
        with prov_serve(options, log_file, served_env) as base:
            servers = Servers(base, witness, secrets, [])
            exercise(servers, database_url)

    served_logs = log_file.read_bytes() + witness_file.read_bytes()
    assert b"Traceback" in served_logs  # the 500 was logged, with its stack
    assert b"POST /v1/vendors" in served_logs  # requests were logged
    assert len(servers.seen) >= 40
    for seen in servers.seen:
        assert leaks(seen, secrets) == [], seen[:500]
    assert leaks(served_logs, secrets) == []
    # Nor are the wrong tokens clients tried echoed back or logged.
    assert leaks(b"".join(servers.seen) + served_logs, WRONG_TOKENS) == []


def test_settings_do_not_show_the_token(tmp_path: Path) -> None:
    settings = RegistrySettings(log=LogConfig.from_env(tmp_path), admin_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)
    assert "admin_token" not in repr(settings)


# --- key files: created 0600, refused when others may read or write them ---


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask_value", [0o022, 0o000])
def test_prov_init_writes_the_log_key_0600_whatever_the_umask(
    tmp_path: Path, database_url: str, umask_value: int
) -> None:
    previous = os.umask(umask_value)
    try:
        result = CliRunner().invoke(
            main, ["--data-dir", str(tmp_path), "--database", database_url, "init"]
        )
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert mode_of(tmp_path / "log.key") == 0o600
    assert "PRIVATE+KEY" not in result.output


@pytest.mark.parametrize("umask_value", [0o022, 0o000])
def test_prov_witness_init_writes_its_key_0600_whatever_the_umask(
    tmp_path: Path, database_url: str, umask_value: int
) -> None:
    key_file = tmp_path / "w" / "witness.key"
    previous = os.umask(umask_value)
    try:
        result = CliRunner().invoke(
            main,
            ["witness", "init", "--name", WITNESS, "--key-file", str(key_file),
             "--database", database_url],
        )  # fmt: skip
    finally:
        os.umask(previous)
    assert result.exit_code == 0, result.output
    assert mode_of(key_file) == 0o600
    assert "PRIVATE+KEY" not in result.output


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o700])
def test_a_key_file_others_may_read_or_write_is_refused_naming_the_fix(
    tmp_path: Path, mode: int
) -> None:
    key_file = tmp_path / "log.key"
    key_file.write_text("PRIVATE+KEY+whatever\n")
    key_file.chmod(mode)
    refused = mode & 0o077 != 0
    if not refused:  # 0700: the owner's business; the content is checked next
        assert read_private_key_file(key_file, "log", "prov init").startswith("PRIVATE+KEY")
        return
    with pytest.raises(ConfigurationError) as caught:
        read_private_key_file(key_file, "log", "prov init")
    message = str(caught.value)
    assert str(key_file) in message and f"mode {mode:04o}" in message
    assert f"chmod 600 {key_file}" in message
    assert "PRIVATE+KEY+whatever" not in message


def test_an_owner_only_key_of_mode_0400_is_used(tmp_path: Path, database_url: str) -> None:
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), "--database", database_url, "init"]
    )
    assert result.exit_code == 0, result.output
    (tmp_path / "log.key").chmod(0o400)
    signer = LogConfig.from_env(tmp_path, database_url).load_signer()
    assert signer.verifier.vkey == vkey_of(result.stdout)


def test_prov_serve_refuses_a_world_readable_log_key(
    tmp_path: Path, database_url: str, env: dict[str, str]
) -> None:
    options = ["--data-dir", str(tmp_path), "--database", database_url]
    assert run(env, *options, "init").returncode == 0
    key_file = tmp_path / "log.key"
    key_file.chmod(0o644)
    served = run(env, *options, "serve", "--port", str(free_port()))
    assert served.returncode == 2, served.stdout + served.stderr
    message = " ".join(served.stderr.split())
    assert f"the log key file {key_file} has mode 0644" in message
    assert f"chmod 600 {key_file}" in message
    # After the fix it serves.
    key_file.chmod(0o600)
    with prov_serve(options, tmp_path / "serve.log", env) as base:
        assert httpx.get(f"{base}/checkpoint").status_code == 200


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_prov_witness_serve_refuses_a_witness_key_others_can_read(
    tmp_path: Path, database_url: str, env: dict[str, str], mode: int
) -> None:
    key_file = tmp_path / "witness.key"
    storage = ["--key-file", str(key_file), "--database", database_url]
    init = run(env, "witness", "init", "--name", WITNESS, *storage)
    assert init.returncode == 0, init.stderr
    options = ["--log", Signer.generate(ORIGIN).verifier.vkey, *storage]
    key_file.chmod(mode)
    served = run(env, "witness", "serve", *options, "--port", str(free_port()))
    assert served.returncode == 2, served.stdout + served.stderr
    message = " ".join(served.stderr.split())
    assert f"the witness key file {key_file} has mode {mode:04o}" in message
    assert f"chmod 600 {key_file}" in message
    key_file.chmod(0o600)
    with witness_serve(options, tmp_path / "witness.log", env) as base:
        assert httpx.get(f"{base}/").status_code == 200
