"""Watching a log: every checkpoint it shows must extend every checkpoint it showed before.

`watch_once` fetches the log's checkpoint, verifies its signature with the pinned key, and
checks it against the last checkpoint this monitor accepted (kept in a state file) and against
checkpoints other parties saw (witnesses, other auditors):

* the same size with another root, or a smaller size than before: the log rewrote history;
* a consistency proof that does not verify, or that the log will not give: the log forked.

Either way it raises `ForkAlarm`, after writing both signed checkpoints (and the proof) to an
evidence directory: anyone holding the log's public key can re-verify that the two cannot both
be honest, without trusting this monitor. The state file is replaced atomically (write, fsync,
rename, fsync the directory), and only after every check passed.
"""

import base64
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import LedgerError, MalformedError, VerificationError
from ledger.merkle import verify_consistency
from ledger.note import Verifier

__all__ = [
    "ForkAlarm",
    "Seen",
    "WatchResult",
    "check_extends",
    "read_state",
    "watch_once",
    "write_atomically",
]

ProofSource = Callable[[int, int], list[bytes]]  # (old size, new size) -> consistency proof


class ForkAlarm(VerificationError):
    """Two checkpoints signed by the log that cannot both be true. `evidence` is the directory
    holding them."""

    def __init__(
        self, message: str, evidence: Path | None = None, proof: Sequence[bytes] | None = None
    ) -> None:
        super().__init__(message, code="log_inconsistent")
        self.evidence = evidence
        self.proof = proof  # the consistency proof the log gave, which did not verify


@dataclass(frozen=True)
class Seen:
    """A signed checkpoint and who showed it to us."""

    note: bytes
    checkpoint: Checkpoint
    source: str  # "the state file", "the log", or a file name


@dataclass(frozen=True)
class WatchResult:
    checkpoint: Checkpoint
    previous: Checkpoint | None
    compared: int  # other parties' checkpoints checked against it


def describe(checkpoint: Checkpoint) -> str:
    root = base64.b64encode(checkpoint.root_hash).decode()
    return f"size {checkpoint.size} root {root}"


def check_extends(older: Seen, newer: Seen, proofs: ProofSource) -> list[bytes]:
    """Raise ForkAlarm (without evidence yet) unless `newer` extends `older`; returns the proof."""
    old, new = older.checkpoint, newer.checkpoint
    if new.size < old.size:
        raise ForkAlarm(
            f"ROLLBACK: {newer.source} shows {describe(new)}, smaller than {describe(old)} from "
            f"{older.source}: the log has removed entries it had signed"
        )
    if new.size == old.size:
        if new.root_hash != old.root_hash:
            raise ForkAlarm(
                f"SPLIT VIEW: {older.source} shows {describe(old)} and {newer.source} shows "
                f"{describe(new)}: two different trees of one size, both signed by the log"
            )
        return []
    if old.size == 0:
        return []
    proof: list[bytes] | None = None
    try:
        proof = proofs(old.size, new.size)
        verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
    except LedgerError as exc:
        raise ForkAlarm(
            f"FORK: {newer.source} shows {describe(new)}, which does not extend {describe(old)} "
            f"from {older.source}: {exc}",
            proof=proof,
        ) from None
    return proof


def read_state(path: Path, log_key: Verifier) -> Seen | None:
    """The checkpoint this monitor accepted last, or None for a new state file."""
    if not path.exists():
        return None
    try:
        note = json.loads(path.read_text())["checkpoint"].encode()
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise MalformedError(
            f"state file {path} is not a monitor state ({exc}); move it away to start afresh"
        ) from None
    return Seen(note, open_checkpoint(note, log_key), f"the state file {path}")


def watch_once(
    fetch_checkpoint: Callable[[], bytes],
    proofs: ProofSource,
    log_key: Verifier,
    state_path: Path,
    evidence_dir: Path,
    others: Sequence[Seen] = (),
    now: datetime | None = None,
    source: str = "the log",
) -> WatchResult:
    """One round: fetch, verify, compare, then record the new checkpoint atomically. `source`
    names the log in messages (its URL, say)."""
    note = fetch_checkpoint()
    current = Seen(note, open_checkpoint(note, log_key), source)
    previous = read_state(state_path, log_key)
    pairs = [] if previous is None else [(previous, current)]
    for other in others:
        if other.checkpoint.origin != current.checkpoint.origin:
            raise MalformedError(f"{other.source} is a checkpoint of another log")
        smaller, larger = sorted((other, current), key=lambda s: s.checkpoint.size)
        pairs.append((smaller, larger))
    for older, newer in pairs:
        try:
            check_extends(older, newer, proofs)
        except ForkAlarm as alarm:
            evidence = write_evidence(evidence_dir, older, newer, str(alarm), now, alarm.proof)
            raise ForkAlarm(f"{alarm} (evidence: {evidence})", evidence, alarm.proof) from None
    if previous is None or current.checkpoint.size > previous.checkpoint.size:
        write_atomically(state_path, json.dumps({"checkpoint": note.decode()}, indent=2) + "\n")
    return WatchResult(current.checkpoint, previous.checkpoint if previous else None, len(others))


def write_evidence(
    directory: Path,
    older: Seen,
    newer: Seen,
    alarm: str,
    now: datetime | None = None,
    proof: Sequence[bytes] | None = None,
) -> Path:
    """Both signed checkpoints, what is wrong with them and, if the log gave one, the
    consistency proof that failed (consistency.proof: `old N`, `new M`, then one base64 hash
    a line), in a new directory."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    old, new = older.checkpoint.size, newer.checkpoint.size
    target = directory / f"{stamp}-size-{old}-vs-{new}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "first.checkpoint").write_bytes(older.note)
    (target / "second.checkpoint").write_bytes(newer.note)
    if proof is not None:
        hashes = [base64.b64encode(h).decode() for h in proof]
        (target / "consistency.proof").write_text(
            "\n".join([f"old {old}", f"new {new}", *hashes]) + "\n"
        )
    (target / "ALARM.txt").write_text(
        f"{alarm}\n\nfirst.checkpoint came from {older.source}; second.checkpoint from "
        f"{newer.source}. Both carry the log's signature: verify them with its public key, then\n"
        "- the same size with two roots, or a second checkpoint smaller than the first, is a\n"
        "  rewritten history by itself;\n"
        "- otherwise ask the log for a consistency proof between the two sizes: none can\n"
        "  verify (RFC 9162 §2.1.4), so the log has forked"
        + (
            "; consistency.proof is the one the log gave, which does not verify.\n"
            if proof is not None
            else ".\n"
        )
    )
    return target


def write_atomically(path: Path, text: str) -> None:
    """Write, fsync, rename over `path`, fsync the directory: a crash leaves old or new."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
