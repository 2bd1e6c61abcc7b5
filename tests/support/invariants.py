"""The log's invariants, checked from the outside after every step of a test.

Given the leaves a test appended, the stored log must: hold exactly those bytes in order;
serve a latest checkpoint that verifies with the log key and whose root is the reference MTH;
prove inclusion of sampled entries and consistency with every checkpoint seen before.
"""

from ledger import (
    LogStore,
    Verifier,
    hash_leaf,
    open_checkpoint,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)


class InvariantChecker:
    def __init__(self, store: LogStore, log_key: Verifier) -> None:
        self.store = store
        self.log_key = log_key
        self.seen: list[tuple[int, bytes]] = []  # (size, root) of every checkpoint checked

    def check(self, leaves: list[bytes]) -> None:
        latest = self.store.latest_checkpoint()
        checkpoint = open_checkpoint(latest.note, self.log_key)
        size = len(leaves)
        assert checkpoint.size == size
        hashes = [hash_leaf(leaf) for leaf in leaves]
        assert checkpoint.root_hash == tree_hash(hashes)
        assert self.store.entries(0, size) == leaves
        for index in sorted({0, size // 3, size // 2, size - 1} if size else set()):
            proof = self.store.inclusion_proof(index, size)
            verify_inclusion(hashes[index], index, size, proof, checkpoint.root_hash)
        for old_size, old_root in self.seen:
            if 0 < old_size <= size:
                proof = self.store.consistency_proof(old_size, size)
                verify_consistency(old_size, size, old_root, checkpoint.root_hash, proof)
        self.seen.append((size, checkpoint.root_hash))
