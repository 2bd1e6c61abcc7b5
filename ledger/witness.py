"""A C2SP tlog-witness: checks that each log only ever grows, and cosigns its checkpoints.

`Witness.add_checkpoint` is the whole protocol. It answers every request with a
`WitnessResponse` (status, body, content type) exactly as the spec's HTTP interface defines,
so the HTTP layer only copies it out. Checks that need no state (syntax, origin, the log's
signature, old <= size) run first; the rest (old size, consistency, the update and the
cosignature) run under the witness lock in ONE transaction, so two requests can never both
pass the old-size check against the same stored size, and nothing is cosigned unless it is
durably the new state.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import Connection, Engine, func, insert, select, update

from ledger.checkpoint import Checkpoint, open_checkpoint, parse_checkpoint
from ledger.cosignature import Cosigner
from ledger.database import locked_transaction, translate_database_errors
from ledger.encoding import decode_base64, parse_decimal
from ledger.errors import ConfigurationError, MalformedError, VerificationError
from ledger.merkle import HASH_SIZE, verify_consistency
from ledger.note import Verifier, parse_note, read_private_key_file, write_private_key_file
from ledger.schema import witness_refusals, witness_state

# pg_advisory_xact_lock key, distinct from ledger.database.SEQUENCER_LOCK ("provlog\0").
WITNESS_LOCK = int.from_bytes(b"provwit\x00", "big", signed=True)
MAX_BODY_BYTES = 64 * 1024  # a checkpoint with 100 signatures and 63 proof lines is ~16 KiB
MAX_PROOF_LINES = 63  # C2SP tlog-witness: clients MUST NOT send more
SIZE_CONTENT_TYPE = "text/x.tlog.size"
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
_MAX_ORIGIN_LENGTH = 255  # witness_state.origin is VARCHAR(255)


class AddCheckpointRequest(NamedTuple):
    old_size: int
    proof: tuple[bytes, ...]
    note: bytes


@dataclass(frozen=True)
class WitnessResponse:
    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """The latest checkpoint the witness cosigned for one origin."""

    origin: str
    size: int
    root_hash: bytes
    note: bytes
    updated_ms: int


@dataclass(frozen=True)
class Refusal:
    """A refused checkpoint whose log signature verified: possible evidence of a fork."""

    origin: str
    received_ms: int
    status: int
    reason: str
    request: bytes


def parse_add_checkpoint(body: bytes) -> AddCheckpointRequest:
    """Split an add-checkpoint body into old size, consistency proof and checkpoint note.

    Layout, C2SP tlog-witness: "old <decimal>\\n", 0..63 lines of base64(32-byte hash) "\\n",
    an empty line, then the signed checkpoint note (not parsed here).
    """
    if len(body) > MAX_BODY_BYTES:
        raise MalformedError(f"add-checkpoint body is larger than {MAX_BODY_BYTES} bytes")
    # Header lines are never empty, so the first empty line is the one that ends them.
    end = body.find(b"\n\n")
    if end < 0:
        raise MalformedError(
            "add-checkpoint body has no empty line between the old size and proof lines and "
            "the checkpoint"
        )
    try:
        lines = body[:end].decode("ascii").split("\n")
    except UnicodeDecodeError:
        raise MalformedError("add-checkpoint old size and proof lines must be ASCII") from None
    old_line, *proof_lines = lines
    if not old_line.startswith("old "):
        raise MalformedError(
            f"add-checkpoint body must start with a line `old <size>`, not {old_line!r:.80}"
        )
    old_size = parse_decimal(old_line[len("old ") :], "add-checkpoint old size")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedError(
            f"add-checkpoint body has {len(proof_lines)} proof lines; at most "
            f"{MAX_PROOF_LINES} are allowed"
        )
    proof = []
    for number, line in enumerate(proof_lines, start=1):
        value = decode_base64(line, f"consistency proof line {number}")
        if len(value) != HASH_SIZE:
            raise MalformedError(
                f"consistency proof line {number} is {len(value)} bytes, not a {HASH_SIZE}-byte "
                "hash (is the empty line before the checkpoint missing?)"
            )
        proof.append(value)
    return AddCheckpointRequest(old_size, tuple(proof), body[end + 2 :])


def _text(status: int, message: str) -> WitnessResponse:
    return WitnessResponse(status, (message + "\n").encode(), TEXT_CONTENT_TYPE)


def _history_problem(
    stored: WitnessedCheckpoint | None, request: AddCheckpointRequest, checkpoint: Checkpoint
) -> tuple[int, str] | None:
    """Why `checkpoint` is not an append-only extension of the stored one (old size already
    matched): (status, reason), or None if it is."""
    if request.old_size == checkpoint.size:
        if request.proof:
            return 422, "a consistency proof between equal tree sizes must be empty"
        if stored is not None and stored.root_hash != checkpoint.root_hash:
            return 409, (
                f"the log signed two different roots for tree size {checkpoint.size}: "
                "the checkpoint conflicts with the one this witness cosigned"
            )
        return None
    if stored is None or request.old_size == 0:
        # From size 0 (nothing stored, or an empty tree) any tree extends it. tlog-witness says
        # the proof MUST then be empty; a non-empty one is a proof that cannot verify, so it gets
        # the failed-proof status, 422, rather than 400.
        if request.proof:
            return 422, "the consistency proof must be empty when the old size is 0"
        return None
    try:
        verify_consistency(
            stored.size, checkpoint.size, stored.root_hash, checkpoint.root_hash, request.proof
        )
    except (MalformedError, VerificationError) as exc:
        return 422, f"consistency proof does not verify: {exc}"
    return None


class Witness:
    """A witness for the logs in `logs` (origin -> the log's key, whose name is the origin),
    keeping its state in `engine`'s witness_state and witness_refusals tables."""

    def __init__(self, engine: Engine, cosigner: Cosigner, logs: Mapping[str, Verifier]) -> None:
        for origin, key in logs.items():
            if key.name != origin:
                raise ConfigurationError(
                    f"the log key {key.name!r} is listed for origin {origin!r}; a log's key "
                    "name must be its origin"
                )
            if len(origin) > _MAX_ORIGIN_LENGTH:
                raise ConfigurationError(
                    f"log origin {origin[:40]!r}... is longer than {_MAX_ORIGIN_LENGTH} characters"
                )
        self.engine = engine
        self.cosigner = cosigner
        self.logs = dict(logs)

    def add_checkpoint(self, body: bytes, now_s: int) -> WitnessResponse:
        """Handle one add-checkpoint request received at `now_s` (POSIX seconds)."""
        try:
            request = parse_add_checkpoint(body)
            text = parse_note(request.note).text
            checkpoint = parse_checkpoint(text)
        except MalformedError as exc:
            return _text(400, str(exc))
        log_key = self.logs.get(checkpoint.origin)
        if log_key is None:
            return _text(404, f"this witness does not witness the log {checkpoint.origin!r}")
        try:
            open_checkpoint(request.note, log_key)
        except VerificationError as exc:
            return _text(403, f"{exc}; expected a signature by {log_key.vkey}")
        if request.old_size > checkpoint.size:
            return _text(
                400,
                f"old size {request.old_size} is larger than the checkpoint's {checkpoint.size}",
            )
        with locked_transaction(self.engine, WITNESS_LOCK) as connection:
            return self._update(connection, body, request, text, checkpoint, now_s)

    def _update(
        self,
        connection: Connection,
        body: bytes,
        request: AddCheckpointRequest,
        text: str,
        checkpoint: Checkpoint,
        now_s: int,
    ) -> WitnessResponse:
        stored = _read_state(connection, checkpoint.origin)
        stored_size = stored.size if stored is not None else 0
        if request.old_size != stored_size:
            # The normal way a client learns the witness's size: not evidence, not recorded.
            return WitnessResponse(409, f"{stored_size}\n".encode(), SIZE_CONTENT_TYPE)
        problem = _history_problem(stored, request, checkpoint)
        if problem is not None:
            status, reason = problem
            connection.execute(
                insert(witness_refusals).values(
                    origin=checkpoint.origin,
                    received_ms=now_s * 1000,
                    status=status,
                    reason=reason,
                    request=body,
                )
            )
            return _text(status, reason)
        # A cosignature dates "the largest tree I saw"; a clock that steps back must not date a
        # larger tree before a smaller one, so timestamps never decrease per origin.
        timestamp = max(now_s, stored.updated_ms // 1000 if stored is not None else 0)
        values = {
            "tree_size": checkpoint.size,
            "root_hash": checkpoint.root_hash,
            "note": request.note,
            "updated_ms": timestamp * 1000,
        }
        if stored is None:
            connection.execute(insert(witness_state).values(origin=checkpoint.origin, **values))
        else:
            connection.execute(
                update(witness_state)
                .where(witness_state.c.origin == checkpoint.origin)
                .values(**values)
            )
        line = self.cosigner.cosign(text, timestamp).line()
        return WitnessResponse(200, line.encode(), TEXT_CONTENT_TYPE)

    def latest(self, origin: str) -> WitnessedCheckpoint | None:
        """The latest checkpoint cosigned for `origin`, or None if there is none yet."""
        with translate_database_errors(self.engine), self.engine.connect() as connection:
            return _read_state(connection, origin)


def _read_state(connection: Connection, origin: str) -> WitnessedCheckpoint | None:
    row = connection.execute(
        select(witness_state).where(witness_state.c.origin == origin)
    ).one_or_none()
    if row is None:
        return None
    return WitnessedCheckpoint(row.origin, row.tree_size, row.root_hash, row.note, row.updated_ms)


def read_witnessed(engine: Engine) -> list[WitnessedCheckpoint]:
    """Every origin's latest cosigned checkpoint, by origin."""
    with translate_database_errors(engine), engine.connect() as connection:
        rows = connection.execute(select(witness_state).order_by(witness_state.c.origin))
        return [
            WitnessedCheckpoint(r.origin, r.tree_size, r.root_hash, r.note, r.updated_ms)
            for r in rows
        ]


def read_refusals(engine: Engine, origin: str | None = None) -> list[Refusal]:
    """The refused checkpoints kept as evidence, oldest first."""
    query = select(witness_refusals).order_by(witness_refusals.c.id)
    if origin is not None:
        query = query.where(witness_refusals.c.origin == origin)
    with translate_database_errors(engine), engine.connect() as connection:
        return [
            Refusal(r.origin, r.received_ms, r.status, r.reason, r.request)
            for r in connection.execute(query)
        ]


def count_refusals(engine: Engine) -> dict[str, int]:
    """How many refusals are kept per origin."""
    query = select(witness_refusals.c.origin, func.count()).group_by(witness_refusals.c.origin)
    with translate_database_errors(engine), engine.connect() as connection:
        return {origin: count for origin, count in connection.execute(query)}


def parse_log_keys(vkeys: Sequence[str]) -> dict[str, Verifier]:
    """The trusted logs, origin -> key, from their verifier keys (one per origin)."""
    logs: dict[str, Verifier] = {}
    for vkey in vkeys:
        key = Verifier.from_vkey(vkey)
        if key.name in logs:
            raise ConfigurationError(
                f"two keys are given for the log {key.name!r}; give one --log per origin"
            )
        logs[key.name] = key
    if not logs:
        raise ConfigurationError("the witness needs at least one log key (--log VKEY)")
    return logs


def load_cosigner(key_file: Path) -> Cosigner:
    text = read_private_key_file(key_file, "witness", "prov witness init --name NAME")
    return Cosigner.from_string(text)


def write_new_cosigner(key_file: Path, name: str) -> Cosigner:
    """Generate a witness key and write it readable by its owner only (0600)."""
    cosigner = Cosigner.generate(name)
    write_private_key_file(key_file, cosigner.to_string(), "witness")
    return cosigner
