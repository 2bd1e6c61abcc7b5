"""C2SP tlog-proof: an offline-verifiable proof that one entry is in a checkpointed tree.

c2sp.org/tlog-proof@v1
[extra <base64>]
index <N>
<base64 proof hash, leaf sibling first>...

<signed checkpoint note>
"""

import base64
import binascii
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.errors import MalformedError
from ledger.merkle import hash_leaf, verify_inclusion
from ledger.note import Verifier

HEADER = "c2sp.org/tlog-proof@v1"


@dataclass(frozen=True)
class TlogProof:
    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: bytes
    extra: bytes | None = None

    def encode(self) -> bytes:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines.extend(base64.b64encode(h).decode() for h in self.proof)
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint_note

    def verify(self, entry: bytes, log_key: Verifier) -> Checkpoint:
        """Check that `entry` is at `index` in the tree the signed checkpoint commits to."""
        checkpoint = open_checkpoint(self.checkpoint_note, log_key)
        verify_inclusion(
            hash_leaf(entry), self.index, checkpoint.size, self.proof, checkpoint.root_hash
        )
        return checkpoint


def _decode_b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedError(f"tlog-proof {what} {text!r} is not base64") from None


def parse_tlog_proof(data: bytes) -> TlogProof:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("tlog-proof is not valid UTF-8") from None
    head, sep, checkpoint = text.partition("\n\n")
    if not sep or not checkpoint:
        raise MalformedError("tlog-proof has no blank line before its checkpoint")
    lines = head.split("\n")
    if lines[0] != HEADER:
        raise MalformedError(f"tlog-proof must start with {HEADER!r}")
    pos = 1
    extra = None
    if pos < len(lines) and lines[pos].startswith("extra "):
        extra = _decode_b64(lines[pos][len("extra ") :], "extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise MalformedError("tlog-proof is missing its 'index <N>' line")
    index_text = lines[pos][len("index ") :]
    if (
        not index_text.isascii()
        or not index_text.isdigit()
        or (index_text.startswith("0") and index_text != "0")
    ):
        raise MalformedError(
            f"tlog-proof index {index_text!r} is not a decimal without leading zeros"
        )
    hashes = tuple(_decode_b64(line, "proof hash") for line in lines[pos + 1 :])
    return TlogProof(int(index_text), hashes, checkpoint.encode(), extra)
