"""Where the log lives: its database URL and its signing key file.

Defaults put both in a data directory (`./prov-data`): a SQLite file `log.db` and the key
`log.key`, and beside the key `log.published`, the mark of the largest checkpoint published. `PROV_DATA_DIR`, `PROV_DATABASE_URL` and `PROV_LOG_KEY_FILE` override them, and the
CLI's `--data-dir` / `--database` options override the environment.
"""

import os
from dataclasses import dataclass
from pathlib import Path

from ledger.errors import ConfigurationError
from ledger.note import Signer, Verifier, read_private_key_file, write_private_key_file
from ledger.published import PublishedMark

DEFAULT_DATA_DIR = "prov-data"


@dataclass(frozen=True)
class LogConfig:
    data_dir: Path
    database_url: str
    key_file: Path
    # PROV_WITNESSES (ledger.witnessing.parse_witnesses): `prov serve` pushes each new
    # checkpoint to them every PROV_WITNESS_INTERVAL seconds and serves their cosignatures.
    witnesses: str = ""
    witness_interval_s: float = 2.0

    @classmethod
    def from_env(
        cls, data_dir: str | Path | None = None, database_url: str | None = None
    ) -> "LogConfig":
        directory = Path(data_dir or os.environ.get("PROV_DATA_DIR") or DEFAULT_DATA_DIR)
        url = (
            database_url
            or os.environ.get("PROV_DATABASE_URL")
            or f"sqlite:///{(directory / 'log.db').resolve()}"
        )
        key_file = Path(os.environ.get("PROV_LOG_KEY_FILE") or directory / "log.key")
        interval = os.environ.get("PROV_WITNESS_INTERVAL", "2")
        try:
            interval_s = float(interval)
        except ValueError:
            raise ConfigurationError(
                f"PROV_WITNESS_INTERVAL must be a number of seconds, not {interval!r}"
            ) from None
        return cls(directory, url, key_file, os.environ.get("PROV_WITNESSES", ""), interval_s)

    @property
    def published_file(self) -> Path:
        """The mark of the largest checkpoint published (ledger.published), beside the key:
        outside the database, so restoring a backup of the database does not roll it back."""
        return self.key_file.with_suffix(".published")

    def published_mark(self) -> PublishedMark:
        return PublishedMark(self.published_file)

    def load_signer(self) -> Signer:
        return Signer.from_string(read_private_key_file(self.key_file, "log", "prov init"))

    def load_verifier(self) -> Verifier | None:
        """The log's public key, if this machine holds the key file."""
        if not self.key_file.exists():
            return None
        return self.load_signer().verifier

    def write_new_key(self, origin: str) -> Signer:
        """Generate the log's Ed25519 key and write it readable by its owner only (0600)."""
        return self.write_key(Signer.generate(origin))

    def write_key(self, signer: Signer) -> Signer:
        """Write `signer` as the log's key file, readable by its owner only (0600)."""
        write_private_key_file(self.key_file, signer.to_string(), "log")
        return signer
