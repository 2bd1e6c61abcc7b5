"""A naive reference tree, straight from the recursive definitions of RFC 9162 §2.1, that the
tree math in ledger.merkle is checked against."""

import hashlib
from collections.abc import Sequence

from ledger.merkle import Node


def ref_mth(leaves: list[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return ref_path(m, leaves[:k]) + [ref_mth(leaves[k:])]
    return ref_path(m - k, leaves[k:]) + [ref_mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [ref_mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return ref_subproof(m, leaves[:k], complete) + [ref_mth(leaves[k:])]
    return ref_subproof(m - k, leaves[k:], False) + [ref_mth(leaves[:k])]


def leaves_of(count: int) -> list[bytes]:
    return [f"leaf {i}".encode() for i in range(count)]


class CountingReader:
    """A HashReader (ledger.merkle) over an in-memory tree, counting the nodes it is asked for."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.requests = 0

    def __call__(self, nodes: Sequence[Node]) -> list[bytes]:
        self.requests += len(nodes)
        return [ref_mth(self.leaves[n.index << n.level : (n.index + 1) << n.level]) for n in nodes]


def reader_for(leaves: list[bytes]) -> CountingReader:
    return CountingReader(leaves)
