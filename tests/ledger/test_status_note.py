"""The status note: a signed note by the log key, never confusable with a checkpoint."""

import base64
import hashlib

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
    sign_note,
)
from ledger.status_note import (
    STATUS_NOTE_HEADER,
    StatusCommitment,
    open_status,
    sign_status,
)

NAME = "example.org/provenance/log"
ROOT = hashlib.sha256(b"tree").digest()
STATUS_ROOT = hashlib.sha256(b"status").digest()
COMMITMENT = StatusCommitment(NAME, 42, ROOT, STATUS_ROOT)


@pytest.fixture
def signer() -> Signer:
    return Signer(NAME, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_round_trip_and_the_exact_text(signer: Signer) -> None:
    note = sign_status(COMMITMENT, signer)
    text, _, signature = note.decode().partition("\n\n")
    assert text + "\n" == (
        f"provenance-ledger/status/v1\n{NAME}\n42\n{_b64(ROOT)}\n{_b64(STATUS_ROOT)}\n"
    )
    assert STATUS_NOTE_HEADER == "provenance-ledger/status/v1"
    raw = base64.b64decode(signature.removesuffix("\n").split(" ")[2])
    Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().verify(
        raw[4:], (text + "\n").encode()
    )
    assert open_status(note, signer.verifier) == COMMITMENT


def _resigned(text: str, signer: Signer) -> bytes:
    return sign_note(text, [signer])


@pytest.mark.parametrize(
    "line, replacement",
    [
        (0, "provenance-ledger/status/v2"),
        (0, ""),
        (1, ""),
        (2, "042"),
        (2, "-1"),
        (2, "4 2"),
        (3, _b64(ROOT[:31])),
        (3, _b64(ROOT).rstrip("=") + "x"),
        (4, _b64(STATUS_ROOT + b"\x00")),
        (4, "not base64!"),
    ],
)
def test_each_line_mutated_is_malformed(signer: Signer, line: int, replacement: str) -> None:
    lines = COMMITMENT.body().split("\n")
    lines[line] = replacement
    with pytest.raises(MalformedError) as raised:
        open_status(_resigned("\n".join(lines), signer), signer.verifier)
    assert raised.value.code == "bad_status_note"


def test_a_line_added_or_dropped_is_malformed(signer: Signer) -> None:
    body = COMMITMENT.body()
    for text in [body + "extension\n", body.split("\n", 1)[1], body.rsplit("\n", 2)[0] + "\n"]:
        with pytest.raises(MalformedError) as raised:
            open_status(_resigned(text, signer), signer.verifier)
        assert raised.value.code == "bad_status_note"


def test_a_changed_value_breaks_the_signature(signer: Signer) -> None:
    note = sign_status(COMMITMENT, signer).decode()
    forged = note.replace(f"\n42\n{_b64(ROOT)}", f"\n43\n{_b64(ROOT)}")
    assert forged != note
    with pytest.raises(VerificationError):
        open_status(forged.encode(), signer.verifier)
    forged = note.replace(_b64(STATUS_ROOT), _b64(hashlib.sha256(b"other").digest()))
    with pytest.raises(VerificationError):
        open_status(forged.encode(), signer.verifier)


def test_wrong_key(signer: Signer) -> None:
    other = Signer(NAME, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(VerificationError):
        open_status(sign_status(COMMITMENT, other), signer.verifier)
    # A note for another origin, signed by that log's own key, does not speak for ours.
    elsewhere = Signer("other.example/log", Ed25519PrivateKey.from_private_bytes(bytes(32)))
    note = sign_status(StatusCommitment("other.example/log", 42, ROOT, STATUS_ROOT), elsewhere)
    with pytest.raises(VerificationError):
        open_status(note, signer.verifier)


def test_an_origin_naming_another_log_is_refused_by_its_key(signer: Signer) -> None:
    note = _resigned(COMMITMENT.body().replace(NAME, "other.example/log"), signer)
    with pytest.raises(VerificationError, match="not for the log"):
        open_status(note, signer.verifier)


def test_a_checkpoint_is_not_a_status_note(signer: Signer) -> None:
    checkpoint = sign_checkpoint(Checkpoint(NAME, 42, ROOT), signer)
    with pytest.raises(MalformedError) as raised:
        open_status(checkpoint, signer.verifier)
    assert raised.value.code == "bad_status_note"
    # Not even one with extension lines that spell out a status root.
    extended = Checkpoint(NAME, 42, ROOT, (_b64(STATUS_ROOT), "x"))
    with pytest.raises(MalformedError):
        open_status(sign_checkpoint(extended, signer), signer.verifier)


def test_a_status_note_is_not_a_checkpoint(signer: Signer) -> None:
    # Read as a checkpoint, its origin is the header and its "tree size" the origin.
    with pytest.raises(MalformedError, match="checkpoint tree size"):
        open_checkpoint(sign_status(COMMITMENT, signer), signer.verifier)


def test_a_log_named_like_the_header_cannot_sign_status() -> None:
    header_log = Signer(STATUS_NOTE_HEADER, Ed25519PrivateKey.from_private_bytes(bytes(32)))
    with pytest.raises(ConfigurationError):
        sign_status(StatusCommitment(STATUS_NOTE_HEADER, 1, ROOT, STATUS_ROOT), header_log)


def test_signing_checks_the_key_and_the_values(signer: Signer) -> None:
    with pytest.raises(MalformedError):
        sign_status(StatusCommitment("other.example/log", 1, ROOT, STATUS_ROOT), signer)
    for bad in [
        StatusCommitment(NAME, -1, ROOT, STATUS_ROOT),
        StatusCommitment(NAME, 1, ROOT[:31], STATUS_ROOT),
        StatusCommitment(NAME, 1, ROOT, STATUS_ROOT + b"\x00"),
    ]:
        with pytest.raises(MalformedError):
            sign_status(bad, signer)


def test_garbage_is_malformed(signer: Signer) -> None:
    for note in [b"", b"\xff\xfe", b"no blank line", COMMITMENT.body().encode()]:
        with pytest.raises(MalformedError) as raised:
            open_status(note, signer.verifier)
        assert raised.value.code == "bad_status_note"
