"""The user's own `prov` settings: a default server, so that a fact-checker types
`prov lookup found.jpg` rather than `--server URL` every time (as gh and kubectl keep theirs).

The file is `$XDG_CONFIG_HOME/prov/config.toml` (by default `~/.config/prov/config.toml`), TOML
with one key today, `server = "https://log.example"`. Where a command acts: `--server`, then
`PROV_SERVER`, then this file; a local log named explicitly (`--data-dir`, `--database` or their
variables) wins over the file, which is only a default. A file that cannot be read as that is
bad configuration (exit 2), named with the line to fix.
"""

import json
import os
import re
import stat
import tomllib
from pathlib import Path

import click

from ledger.errors import ConfigurationError, MalformedError

# The settings the file may hold, and what each one is.
KEYS = {"server": "the server's base URL, used when neither --server nor PROV_SERVER is given"}
EXAMPLE = 'server = "https://log.example"'


def config_path() -> Path:
    """Where the file is: XDG_CONFIG_HOME if set to an absolute path (as the XDG spec says to
    ignore a relative one), else ~/.config."""
    base = os.environ.get("XDG_CONFIG_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".config"
    return root / "prov" / "config.toml"


def _bad(path: Path, where: str, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"{path}{where}: {problem}; fix the file (e.g. {EXAMPLE}) or remove it",
        code="bad_config",
    )


def _line_of(text: str, key: str) -> str:
    """ ", line N" of `key = ...` in the file, for the message ("" if it cannot be found)."""
    for number, line in enumerate(text.splitlines(), 1):
        if re.match(rf"\s*{re.escape(key)}\s*=", line):
            return f", line {number}"
    return ""


def check_server_url(url: str) -> str:
    """`url` if it can be a server's base URL (http or https), else bad input."""
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        raise ConfigurationError(
            f"server URL {url[:80]!r} must start with http:// or https://", code="bad_config"
        )
    return url


def read_config(path: Path | None = None) -> dict[str, str]:
    """The settings in the file ({} if there is none), each checked."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(path, "", f"cannot be read as UTF-8 text ({exc})") from None
    # The file names the server every lookup's image goes to: another user who can change it
    # could send them to a server of their own, so it is refused, as ssh refuses its config.
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _bad(path, "", f"other users can change it (mode {mode & 0o777:o}): chmod go-w it")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message names the line and column, e.g. "(at line 2, column 9)".
        raise _bad(path, "", f"not TOML: {exc}") from None
    settings: dict[str, str] = {}
    for key, value in data.items():
        if key not in KEYS:
            known = ", ".join(KEYS)
            raise _bad(path, _line_of(text, key), f"unknown setting {key!r} (known: {known})")
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise _bad(path, _line_of(text, key), f"{key} must be an http:// or https:// URL")
        settings[key] = value
    return settings


def write_config(settings: dict[str, str], path: Path | None = None) -> Path:
    """Write every setting, replacing the file whole (through a temporary file, so a failure
    leaves the old one)."""
    path = path or config_path()
    # A JSON string of printable text is a TOML basic string: the same quotes and escapes.
    text = "".join(f"{key} = {json.dumps(settings[key])}\n" for key in sorted(settings))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.chmod(0o644)  # whatever the umask: read_config refuses a file others can change
        temporary.replace(path)
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
    return path


def server_for(ctx: click.Context) -> str | None:
    """The server a command acts on, or None for the local log: --server, PROV_SERVER, then the
    config file unless a local log is named explicitly."""
    root = ctx.find_root().params
    given: str | None = root.get("server")
    if given:
        return given
    if root.get("data_dir") is not None or root.get("database") is not None:
        return None
    return read_config().get("server")
