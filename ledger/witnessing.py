"""The log's side of C2SP tlog-witness: push checkpoints to witnesses, keep their cosignatures.

`WitnessPusher.push()` sends the log's latest checkpoint to every configured witness with a
consistency proof from the size that witness last cosigned, verifies the cosignature it gets
back with the witness's pinned key, and stores it (`log_cosignatures`). `cosigned_note` then
serves a checkpoint with the cosignatures it collected appended as extra signature lines, so
clients can demand k of n witnesses - and every cosignature's timestamp is third-party evidence
that the checkpoint's entries existed by then (docs/design.md §4.3).

Witnesses are configured as `PROV_WITNESSES`: entries separated by ";" or newlines, each a URL
and the witness's cosignature vkey separated by whitespace.
"""

import base64
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy import Connection, func, insert, select

from ledger.cosignature import CosignatureVerifier, verify_cosignatures
from ledger.database import translate_database_errors
from ledger.errors import (
    EXIT_FAILED,
    ConfigurationError,
    LedgerError,
    StorageError,
    UnavailableError,
    VerificationError,
)
from ledger.published import PublishedMark
from ledger.schema import log_checkpoints, log_cosignatures
from ledger.store import LogStore, SignedCheckpoint, read_root_at

__all__ = [
    "PushResult",
    "WitnessEndpoint",
    "WitnessLoop",
    "WitnessPusher",
    "cosigned_note",
    "latest_cosigned",
    "parse_witnesses",
]

SIZE_CONTENT_TYPE = "text/x.tlog.size"
STOP_WAIT_S = 3.0  # how long WitnessLoop.stop waits for a push in flight


@dataclass(frozen=True)
class WitnessEndpoint:
    url: str  # the witness's submission prefix; add-checkpoint is below it
    key: CosignatureVerifier


@dataclass(frozen=True)
class PushResult:
    witness: str
    tree_size: int
    timestamp: int | None  # of the new cosignature; None if it failed or had one already
    error: str | None = None
    # False when the log holds this witness's cosignature of this size already, so the
    # witness was not asked again (and `timestamp` is None).
    contacted: bool = True
    # With an error: the `prov` exit code of its class (3 for a witness that cannot be
    # reached, ledger.errors), so `prov log witness` exits by the one table.
    exit_code: int = EXIT_FAILED

    @property
    def already_cosigned(self) -> bool:
        return self.error is None and not self.contacted


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """`URL VKEY` entries separated by ';' or newlines (PROV_WITNESSES)."""
    endpoints = []
    for item in re.split(r"[;\n]", text):
        if not item.strip():
            continue
        parts = item.split()
        if len(parts) != 2 or not parts[0].startswith(("http://", "https://")):
            raise ConfigurationError(
                f"witness {item.strip()!r} must be 'URL VKEY' (e.g. 'http://127.0.0.1:8001 "
                "witness.example/w1+1a2b3c4d+BA...'), entries separated by ';'"
            )
        endpoints.append(
            WitnessEndpoint(parts[0].rstrip("/"), CosignatureVerifier.from_vkey(parts[1]))
        )
    return tuple(endpoints)


class WitnessPusher:
    def __init__(
        self,
        store: LogStore,
        witnesses: Sequence[WitnessEndpoint],
        *,
        timeout: float = 10.0,
        http: httpx.Client | None = None,
        mark: PublishedMark | None = None,
    ) -> None:
        """`http`, if given, replaces the pusher's own client (tests pass a TestClient).
        `mark` (ledger.published): checked and raised before each push, and raised to the size
        a witness says it cosigned, if that is more than the database holds."""
        self._store = store
        self._witnesses = tuple(witnesses)
        self._http = http or httpx.Client(timeout=timeout)
        self._mark = mark

    def close(self) -> None:
        self._http.close()

    def push(self, *, ask_all: bool = False) -> list[PushResult]:
        """Offer the latest checkpoint to every witness that has not cosigned it yet; with
        `ask_all`, to every witness, so one that cosigned more than our records say (a restored
        database) answers with its size (`prov serve` does it once at start)."""
        latest = self._store.latest_checkpoint()
        if self._mark is not None:
            # Never offer a rolled-back checkpoint; and record this one as published first.
            self._mark.check(latest.checkpoint, self._root_at)
            self._mark.raise_to(latest.checkpoint)
        results = []
        for witness in self._witnesses:
            try:
                results.append(self._push_one(witness, latest, ask_all))
            except LedgerError as exc:
                results.append(
                    PushResult(
                        witness.key.name, latest.size, None, str(exc), exit_code=exc.exit_code
                    )
                )
        return results

    def _push_one(
        self, witness: WitnessEndpoint, latest: SignedCheckpoint, ask_all: bool
    ) -> PushResult:
        old = self._known_size(witness)
        if not ask_all and old == latest.size and self._has_cosignature(witness, latest.size):
            return PushResult(witness.key.name, latest.size, None, contacted=False)
        response = self._add_checkpoint(witness, old, latest)
        if response.status_code == 409 and response.headers.get("content-type", "").startswith(
            SIZE_CONTENT_TYPE
        ):
            # The witness knows another size (its state, or our records, were lost): the spec's
            # way to sync is to retry from the size it tells us.
            old = _parse_size(response.text, witness)
            if old > latest.size:
                self._behind_witness(witness, old, latest)
                raise VerificationError(
                    f"witness {witness.key.name} has cosigned {old} entries of this log, more "
                    f"than its latest checkpoint holds ({latest.size}): the log lost entries"
                )
            response = self._add_checkpoint(witness, old, latest)
        if response.status_code != 200:
            raise StorageError(
                f"witness {witness.key.name} at {witness.url} refused size {latest.size} "
                f"(from {old}): HTTP {response.status_code} {response.text.strip()[:200]}"
            )
        cosigned = latest.note + response.content
        found = [
            c for c in verify_cosignatures(cosigned, [witness.key]) if c.name == witness.key.name
        ]
        if not found:
            raise VerificationError(
                f"witness {witness.key.name} answered 200 without a cosignature by its key"
            )
        with (
            translate_database_errors(self._store.engine),
            self._store.engine.begin() as connection,
        ):
            for cosignature in found:
                _store_cosignature(connection, latest.size, cosignature.name, cosignature.key_id,
                                   cosignature.timestamp, cosignature.line)  # fmt: skip
        return PushResult(witness.key.name, latest.size, found[0].timestamp)

    def _behind_witness(
        self, witness: WitnessEndpoint, size: int, latest: SignedCheckpoint
    ) -> None:
        """The witness cosigned more of this log than the database holds: record it, so the
        sequencer refuses to fork, and say so (ConfigurationError log_behind_published)."""
        if self._mark is not None:
            self._mark.raise_witnessed(latest.checkpoint.origin, size, witness.key.name)
            self._mark.check(latest.checkpoint, self._root_at)

    def _root_at(self, size: int) -> bytes | None:
        with self._store.reading() as connection:
            return read_root_at(connection, size)

    def _add_checkpoint(
        self, witness: WitnessEndpoint, old: int, latest: SignedCheckpoint
    ) -> httpx.Response:
        proof = self._store.consistency_proof(old, latest.size) if 0 < old < latest.size else []
        body = f"old {old}\n".encode() + b"".join(base64.b64encode(h) + b"\n" for h in proof)
        body += b"\n" + latest.note
        try:
            return self._http.post(f"{witness.url}/add-checkpoint", content=body)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"cannot reach witness {witness.key.name} at {witness.url}: {exc}"
            ) from None

    def _known_size(self, witness: WitnessEndpoint) -> int:
        """The largest size this witness cosigned for us, as far as our records go."""
        with self._store.engine.connect() as connection:
            size = connection.execute(
                select(func.max(log_cosignatures.c.tree_size)).where(
                    log_cosignatures.c.key_name == witness.key.name,
                    log_cosignatures.c.key_id == witness.key.key_id,
                )
            ).scalar()
        return int(size or 0)

    def _has_cosignature(self, witness: WitnessEndpoint, size: int) -> bool:
        with self._store.engine.connect() as connection:
            return (
                connection.execute(
                    select(log_cosignatures.c.tree_size).where(
                        log_cosignatures.c.tree_size == size,
                        log_cosignatures.c.key_name == witness.key.name,
                        log_cosignatures.c.key_id == witness.key.key_id,
                    )
                ).first()
                is not None
            )


def cosigned_note(store: LogStore, checkpoint: SignedCheckpoint) -> bytes:
    """The checkpoint's note with every cosignature the log holds for its size appended."""
    with store.engine.connect() as connection:
        lines = connection.execute(
            select(log_cosignatures.c.line)
            .where(log_cosignatures.c.tree_size == checkpoint.size)
            .order_by(log_cosignatures.c.key_name, log_cosignatures.c.key_id)
        ).scalars()
        return checkpoint.note + "".join(lines).encode()


def latest_cosigned(store: LogStore, at_least: int) -> SignedCheckpoint | None:
    """The newest checkpoint of at least `at_least` entries that any witness cosigned."""
    with store.engine.connect() as connection:
        size = connection.execute(
            select(func.max(log_cosignatures.c.tree_size)).where(
                log_cosignatures.c.tree_size >= at_least
            )
        ).scalar()
        if size is None:
            return None
        exists = connection.execute(
            select(log_checkpoints.c.tree_size).where(log_checkpoints.c.tree_size == size)
        ).first()
    return store.checkpoint_at(int(size)) if exists else None


def _store_cosignature(
    connection: Connection, size: int, name: str, key_id: bytes, timestamp: int, line: str
) -> None:
    known = connection.execute(
        select(log_cosignatures.c.timestamp).where(
            log_cosignatures.c.tree_size == size,
            log_cosignatures.c.key_name == name,
            log_cosignatures.c.key_id == key_id,
        )
    ).first()
    if known is None:  # keep the first (earliest) cosignature per witness and size
        connection.execute(
            insert(log_cosignatures).values(
                tree_size=size, key_name=name, key_id=key_id, timestamp=timestamp, line=line
            )
        )


def _parse_size(text: str, witness: WitnessEndpoint) -> int:
    value = text.strip()
    if not value.isdigit() or (len(value) > 1 and value.startswith("0")):
        raise StorageError(f"witness {witness.key.name} sent a malformed size: {text[:40]!r}")
    return int(value)


class WitnessLoop:
    """Pushes the latest checkpoint to the witnesses every `interval` seconds, in a thread,
    until `stop()`. Failures are kept in `last_results` and retried on the next round;
    `on_results`, if given, sees every round's results (the server's metrics count them)."""

    def __init__(
        self,
        pusher: WitnessPusher,
        interval: float,
        on_results: Callable[[list[PushResult]], None] | None = None,
    ) -> None:
        self._pusher = pusher
        self._interval = interval
        self._on_results = on_results
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="witness-push", daemon=True)
        self.last_results: list[PushResult] = []

    def start(self) -> None:
        self._thread.start()

    def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop pushing. A push still waiting on a witness after `wait_s` is left to die with
        the process (the thread is a daemon): a server must stop within seconds of SIGTERM,
        and a push cut short only means a cosignature collected on the next start."""
        self._stop.set()
        self._thread.join(timeout=wait_s)
        if not self._thread.is_alive():
            self._pusher.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.last_results = self._pusher.push()
            except LedgerError as exc:  # e.g. the database is briefly unavailable
                self.last_results = [PushResult("*", 0, None, str(exc))]
            if self._on_results is not None:
                self._on_results(self.last_results)
            self._stop.wait(self._interval)
