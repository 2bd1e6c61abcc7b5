"""`prov audit watch` over HTTP: the log at a URL checked against the state file and the
checkpoints other parties saw (ledger.monitor.watch_once), then against each of its mirrors.

Every message names what it is about: the log by its URL, a `--compare` file by its path, a
mirror by its URL. The log is checked first and the mirrors after, so a mirror's failure says
that the log itself checked out, and to what ("the log at A checked out to size N root R; its
mirror at B ..."): a broken mirror is not a broken log, and a split view between the two is
both. A mirror that disagrees raises the alarm with the same evidence as the log's own.
"""

import copy
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from ledger.checkpoint import open_checkpoint
from ledger.errors import LedgerError, MalformedError
from ledger.monitor import (
    ForkAlarm,
    Seen,
    WatchResult,
    check_extends,
    describe,
    watch_once,
    write_evidence,
)
from ledger.note import Verifier
from ledger.remote import RemoteLog

__all__ = ["compared_file", "named", "watch_log"]


def named(subject: str, error: LedgerError, fix: str = "") -> LedgerError:
    """The same error (class, code, exit code), its message prefixed with what it is about
    and followed by `fix`, if given."""
    renamed = copy.copy(error)
    renamed.args = (f"{subject}: {error}{fix}",)
    return renamed


def compared_file(path: Path, log_key: Verifier) -> Seen:
    """A `--compare` checkpoint file, read and verified; errors name the option and the file."""
    subject = f"--compare {path}"
    try:
        note = path.read_bytes()
    except OSError as exc:
        raise MalformedError(
            f"{subject}: cannot read it ({exc.strerror}); give the path of a checkpoint file"
        ) from None
    try:
        return Seen(note, open_checkpoint(note, log_key), str(path))
    except MalformedError as exc:
        raise named(
            f"{subject}: not a checkpoint",
            exc,
            "; give a checkpoint note the log signed (its /checkpoint, or a witness's copy)",
        ) from None
    except LedgerError as exc:
        raise named(subject, exc) from None


def watch_log(
    remote: RemoteLog,
    log_key: Verifier,
    paths: tuple[Path, Path],
    files: Sequence[Seen],
    mirrors: Sequence[str],
    open_mirror: Callable[[str], RemoteLog],
) -> WatchResult:
    """One round. `paths`: the state file and the evidence directory; `files`: the --compare
    checkpoints; `mirrors`: other URLs serving the same log, opened with `open_mirror`."""
    state_path, evidence = paths
    log_name = f"the log at {remote.base_url}"
    notes: list[bytes] = []

    def fetch() -> bytes:
        notes.append(remote.checkpoint())
        return notes[-1]

    try:
        result = watch_once(
            fetch, remote.consistency_proof, log_key, state_path, evidence, files,
            source=log_name,
        )  # fmt: skip
    except ForkAlarm:
        raise
    except LedgerError as exc:
        raise named(log_name, exc) from None
    log = Seen(notes[-1], result.checkpoint, log_name)
    checked = f"{log_name} checked out to {describe(result.checkpoint)}"
    for url in mirrors:
        _check_mirror(remote, log, url, open_mirror, log_key, evidence, checked)
    return dataclasses.replace(result, compared=result.compared + len(mirrors))


def _check_mirror(
    remote: RemoteLog,
    log: Seen,
    url: str,
    open_mirror: Callable[[str], RemoteLog],
    log_key: Verifier,
    evidence: Path,
    checked: str,
) -> None:
    subject = f"{checked}; its mirror at {url}"
    try:
        with open_mirror(url) as mirror:
            note = mirror.checkpoint()
        seen = Seen(note, open_checkpoint(note, log_key), f"the mirror at {url}")
    except LedgerError as exc:
        raise named(subject, exc, f"; check --compare-url {url}, or leave it out") from None
    older, newer = sorted((seen, log), key=lambda s: s.checkpoint.size)
    try:
        check_extends(older, newer, remote.consistency_proof)  # the log's proofs, as for files
    except ForkAlarm as alarm:
        found = write_evidence(evidence, older, newer, str(alarm), proof=alarm.proof)
        raise ForkAlarm(
            f"{subject} disagrees with it: {alarm} (evidence: {found})", found, alarm.proof
        ) from None
