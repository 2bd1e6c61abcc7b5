"""C2SP tlog-cosignature, Ed25519 flavour (cosignature/v1): witness keys, cosigning, verifying.

A cosignature is a signed-note signature line whose key id is computed with type byte 0x04 and
whose signature is a timestamp followed by an Ed25519 signature over a message that binds that
timestamp to the checkpoint body. It states: "as of this time, the largest consistent tree head
this witness observed for the checkpoint's origin has this root".
"""

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import ConfigurationError, MalformedError, VerificationError
from ledger.note import (
    NoteSignature,
    check_key_name,
    format_private_key,
    key_id,
    parse_note,
    parse_private_key,
    parse_vkey,
)

COSIGNATURE_TYPE = 0x04  # key id type byte for Ed25519 cosignatures, C2SP tlog-cosignature
MAX_TIMESTAMP = 2**63 - 1  # C2SP tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1
_TIMESTAMP_SIZE = 8
_ED25519_SIGNATURE_SIZE = 64


def cosigned_message(body: str, timestamp: int) -> bytes:
    """The bytes an Ed25519 cosignature signs, for a checkpoint note body and a timestamp."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise MalformedError(f"cosignature timestamp {timestamp} is not in [0, 2^63 - 1]")
    if not body.endswith("\n"):
        raise MalformedError("the cosigned checkpoint body must end with a newline")
    # "cosignature/v1\n" || "time " || decimal timestamp || "\n" || note body,
    # C2SP tlog-cosignature "Ed25519 signed message"
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


@dataclass(frozen=True)
class CosignatureVerifier:
    """A witness's Ed25519 cosigning key: its name, its type-0x04 key id and the public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_vkey(cls, vkey: str) -> "CosignatureVerifier":
        """Parse `<name>+<hex key id>+<base64(0x04 || public key)>`; a log's 0x01 key cannot
        verify cosignatures and is refused."""
        return cls(*parse_vkey(vkey, COSIGNATURE_TYPE, "witness"))

    @property
    def vkey(self) -> str:
        # name "+" hex(key id) "+" base64(0x04 || 32-byte public key), C2SP signed-note vkeys
        encoded = base64.b64encode(bytes([COSIGNATURE_TYPE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, body: str, signature: bytes) -> int:
        """Check a timestamped signature (the bytes after the key id) over a checkpoint body;
        returns its timestamp in POSIX seconds."""
        expected = _TIMESTAMP_SIZE + _ED25519_SIGNATURE_SIZE
        if len(signature) != expected:
            raise VerificationError(
                f"cosignature by {self.name} is {len(signature)} bytes, not {expected} "
                "(8-byte timestamp and 64-byte Ed25519 signature)"
            )
        # u64 big-endian timestamp || Ed25519 signature, C2SP tlog-cosignature timestamped_signature
        timestamp = int.from_bytes(signature[:_TIMESTAMP_SIZE], "big")
        if timestamp > MAX_TIMESTAMP:
            raise VerificationError(f"cosignature by {self.name} has a timestamp above 2^63 - 1")
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(
                signature[_TIMESTAMP_SIZE:], cosigned_message(body, timestamp)
            )
        except InvalidSignature:
            raise VerificationError(f"cosignature by {self.name} does not verify") from None
        return timestamp


class Cosigner:
    """A witness's Ed25519 cosigning key. The private key leaves this object only by `to_string`."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # SHA-256(name || 0x0A || 0x04 || public key)[:4], C2SP tlog-cosignature
        self.verifier = CosignatureVerifier(name, key_id(name, COSIGNATURE_TYPE, public), public)

    @classmethod
    def generate(cls, name: str) -> "Cosigner":
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_string(cls, text: str) -> "Cosigner":
        """Parse `PRIVATE+KEY+<name>+<hex key id>+<base64(0x04 || seed)>`; a log key (0x01)
        cannot cosign and is refused."""
        name, hex_id, seed = parse_private_key(
            text, COSIGNATURE_TYPE, "witness", "prov witness init"
        )
        try:
            cosigner = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        except MalformedError as exc:
            raise ConfigurationError(f"the witness key file's {exc}") from None
        if cosigner.verifier.key_id.hex() != hex_id:
            raise ConfigurationError("the witness key file's key id does not match its key")
        return cosigner

    def to_string(self) -> str:
        return format_private_key(self.name, self.verifier.key_id, COSIGNATURE_TYPE, self._key)

    def cosign(self, body: str, timestamp: int) -> NoteSignature:
        """The cosignature of a checkpoint body at `timestamp` (POSIX seconds)."""
        signature = self._key.sign(cosigned_message(body, timestamp))
        # u64 big-endian timestamp || Ed25519 signature, C2SP tlog-cosignature
        return NoteSignature(
            self.name, self.verifier.key_id, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
        )


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who, when (POSIX seconds), and its note signature line."""

    name: str
    key_id: bytes
    timestamp: int
    line: str


def verify_cosignatures(note: bytes, witnesses: Sequence[CosignatureVerifier]) -> list[Cosignature]:
    """The cosignatures on `note` by the given witnesses, each verified.

    Signatures by other keys (the log's own, unknown witnesses) are ignored; a cosignature by a
    known witness that does not verify rejects the note. The log's signature is not checked
    here: do that with ledger.checkpoint.open_checkpoint.
    """
    parsed = parse_note(note)
    known = {(w.name, w.key_id): w for w in witnesses}
    verified = []
    for signature in parsed.signatures:
        witness = known.get((signature.name, signature.key_id))
        if witness is None:
            continue
        timestamp = witness.verify(parsed.text, signature.signature)
        verified.append(Cosignature(witness.name, witness.key_id, timestamp, signature.line()))
    return verified
