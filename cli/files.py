"""The files the commands read and write: images, certificates, keys, records, bundles.

Every failure is a MalformedError naming the file, so `prov` prints one line and exits 2
(cli/errors.py) instead of a traceback.
"""

import fcntl
import json
import os
import shlex
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
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


def check_key_private(path: str) -> None:
    """Refuse a key file that other users can read, as ssh does: whoever can read a device's
    key can sign captures in its name."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return  # load_key() says why it cannot be read
    if mode & 0o077:
        raise MalformedError(
            f"{path} can be read by other users (mode {mode & 0o777:o}); a device key must be "
            f"private to its owner: run `chmod 600 {shlex.quote(path)}`",
            code="key_file_exposed",
        )


def default_state_dir() -> Path:
    """Where `prov capture sign` keeps each key's counter: $XDG_STATE_HOME/prov, else
    ~/.local/state/prov (the XDG base directory rule)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "prov"


@contextmanager
def _locked(path: Path) -> Iterator[IO[str]]:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _counter_in(text: str) -> int:
    text = text.strip()
    return int(text) if text.isascii() and text.isdigit() else 0


def counter_file(state_dir: Path, fingerprint: str) -> Path:
    return state_dir / "counters" / f"{fingerprint}.counter"


def next_counter(state_dir: Path, fingerprint: str, key_path: str) -> int:
    """The key's next capture counter, advanced under a lock so two `prov capture sign` runs
    with one key never sign the same counter.

    The counter is the key's, kept under its public key's fingerprint (`fingerprint`), so a
    copy of the key file does not start again at 1. Earlier versions kept it beside the key
    file (`<key>.counter`): that value is a floor, so the counter never goes back."""
    legacy = Path(key_path + ".counter")
    with _locked(counter_file(state_dir, fingerprint)) as handle:
        handle.seek(0)
        kept = _counter_in(handle.read())
        before = _counter_in(legacy.read_text()) if legacy.is_file() else 0
        value = max(kept, before) + 1
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


def write_bundle_file(directory: Path, index: int, data: bytes, *, force: bool = False) -> Path:
    """Write a bundle as `capture-INDEX.bundle.json` inside `directory`, whatever is planted
    there: the name is built from a checked int only, a symlink in its place is refused, and
    the bytes go to a new temporary file in the directory, then to the name: linked (which
    refuses an existing name) or, with `force`, renamed over it (a rename replaces a name,
    never writes through it)."""
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
            if force:
                os.replace(temporary, path)
            else:
                os.link(temporary, path)
        finally:
            Path(temporary).unlink(missing_ok=True)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
    return path


# One rule for every command that writes a file it names: an existing file is replaced only
# when the user says so.
force_option = click.option("--force", is_flag=True, help="Replace output files that exist.")


def _exists(path: Path) -> MalformedError:
    return MalformedError(
        f"{path} exists; give --force to replace it, or choose another name", code="file_exists"
    )


def refuse_existing(path: Path, *, force: bool = False) -> None:
    """Refuse to replace `path` unless the user said --force (checked before any work)."""
    if not force and (path.exists() or path.is_symlink()):
        raise _exists(path)


def write_new_file(path: Path, data: bytes, *, force: bool) -> None:
    """Write `data` to `path`; without `force` by exclusive creation, so a file that appeared
    since refuse_existing() is not overwritten either."""
    try:
        with path.open("wb" if force else "xb") as file:
            file.write(data)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise MalformedError(f"cannot write {path}: {exc.strerror}", code="unwritable") from None
