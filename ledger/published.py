"""The high-water mark: the largest checkpoint this log has published, kept OUTSIDE its database.

A database restored from a backup forgets every checkpoint signed after the backup; clients,
monitors and witnesses do not. Sequencing on from the restored state would sign a second,
different tree at sizes the world has already seen: a fork. So the log keeps, in a small file
beside its key (`LogConfig.published_file`, which no database restore touches), the largest
checkpoint it published (origin, size, root hash) and the largest size a witness told it it had
cosigned (a C2SP tlog-witness 409). The sequencer compares the database's latest checkpoint
with the mark under its write lock and refuses to append (`log_behind_published`) when the
database is behind it, or holds another root at its size.

The sequencer raises the mark after each batch commits and before the batch is acknowledged,
and the witness pusher before it pushes a checkpoint (docs/design.md, "Restores never fork").
Writes are atomic (temp file, fsync, rename, fsync of the directory) and only ever raise the
mark, under an flock, so processes sharing the file never lower it.
"""

import base64
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.checkpoint import Checkpoint
from ledger.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:  # not at run time: offline verifiers import ledger without SQLAlchemy
    from ledger.store import LogStore


RootAt = Callable[[int], bytes | None]
"""The root hash of the checkpoint the database holds at a size, or None if it holds none."""


@dataclass(frozen=True)
class Mark:
    origin: str
    size: int = 0  # the largest checkpoint this log published...
    root_hash: bytes | None = None  # ...and its root (None: nothing published yet)
    witnessed_size: int = 0  # the largest size a witness says it cosigned
    witness: str | None = None  # which witness said so


class PublishedMark:
    """The mark file at `path`, read and raised by every process of one log on this machine."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> Mark | None:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _unusable(self.path, str(exc)) from None
        try:
            data = json.loads(text)
            root = data["root_hash"]
            return Mark(
                data["origin"], int(data["size"]),
                None if root is None else base64.b64decode(root, validate=True),
                int(data["witnessed_size"]), data["witness"],
            )  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise _unusable(self.path, f"it is not a published-checkpoint mark ({exc})") from None

    def raise_to(self, checkpoint: Checkpoint) -> None:
        """Record that `checkpoint` is published, unless the mark is already at its size or past."""
        with self._locked() as mark:
            mark = mark or Mark(checkpoint.origin)
            if mark.root_hash is not None and mark.size >= checkpoint.size:
                return
            self._write(
                Mark(
                    checkpoint.origin,
                    checkpoint.size,
                    checkpoint.root_hash,
                    mark.witnessed_size,
                    mark.witness,
                )  # fmt: skip
            )

    def raise_witnessed(self, origin: str, size: int, witness: str) -> None:
        """Record that `witness` says it cosigned `size` entries of the log `origin`."""
        with self._locked() as mark:
            mark = mark or Mark(origin)
            if mark.witnessed_size >= size:
                return
            self._write(Mark(mark.origin, mark.size, mark.root_hash, size, witness))

    def check(self, latest: Checkpoint, root_at: RootAt) -> None:
        """Raise ConfigurationError(log_behind_published) if sequencing on from `latest`, the
        database's latest checkpoint, would fork what this log has published."""
        mark = self.read()
        if mark is None:
            return
        if mark.origin != latest.origin:
            raise _unusable(
                self.path, f"it is the mark of the log {mark.origin!r}, not of {latest.origin!r}"
            )
        if mark.root_hash is not None:
            if latest.size < mark.size:
                raise _behind(latest, mark.size, f"published a checkpoint of size {mark.size} "
                              f"(root {_b64(mark.root_hash)})", self.path)  # fmt: skip
            if root_at(mark.size) not in (None, mark.root_hash):
                raise _behind(latest, mark.size, f"published another root at size {mark.size} "
                              f"({_b64(mark.root_hash)})", self.path)  # fmt: skip
        if latest.size < mark.witnessed_size:
            said = f"was told by witness {mark.witness} that it cosigned size {mark.witnessed_size}"
            raise _behind(latest, mark.witnessed_size, said, self.path)

    @contextmanager
    def _locked(self) -> Iterator[Mark | None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            with lock_path.open("a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                yield self.read()
        except OSError as exc:
            raise _unusable(self.path, str(exc)) from None

    def _write(self, mark: Mark) -> None:
        data: dict[str, Any] = {
            "origin": mark.origin,
            "size": mark.size,
            "root_hash": None if mark.root_hash is None else _b64(mark.root_hash),
            "witnessed_size": mark.witnessed_size,
            "witness": mark.witness,
        }
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with temporary.open("w") as out:
            out.write(json.dumps(data, indent=2) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)


def refusal(store: "LogStore", mark: PublishedMark) -> ConfigurationError | None:
    """Why the sequencer would refuse to append to `store` now, if it would (`prov serve` says
    it at start, `prov log status` shows it)."""

    def root_at(size: int) -> bytes | None:
        try:
            return store.checkpoint_at(size).checkpoint.root_hash
        except NotFoundError:
            return None

    try:
        mark.check(store.latest_checkpoint().checkpoint, root_at)
    except ConfigurationError as exc:
        return exc
    return None


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _behind(latest: Checkpoint, needed: int, what: str, path: Path) -> ConfigurationError:
    return ConfigurationError(
        f"refusing to sequence: the database holds the log {latest.origin!r} at size "
        f"{latest.size} (root {_b64(latest.root_hash)}), but this log already {what} "
        f"(recorded in {path}). The database was restored from an older backup, and appending "
        f"now would fork the log. Restore a backup at or past size {needed}, or start a new "
        "log (`prov init --origin NEW-ORIGIN` in a new --data-dir). Reads are still served.",
        code="log_behind_published",
    )


def _unusable(path: Path, why: str) -> ConfigurationError:
    return ConfigurationError(
        f"cannot use the published-checkpoint mark {path}: {why}. It must stay beside the log "
        "key; if you started a new log with this key file's directory, move the old mark away"
    )
