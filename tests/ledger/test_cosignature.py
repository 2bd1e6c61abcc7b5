"""C2SP tlog-cosignature (Ed25519, cosignature/v1): key ids, the signed message, vkeys, key files,
signing and verification. Negative cases are named after the change applied."""

import base64
import hashlib
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import (
    Checkpoint,
    ConfigurationError,
    MalformedError,
    Signer,
    VerificationError,
    open_checkpoint,
    sign_checkpoint,
)
from ledger.cosignature import (
    COSIGNATURE_TYPE,
    CosignatureVerifier,
    Cosigner,
    cosigned_message,
    verify_cosignatures,
)
from ledger.note import NoteSignature, parse_note

ORIGIN = "example.com/behind-the-sofa"
WITNESS = "witness.example.com/w1"
SEED = bytes(range(32))
NOW = 1_679_315_147
# The checkpoint body of the C2SP tlog-cosignature example.
BODY = f"{ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner(WITNESS, Ed25519PrivateKey.from_private_bytes(SEED))


def raw_public(cosigner: Cosigner) -> bytes:
    return cosigner.verifier.public_key


def test_key_id_is_sha256_of_name_newline_0x04_and_public_key(cosigner: Cosigner) -> None:
    public = Ed25519PrivateKey.from_private_bytes(SEED).public_key().public_bytes_raw()
    by_hand = hashlib.sha256(WITNESS.encode() + b"\x0a" + b"\x04" + public).digest()[:4]

    assert COSIGNATURE_TYPE == 0x04
    assert cosigner.verifier.public_key == public
    assert cosigner.verifier.key_id == by_hand
    # The same key as a log (note) key has a different id: the type byte separates the roles.
    assert Signer(WITNESS, Ed25519PrivateKey.from_private_bytes(SEED)).verifier.key_id != by_hand


def test_cosigned_message_is_header_time_line_and_body() -> None:
    # The example message of C2SP tlog-cosignature, "Ed25519 signed message".
    assert cosigned_message(BODY, NOW) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert cosigned_message(BODY, 0).startswith(b"cosignature/v1\ntime 0\n")


def test_cosign_then_verify_returns_the_timestamp(cosigner: Cosigner) -> None:
    signature = cosigner.cosign(BODY, NOW)
    line = signature.line()
    raw = base64.b64decode(line.removeprefix(f"\u2014 {WITNESS} "))

    assert line.startswith(f"\u2014 {WITNESS} ") and line.endswith("\n")
    assert raw[:4] == cosigner.verifier.key_id
    assert int.from_bytes(raw[4:12], "big") == NOW  # u64 big-endian timestamp
    assert len(raw) == 4 + 8 + 64
    assert cosigner.verifier.verify(BODY, signature.signature) == NOW


def test_vkey_round_trip(cosigner: Cosigner) -> None:
    vkey = cosigner.verifier.vkey
    encoded = base64.b64encode(b"\x04" + raw_public(cosigner)).decode()

    assert vkey == f"{WITNESS}+{cosigner.verifier.key_id.hex()}+{encoded}"
    assert CosignatureVerifier.from_vkey(vkey) == cosigner.verifier


def test_vkey_with_type_0x01_is_rejected(cosigner: Cosigner) -> None:
    # The same key written as a log's note vkey (type 0x01, and the matching key id).
    log_vkey = Signer(WITNESS, Ed25519PrivateKey.from_private_bytes(SEED)).verifier.vkey
    with pytest.raises(MalformedError, match="0x04"):
        CosignatureVerifier.from_vkey(log_vkey)


def test_vkey_with_type_0x01_byte_but_cosigner_key_id_is_rejected(cosigner: Cosigner) -> None:
    encoded = base64.b64encode(b"\x01" + raw_public(cosigner)).decode()
    with pytest.raises(MalformedError, match="0x04"):
        CosignatureVerifier.from_vkey(f"{WITNESS}+{cosigner.verifier.key_id.hex()}+{encoded}")


def test_vkey_with_wrong_key_id_is_rejected(cosigner: Cosigner) -> None:
    name, _, encoded = cosigner.verifier.vkey.split("+", 2)
    with pytest.raises(MalformedError, match="does not match"):
        CosignatureVerifier.from_vkey(f"{name}+00000000+{encoded}")


@pytest.mark.parametrize(
    "vkey",
    ["no-plus-signs", "name+1234567+AAAA", "name+zzzzzzzz+AAAA", "bad name+00000000+AAAA"],
)
def test_malformed_vkey_is_rejected(vkey: str) -> None:
    with pytest.raises(MalformedError):
        CosignatureVerifier.from_vkey(vkey)


def _flip_timestamp(signature: bytes) -> bytes:
    return (int.from_bytes(signature[:8], "big") + 1).to_bytes(8, "big") + signature[8:]


@pytest.mark.parametrize(
    ("body", "change"),
    [
        (BODY, _flip_timestamp),
        (BODY, lambda s: s[:-1]),  # truncated
        (BODY, lambda s: s + b"\x00"),  # trailing byte
        (BODY, lambda s: s[:8] + bytes([s[8] ^ 1]) + s[9:]),  # signature bit flipped
        (BODY.replace("20852163", "20852164"), lambda s: s),  # body changed
    ],
    ids=[
        "timestamp-changed",
        "truncated",
        "trailing-byte",
        "signature-bit-flipped",
        "body-changed",
    ],
)
def test_changed_cosignature_is_rejected(
    cosigner: Cosigner, body: str, change: Callable[[bytes], bytes]
) -> None:
    signature = cosigner.cosign(BODY, NOW).signature
    with pytest.raises(VerificationError, match=WITNESS):
        cosigner.verifier.verify(body, change(signature))


def test_timestamp_2_pow_63_is_rejected(cosigner: Cosigner) -> None:
    too_late = 2**63
    with pytest.raises(MalformedError):
        cosigner.cosign(BODY, too_late)
    # A correctly signed message carrying that timestamp, built by hand.
    message = f"cosignature/v1\ntime {too_late}\n{BODY}".encode()
    signature = too_late.to_bytes(8, "big") + Ed25519PrivateKey.from_private_bytes(SEED).sign(
        message
    )
    with pytest.raises(VerificationError, match="2\\^63"):
        cosigner.verifier.verify(BODY, signature)
    assert cosigner.verifier.verify(BODY, cosigner.cosign(BODY, 2**63 - 1).signature) == 2**63 - 1


def test_cosign_refuses_a_body_without_final_newline(cosigner: Cosigner) -> None:
    with pytest.raises(MalformedError, match="newline"):
        cosigner.cosign(BODY[:-1], NOW)


def test_key_file_round_trip(cosigner: Cosigner) -> None:
    text = cosigner.to_string()
    assert text.startswith(f"PRIVATE+KEY+{WITNESS}+{cosigner.verifier.key_id.hex()}+")
    assert Cosigner.from_string(text + "\n").verifier == cosigner.verifier


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.removeprefix("PRIVATE+KEY+"),  # no prefix
        lambda t: t.rsplit("+", 1)[0],  # key missing
        lambda t: t[:-2] + "!!",  # not base64
        lambda t: t.replace(t.split("+")[3], "00000000"),  # wrong key id
    ],
    ids=["no-prefix", "key-missing", "not-base64", "wrong-key-id"],
)
def test_bad_key_file_is_a_configuration_error_that_hides_the_key(
    cosigner: Cosigner, change: Callable[[str], str]
) -> None:
    text = change(cosigner.to_string())
    with pytest.raises(ConfigurationError) as caught:
        Cosigner.from_string(text)
    assert text.rsplit("+", 1)[-1][:8] not in str(caught.value)


def test_log_key_file_cannot_cosign() -> None:
    with pytest.raises(ConfigurationError, match="0x04"):
        Cosigner.from_string(Signer.generate(ORIGIN).to_string())


# verify_cosignatures


def cosigned_note(log: Signer, *cosigners: Cosigner, timestamp: int = NOW) -> bytes:
    note = sign_checkpoint(Checkpoint(log.name, 7, hashlib.sha256(b"root").digest()), log)
    body = parse_note(note).text
    return note + b"".join(c.cosign(body, timestamp).line().encode() for c in cosigners)


def test_note_with_log_signature_and_two_cosignatures_verifies() -> None:
    log = Signer.generate(ORIGIN)
    first, second = Cosigner.generate("w1.example"), Cosigner.generate("w2.example")
    note = cosigned_note(log, first, second)

    checkpoint = open_checkpoint(note, log.verifier)
    cosignatures = verify_cosignatures(note, [first.verifier, second.verifier])

    assert (checkpoint.origin, checkpoint.size) == (ORIGIN, 7)
    assert [(c.name, c.key_id, c.timestamp) for c in cosignatures] == [
        ("w1.example", first.verifier.key_id, NOW),
        ("w2.example", second.verifier.key_id, NOW),
    ]
    assert [c.line.encode() for c in cosignatures] == note.splitlines(keepends=True)[-2:]


def test_unknown_witnesses_and_the_log_signature_are_ignored() -> None:
    log = Signer.generate(ORIGIN)
    known, unknown = Cosigner.generate("w1.example"), Cosigner.generate("w2.example")
    note = cosigned_note(log, unknown, known)

    assert [c.name for c in verify_cosignatures(note, [known.verifier])] == ["w1.example"]
    assert verify_cosignatures(cosigned_note(log), [known.verifier]) == []


def test_witness_key_with_same_name_but_other_key_is_ignored() -> None:
    log = Signer.generate(ORIGIN)
    impostor, trusted = Cosigner.generate("w1.example"), Cosigner.generate("w1.example")
    assert verify_cosignatures(cosigned_note(log, impostor), [trusted.verifier]) == []


def test_bad_cosignature_by_known_witness_names_it() -> None:
    log = Signer.generate(ORIGIN)
    witness = Cosigner.generate("w1.example")
    note = sign_checkpoint(Checkpoint(ORIGIN, 7, hashlib.sha256(b"root").digest()), log)
    other_body = Checkpoint(ORIGIN, 8, hashlib.sha256(b"root").digest()).body()
    forged = witness.cosign(other_body, NOW)  # a real cosignature, of another checkpoint
    line = NoteSignature(forged.name, forged.key_id, forged.signature).line()

    with pytest.raises(VerificationError, match="w1.example"):
        verify_cosignatures(note + line.encode(), [witness.verifier])


def test_cosignature_is_not_a_log_signature() -> None:
    # A witness's cosignature must never pass for a note signature by the same key.
    witness_seed = Ed25519PrivateKey.generate()
    witness = Cosigner("w1.example", witness_seed)
    as_log_key = Signer("w1.example", witness_seed).verifier
    body = Checkpoint("w1.example", 7, hashlib.sha256(b"root").digest()).body()
    note = (body + "\n").encode() + witness.cosign(body, NOW).line().encode()

    with pytest.raises(VerificationError):
        open_checkpoint(note, as_log_key)
