"""Merkle tree math of RFC 9162 §2.1: hashing, tree hashes, and proofs.

Everything here is pure: bytes and ints in, bytes and ints out. Stored hashes come in through
a `HashReader`, so the same functions prove from a database, from tiles fetched over HTTP, or
from a list in a test.

A node is named by (level, index): level 0 holds the leaf hashes, and node (l, i) is the root of
the complete subtree over leaves [i * 2**l, (i + 1) * 2**l). Only complete subtrees are ever
stored; hashes of the ragged right edge are recomputed from them.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ledger.errors import MalformedError, StorageError, VerificationError

HASH_SIZE = 32

# MTH({}) = SHA-256() of the empty string, RFC 9162 §2.1.1
EMPTY_ROOT = hashlib.sha256(b"").digest()


@dataclass(frozen=True, order=True, slots=True)
class Node:
    level: int
    index: int


HashReader = Callable[[Sequence[Node]], Sequence[bytes]]
"""Returns the hash of each requested complete-subtree node, in request order."""


def hash_leaf(data: bytes) -> bytes:
    # SHA-256(0x00 || data), RFC 9162 §2.1.1
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    # SHA-256(0x01 || left || right), RFC 9162 §2.1.1
    return hashlib.sha256(b"\x01" + left + right).digest()


def tree_hash(hashes: Sequence[bytes]) -> bytes:
    """MTH of a sequence of leaf hashes (or of equal-size complete subtree roots).

    Pairing neighbours level by level and promoting an odd last node unchanged builds the same
    left-balanced tree as RFC 9162's split at the largest power of two below n.
    """
    if not hashes:
        return EMPTY_ROOT
    row = list(hashes)
    while len(row) > 1:
        paired = [hash_children(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        if len(row) % 2:
            paired.append(row[-1])
        row = paired
    return row[0]


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n > 1), RFC 9162 §2.1.1."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_nodes(start: int, end: int) -> list[Node]:
    """The complete subtrees that cover leaves [start, end), largest first."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start & ((1 << level) - 1):
            level -= 1
        nodes.append(Node(level, start >> level))
        start += 1 << level
    return nodes


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form PATH(index, D[0:size]), leaf sibling first (RFC 9162 §2.1.3.1)."""
    ranges = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = 1 << ((hi - lo - 1).bit_length() - 1)  # _split, inlined: proofs of whole batches
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """Leaf ranges whose MTHs form PROOF(old, D[0:new]), RFC 9162 §2.1.4.1 (SUBPROOF)."""
    ranges = []
    lo, hi, m, starts_at_root = 0, new, old, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, m, starts_at_root = lo + k, m - k, False
    if not starts_at_root:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _range_hashes(ranges: list[tuple[int, int]], read_hashes: HashReader) -> list[bytes]:
    """MTH of each range, reading all the stored nodes they need in one call."""
    plans = [subtree_nodes(lo, hi) for lo, hi in ranges]
    wanted = [node for plan in plans for node in plan]
    found = read_hashes(wanted)
    if len(found) != len(wanted):
        raise StorageError(f"hash reader returned {len(found)} hashes for {len(wanted)} nodes")
    result = []
    pos = 0
    for plan in plans:
        # The ranges RFC 9162 recurses into are left-aligned, so their complete subtrees
        # shrink left to right and fold from the right: H(a, H(b, c)).
        folded = found[pos + len(plan) - 1]
        for i in range(pos + len(plan) - 2, pos - 1, -1):
            folded = hash_children(found[i], folded)
        result.append(folded)
        pos += len(plan)
    return result


def root_hash(size: int, read_hashes: HashReader) -> bytes:
    """MTH(D[0:size]) from stored complete-subtree hashes."""
    if size < 0:
        raise MalformedError(f"tree size {size} is negative")
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], read_hashes)[0]


def prove_inclusion(index: int, size: int, read_hashes: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.3.1 inclusion proof for leaf `index` in the tree of `size` leaves."""
    if not 0 <= index < size:
        raise MalformedError(f"leaf index {index} is not in a tree of size {size}")
    return _range_hashes(_inclusion_ranges(index, size), read_hashes)


def prove_inclusions(
    indexes: Sequence[int], size: int, read_hashes: HashReader
) -> list[list[bytes]]:
    """prove_inclusion for many leaves of one tree. Neighbouring leaves share most of their
    proof's ranges, so each range's hash is computed once and every stored node read once."""
    for index in indexes:
        if not 0 <= index < size:
            raise MalformedError(f"leaf index {index} is not in a tree of size {size}")
    plans = [_inclusion_ranges(index, size) for index in indexes]
    distinct = list(dict.fromkeys(r for plan in plans for r in plan))
    hashes = dict(zip(distinct, _range_hashes(distinct, read_hashes), strict=True))
    return [[hashes[r] for r in plan] for plan in plans]


def prove_consistency(old: int, new: int, read_hashes: HashReader) -> list[bytes]:
    """The RFC 9162 §2.1.4.1 consistency proof from tree size `old` to tree size `new`."""
    if not 0 < old <= new:
        raise MalformedError(
            f"no consistency proof from size {old} to size {new}: need 0 < first <= second"
        )
    return _range_hashes(_consistency_ranges(old, new), read_hashes)


def _check_hashes(what: str, hashes: Sequence[bytes]) -> None:
    for position, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise MalformedError(
                f"{what} hash {position} is {len(value)} bytes; SHA-256 hashes are {HASH_SIZE}"
            )


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check an inclusion proof (RFC 9162 §2.1.3.2). Raises MalformedError or VerificationError."""
    _check_hashes("leaf", [leaf_hash])
    _check_hashes("inclusion proof", proof)
    if not 0 <= index < size:
        raise MalformedError(f"leaf index {index} is not in a tree of size {size}")
    expected = len(_inclusion_ranges(index, size))
    if len(proof) != expected:
        raise MalformedError(
            f"inclusion proof has {len(proof)} hashes; leaf {index} in a tree of size {size} "
            f"needs exactly {expected}"
        )
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hash_children(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0 or r != root:
        raise VerificationError(
            f"inclusion proof for leaf {index} does not lead to the root of the tree of size {size}"
        )


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check a consistency proof (RFC 9162 §2.1.4.2). Raises MalformedError or VerificationError."""
    # Roots are only compared, never hashed, so a root of the wrong length simply fails to
    # match; for equal sizes the transparency-dev vectors accept any two equal roots.
    _check_hashes("consistency proof", proof)
    if not 0 < old <= new:
        raise MalformedError(
            f"no consistency proof from size {old} to size {new}: need 0 < first <= second"
        )
    if old == new:
        if proof:
            raise MalformedError("consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise VerificationError(f"two different roots for the same tree size {old}")
        return
    expected = len(_consistency_ranges(old, new))
    if len(proof) != expected:
        raise MalformedError(
            f"consistency proof has {len(proof)} hashes; from size {old} to size {new} "
            f"needs exactly {expected}"
        )
    path = list(proof)
    if old & (old - 1) == 0:  # old is a power of two: its root is a node of the new tree
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the tree is tall")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = hash_children(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != old_root or sr != new_root:
        raise VerificationError(
            f"tree of size {new} is not an extension of the tree of size {old} with that root"
        )
