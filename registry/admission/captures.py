"""Captures: device-signed capture records, admitted as capture/v1 entries.

A batch goes through five steps, each a function here: parse each record's shape, screen its
claim against the enrolled device (validity, skew, high-S), verify its signature (the expensive
part, spread over worker processes), admit it under the write lock (replays and revocations are
decided there, against what is logged at that moment), and assemble one result per record, in
the order submitted. A record refused at one step goes no further.
"""

import base64
import dataclasses
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from ledger import LogStore, SignedCheckpoint
from ledger.errors import LedgerError, MalformedError
from registry.admission import indexer, rules
from registry.admission.capture_cautions import revocations_of
from registry.admission.caution_rule import covers
from registry.admission.context import Writer
from registry.admission.devices import device_keys
from registry.admission.results import CaptureResult, receipts
from registry.admission.revocation_rules import capture_refusal
from registry.admission.schema import reg_captures
from registry.config import RegistrySettings
from registry.entries.claim_identity import c2pa_claim_id, capture_claim_id
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    b64,
    canonical_claim,
    capture_leaf,
    capture_record_id,
    check_capture_record,
    encode_entry,
)
from registry.entries.formats import C2paEvidence
from registry.entries.signatures import verify_batch
from registry.entries.strings import check_no_nul
from registry.errors import TooLargeError

JSON = dict[str, Any]  # a claim or C2PA evidence as parsed by registry.entries.codec
_IN_PROCESS_BELOW = 64  # smaller batches are not worth the round trip to worker processes
_PARENT_POLL_S = 1.0


@dataclass(frozen=True)
class Pending:
    """A record whose shape is checked, on its way to the log."""

    position: int  # in the submitted batch
    claim: JSON
    sig: str  # base64 of the claim's signature (for a c2pa-capture/v1, the C2PA claim's)
    claim_jcs: bytes  # canonical(claim), computed once
    c2pa: C2paEvidence | None = None  # a c2pa-capture/v1's evidence


@dataclass(frozen=True)
class Admitted:
    """A record the log holds: newly at `index`, or, for a replay, its first copy there."""

    index: int
    replay: bool
    flags: tuple[str, ...] = ()
    counter_status: str | None = None  # None for a replay: its first copy was judged


@dataclass(frozen=True)
class Refused:
    code: str
    reason: str


Outcome = Admitted | Refused


class SignatureVerifier:
    """Verifies capture signatures, in worker processes for batches worth the round trip."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the worker processes now: otherwise the first large batch waits for them,
        seconds where they are spawned (as in `prov serve --workers N`)."""
        if self._workers > 1 and self._pool is None:
            self._pool = _new_pool(self._workers)
            list(self._pool.map(verify_batch, [[]] * self._workers))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def verify(self, jobs: list[tuple[str, bytes, bytes, bytes]]) -> list[bool]:
        """One verdict per job, in order."""
        if self._workers <= 1 or len(jobs) < _IN_PROCESS_BELOW:
            return verify_batch(jobs)
        if self._pool is None:
            self._pool = _new_pool(self._workers)
        size = -(-len(jobs) // self._workers)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        return [ok for chunk in self._pool.map(verify_batch, chunks) for ok in chunk]


def _new_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers, initializer=_exit_with_parent, initargs=(os.getpid(),)
    )


def _exit_with_parent(parent: int) -> None:
    """In each verify process: exit once its server process is gone. A server that is killed
    (SIGKILL, or uvicorn replacing a worker that missed its health check) cannot stop its
    pool, whose processes would otherwise wait forever on a queue nobody feeds."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def submit_captures(
    writer: Writer, verifier: SignatureVerifier, records: Sequence[object]
) -> list[CaptureResult]:
    """Admit a batch of device-signed capture records; one result per record, in order."""
    writer.sequencer_or_refuse()
    check_batch_size(writer.settings, records)
    parsed, malformed = parse(records)
    keys = device_keys(writer, {item.claim["device"] for item in parsed})
    screened, unfit = screen(parsed, keys, writer.now(), writer.settings.max_future_skew_ms)
    verified, forged = verify_signatures(verifier, screened, keys)
    result, outcomes = writer.append(lambda c, first, now: admit(c, first, now, verified))
    decided = assemble(writer.store, result.checkpoint, verified, outcomes)
    by_position = {r.position: r for r in (*malformed, *unfit, *forged, *decided)}
    return [by_position[position] for position in range(len(records))]


def check_batch_size(settings: RegistrySettings, records: Sequence[object]) -> None:
    if not records:
        raise MalformedError("the batch has no records", code="empty_batch")
    if len(records) > settings.max_batch:
        raise TooLargeError(
            f"the batch has {len(records)} records; at most {settings.max_batch} per "
            "submission (PROV_MAX_BATCH): split it into smaller batches",
            code="batch_too_large",
        )


def parse(records: Sequence[object]) -> tuple[list[Pending], list[CaptureResult]]:
    """Step 1: each record's shape; the well-formed ones, and a refusal for each other."""
    parsed: list[Pending] = []
    refused: list[CaptureResult] = []
    for position, record in enumerate(records):
        try:
            claim, signature = check_capture_record(record)
            # After the fields' own checks, which name a bad firmware (bad_firmware) first.
            check_no_nul(record, "record")
            parsed.append(Pending(position, claim, b64(signature), canonical_claim(claim)))
        except LedgerError as exc:
            refused.append(CaptureResult(position, code=exc.code, reason=str(exc)))
    return parsed, refused


def screen(
    items: Sequence[Pending],
    keys: dict[str, rules.EnrolledDevice],
    now: int,
    max_skew_ms: int,
) -> tuple[list[Pending], list[CaptureResult]]:
    """Step 2: each claim against its enrolled device (rules.claim_problem, high-S)."""
    fit: list[Pending] = []
    refused: list[CaptureResult] = []
    for item in items:
        device = keys.get(item.claim["device"])
        problem = rules.claim_problem(item.claim, device, now, max_skew_ms) or (
            rules.high_s_problem(device, base64.b64decode(item.sig)) if device else None
        )
        if problem is None:
            fit.append(item)
        else:
            refused.append(CaptureResult(item.position, code=problem[0], reason=problem[1]))
    return fit, refused


def verify_signatures(
    verifier: SignatureVerifier,
    items: Sequence[Pending],
    keys: dict[str, rules.EnrolledDevice],
) -> tuple[list[Pending], list[CaptureResult]]:
    """Step 3: each signature with the device's enrolled key (every item was screened, so its
    device is enrolled)."""
    jobs = [
        rules.capture_signature_job(
            keys[item.claim["device"]], item.claim_jcs, base64.b64decode(item.sig)
        )
        for item in items
    ]
    verified: list[Pending] = []
    refused: list[CaptureResult] = []
    for item, ok in zip(items, verifier.verify(jobs), strict=True):
        if ok:
            verified.append(item)
        else:
            reason = (
                f"signature does not verify with the enrolled key of device {item.claim['device']}"
            )
            refused.append(CaptureResult(item.position, code="bad_signature", reason=reason))
    return verified, refused


@dataclass(frozen=True)
class _NewEntry:
    entry: JSON
    leaf: bytes
    record_id: bytes
    claim_id: bytes


def admit(
    connection: Connection, first: int, now: int, items: Sequence[Pending]
) -> tuple[list[bytes], list[Outcome]]:
    """Step 4, under the write lock: replays, revocations, then the new entries and their rows.

    Returns the leaves to append at `first` and one outcome per item, in order."""
    # Replays are found by the claim, not the record: the same claim signed differently
    # (a malleated or re-signed copy) is the same capture, answered with the first receipt.
    claim_ids = [_claim_id(item) for item in items]
    known = _logged_claims(connection, claim_ids)
    revoked = revocations_of(connection, {item.claim["device"] for item in items})
    new: list[_NewEntry] = []
    outcomes: list[Outcome] = []
    for item, cid in zip(items, claim_ids, strict=True):
        earlier = known.get(cid)
        if earlier is not None:
            outcomes.append(Admitted(earlier, replay=True))
            continue
        applying = revoked.get(item.claim["device"], [])
        claim = item.claim
        firmware = claim.get("firmware")
        problem = capture_refusal(claim["device"], claim["captured_at"], firmware, applying)
        if problem is not None:
            outcomes.append(Refused(*problem))
            continue
        index = first + len(new)
        known[cid] = index  # a second copy later in this batch is a replay of this one
        new.append(_new_entry(item, now, cid))
        covering = [r for r in applying if covers(r, firmware)]
        flags = ("logged_after_revocation",) if covering else ()
        outcomes.append(Admitted(index, replay=False, flags=flags))
    rows = indexer.apply_captures(
        connection,
        first,
        [n.entry for n in new],
        [n.record_id for n in new],
        [n.claim_id for n in new],
    )
    status = {row.index: row.counter_status for row in rows}
    return [n.leaf for n in new], [_with_status(outcome, status) for outcome in outcomes]


def _logged_claims(connection: Connection, claim_ids: Sequence[bytes]) -> dict[bytes, int]:
    """The first index logged for each of `claim_ids` that is logged."""
    known: dict[bytes, int] = {}
    for cid, index in connection.execute(
        select(reg_captures.c.claim_id, reg_captures.c.leaf_index)
        .where(reg_captures.c.claim_id.in_(set(claim_ids)))
        .order_by(reg_captures.c.leaf_index)
    ):
        known.setdefault(bytes(cid), index)
    return known


def _new_entry(item: Pending, now: int, claim_id: bytes) -> _NewEntry:
    record_id = capture_record_id(item.claim_jcs, item.sig)
    if item.c2pa is None:
        entry = {"kind": CAPTURE, "logged_at": now, "claim": item.claim, "sig": item.sig}
        leaf = capture_leaf(item.claim_jcs, item.sig, now)
    else:
        entry = {"kind": C2PA_CAPTURE, "logged_at": now, "claim": item.claim, "c2pa": item.c2pa}
        leaf = encode_entry(entry)
    return _NewEntry(entry, leaf, record_id, claim_id)


def _with_status(outcome: Outcome, status: dict[int, str]) -> Outcome:
    if isinstance(outcome, Refused) or outcome.replay:
        return outcome
    return dataclasses.replace(outcome, counter_status=status.get(outcome.index))


def _claim_id(item: Pending) -> bytes:
    if item.c2pa is None:
        return capture_claim_id(item.claim_jcs)
    return c2pa_claim_id(item.c2pa)


def assemble(
    store: LogStore,
    checkpoint: SignedCheckpoint,
    items: Sequence[Pending],
    outcomes: Sequence[Outcome],
) -> list[CaptureResult]:
    """Step 5: the result of each admitted or refused item, with its receipt under
    `checkpoint`. Per record, not per index: the first of a claim sent twice is new."""
    admitted = [(i, o) for i, o in zip(items, outcomes, strict=True) if isinstance(o, Admitted)]
    found = receipts(store, [o.index for _, o in admitted], checkpoint, set())
    results = [
        CaptureResult(
            item.position,
            receipt=dataclasses.replace(receipt, duplicate=outcome.replay),
            counter_status=outcome.counter_status,
            flags=outcome.flags,
        )
        for (item, outcome), receipt in zip(admitted, found, strict=True)
    ]
    results += [
        CaptureResult(item.position, code=o.code, reason=o.reason)
        for item, o in zip(items, outcomes, strict=True)
        if isinstance(o, Refused)
    ]
    return results
