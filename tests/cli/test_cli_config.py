"""Where `prov` acts when told nothing (issue 17): the server first in the message, a default
server in the config file (--server > PROV_SERVER > the file), JSON errors with --json, the
server's log status and key through --server, and admin token messages that name the fix."""

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import main
from testkit.pki import make_pki
from tests.support.not_a_server import nobody_listens
from tests.support.prov_cli import Prov, assert_exit, one_line
from tests.support.registry_fixtures import picture
from tests.support.serving import prov_serve


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user with no log of their own and no settings yet: the config file is under tmp."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    for name in ("PROV_SERVER", "PROV_DATA_DIR", "PROV_DATABASE_URL", "PROV_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "found.png").write_bytes(picture(1))
    return tmp_path


def prov(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def config_file(home: Path, text: str) -> Path:
    path = home / "xdg" / "prov" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_no_server_says_how_to_give_one_first(home: Path) -> None:
    result = prov("lookup", "found.png")

    assert_exit(result, 2)
    message = one_line(result.stderr)
    assert message.startswith("error: no server given: pass --server URL, set PROV_SERVER")
    assert message.index("--server") < message.index("prov init")  # local logs come after


def test_the_config_file_s_server_is_the_default(home: Path) -> None:
    url = nobody_listens()
    config_file(home, f'server = "{url}"\n')

    assert_exit(prov("lookup", "found.png"), 3, f"cannot reach the server {url}")


def test_a_config_file_others_can_change_is_refused(home: Path) -> None:
    """Another user who could edit it would choose the server every image is sent to."""
    path = config_file(home, f'server = "{nobody_listens()}"\n')
    path.chmod(0o666)

    assert_exit(prov("lookup", "found.png"), 2, "other users can change it", "chmod go-w")
    path.chmod(0o644)
    assert_exit(prov("lookup", "found.png"), 3)


def test_prov_server_beats_the_file_and_server_beats_both(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_file, from_env, from_option = nobody_listens(), nobody_listens(), nobody_listens()
    config_file(home, f'server = "{from_file}"\n')
    monkeypatch.setenv("PROV_SERVER", from_env)

    assert_exit(prov("lookup", "found.png"), 3, from_env)
    assert_exit(prov("--server", from_option, "lookup", "found.png"), 3, from_option)


def test_an_explicit_local_log_beats_the_file(home: Path) -> None:
    config_file(home, f'server = "{nobody_listens()}"\n')

    result = prov("--data-dir", str(home / "mine"), "lookup", "found.png")

    assert_exit(result, 2, f"no log database at {home / 'mine'}")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('server = "http://a"\nserver2 = \n', "line 2"),
        ("# mine\nport = 8000\n", "line 2: unknown setting 'port'"),
        ('\n\nserver = "ftp://a"\n', "line 3: server must be an http:// or https:// URL"),
    ],
    ids=["not toml", "unknown key", "not a url"],
)
def test_a_malformed_config_file_is_bad_configuration(home: Path, text: str, where: str) -> None:
    path = config_file(home, text)

    result = prov("lookup", "found.png")

    assert_exit(result, 2, str(path), where, "fix the file")


def test_config_set_then_show(home: Path) -> None:
    assert_exit(prov("config", "set", "server", "https://log.example"), 0)
    shown = prov("config", "show", "--json")

    assert_exit(shown, 0)
    path = home / "xdg" / "prov" / "config.toml"
    assert json.loads(shown.stdout) == {
        "file": str(path),
        "settings": {"server": "https://log.example"},
    }
    assert path.read_text() == 'server = "https://log.example"\n'
    assert_exit(prov("config", "set", "server", "log.example"), 2, "must start with http://")


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "--json", "records.jsonl"],
        ["lookup", "--json", "found.png"],
        ["log", "status", "--json"],
        ["audit", "replay", "ftp://log", "--log-key", "k", "--json"],
        ["lookup", "--json"],
    ],
    ids=["malformed records", "unreachable", "no database", "bad url", "usage"],
)
def test_with_json_an_error_is_json_on_stdout(home: Path, args: list[str]) -> None:
    (home / "records.jsonl").write_text("not json\n")
    server = ["--server", nobody_listens()] if args[0] != "log" else ["--data-dir", "none"]

    result = prov(*server, *args)

    error = json.loads(result.stdout)["error"]
    assert set(error) == {"type", "message", "exit_code"}
    assert error["exit_code"] == result.exit_code and result.exit_code in (2, 3)
    assert error["message"] and error["type"]
    assert "rror" in result.stderr  # the human message too, on stderr


def test_without_json_stdout_stays_empty_on_error(home: Path) -> None:
    (home / "records.jsonl").write_text("not json\n")

    result = prov("--server", nobody_listens(), "submit", "records.jsonl")

    assert_exit(result, 2)
    assert result.stdout == ""


@pytest.fixture
def served_log(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real `prov serve` on a fresh log: its URL and verifier key."""
    vkey = Prov(tmp_path / "server").init().vkey
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROV_")}
    options = ["--data-dir", str(tmp_path / "server")]
    with prov_serve(options, tmp_path / "serve.log", env, 60) as base_url:
        yield base_url, vkey


def test_log_status_asks_the_server(home: Path, served_log: tuple[str, str]) -> None:
    url, vkey = served_log

    as_json = prov("--server", url, "log", "status", "--json")
    text = prov("--server", url, "log", "status")

    assert_exit(as_json, 0)
    report = json.loads(as_json.stdout)
    assert report["vkey"] == vkey and report["server"] == url and report["tree_size"] == 0
    assert report["origin"] == "example.org/x" and report["checkpoint"].startswith(
        "example.org/x\n"
    )
    assert_exit(text, 0, vkey, url)
    assert not (home / "prov-data").exists()  # no local log looked for, none made


def test_the_admin_token_messages_name_the_option_and_the_variable(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = Prov(home / "log")
    local.init()
    root = home / "root.pem"
    root.write_bytes(make_pki(datetime.now(UTC)).root.pem)
    add = ["vendor", "add", "--name", "V", "--role", "camera", "--root-cert", str(root)]

    disabled = local(*add)
    monkeypatch.setenv("PROV_ADMIN_TOKEN", "operator-secret")
    wrong = local(*add, "--admin-token", "guess")

    assert_exit(disabled, 2, "not configured PROV_ADMIN_TOKEN", "--admin-token")
    assert_exit(wrong, 2, "missing or wrong", "--admin-token or PROV_ADMIN_TOKEN")
