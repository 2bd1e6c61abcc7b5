"""The status commitment: a C2SP signed note, by the log key, binding a checkpoint to the root
of its status index (ledger.status) over the leaves below the checkpoint's size.

    provenance-ledger/status/v1\\n
    <origin>\\n
    <tree size, decimal>\\n
    <base64 checkpoint root hash>\\n
    <base64 status root>\\n

A separate note rather than a checkpoint extension line, so checkpoints stay byte-identical:
witnesses (ours and third parties', which make no statement about extension lines, C2SP
tlog-cosignature), clients that refuse extension lines, and the Go interop test see nothing
new. The first line is never a checkpoint's origin (signing refuses a log whose origin is that
line), so no checkpoint parser can take one note for the other: read as a checkpoint, this
note's origin is the header and its "size" the origin.
"""

import base64
from dataclasses import dataclass

from ledger.encoding import decode_base64, parse_decimal
from ledger.errors import ConfigurationError, MalformedError, VerificationError
from ledger.merkle import HASH_SIZE
from ledger.note import Signer, Verifier, open_note, sign_note

STATUS_NOTE_HEADER = "provenance-ledger/status/v1"


@dataclass(frozen=True)
class StatusCommitment:
    origin: str
    size: int
    root_hash: bytes
    status_root: bytes

    def body(self) -> str:
        lines = [
            STATUS_NOTE_HEADER,
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode(),
            base64.b64encode(self.status_root).decode(),
        ]
        return "".join(line + "\n" for line in lines)


def sign_status(commitment: StatusCommitment, signer: Signer) -> bytes:
    """The status note for `commitment`, signed by the log key (named as the origin)."""
    if commitment.origin == STATUS_NOTE_HEADER:
        raise ConfigurationError(
            f"the log's origin is {STATUS_NOTE_HEADER!r}, the status note's first line: its "
            "checkpoints and status notes could be mistaken for each other; choose another origin"
        )
    if signer.name != commitment.origin:
        raise MalformedError(
            f"log key is named {signer.name!r} but the status note's origin is "
            f"{commitment.origin!r}",
            code="bad_status_note",
        )
    if commitment.size < 0 or {len(commitment.root_hash), len(commitment.status_root)} != {32}:
        raise MalformedError(
            "a status note needs a tree size >= 0 and two 32-byte roots", code="bad_status_note"
        )
    return sign_note(commitment.body(), [signer])


def _parse_body(text: str) -> StatusCommitment:
    lines = text.split("\n")
    if len(lines) != 6 or lines[5] != "" or lines[0] != STATUS_NOTE_HEADER:
        raise MalformedError(
            f"a status note is exactly five lines, the first {STATUS_NOTE_HEADER!r}: a header, "
            "an origin, a tree size, a root hash and a status root",
            code="bad_status_note",
        )
    _, origin, size_line, root_line, status_line, _ = lines
    size = parse_decimal(size_line, "status note tree size")
    root = decode_base64(root_line, "status note root hash")
    status = decode_base64(status_line, "status note status root")
    if not origin or len(root) != HASH_SIZE or len(status) != HASH_SIZE:
        raise MalformedError(
            "a status note needs an origin and two 32-byte roots", code="bad_status_note"
        )
    return StatusCommitment(origin, size, root, status)


def open_status(note: bytes, verifier: Verifier) -> StatusCommitment:
    """Verify a status note with the log's key and return what it commits to.

    MalformedError (bad_status_note) for anything that is not a status note; VerificationError
    for a signature that does not verify, or a note for another log."""
    try:
        parsed, _ = open_note(note, [verifier])
        commitment = _parse_body(parsed.text)
    except MalformedError as error:
        raise MalformedError(str(error), code="bad_status_note") from None
    if commitment.origin != verifier.name:
        raise VerificationError(
            f"status note is for origin {commitment.origin!r}, not for the log {verifier.name!r}"
        )
    return commitment
