"""The status index: a compact sparse Merkle tree from 32-byte subject ids to leaf indexes.

Pure, like ledger.merkle. The map says, for each subject, the ascending leaf indexes of the
entries that speak about it; the ledger never reads a leaf, a rule given by the layer above
names each leaf's subjects. Byte layouts (docs/design.md, "The status index"):

    bit(k, i)          = (k[i // 8] >> (7 - i % 8)) & 1    bit 0 picks the root's child, 0 = left
    value(indexes)     = uint16 BE count || count x uint64 BE leaf index, ascending, 1..65535
    leaf_hash(k, ixs)  = SHA-256(0x00 || k || value(ixs))
    node_hash(l, r)    = SHA-256(0x01 || l || r)
    EMPTY              = 32 zero bytes: an empty subtree, and the root of the empty map

A subtree holding no key is EMPTY, one holding one key is that key's leaf hash whatever its
depth, and any other is the node hash of its two halves split on the next bit.

Why a signed root gives each subject exactly one answer (so a server cannot show a partial
list, or call a listed subject absent): a proof for s opens a chain of preimages from the root
down along s's bits. Two valid proofs for s open the same hashes, so without a SHA-256
collision they reveal the same preimages until one stops; and they cannot stop at different
depths, since there a terminal (EMPTY, or a 0x00-prefixed leaf preimage) would hash to a node
the other opens (a 0x01-prefixed preimage): a collision across domains, or a preimage of zero.
So both end in the same terminal and give the same answer. That holds even for a root built
dishonestly; the auditor's recomputation from the leaves shows whether the answer is true.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedError, VerificationError

KEY_SIZE = 32
MAX_DEPTH = 8 * KEY_SIZE  # two distinct keys split by depth 255, so a leaf sits at most at 256
MAX_INDEXES = 0xFFFF
EMPTY_STATUS_ROOT = bytes(32)
_TERMINAL_EMPTY, _TERMINAL_LEAF = 0x00, 0x01


def _bit(key: bytes, depth: int) -> int:
    return (key[depth // 8] >> (7 - depth % 8)) & 1


def _check_subject(subject: bytes) -> None:
    if len(subject) != KEY_SIZE:
        raise MalformedError(f"status subject is {len(subject)} bytes, not {KEY_SIZE}")


def _entry_problem(key: bytes, indexes: Sequence[int]) -> str | None:
    uint64s = bool(indexes) and indexes[0] >= 0 and indexes[-1] < 1 << 64
    ascending = all(a < b for a, b in zip(indexes, indexes[1:], strict=False))
    if len(key) == KEY_SIZE and 1 <= len(indexes) <= MAX_INDEXES and ascending and uint64s:
        return None
    return (
        f"status entry {key.hex()} must be a {KEY_SIZE}-byte subject with 1 to {MAX_INDEXES} "
        f"distinct ascending uint64 leaf indexes (got {len(key)} bytes, {len(indexes)} indexes)"
    )


def _value(indexes: Sequence[int]) -> bytes:
    # uint16 BE count || count x uint64 BE leaf index
    return len(indexes).to_bytes(2, "big") + b"".join(i.to_bytes(8, "big") for i in indexes)


def _leaf_hash(key: bytes, indexes: Sequence[int]) -> bytes:
    return hashlib.sha256(b"\x00" + key + _value(indexes)).digest()


def _node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass(frozen=True)
class StatusProof:
    """Siblings from the root down, then the terminal: no key (an empty subtree: the subject
    is absent) or the one leaf of the subtree the path ends in (the subject itself, or another
    key sharing its first len(siblings) bits: absent)."""

    siblings: tuple[bytes, ...]
    terminal_key: bytes | None
    terminal_indexes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.siblings) > MAX_DEPTH or any(len(s) != 32 for s in self.siblings):
            raise MalformedError(
                f"status proof needs at most {MAX_DEPTH} siblings of 32 bytes",
                code="bad_status_proof",
            )
        key = self.terminal_key
        if key is not None and (problem := _entry_problem(key, self.terminal_indexes)):
            raise MalformedError(problem, code="bad_status_proof")
        if key is None and self.terminal_indexes:
            raise MalformedError("an empty terminal carries no indexes", code="bad_status_proof")

    def encode(self) -> bytes:
        # uint16 BE depth || depth x sibling(32) || 0x00, or 0x01 || key(32) || value(indexes)
        head = len(self.siblings).to_bytes(2, "big") + b"".join(self.siblings)
        if self.terminal_key is None:
            return head + bytes([_TERMINAL_EMPTY])
        return head + bytes([_TERMINAL_LEAF]) + self.terminal_key + _value(self.terminal_indexes)


def parse_status_proof(data: bytes) -> StatusProof:
    """The proof `StatusProof.encode` wrote; anything else is MalformedError(bad_status_proof)."""

    def fail(why: str) -> MalformedError:
        return MalformedError(f"status proof {why}", code="bad_status_proof")

    if len(data) < 3:
        raise fail(f"is {len(data)} bytes: too short for a depth and a terminal")
    depth = int.from_bytes(data[:2], "big")
    if depth > MAX_DEPTH:
        raise fail(f"claims {depth} siblings; at most {MAX_DEPTH}")
    end = 2 + 32 * depth
    if len(data) <= end:
        raise fail(f"is truncated: {depth} siblings and a terminal need more than {end} bytes")
    siblings = tuple(data[i : i + 32] for i in range(2, end, 32))
    kind, rest = data[end], data[end + 1 :]
    if kind == _TERMINAL_EMPTY and not rest:
        return StatusProof(siblings, None, ())
    if kind != _TERMINAL_LEAF or len(rest) < KEY_SIZE + 2:
        raise fail(
            f"terminal (type 0x{kind:02x}, {len(rest)} bytes after it) is not 0x00 alone "
            "or 0x01 with a key and a count"
        )
    key, count = rest[:KEY_SIZE], int.from_bytes(rest[KEY_SIZE : KEY_SIZE + 2], "big")
    body = rest[KEY_SIZE + 2 :]
    if len(body) != 8 * count:
        raise fail(f"leaf terminal lists {count} indexes in {len(body)} bytes")
    indexes = tuple(int.from_bytes(body[i : i + 8], "big") for i in range(0, len(body), 8))
    return StatusProof(siblings, key, indexes)


def _sorted_items(items: Mapping[bytes, Sequence[int]]) -> list[tuple[bytes, tuple[int, ...]]]:
    for key, indexes in items.items():
        if problem := _entry_problem(key, indexes):
            raise MalformedError(problem, code="bad_status_items")
    return sorted((key, tuple(indexes)) for key, indexes in items.items())


Entries = Sequence[tuple[bytes, tuple[int, ...]]]


def _halves(entries: Entries, depth: int) -> tuple[Entries, Entries]:
    """Sorted keys sharing their first `depth` bits: those with bit `depth` = 0 come first."""
    split = next((i for i, e in enumerate(entries) if _bit(e[0], depth)), len(entries))
    return entries[:split], entries[split:]


def _subtree(entries: Entries, depth: int) -> bytes:
    if not entries:
        return EMPTY_STATUS_ROOT
    if len(entries) == 1:
        return _leaf_hash(*entries[0])
    left, right = _halves(entries, depth)
    return _node_hash(_subtree(left, depth + 1), _subtree(right, depth + 1))


def status_root(items: Mapping[bytes, Sequence[int]]) -> bytes:
    """The root of the status index over `items` (subject -> ascending leaf indexes)."""
    return _subtree(_sorted_items(items), 0)


def prove_status(items: Mapping[bytes, Sequence[int]], subject: bytes) -> StatusProof:
    """The proof of `subject`'s entry in `items`, or of its absence."""
    _check_subject(subject)
    entries: Entries = _sorted_items(items)
    siblings: list[bytes] = []
    while len(entries) > 1:
        left, right = _halves(entries, len(siblings))
        if _bit(subject, len(siblings)):
            left, right = right, left
        siblings.append(_subtree(right, len(siblings) + 1))
        entries = left
    if not entries:
        return StatusProof(tuple(siblings), None, ())
    return StatusProof(tuple(siblings), *entries[0])


def verify_status(root: bytes, subject: bytes, proof: StatusProof) -> tuple[int, ...]:
    """The leaf indexes `root` maps `subject` to (empty: absent), or VerificationError."""
    _check_subject(subject)
    depth = len(proof.siblings)
    key = proof.terminal_key
    node = EMPTY_STATUS_ROOT
    if key is not None:
        if any(_bit(key, d) != _bit(subject, d) for d in range(depth)):
            why = f"ends in the leaf of {key.hex()}, which is not on its path"
            raise VerificationError(
                f"status proof for {subject.hex()} {why}", code="status_proof_mismatch"
            )
        node = _leaf_hash(key, proof.terminal_indexes)
    for d in range(depth - 1, -1, -1):
        sibling = proof.siblings[d]
        node = _node_hash(sibling, node) if _bit(subject, d) else _node_hash(node, sibling)
    if node != root:
        why = f"does not lead to the status root {root.hex()}"
        raise VerificationError(
            f"status proof for {subject.hex()} {why}", code="status_proof_mismatch"
        )
    return proof.terminal_indexes if key == subject else ()
