"""The status index's sparse Merkle tree: every map size up to 64, a known answer worked out by
hand, a separate bit-string reference, and one negative vector per mutation."""

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import cache

import pytest

from ledger import MalformedError, VerificationError
from ledger.status import (
    EMPTY_STATUS_ROOT,
    StatusProof,
    parse_status_proof,
    prove_status,
    status_root,
    verify_status,
)

Items = dict[bytes, list[int]]


# --- a separate reference: keys as strings of '0'/'1', the definition read literally ---


def _reference_root(items: Mapping[bytes, Sequence[int]]) -> bytes:
    bits = {"".join(f"{byte:08b}" for byte in key): key for key in items}

    def value(key: bytes) -> bytes:
        found = items[key]
        return struct_u16(len(found)) + b"".join(i.to_bytes(8, "big") for i in found)

    @cache
    def hash_of(prefix: str) -> bytes:
        under = [b for b in bits if b.startswith(prefix)]
        if not under:
            return b"\x00" * 32
        if len(under) == 1:
            key = bits[under[0]]
            return hashlib.sha256(b"\x00" + key + value(key)).digest()
        return hashlib.sha256(b"\x01" + hash_of(prefix + "0") + hash_of(prefix + "1")).digest()

    return hash_of("")


def struct_u16(n: int) -> bytes:
    return bytes([n >> 8, n & 0xFF])


def _random_items(rng: random.Random, size: int) -> Items:
    items: Items = {}
    while len(items) < size:
        count = rng.randint(1, 3)
        items[rng.randbytes(32)] = sorted(rng.sample(range(10_000_000), count))
    return items


def _flip_bit(key: bytes, bit: int) -> bytes:
    changed = bytearray(key)
    changed[bit // 8] ^= 0x80 >> (bit % 8)
    return bytes(changed)


def _check_map(items: Items, rng: random.Random) -> None:
    root = status_root(items)
    assert root == _reference_root(items)
    for key, indexes in items.items():
        proof = prove_status(items, key)
        assert verify_status(root, key, proof) == tuple(indexes)
        assert verify_status(root, key, parse_status_proof(proof.encode())) == tuple(indexes)
    absent = [rng.randbytes(32) for _ in range(5)]
    # Keys sharing a long prefix with present ones: the same key with one bit flipped.
    absent += [_flip_bit(key, rng.choice([len(items), 100, 200, 255])) for key in list(items)[:8]]
    for subject in absent:
        if subject in items:
            continue
        proof = prove_status(items, subject)
        assert verify_status(root, subject, proof) == ()
        assert proof.terminal_key != subject


@pytest.mark.parametrize("size", range(65))
def test_every_map_size_up_to_64(size: int) -> None:
    rng = random.Random(1500 + size)
    _check_map(_random_items(rng, size), rng)


def test_the_empty_map() -> None:
    assert status_root({}) == EMPTY_STATUS_ROOT == bytes(32)
    proof = prove_status({}, b"\x07" * 32)
    assert proof == StatusProof((), None, ())
    assert proof.encode() == b"\x00\x00\x00"
    assert verify_status(EMPTY_STATUS_ROOT, b"\x07" * 32, proof) == ()


def test_keys_differing_only_in_the_last_bit() -> None:
    a, b = b"\x5a" * 31 + b"\x00", b"\x5a" * 31 + b"\x01"
    items = {a: [3], b: [4, 9]}
    root = status_root(items)
    assert root == _reference_root(items)
    proof_a, proof_b = prove_status(items, a), prove_status(items, b)
    assert len(proof_a.siblings) == len(proof_b.siblings) == 256
    assert verify_status(root, a, proof_a) == (3,)
    assert verify_status(root, b, proof_b) == (4, 9)
    assert parse_status_proof(proof_b.encode()) == proof_b


# --- known answer, worked out by hand ---

K00 = bytes(32)  # bits 00...
K40 = b"\x40" + bytes(31)  # bits 01...
K80 = b"\x80" + bytes(31)  # bits 10...
KNOWN: Items = {K00: [1], K40: [2, 7], K80: [5]}


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def test_known_answer_root_and_proof() -> None:
    # Bit 0 splits K80 (right) from K00 and K40 (left); bit 1 splits K00 from K40.
    leaf00 = _sha(b"\x00" + K00 + b"\x00\x01" + (1).to_bytes(8, "big"))
    leaf40 = _sha(b"\x00" + K40 + b"\x00\x02" + (2).to_bytes(8, "big") + (7).to_bytes(8, "big"))
    leaf80 = _sha(b"\x00" + K80 + b"\x00\x01" + (5).to_bytes(8, "big"))
    by_hand = _sha(b"\x01" + _sha(b"\x01" + leaf00 + leaf40) + leaf80)
    assert status_root(KNOWN) == by_hand
    assert by_hand.hex() == "83ee452812f2a29ad14e678b68afc233e92462302d83f572cfc77d8a5842716b"
    # K40's proof: depth 2, the sibling at depth 0 (leaf80), at depth 1 (leaf00), its leaf.
    expected = (
        b"\x00\x02"
        + leaf80
        + leaf00
        + b"\x01"
        + K40
        + b"\x00\x02"
        + (2).to_bytes(8, "big")
        + (7).to_bytes(8, "big")
    )
    assert prove_status(KNOWN, K40).encode() == expected
    # An absent key under K80's subtree (bits 11...) ends in K80's leaf at depth 1.
    k_c0 = b"\xc0" + bytes(31)
    absent = b"\x00\x01" + _sha(b"\x01" + leaf00 + leaf40) + b"\x01" + K80 + b"\x00\x01"
    assert prove_status(KNOWN, k_c0).encode() == absent + (5).to_bytes(8, "big")
    assert verify_status(by_hand, k_c0, parse_status_proof(absent + (5).to_bytes(8, "big"))) == ()


# --- negative vectors: one test per mutation ---

ROOT = status_root(KNOWN)
PROOF_40 = prove_status(KNOWN, K40)
ABSENT_SUBJECT = b"\x20" + bytes(31)  # bits 001...: absent, its path ends in K00's leaf


def _rejects(proof: StatusProof, subject: bytes = K40, root: bytes = ROOT) -> None:
    with pytest.raises(VerificationError):
        verify_status(root, subject, proof)


def _flip(data: bytes, byte: int) -> bytes:
    return data[:byte] + bytes([data[byte] ^ 0x01]) + data[byte + 1 :]


def test_flipped_sibling_bit() -> None:
    flipped = (_flip(PROOF_40.siblings[0], 31), PROOF_40.siblings[1])
    _rejects(replace(PROOF_40, siblings=flipped))


def test_dropped_sibling() -> None:
    _rejects(replace(PROOF_40, siblings=PROOF_40.siblings[:1]))
    _rejects(replace(PROOF_40, siblings=PROOF_40.siblings[1:]))


def test_extra_sibling() -> None:
    _rejects(replace(PROOF_40, siblings=(*PROOF_40.siblings, EMPTY_STATUS_ROOT)))
    _rejects(replace(PROOF_40, siblings=(EMPTY_STATUS_ROOT, *PROOF_40.siblings)))


def test_swapped_terminal_key() -> None:
    # K00's key with K40's indexes and siblings: on K00's own path, it still does not hash up.
    _rejects(replace(PROOF_40, terminal_key=K00), subject=K00)
    _rejects(replace(PROOF_40, terminal_key=b"\x41" + bytes(31)), subject=b"\x41" + bytes(31))


def test_absent_proof_for_present_key() -> None:
    # A present key's path cannot end in an empty subtree, nor in another key's leaf.
    _rejects(replace(PROOF_40, terminal_key=None, terminal_indexes=()))
    _rejects(replace(PROOF_40, terminal_key=K00, terminal_indexes=(1,)))
    _rejects(prove_status({K40: [2, 7], K80: [5]}, K00), subject=K00)
    # ABSENT_SUBJECT's proof of absence ends in K00's leaf: shown for K00, it says present.
    absent_elsewhere = prove_status(KNOWN, ABSENT_SUBJECT)
    assert verify_status(ROOT, ABSENT_SUBJECT, absent_elsewhere) == ()
    assert verify_status(ROOT, K00, absent_elsewhere) == (1,)


def test_membership_with_altered_indexes() -> None:
    for indexes in [(2,), (7,), (2, 7, 9), (2, 8), (1, 7)]:
        _rejects(replace(PROOF_40, terminal_indexes=indexes))


def test_terminal_key_off_path() -> None:
    # A proof for ABSENT_SUBJECT (bits 001) that claims K40's leaf (bits 01) ends its path.
    with pytest.raises(VerificationError, match="not on its path"):
        verify_status(ROOT, ABSENT_SUBJECT, PROOF_40)


def test_wrong_root() -> None:
    _rejects(PROOF_40, root=_flip(ROOT, 0))
    _rejects(PROOF_40, root=status_root({**KNOWN, K40: [2]}))
    _rejects(PROOF_40, root=EMPTY_STATUS_ROOT)


def test_present_and_absent_cannot_both_verify() -> None:
    """For a signed root fixed, try every one-step rewrite of each proof into the other
    answer: none verifies, so a subject's answer is unique."""
    for subject in (K00, K40, K80):
        good = prove_status(KNOWN, subject)
        forgeries = [
            replace(good, terminal_key=None, terminal_indexes=()),
            replace(good, siblings=good.siblings[:-1], terminal_key=None, terminal_indexes=()),
            replace(
                good,
                siblings=(*good.siblings, EMPTY_STATUS_ROOT),
                terminal_key=None,
                terminal_indexes=(),
            ),
        ]
        forgeries += [prove_status({k: v for k, v in KNOWN.items() if k != subject}, subject)]
        for forged in forgeries:
            _rejects(forged, subject=subject)
    # And the other way round: an absent subject cannot be shown present.
    absent = prove_status(KNOWN, ABSENT_SUBJECT)
    for indexes in [(1,), (0,), (2, 7)]:
        _rejects(
            replace(absent, terminal_key=ABSENT_SUBJECT, terminal_indexes=indexes), ABSENT_SUBJECT
        )


def _bad(data: bytes) -> None:
    with pytest.raises(MalformedError) as raised:
        parse_status_proof(data)
    assert raised.value.code == "bad_status_proof"


def test_truncated_encoding() -> None:
    encoded = PROOF_40.encode()
    for cut in range(len(encoded)):
        _bad(encoded[:cut])


def test_trailing_bytes() -> None:
    _bad(PROOF_40.encode() + b"\x00")
    _bad(prove_status(KNOWN, ABSENT_SUBJECT).encode() + b"\x00")
    _bad(b"\x00\x00\x00\x00")


def test_depth_over_256() -> None:
    _bad(b"\x01\x01" + bytes(32 * 257) + b"\x00")
    with pytest.raises(MalformedError):
        StatusProof(tuple(bytes(32) for _ in range(257)), None, ())
    # 256 is the most a path can take.
    assert parse_status_proof(b"\x01\x00" + bytes(32 * 256) + b"\x00").siblings[255] == bytes(32)


def test_zero_count_value() -> None:
    _bad(b"\x00\x00\x01" + K40 + b"\x00\x00")
    with pytest.raises(MalformedError):
        StatusProof((), K40, ())


def test_unsorted_indexes() -> None:
    seven_two = (7).to_bytes(8, "big") + (2).to_bytes(8, "big")
    _bad(b"\x00\x00\x01" + K40 + b"\x00\x02" + seven_two)
    twice = (2).to_bytes(8, "big") * 2
    _bad(b"\x00\x00\x01" + K40 + b"\x00\x02" + twice)


def test_unknown_terminal_type() -> None:
    _bad(b"\x00\x00\x02")
    _bad(b"\x00\x00\xff")


def test_empty_terminal_with_indexes() -> None:
    with pytest.raises(MalformedError):
        StatusProof((), None, (1,))


def test_short_sibling_and_subject() -> None:
    with pytest.raises(MalformedError):
        StatusProof((bytes(31),), None, ())
    with pytest.raises(MalformedError):
        verify_status(ROOT, K40[:31], PROOF_40)
    with pytest.raises(MalformedError):
        prove_status(KNOWN, K40 + b"\x00")


def test_bad_items_are_refused() -> None:
    bad: list[Items] = [{K40[:31]: [1]}, {K40: []}, {K40: [3, 2]}, {K40: [-1]}, {K40: [1 << 64]}]
    for items in bad:
        with pytest.raises(MalformedError) as raised:
            status_root(items)
        assert raised.value.code == "bad_status_items"
    assert status_root({K40: list(range(0xFFFF))}) == _reference_root({K40: list(range(0xFFFF))})
    with pytest.raises(MalformedError):
        status_root({K40: list(range(0x10000))})
