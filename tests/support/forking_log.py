"""A log operator who tries to fork: two histories signed with one log key, raced at a witness.

`ForkingLog` keeps every tree it ever signed in memory (leaf hashes by root), so it can build
the add-checkpoint request (C2SP tlog-witness) from any tree the witness holds to any tree of
either fork. `ForkRacer` threads push both forks at a `prov witness serve` process at once,
and keep every cosignature it returned. An honest witness cosigns at most one root per size,
whatever it is made to forget by a kill.
"""

import base64
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from ledger import Signer, sign_checkpoint
from ledger.checkpoint import Checkpoint
from ledger.cosignature import CosignatureVerifier
from ledger.merkle import HashReader, Node, hash_leaf, prove_consistency, tree_hash

SIGNATURE_PREFIX = "\u2014 "  # note signature lines start with an em dash and a space


class ForkingLog:
    def __init__(self, signer: Signer) -> None:
        self.signer = signer
        self._trees: dict[bytes, list[bytes]] = {tree_hash([]): []}  # root -> leaf hashes
        self._lock = threading.Lock()

    def extend(self, base_root: bytes, tag: str, count: int) -> list[bytes]:
        """`base_root` and the roots of `count` successive one-leaf extensions of it."""
        with self._lock:
            leaves = list(self._trees[base_root])
        roots = [base_root]
        for i in range(count):
            leaves.append(hash_leaf(f"{tag} {len(leaves)} {i}".encode()))
            root = tree_hash(leaves)
            with self._lock:
                self._trees[root] = list(leaves)
            roots.append(root)
        return roots

    def size_of(self, root: bytes) -> int:
        with self._lock:
            return len(self._trees[root])

    def request(self, old_root: bytes, new_root: bytes) -> bytes:
        """An add-checkpoint body: `old N`, the proof from old to new (computed on the new
        tree, so it verifies only if the old tree is the new one's prefix), the checkpoint."""
        with self._lock:
            old, new = self._trees[old_root], self._trees[new_root]
        proof = (
            prove_consistency(len(old), len(new), _reader(new)) if 0 < len(old) < len(new) else []
        )
        note = sign_checkpoint(Checkpoint(self.signer.name, len(new), new_root), self.signer)
        lines = [f"old {len(old)}"] + [base64.b64encode(h).decode() for h in proof]
        return ("\n".join(lines) + "\n\n").encode() + note


def _reader(leaves: list[bytes]) -> HashReader:
    def read(nodes: Sequence[Node]) -> list[bytes]:
        return [tree_hash(leaves[n.index << n.level : (n.index + 1) << n.level]) for n in nodes]

    return read


@dataclass
class Cosigned:
    """Every cosignature the witness returned: (size, root) -> timestamps."""

    by_size: dict[int, set[bytes]] = field(default_factory=dict)
    count: int = 0
    refusals: int = 0
    cut_off: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class ForkRacer:
    """Threads that push fork A or fork B checkpoints at the witness, each guessing the
    witness's tree from its 409 answers, and record every cosignature."""

    def __init__(
        self,
        log: ForkingLog,
        witness_url: str,
        witness_key: CosignatureVerifier,
        cosigned: Cosigned,
        forks: dict[str, list[bytes]],
        seed: int,
    ) -> None:
        self._log = log
        self._url = witness_url
        self._key = witness_key
        self._cosigned = cosigned
        self._forks = forks  # fork name -> its roots by size, from the witness's tree on
        self._random = random.Random(seed)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, threads: int = 4) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._run, args=(name,), daemon=True)
            for _ in range(threads // 2)
            for name in self._forks
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), "a fork racer did not stop"

    def _run(self, fork: str) -> None:
        roots = self._forks[fork]
        first_size = self._log.size_of(roots[0])
        rnd = random.Random(self._random.random())
        held = roots[0]  # the client's guess of the witness's tree, on its own fork
        with httpx.Client(base_url=self._url, timeout=10) as http:
            while not self._stop.is_set():
                # A step or three past the witness's tree (or the same tree again), so kills
                # land while the witness is still moving.
                position = self._log.size_of(held) - first_size
                target = roots[min(position + rnd.randint(0, 3), len(roots) - 1)]
                try:
                    response = http.post("/add-checkpoint", content=self._log.request(held, target))
                except httpx.TransportError:
                    with self._cosigned.lock:
                        self._cosigned.cut_off += 1
                    self._stop.wait(0.05)
                    continue
                if response.status_code == 200:
                    self._record(target, response.text)
                    held = target
                elif response.status_code == 409 and response.headers.get(
                    "content-type", ""
                ).startswith("text/x.tlog.size"):
                    size = int(response.text)
                    # The witness holds `size`: guess it holds our fork's tree of that size.
                    offset = size - first_size
                    held = roots[offset] if 0 <= offset < len(roots) else roots[0]
                else:
                    with self._cosigned.lock:
                        self._cosigned.refusals += 1

    def _record(self, root: bytes, line: str) -> None:
        assert line.startswith(SIGNATURE_PREFIX + self._key.name + " "), line
        signature = base64.b64decode(line.split()[2])[4:]
        size = self._log.size_of(root)
        body = Checkpoint(self._log.signer.name, size, root).body()
        self._key.verify(body, signature)  # a cosignature over exactly this checkpoint
        with self._cosigned.lock:
            self._cosigned.by_size.setdefault(size, set()).add(root)
            self._cosigned.count += 1
