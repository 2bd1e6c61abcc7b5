"""C2SP tlog-checkpoint: the signed tree head `<origin>\\n<size>\\n<base64 root>\\n`."""

import base64
from dataclasses import dataclass

from ledger.encoding import decode_base64, parse_decimal
from ledger.errors import MalformedError, VerificationError
from ledger.merkle import HASH_SIZE
from ledger.note import Signer, Verifier, open_note, sign_note


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def body(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode()]
        return "".join(line + "\n" for line in (*lines, *self.extensions))


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (the note text, without signatures)."""
    if not text.endswith("\n"):
        raise MalformedError("checkpoint text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise MalformedError("checkpoint needs an origin, a tree size and a root hash line")
    origin, size_line, root_line, *extensions = lines
    if not origin:
        raise MalformedError("checkpoint origin line is empty")
    size = parse_decimal(size_line, "checkpoint tree size")
    root = decode_base64(root_line, "checkpoint root hash")
    if len(root) != HASH_SIZE:
        raise MalformedError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    if any(not line for line in extensions):
        raise MalformedError("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> bytes:
    """The signed note for `checkpoint`; the log's key name must equal the origin."""
    if signer.name != checkpoint.origin:
        raise MalformedError(
            f"log key is named {signer.name!r} but the checkpoint origin is {checkpoint.origin!r}"
        )
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(note: bytes, log_key: Verifier) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and return its contents.

    Other signatures (witness cosignatures, rotated keys) are ignored here.
    """
    parsed, _ = open_note(note, [log_key])
    checkpoint = parse_checkpoint(parsed.text)
    if checkpoint.origin != log_key.name:
        raise VerificationError(
            f"checkpoint is for origin {checkpoint.origin!r}, not for the log {log_key.name!r}"
        )
    return checkpoint
