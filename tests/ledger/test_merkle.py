"""RFC 9162 tree math: published vectors, a naive reference tree, and known answers."""

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import (
    EMPTY_ROOT,
    LedgerError,
    MalformedError,
    VerificationError,
    hash_leaf,
    prove_consistency,
    prove_inclusion,
    prove_inclusions,
    root_hash,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from tests.support.merkle_reference import leaves_of, reader_for, ref_mth, ref_path, ref_subproof

Proof16 = tuple[list[bytes], list[bytes], bytes]
"""The leaves of a 16-leaf tree, the inclusion proof of leaf 5, and the root."""

VECTORS = Path(__file__).parent / "vectors" / "merkle"


# --- published vectors (transparency-dev/merkle, Apache-2.0; see tests/ledger/vectors/SOURCE.md) ---


def _b64(value: str) -> bytes:
    return base64.b64decode(value) if value else b""


VECTOR_FILES = sorted(VECTORS.rglob("*.json"))


def test_all_196_vectors_are_present() -> None:
    assert len(VECTOR_FILES) == 196


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: str(p.relative_to(VECTORS)))
def test_vector(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [_b64(p) for p in v["proof"] or []]
    check: Callable[[], None]
    if "inclusion" in path.parts:
        check = lambda: verify_inclusion(  # noqa: E731
            _b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"])
        )
    else:
        check = lambda: verify_consistency(  # noqa: E731
            v["size1"], v["size2"], _b64(v["root1"]), _b64(v["root2"]), proof
        )
    if v["wantErr"]:
        with pytest.raises(LedgerError):
            check()
    else:
        check()


# --- known answers (RFC 6962 test suite, docs/design.md §4.1) ---


def test_empty_root_known_answer() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert EMPTY_ROOT.hex() == expected
    assert tree_hash([]).hex() == expected
    assert root_hash(0, lambda nodes: []).hex() == expected


def test_empty_leaf_hash_known_answer() -> None:
    expected = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert hash_leaf(b"").hex() == expected


def test_eight_leaf_root_matches_the_vectors_tree() -> None:
    rfc6962_leaves = [
        bytes.fromhex(h)
        for h in [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
    ]
    root = tree_hash([hash_leaf(x) for x in rfc6962_leaves])
    assert base64.b64encode(root).decode() == "XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg="


# --- every proof at every size up to 64 against the reference tree ---


@pytest.mark.parametrize("size", range(1, 65))
def test_tree_hash_and_root_match_reference(size: int) -> None:
    leaves = leaves_of(size)
    expected = ref_mth(leaves)
    assert tree_hash([hash_leaf(x) for x in leaves]) == expected
    assert root_hash(size, reader_for(leaves)) == expected


@pytest.mark.parametrize("size", range(1, 65))
def test_every_inclusion_proof_matches_reference(size: int) -> None:
    leaves = leaves_of(size)
    root = ref_mth(leaves)
    for index in range(size):
        proof = prove_inclusion(index, size, reader_for(leaves))
        assert proof == ref_path(index, leaves)
        verify_inclusion(hash_leaf(leaves[index]), index, size, proof, root)


@pytest.mark.parametrize("new", range(1, 65))
def test_every_consistency_proof_matches_reference(new: int) -> None:
    leaves = leaves_of(new)
    for old in range(1, new + 1):
        proof = prove_consistency(old, new, reader_for(leaves))
        assert proof == ref_subproof(old, leaves, True)
        verify_consistency(old, new, ref_mth(leaves[:old]), ref_mth(leaves), proof)


@pytest.mark.parametrize("size", [1, 2, 7, 64, 300])
def test_batch_inclusion_proofs_equal_single_ones(size: int) -> None:
    leaves = leaves_of(size)
    indexes = sorted({0, size // 3, size // 2, size - 1, *range(max(0, size - 40), size)})
    reader = reader_for(leaves)
    assert prove_inclusions(indexes, size, reader) == [
        prove_inclusion(i, size, reader_for(leaves)) for i in indexes
    ]
    with pytest.raises(MalformedError):
        prove_inclusions([size], size, reader)


def test_proofs_read_logarithmically_many_nodes() -> None:
    leaves = leaves_of(1000)
    reader = reader_for(leaves)
    prove_inclusion(377, 1000, reader)
    prove_consistency(377, 1000, reader)
    assert reader.requests <= 4 * 10  # each proof hash folds at most log2(n) stored nodes


# --- negative cases, named after the change applied ---


@pytest.fixture
def proof_16() -> Proof16:
    leaves = leaves_of(16)
    return leaves, prove_inclusion(5, 16, reader_for(leaves)), ref_mth(leaves)


def test_inclusion_flipped_bit_fails(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    proof[1] = bytes([proof[1][0] ^ 1]) + proof[1][1:]
    with pytest.raises(VerificationError):
        verify_inclusion(hash_leaf(leaves[5]), 5, 16, proof, root)


def test_inclusion_wrong_index_fails(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    with pytest.raises(VerificationError):
        verify_inclusion(hash_leaf(leaves[5]), 4, 16, proof, root)


def test_inclusion_trailing_garbage_is_malformed(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    with pytest.raises(MalformedError, match="needs exactly 4"):
        verify_inclusion(hash_leaf(leaves[5]), 5, 16, [*proof, b"\x00" * 32], root)


def test_inclusion_truncated_proof_is_malformed(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    with pytest.raises(MalformedError):
        verify_inclusion(hash_leaf(leaves[5]), 5, 16, proof[:-1], root)


def test_inclusion_short_hash_is_malformed(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    proof[0] = proof[0][:31]
    with pytest.raises(MalformedError, match="31 bytes"):
        verify_inclusion(hash_leaf(leaves[5]), 5, 16, proof, root)


def test_inclusion_index_at_size_is_malformed(proof_16: Proof16) -> None:
    leaves, proof, root = proof_16
    with pytest.raises(MalformedError, match="not in a tree of size 16"):
        verify_inclusion(hash_leaf(leaves[5]), 16, 16, proof, root)


def test_consistency_swapped_roots_fail() -> None:
    leaves = leaves_of(13)
    proof = prove_consistency(6, 13, reader_for(leaves))
    with pytest.raises(VerificationError):
        verify_consistency(6, 13, ref_mth(leaves), ref_mth(leaves[:6]), proof)


def test_consistency_from_zero_is_malformed() -> None:
    with pytest.raises(MalformedError):
        prove_consistency(0, 5, reader_for(leaves_of(5)))


def test_prove_inclusion_outside_tree_is_malformed() -> None:
    with pytest.raises(MalformedError):
        prove_inclusion(5, 5, reader_for(leaves_of(5)))


# --- larger random trees ---


@settings(max_examples=60, deadline=None)
@given(size=st.integers(65, 3000), data=st.data())
def test_random_large_proofs_match_reference(size: int, data: st.DataObject) -> None:
    leaves = leaves_of(size)
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    reader = reader_for(leaves)
    root = ref_mth(leaves)
    inclusion = prove_inclusion(index, size, reader)
    assert inclusion == ref_path(index, leaves)
    verify_inclusion(hash_leaf(leaves[index]), index, size, inclusion, root)
    consistency = prove_consistency(old, size, reader)
    assert consistency == ref_subproof(old, leaves, True)
    verify_consistency(old, size, ref_mth(leaves[:old]), root, consistency)
