"""`prov audit replay`'s check of the log's status commitment: the status index recomputed
from every leaf with the registry's rule (registry.entries.status_subjects, the rule the
sequencer indexes by), compared with the status note the log signed for the checkpoint the
replay verifies (ledger.status_note).

A note whose status root is not the recomputed one is a finding (`status_commitment_mismatch`)
with its evidence: the signed note as served, and the log entries that contradict it. To name
them, the auditor asks the log for its proof of each recomputed subject and verifies it against
the note's root: a subject whose proven entries differ from the recomputed ones (a revocation
left out, or one listed that names someone else) contributes its recomputed entries and the
extra ones the note lists. A note that does not verify with the log key, or that names another
tree than the checkpoint, is the same finding. A log that serves no note for the checkpoint
(written before status notes, and not yet upgraded) is reported as not checked, not as a
finding: its bundles carry no status, and verifiers caution them as unproven.
"""

import base64
from dataclasses import dataclass, field
from typing import TypedDict

from ledger.checkpoint import Checkpoint
from ledger.errors import LedgerError, NotFoundError
from ledger.note import Verifier
from ledger.remote import RemoteLog
from ledger.status import parse_status_proof, status_root, verify_status
from ledger.status_note import StatusCommitment, open_status
from registry.entries.status_subjects import status_subjects
from registry.wording import plural

__all__ = ["STATUS_COMMITMENT_MISMATCH", "StatusAudit", "StatusCheck", "StatusFinding"]

STATUS_COMMITMENT_MISMATCH = "status_commitment_mismatch"
# Past this many subjects the auditor names the evidence from its own recomputation alone
# rather than asking the log for one proof each (revocations are rare; this is a bound).
MAX_PROOF_REQUESTS = 1000


class StatusFindingJson(TypedDict):
    code: str
    tree_size: int
    reason: str
    note: str
    evidence: list[int]


@dataclass(frozen=True)
class StatusFinding:
    code: str
    tree_size: int
    reason: str
    note: str  # the signed note, as the log served it
    evidence: tuple[int, ...]  # the log entries that contradict it

    def to_json(self) -> StatusFindingJson:
        return {
            "code": self.code,
            "tree_size": self.tree_size,
            "reason": self.reason,
            "note": self.note,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True)
class StatusCheck:
    """What the status check of one checkpoint found."""

    tree_size: int
    checked: bool
    detail: str
    findings: tuple[StatusFinding, ...] = ()


@dataclass
class StatusAudit:
    """The recomputed status index: subject -> the ascending indexes of the leaves naming it.
    `known` is False for a replay resumed from a state saved before status checks."""

    items: dict[bytes, list[int]] = field(default_factory=dict)
    known: bool = True

    def add(self, first_index: int, leaves: list[bytes]) -> None:
        for index, leaf in enumerate(leaves, start=first_index):
            for subject in status_subjects(leaf):
                indexes = self.items.setdefault(subject, [])
                if not indexes or indexes[-1] != index:  # one leaf naming it twice: once
                    indexes.append(index)

    def below(self, size: int) -> dict[bytes, list[int]]:
        below = {s: [i for i in ixs if i < size] for s, ixs in self.items.items()}
        return {s: ixs for s, ixs in below.items() if ixs}

    def check(self, remote: RemoteLog, log_key: Verifier, target: Checkpoint) -> StatusCheck:
        """Compare the log's status note for `target` with the recomputed index."""
        size = target.size
        if not self.known:
            return StatusCheck(
                size, False,
                "not checked: the replay state was saved before status checks (replay without "
                "it, or delete it, to check the status commitment)",
            )  # fmt: skip
        try:
            note = remote.status_note(size)
        except NotFoundError:
            return StatusCheck(
                size, False, f"not checked: the log serves no status note for {size}"
            )
        items = self.below(size)
        try:
            commitment = _opened(note, log_key, target)
        except LedgerError as exc:
            return _mismatch(size, note, f"the status note for {size} is not valid: {exc}", ())
        recomputed = status_root(items)
        if commitment.status_root == recomputed:
            listed = sum(len(ixs) for ixs in items.values())
            return StatusCheck(
                size, True,
                f"the status note for checkpoint {size} commits to the index recomputed from its "
                f"entries ({plural(len(items), 'subject')}, {plural(listed, 'entry', 'entries')} "
                f"naming {'it' if len(items) == 1 else 'them'})",
            )  # fmt: skip
        evidence = _contradicting(remote, commitment, items)
        return _mismatch(
            size, note,
            f"the status note for checkpoint {size} commits to the status root "
            f"{_b64(commitment.status_root)}, but the entries below it give "
            f"{_b64(recomputed)}: the log's status index leaves out, or adds, what its "
            + ("entries " + ", ".join(map(str, evidence)) + " say" if evidence else "entries say"),
            evidence,
        )  # fmt: skip

    def to_json(self) -> dict[str, list[int]]:
        return {subject.hex(): indexes for subject, indexes in self.items.items()}

    def load_json(self, data: dict[str, list[int]] | None) -> None:
        """From a saved state; None (a state saved before status checks) leaves it unknown."""
        if data is None:
            self.items, self.known = {}, False
            return
        self.items = {bytes.fromhex(s): [int(i) for i in ixs] for s, ixs in data.items()}
        self.known = True


def _opened(note: bytes, log_key: Verifier, target: Checkpoint) -> StatusCommitment:
    commitment = open_status(note, log_key)
    if (commitment.size, commitment.root_hash) != (target.size, target.root_hash):
        raise LedgerError(
            f"it names the tree of {commitment.size} entries with root "
            f"{_b64(commitment.root_hash)}, not the checkpoint's ({target.size}, "
            f"{_b64(target.root_hash)})",
            code="status_commitment_mismatch",
        )
    return commitment


def _contradicting(
    remote: RemoteLog, commitment: StatusCommitment, items: dict[bytes, list[int]]
) -> tuple[int, ...]:
    """The entries of each recomputed subject whose proven entries (the log's own proof,
    verified against the note) differ from the recomputed ones, and the extras proven."""
    if len(items) > MAX_PROOF_REQUESTS:
        return tuple(sorted({i for ixs in items.values() for i in ixs}))
    evidence: set[int] = set()
    for subject, indexes in items.items():
        try:
            proof = parse_status_proof(remote.status_proof(commitment.size, subject))
            proven = verify_status(commitment.status_root, subject, proof)
        except LedgerError:
            proven = None  # no proof that verifies: the note cannot be shown to agree
        if proven is None or list(proven) != indexes:
            evidence.update(indexes)
            evidence.update(proven or ())
    return tuple(sorted(evidence))


def _mismatch(size: int, note: bytes, reason: str, evidence: tuple[int, ...]) -> StatusCheck:
    finding = StatusFinding(
        STATUS_COMMITMENT_MISMATCH, size, reason, note.decode(errors="replace"), evidence
    )
    return StatusCheck(size, True, reason, (finding,))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
