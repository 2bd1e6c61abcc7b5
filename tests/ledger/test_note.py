"""C2SP signed-note, tlog-checkpoint and tlog-proof."""

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import (
    Checkpoint,
    MalformedError,
    Signer,
    VerificationError,
    Verifier,
    hash_leaf,
    open_checkpoint,
    open_note,
    parse_checkpoint,
    parse_tlog_proof,
    sign_checkpoint,
    sign_note,
    tree_hash,
)
from ledger.merkle import prove_inclusion
from ledger.tlogproof import TlogProof
from tests.support.merkle_reference import leaves_of, reader_for

SEED = bytes(range(32))
NAME = "example.org/provenance/log"


@pytest.fixture
def fixed_signer() -> Signer:
    return Signer(NAME, Ed25519PrivateKey.from_private_bytes(SEED))


def test_key_id_recomputed_by_hand(fixed_signer: Signer) -> None:
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    by_hand = hashlib.sha256(NAME.encode() + b"\n" + b"\x01" + public).digest()[:4]
    assert fixed_signer.verifier.key_id == by_hand
    vkey = fixed_signer.verifier.vkey
    name, key_id, key = vkey.split("+", 2)
    assert (name, key_id) == (NAME, by_hand.hex())
    assert base64.b64decode(key) == b"\x01" + public


def test_checkpoint_signed_then_verified_by_hand(fixed_signer: Signer) -> None:
    root = tree_hash([hash_leaf(b"a"), hash_leaf(b"b")])
    note = sign_checkpoint(Checkpoint(NAME, 2, root), fixed_signer)
    text, _, signature_line = note.decode().partition("\n\n")
    assert text == f"{NAME}\n2\n{base64.b64encode(root).decode()}"
    assert signature_line.startswith(f"\u2014 {NAME} ")
    raw = base64.b64decode(signature_line.split(" ")[2])
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key()
    assert (
        raw[:4]
        == hashlib.sha256(NAME.encode() + b"\n\x01" + public.public_bytes_raw()).digest()[:4]
    )
    public.verify(raw[4:], (text + "\n").encode())  # raises if the signature is wrong
    assert open_checkpoint(note, Verifier.from_vkey(fixed_signer.verifier.vkey)) == Checkpoint(
        NAME, 2, root
    )


def test_vkey_with_plus_in_base64_parses() -> None:
    for _ in range(50):
        signer = Signer.generate(NAME)
        assert Verifier.from_vkey(signer.verifier.vkey) == signer.verifier


def test_unknown_signatures_are_ignored(fixed_signer: Signer) -> None:
    witness = Signer.generate("witness.example/w1")
    note = sign_note("hello\n", [witness, fixed_signer])
    parsed, verified = open_note(note, [fixed_signer.verifier])
    assert parsed.text == "hello\n"
    assert verified == [fixed_signer.verifier]
    assert len(parsed.signatures) == 2


def test_note_signed_only_by_unknown_keys_is_rejected(fixed_signer: Signer) -> None:
    note = sign_note("hello\n", [Signer.generate("other.example/log")])
    with pytest.raises(VerificationError, match="not signed by any known key"):
        open_note(note, [fixed_signer.verifier])


def test_tampered_text_fails(fixed_signer: Signer) -> None:
    note = sign_note("hello\n", [fixed_signer]).replace(b"hello", b"jello")
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(note, [fixed_signer.verifier])


def test_same_name_other_key_is_treated_as_unknown(fixed_signer: Signer) -> None:
    impostor = Signer.generate(NAME)
    note = sign_note("hello\n", [impostor])
    with pytest.raises(VerificationError):
        open_note(note, [fixed_signer.verifier])


@pytest.mark.parametrize(
    "bad",
    [
        b"no blank line\n\xe2\x80\x94 a AAAA\n",
        b"text\n\n- name AAAAAAA=\n",  # hyphen, not em dash
        b"text\x01\n\n\xe2\x80\x94 a AAAAAAA=\n",  # control character
        b"\xff\n\n\xe2\x80\x94 a AAAAAAA=\n",  # not UTF-8
        b"text\n\n\xe2\x80\x94 a !!!!\n",  # not base64
        b"text\n\n\xe2\x80\x94 a AAAAAAA=",  # no final newline
    ],
)
def test_malformed_notes(bad: bytes, fixed_signer: Signer) -> None:
    with pytest.raises(MalformedError):
        open_note(bad, [fixed_signer.verifier])


@pytest.mark.parametrize(
    "vkey",
    ["nope", "a+zz+AQ==", "a+00000000+AQ==", "bad name+00000000+" + "A" * 44],
)
def test_malformed_vkeys(vkey: str) -> None:
    with pytest.raises(MalformedError):
        Verifier.from_vkey(vkey)


def test_checkpoint_of_other_origin_is_rejected(fixed_signer: Signer) -> None:
    other = Signer.generate("other.example/log")
    note = sign_checkpoint(Checkpoint("other.example/log", 0, b"\x00" * 32), other)
    with pytest.raises(VerificationError):
        open_checkpoint(note, fixed_signer.verifier)


@pytest.mark.parametrize(
    "text",
    [
        "o\n01\n" + "A" * 43 + "=\n",
        "o\n1\nAAAA\n",
        "o\n1\n",
        "\n1\n" + "A" * 43 + "=\n",
        "o\n-1\nx\n",
    ],
)
def test_malformed_checkpoints(text: str) -> None:
    with pytest.raises(MalformedError):
        parse_checkpoint(text)


def test_checkpoint_extension_lines_round_trip() -> None:
    checkpoint = Checkpoint("o", 7, b"\x01" * 32, ("ext one",))
    assert parse_checkpoint(checkpoint.body()) == checkpoint


def test_tlog_proof_round_trip_and_verify(fixed_signer: Signer) -> None:
    leaves = leaves_of(11)
    root = tree_hash([hash_leaf(x) for x in leaves])
    note = sign_checkpoint(Checkpoint(NAME, 11, root), fixed_signer)
    proof = TlogProof(6, tuple(prove_inclusion(6, 11, reader_for(leaves))), note, extra=b"ctx")
    encoded = proof.encode()
    assert encoded.startswith(b"c2sp.org/tlog-proof@v1\nextra Y3R4\nindex 6\n")
    parsed = parse_tlog_proof(encoded)
    assert parsed == proof
    assert parsed.verify(leaves[6], fixed_signer.verifier).size == 11
    with pytest.raises(VerificationError):
        parsed.verify(leaves[5], fixed_signer.verifier)


@pytest.mark.parametrize(
    "bad",
    [
        b"c2sp.org/tlog-proof@v2\nindex 0\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex 01\n\nx",
        b"c2sp.org/tlog-proof@v1\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex 0\n!!!\n\nx",
        b"c2sp.org/tlog-proof@v1\nindex 0\n",
    ],
)
def test_malformed_tlog_proofs(bad: bytes) -> None:
    with pytest.raises(MalformedError):
        parse_tlog_proof(bad)


def test_private_key_string_round_trip(fixed_signer: Signer) -> None:
    again = Signer.from_string(fixed_signer.to_string())
    assert again.verifier == fixed_signer.verifier
    assert fixed_signer.to_string().startswith(f"PRIVATE+KEY+{NAME}+")
