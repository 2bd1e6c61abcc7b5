"""`prov audit replay`: the full audit of a log, as an outside party, through its tile API only.

`replay_log` verifies the log's checkpoint with the pinned key, downloads and hashes every
entry (`ledger.replay.TreeReplay`: tiles and root checked), and re-validates every entry with
the admission rules (`registry.audit.auditor.EntryAuditor`, signatures verified in `workers`
processes). With witness keys it also checks every entry's `logged_at` against the time k of
those witnesses cosigned the log (`registry.bundle.witness_time.replay_bound`). It recomputes
the status index from every leaf and compares it with the status note the log signed for the
checkpoint it verifies (`registry.audit.status_audit`). With a state file it saves
its progress every few seconds (atomically) and resumes from it; the saved state also pins the
tree it verified and its signed checkpoint, so a log that later shows another history is a split
view (`registry.audit.pinned`): the replay stops there and writes the evidence.
"""

import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NotRequired, TypedDict

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.cosignature import CosignatureVerifier
from ledger.errors import LedgerError, MalformedError
from ledger.monitor import write_atomically
from ledger.note import Verifier
from ledger.remote import RemoteLog
from ledger.replay import ReplayState, TreeFinding, TreeReplay
from registry.admission import rules
from registry.audit.auditor import DEFAULT_MAX_SKEW_MS, CautionEntry, EntryAuditor, InvalidEntry
from registry.audit.pinned import SplitView, SplitViewJson, check_pinned
from registry.audit.priority import CautionJson
from registry.audit.state import InvalidJson
from registry.audit.status_audit import (
    StatusAudit,
    StatusCheck,
    StatusFinding,
    StatusFindingJson,
)
from registry.bundle.witness_time import replay_bound
from registry.entries.signatures import verify_batch

__all__ = ["ReplayReport", "replay_log"]

AUDIT_BATCH = 4096  # entries checked per round of signature verification
SAVE_EVERY_S = 2.0


class TreeFindingJson(TypedDict):
    where: str
    reason: str


class ReplayReportJson(TypedDict):
    """`prov audit replay --json`: the report as printed."""

    ok: bool
    origin: str
    tree_size: int
    resumed_from: int
    entries_checked: int
    seconds: float
    entries_per_second: float
    counts: dict[str, int]
    invalid_entries: list[InvalidJson]
    tree_findings: list[TreeFindingJson]
    cautions: list[CautionJson]
    status: "StatusJson"
    status_findings: list[StatusFindingJson]
    split_view: NotRequired[SplitViewJson]  # only when the log's history is not the pinned one


class StatusJson(TypedDict):
    tree_size: int
    checked: bool
    detail: str


@dataclass
class ReplayReport:
    checkpoint: Checkpoint
    started_at: int  # entries already verified by an earlier run (resumed from the state)
    entries: int  # entries checked by this run
    seconds: float
    counts: dict[str, int]
    invalid: list[InvalidEntry]
    findings: list[TreeFinding] = field(default_factory=list)
    # Admissible entries the log knows something against (revocations, priority): they do
    # not make the log fail to verify.
    cautions: list[CautionEntry] = field(default_factory=list)
    # The status commitment of the checkpoint, against the index recomputed from the entries.
    status: StatusCheck | None = None
    # The log shows a history inconsistent with the one the state pinned: nothing else checked.
    split: SplitView | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.invalid and not self.findings and not self.status_findings and not self.split
        )

    @property
    def status_findings(self) -> list[StatusFinding]:
        return list(self.status.findings) if self.status is not None else []

    @property
    def entries_per_second(self) -> float:
        return self.entries / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> "ReplayReportJson":
        report: ReplayReportJson = {
            "ok": self.ok,
            "origin": self.checkpoint.origin,
            "tree_size": self.checkpoint.size,
            "resumed_from": self.started_at,
            "entries_checked": self.entries,
            "seconds": round(self.seconds, 3),
            "entries_per_second": round(self.entries_per_second, 1),
            "counts": self.counts,
            "invalid_entries": [i.to_json() for i in self.invalid],
            "tree_findings": [{"where": f.where, "reason": f.reason} for f in self.findings],
            "cautions": [c.to_json() for c in self.cautions],
            "status": {
                "tree_size": self.checkpoint.size,
                "checked": self.status is not None and self.status.checked,
                "detail": self.status.detail if self.status is not None else "not checked",
            },
            "status_findings": [f.to_json() for f in self.status_findings],
        }
        if self.split is not None:
            report["split_view"] = self.split.to_json()
        return report


def replay_log(
    remote: RemoteLog,
    log_key: Verifier,
    *,
    state_path: Path | None = None,
    workers: int = 2,
    max_skew_ms: int = DEFAULT_MAX_SKEW_MS,
    on_progress: Callable[[int, int], None] = lambda _done, _total: None,
    witnesses: Sequence[CosignatureVerifier] = (),
    min_witnesses: int = 0,
    evidence_dir: Path | None = None,
) -> ReplayReport:
    """`witnesses`, `min_witnesses`: check every logged_at against the time `min_witnesses`
    (at least one) of these witnesses cosigned the log (registry.bundle.witness_time).
    `evidence_dir`: where a split view's evidence goes [next to the state file]."""
    auditor, index = EntryAuditor(max_skew_ms=max_skew_ms), StatusAudit()
    tree, pinned_note = (
        _load_state(state_path, log_key, auditor, index)
        if state_path is not None and state_path.exists()
        else (ReplayState(), None)
    )
    note = remote.checkpoint()
    target = open_checkpoint(note, log_key)
    if state_path is not None:
        evidence = evidence_dir or state_path.parent / "evidence"
        pinned = (tree, pinned_note)
        split = check_pinned(remote, log_key, (note, target), pinned, state_path, evidence)
        if split is not None:
            return _split_report(target, tree, auditor, split)
    with _Verifier(workers) as verify:
        auditor.verify = verify
        replay = TreeReplay(remote, tree)
        witnessed: list[TreeFinding] = []
        if witnesses or min_witnesses:
            try:
                auditor.cosigned = replay_bound(
                    remote, log_key, note, target, witnesses, min_witnesses
                )
            except LedgerError as exc:
                witnessed.append(TreeFinding("witness cosignatures", str(exc)))
            auditor.check_resumed()
        started, clock = tree.size, time.monotonic()
        feed = _Feed(auditor, index, target, tree, (state_path, pinned_note), on_progress, clock)
        tree_findings = replay.run(target, feed.collect, feed.progress)
        feed.flush()
        auditor.finish()
        # A tree that does not verify gave no complete set of leaves to recompute from.
        status = (
            index.check(remote, log_key, target)
            if not tree_findings
            else StatusCheck(target.size, False, "not checked: the tree does not verify")
        )
        seconds = time.monotonic() - clock
    if state_path is not None and not tree_findings:
        _save_state(state_path, target, tree, auditor, index, note)
    return ReplayReport(
        target, started, tree.size - started, seconds, dict(auditor.counts), auditor.invalid,
        tree_findings + witnessed, auditor.cautions, status,
    )  # fmt: skip


def _split_report(
    target: Checkpoint, tree: ReplayState, auditor: EntryAuditor, split: SplitView
) -> ReplayReport:
    """Nothing replayed: the entries of another history prove nothing about the pinned one."""
    status = StatusCheck(target.size, False, "not checked: the log shows another history")
    return ReplayReport(
        target, tree.size, 0, 0.0, dict(auditor.counts), [], status=status, split=split
    )


class _Feed:
    """Hands the downloaded entries to the auditor in rounds of `AUDIT_BATCH` (one round of
    signature jobs each), and saves the state every `SAVE_EVERY_S` between rounds: only
    when no entry is pending, so the saved tree size and audit state agree."""

    def __init__(
        self,
        auditor: EntryAuditor,
        index: StatusAudit,
        target: Checkpoint,
        tree: ReplayState,
        saving: tuple[Path | None, bytes | None],  # the state file, and the note it pinned
        on_progress: Callable[[int, int], None],
        clock: float,
    ) -> None:
        self._auditor, self._index, self._target, self._tree = auditor, index, target, tree
        (self._state_path, self._pinned), self._on_progress = saving, on_progress
        self._pending: list[tuple[int, list[bytes]]] = []
        self._last_save = clock

    def collect(self, first: int, leaves: list[bytes]) -> None:
        self._index.add(first, leaves)  # every leaf, valid or not: the sequencer indexes all
        self._pending.append((first, leaves))
        if sum(len(batch) for _, batch in self._pending) >= AUDIT_BATCH:
            self.flush()

    def flush(self) -> None:
        for first, leaves in self._pending:
            self._auditor.audit(first, leaves)
        self._pending.clear()

    def progress(self, size: int) -> None:
        self._on_progress(size, self._target.size)
        if (
            self._state_path is not None
            and not self._pending
            and time.monotonic() - self._last_save > SAVE_EVERY_S
        ):
            _save_state(
                self._state_path, self._target, self._tree, self._auditor, self._index,
                self._pinned,
            )  # fmt: skip
            self._last_save = time.monotonic()


class _Verifier:
    """Signature checks spread over `workers` processes, running while the caller goes on
    (in this process, at once, for one worker)."""

    def __init__(self, workers: int) -> None:
        self._pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
        self._workers = workers

    def __enter__(self) -> Callable[[list[rules.SignatureJob]], Callable[[], list[bool]]]:
        return self.start

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def start(self, jobs: list[rules.SignatureJob]) -> Callable[[], list[bool]]:
        if self._pool is None:
            verdicts = verify_batch(jobs)
            return lambda: verdicts
        size = -(-len(jobs) // self._workers)
        futures = [
            self._pool.submit(verify_batch, jobs[i : i + size]) for i in range(0, len(jobs), size)
        ]
        return lambda: [ok for future in futures for ok in future.result()]


def _save_state(
    path: Path,
    target: Checkpoint,
    tree: ReplayState,
    auditor: EntryAuditor,
    index: StatusAudit,
    note: bytes | None = None,
) -> None:
    """`note`: the signed checkpoint pinned: that of `tree` once it is complete; during a
    replay, the one pinned before (the partial tree extends it; the replay resumed from it
    checks the log against it)."""
    state = {
        "origin": target.origin,
        "tree": tree.to_json(),
        "entries": auditor.to_json(),
        "status": index.to_json() if index.known else None,
    }
    if note is not None:
        state["checkpoint"] = note.decode()
    write_atomically(path, json.dumps(state) + "\n")


def _load_state(
    path: Path, log_key: Verifier, auditor: EntryAuditor, index: StatusAudit
) -> tuple[ReplayState, bytes | None]:
    """The pinned tree and, from states saved since issue 17, its signed checkpoint."""
    try:
        state = json.loads(path.read_text())
        if state["origin"] != log_key.name:
            raise MalformedError(
                f"replay state {path} is for the log {state['origin']!r}, not {log_key.name!r}"
            )
        auditor.load_json(state["entries"])
        index.load_json(state.get("status"))  # absent from states saved before status checks
        note = state.get("checkpoint")
        return ReplayState.from_json(state["tree"]), None if note is None else str(note).encode()
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedError(
            f"replay state {path} is damaged ({exc}); delete it to replay from the start"
        ) from None
