"""The files the commands read and write: images, certificates, keys, records, bundles.

Every failure is a MalformedError naming the file, so `prov` prints one line and exits 2
(cli/errors.py) instead of a traceback.
"""

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key

from ledger.errors import MalformedError
from registry.entries.sdk import SigningKey


def read_input_file(path: str, what: str) -> bytes:
    """The bytes of `path`; `what` names it in the error ("image", "bundle", ...)."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise MalformedError(
            f"cannot read {what} {path}: {exc.strerror}", code="unreadable_file"
        ) from None


def load_certificates(path: str, what: str) -> list[bytes]:
    """DER of every certificate in a PEM file (one or more) or a DER file."""
    data = read_input_file(path, what)
    try:
        if b"-----BEGIN" in data:
            return [c.public_bytes(Encoding.DER) for c in x509.load_pem_x509_certificates(data)]
        return [x509.load_der_x509_certificate(data).public_bytes(Encoding.DER)]
    except ValueError as exc:
        raise MalformedError(
            f"{path} is not a PEM or DER certificate: {exc}", code="cert_malformed"
        ) from None


def load_certificate(path: str, what: str) -> x509.Certificate:
    """The first certificate of a PEM or DER file."""
    return x509.load_der_x509_certificate(load_certificates(path, what)[0])


def load_key(path: str) -> SigningKey:
    """An unencrypted PEM private key of a kind the registry accepts (ECDSA, Ed25519, RSA)."""
    try:
        key = load_pem_private_key(read_input_file(path, "private key"), password=None)
    except (ValueError, TypeError) as exc:
        raise MalformedError(
            f"{path} is not an unencrypted PEM private key: {exc}", code="bad_key_file"
        ) from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    ):
        raise MalformedError(
            f"{path} holds a {type(key).__name__}, not an ECDSA, Ed25519 or RSA key",
            code="bad_key_file",
        )
    return key


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def next_counter(key_path: str) -> int:
    """The device's next capture counter, kept in `<key>.counter` and advanced under a lock,
    so two `prov capture sign` runs with one key never sign the same counter."""
    with _locked(Path(key_path + ".counter")) as handle:
        handle.seek(0)
        text = handle.read().strip()
        value = int(text) + 1 if text.isdigit() else 1
        handle.seek(0)
        handle.truncate()
        handle.write(f"{value}\n")
        handle.flush()
        os.fsync(handle.fileno())
    return value


def read_records(path: str) -> list[tuple[int, Any]]:
    """(line number, record) for every non-blank line of a JSON-lines records file."""
    records = []
    for number, line in enumerate(
        read_input_file(path, "records file").decode("utf-8", "replace").splitlines(), 1
    ):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line)))
        except (ValueError, RecursionError) as exc:  # Recursion: nested too deep
            raise MalformedError(
                f"{path} line {number} is not JSON (or nests too deep): {exc}", code="bad_record"
            ) from None
    if not records:
        raise MalformedError(f"{path} holds no records", code="empty_batch")
    return records


def bundle_path(directory: Path, index: int) -> Path:
    """Where a capture's proof bundle goes: `capture-INDEX.bundle.json`."""
    return directory / f"capture-{index}.bundle.json"


def write_bundle_file(directory: Path, index: int, data: bytes) -> Path:
    """Write a bundle as `capture-INDEX.bundle.json` inside `directory`, whatever is planted
    there: the name is built from a checked int only, a symlink in its place is refused, and
    the bytes go to a new temporary file in the directory, renamed over the name (a rename
    replaces a name, never writes through it)."""
    if type(index) is not int or index < 0:
        raise ValueError(f"bundle index {index!r} is not a non-negative int")
    path = bundle_path(directory, index)
    if path.is_symlink():
        raise MalformedError(
            f"{path} is a symbolic link; remove it or choose another --bundle-dir",
            code="unwritable",
        )
    try:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=".capture-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
    return path


def refuse_existing(path: Path) -> None:
    """Refuse to replace `path` unless the user said --force (checked before any work)."""
    if path.exists():
        raise MalformedError(f"{path} exists; give --force to replace it", code="file_exists")


def write_new_file(path: Path, data: bytes, *, force: bool) -> None:
    """Write `data` to `path`; without `force` by exclusive creation, so a file that appeared
    since refuse_existing() is not overwritten either."""
    try:
        with path.open("wb" if force else "xb") as file:
            file.write(data)
    except FileExistsError:
        raise MalformedError(
            f"{path} exists; give --force to replace it", code="file_exists"
        ) from None
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
