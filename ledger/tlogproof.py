"""C2SP tlog-proof: an offline-verifiable proof that one entry is in a checkpointed tree.

c2sp.org/tlog-proof@v1
[extra <base64>]
index <N>
<base64 proof hash, leaf sibling first>...

<signed checkpoint note>
"""

import base64
from dataclasses import dataclass

from ledger.checkpoint import Checkpoint, open_checkpoint
from ledger.encoding import decode_base64, parse_decimal
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
        extra = decode_base64(lines[pos][len("extra ") :], "tlog-proof extra data")
        pos += 1
    if pos >= len(lines) or not lines[pos].startswith("index "):
        raise MalformedError("tlog-proof is missing its 'index <N>' line")
    index = parse_decimal(lines[pos][len("index ") :], "tlog-proof index")
    hashes = tuple(decode_base64(line, "tlog-proof proof hash") for line in lines[pos + 1 :])
    return TlogProof(index, hashes, checkpoint.encode(), extra)
