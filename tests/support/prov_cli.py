"""`prov` run in-process (click's CliRunner), and the checks of its exit codes and messages."""

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from cli.main import main
from ledger import LogConfig, LogStore, Verifier, open_engine
from registry.open import registry_sequencer
from tests.support.clocks import FixedClock

ORIGIN = "example.org/x"


class Prov:
    """Runs `prov --data-dir <data_dir> [--database <url>] ...` in-process."""

    def __init__(self, data_dir: Path, database: str | None = None) -> None:
        self.data_dir = data_dir
        self.database = database

    def __call__(self, *args: str) -> Result:
        options = ["--data-dir", str(self.data_dir)]
        if self.database is not None:
            options += ["--database", self.database]
        return CliRunner().invoke(main, [*options, *args])

    @property
    def config(self) -> LogConfig:
        return LogConfig.from_env(self.data_dir, self.database)

    @property
    def key_file(self) -> Path:
        return self.config.key_file

    def init(self, origin: str = ORIGIN) -> Verifier:
        """`prov init`, which must succeed; returns the verifier key it printed."""
        result = self("init", "--origin", origin)
        assert result.exit_code == 0, result.output
        return printed_vkey(result)

    def status(self) -> dict[str, Any]:
        """`prov log status --json`, which must succeed."""
        result = self("log", "status", "--json")
        assert result.exit_code == 0, result.output
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def append(self, leaves: list[bytes]) -> None:
        """Append through ledger.Sequencer with the key `prov init` wrote."""
        engine = open_engine(self.config.database_url)
        try:
            registry_sequencer(LogStore(engine), self.config.load_signer(), FixedClock()).append(
                leaves
            )
        finally:
            engine.dispose()


def printed_vkey(result: Result) -> Verifier:
    lines = [line for line in result.stdout.splitlines() if line.startswith("verifier key: ")]
    assert len(lines) == 1, result.output
    return Verifier.from_vkey(lines[0].removeprefix("verifier key: "))


def one_line(output: str) -> str:
    """The output with every run of whitespace made one space, so wrapping cannot split words."""
    return " ".join(output.split())


def assert_exit(result: Result, code: int, *phrases: str) -> None:
    """Exited with `code` through the CLI's error handling (no traceback), saying `phrases`."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    for phrase in phrases:
        assert phrase in one_line(result.output)
