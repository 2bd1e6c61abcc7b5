"""A resumed `prov audit replay` first checks that the log still extends the history it pinned.

The replay state pins the tree an earlier replay verified (its size and edge tiles) and, since
issue 17, the signed checkpoint of that tree. A log that now shows a tree which does not
extend it - another root at the same size, fewer entries, or a consistency proof that does not
verify - is showing this auditor another history than it showed before: a split view, whoever
it was shown to. Replaying on from the pinned edges would only find a root that differs, and
blame the entries; instead the replay stops there and writes the evidence as `prov audit watch`
does (ledger.monitor.write_evidence): both signed checkpoints and the proof that failed.
"""

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.monitor import ForkAlarm, Seen, check_extends, describe, write_evidence
from ledger.note import Verifier
from ledger.remote import RemoteLog
from ledger.replay import ReplayState, replay_root

__all__ = ["SplitView", "SplitViewJson", "check_pinned"]


class SplitViewJson(TypedDict):
    reason: str
    evidence: str | None


@dataclass(frozen=True)
class SplitView:
    reason: str
    evidence: Path | None  # the directory written, None if the state kept no signed note

    def to_json(self) -> SplitViewJson:
        return {
            "reason": self.reason,
            "evidence": None if self.evidence is None else str(self.evidence),
        }


def check_pinned(
    remote: RemoteLog,
    log_key: Verifier,
    current: tuple[bytes, Checkpoint],
    pinned: tuple[ReplayState, bytes | None],
    state_path: Path,
    evidence_dir: Path,
    now: datetime | None = None,
) -> SplitView | None:
    """None if the log's checkpoint (`current`: its note, opened) extends the pinned tree
    (`pinned`: the saved tree and its signed note, None in states saved before notes)."""
    tree, pinned_note = pinned
    if tree.size == 0:
        return None
    log = Seen(current[0], current[1], f"the log at {remote.base_url}")
    if pinned_note is not None:
        older = Seen(
            pinned_note, open_checkpoint(pinned_note, log_key), f"the replay state {state_path}"
        )
    else:
        root = replay_root(tree.size, tree.edges)
        older = Seen(
            b"", Checkpoint(log_key.name, tree.size, root), f"the replay state {state_path}"
        )
    try:
        check_extends(older, log, remote.consistency_proof)
    except ForkAlarm as alarm:
        reason = (
            f"SPLIT VIEW: the log at {remote.base_url} shows a history inconsistent with the "
            f"checkpoint pinned at size {older.checkpoint.size} ({describe(older.checkpoint)}) in "
            f"{state_path}, which an earlier replay verified: {alarm}"
        )
        if pinned_note is None:
            return SplitView(
                f"{reason} (this state was saved before replay states kept the signed "
                "checkpoint, so no evidence was written: run `prov audit watch` against the "
                "log to keep its checkpoints)",
                None,
            )
        evidence = write_evidence(evidence_dir, older, log, reason, now, alarm.proof)
        return SplitView(reason, evidence)
    return None
