"""C2SP signed-note with Ed25519 keys: key ids, verifier keys (vkeys), signing, verification.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
`— <key name> <base64(key id[4] || signature)>`. Verifiers ignore signatures from keys they
do not know, so witnesses can add cosignatures and logs can rotate keys without breaking anyone.
"""

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.encoding import decode_base64
from ledger.errors import ConfigurationError, MalformedError, VerificationError

ED25519_TYPE = 0x01  # signed-note signature type for Ed25519
SIGNATURE_PREFIX = "\u2014 "  # em dash, space
MAX_SIGNATURES = 100  # the spec asks verifiers to accept at least 16
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"


def check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise MalformedError(
            f"key name {name!r} is invalid: it must be non-empty, printable, and contain no "
            "spaces or '+'"
        )


def key_id(name: str, signature_type: int, public_key: bytes) -> bytes:
    # SHA-256(key name || 0x0A || signature type || public key)[:4], C2SP signed-note
    return hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()[:4]


def parse_vkey(vkey: str, signature_type: int, what: str) -> tuple[str, bytes, bytes]:
    """(name, key id, 32-byte Ed25519 public key) of a vkey
    `<name>+<hex key id>+<base64(type byte || public key)>` whose type byte must be
    `signature_type` (0x01 for a log key; tlog-cosignature's 0x04 for a witness)."""
    # The base64 may itself contain '+', so split at most twice.
    parts = vkey.strip().split("+", 2)
    if len(parts) != 3:
        raise MalformedError(
            f"{what} key {vkey!r} is not of the form <name>+<hex key id>+<base64 key>"
        )
    name, hex_id, encoded = parts
    check_key_name(name)
    if len(hex_id) != 8:
        raise MalformedError(f"{what} key id {hex_id!r} must be 8 hex digits")
    try:
        claimed_id = bytes.fromhex(hex_id)
    except ValueError:
        raise MalformedError(f"{what} key id {hex_id!r} is not hex") from None
    key = decode_base64(encoded, f"{what} public key")
    if len(key) != 33 or key[0] != signature_type:
        raise MalformedError(
            f"{what} public key must be 0x{signature_type:02x} followed by a 32-byte Ed25519 key "
            f"(got {len(key)} bytes, type {key[:1].hex() or 'none'})"
        )
    if key_id(name, signature_type, key[1:]) != claimed_id:
        raise MalformedError(f"{what} key {vkey!r} has a key id that does not match its key")
    return name, claimed_id, key[1:]


def parse_private_key(
    text: str, signature_type: int, what: str, command: str
) -> tuple[str, str, bytes]:
    """(name, hex key id, 32-byte Ed25519 seed) of a key file
    `PRIVATE+KEY+<name>+<hex key id>+<base64(type byte || seed)>` of `signature_type` (0x01 for
    a log, 0x04 for a witness). Errors name the file's role (`what`) and the `command` that
    writes one, and never echo key material."""
    text = text.strip()
    if not text.startswith(_PRIVATE_KEY_PREFIX):
        raise ConfigurationError(
            f"the {what} key file does not hold a PRIVATE+KEY+... key; create one with `{command}`"
        )
    parts = text[len(_PRIVATE_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise ConfigurationError(f"the {what} key file is truncated or corrupt")
    name, hex_id, encoded = parts
    try:
        seed = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"the {what} key file's key is not valid base64") from None
    if len(seed) != 33 or seed[0] != signature_type:
        raise ConfigurationError(
            f"the {what} key file does not hold an Ed25519 key of type 0x{signature_type:02x} "
            f"(write one with `{command}`)"
        )
    return name, hex_id, seed[1:]


def read_private_key_file(path: Path, what: str, command: str) -> str:
    """The text of a PRIVATE+KEY+... file, refused (ConfigurationError) if it is missing,
    unreadable, or readable or writable by anyone but its owner. `what` names its role ("log",
    "witness") and `command` the one that writes a new one."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise ConfigurationError(
            f"no {what} key at {path}: run `{command}` to create one"
        ) from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} key file {path} ({exc})") from None
    # ssh's rule: a key others could read may already be someone else's, and one they could
    # write may no longer be ours; either way the operator must look before we sign with it.
    if mode & 0o077:
        raise ConfigurationError(
            f"the {what} key file {path} has mode {mode:04o}: it must be readable and writable "
            f"by its owner only; run `chmod 600 {path}`"
        )
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError) as exc:
        raise ConfigurationError(
            f"cannot read the {what} key file {path} ({exc}); it should hold one "
            f"PRIVATE+KEY+... line as written by `{command}`"
        ) from None


def write_private_key_file(path: Path, text: str, what: str) -> None:
    """Create `path` holding `text` (a PRIVATE+KEY+... line), readable by its owner only (0600,
    whatever the umask), and never over an existing key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigurationError(
            f"{path} already exists; refusing to overwrite a {what} key"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")


def format_private_key(
    name: str, key_id_bytes: bytes, signature_type: int, key: Ed25519PrivateKey
) -> str:
    encoded = base64.b64encode(bytes([signature_type]) + key.private_bytes_raw()).decode()
    return f"{_PRIVATE_KEY_PREFIX}{name}+{key_id_bytes.hex()}+{encoded}"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    """An Ed25519 note verifier: a key name, its key id and the public key."""

    name: str
    key_id: bytes
    public_key: bytes

    @classmethod
    def from_vkey(cls, vkey: str) -> "Verifier":
        """Parse `<name>+<hex key id>+<base64(0x01 || public key)>`."""
        return cls(*parse_vkey(vkey, ED25519_TYPE, "verifier"))

    @property
    def vkey(self) -> str:
        encoded = base64.b64encode(bytes([ED25519_TYPE]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, text)
        except InvalidSignature:
            return False
        return True


class Signer:
    """An Ed25519 note signer. Its private key never leaves this object except by `to_string`."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        check_key_name(name)
        self.name = name
        self._key = private_key
        public = _raw_public(private_key.public_key())
        self.verifier = Verifier(name, key_id(name, ED25519_TYPE, public), public)

    @classmethod
    def generate(cls, name: str) -> "Signer":
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_string(cls, text: str) -> "Signer":
        """Parse `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 || seed)>`."""
        name, hex_id, seed = parse_private_key(text, ED25519_TYPE, "log", "prov init")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        if signer.verifier.key_id.hex() != hex_id:
            raise ConfigurationError("the log key file's key id does not match its key")
        return signer

    def to_string(self) -> str:
        return format_private_key(self.name, self.verifier.key_id, ED25519_TYPE, self._key)

    def sign(self, text: bytes) -> bytes:
        """key id || Ed25519 signature over the note text."""
        return self.verifier.key_id + self._key.sign(text)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        return f"{SIGNATURE_PREFIX}{self.name} {base64.b64encode(self.key_id + self.signature).decode()}\n"


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def encode(self) -> bytes:
        return (self.text + "\n" + "".join(s.line() for s in self.signatures)).encode()


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedError("note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise MalformedError("note text contains a control character other than newline")


def sign_note(text: str, signers: list[Signer]) -> bytes:
    _check_text(text)
    data = text.encode()
    signatures = []
    for signer in signers:
        raw = signer.sign(data)
        signatures.append(NoteSignature(signer.name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures)).encode()


def parse_note(note: bytes) -> Note:
    """Split a signed note into text and signatures, without verifying anything."""
    try:
        decoded = note.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedError("note is not valid UTF-8") from None
    # The text is separated from the signatures by the last blank line.
    split = decoded.rfind("\n\n")
    if split < 0:
        raise MalformedError("note has no blank line between its text and its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    _check_text(text)
    if not block.endswith("\n"):
        raise MalformedError("note signature block must end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES} allowed")
    signatures = []
    for line in lines:
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedError(f"note signature line {line!r} does not start with an em dash")
        name, sep, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not sep:
            raise MalformedError(f"note signature line {line!r} has no signature after the name")
        check_key_name(name)
        raw = decode_base64(encoded, f"signature by {name}")
        if len(raw) < 5:
            raise MalformedError(f"signature by {name} is too short to hold a key id")
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return Note(text, tuple(signatures))


def open_note(note: bytes, verifiers: list[Verifier]) -> tuple[Note, list[Verifier]]:
    """Verify a note against known keys: returns the note and the keys whose signatures verified.

    Signatures by unknown keys are ignored. A bad signature by a known key rejects the whole note,
    and so does a note that no known key signed.
    """
    parsed = parse_note(note)
    data = parsed.text.encode()
    known = {(v.name, v.key_id): v for v in verifiers}
    verified = []
    for sig in parsed.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(data, sig.signature):
            raise VerificationError(f"note signature by {sig.name} does not verify")
        verified.append(verifier)
    if not verified:
        names = ", ".join(sorted({v.name for v in verifiers})) or "no keys"
        raise VerificationError(f"note is not signed by any known key ({names})")
    return parsed, verified
