"""Test vectors shared by the two bundle verifiers (issue 17): registry/bundle/verify.py and
the in-browser one (api/static/verify/). Bundles made with the real registry - valid ones (with
and without revocation, with a witness, with an intermediate CA, Ed25519 and P-256 devices) and
tampered ones, each named after its mutation - with the Python verdict of each.

A verdict is {"verdict": "clean" | "cautions" | "failed", "failed_check": N or None,
"cautions": [codes]}, N being the step number of registry.bundle.verify (1 checkpoint
signature ... 10 image), or {"verdict": "malformed", ...} for input that is not a bundle (the
parse before check 1: `prov verify` refuses it as malformed, and the page says nothing was
verified).

Each valid bundle (and two tampered ones) comes again saved as an editor or `jq` would save it
- indented, keys reversed, CRLF, a trailing newline, non-ASCII unescaped - with the same
verdict; and bundles whose JSON a lenient reader would accept (a key twice, an unknown field, a
fraction or NaN for an index) are malformed on both sides (docs/design.md 4.5)."""

import base64
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import migrations
from ledger import LogConfig, LogStore, Signer, open_engine
from ledger.cosignature import CosignatureVerifier, Cosigner
from ledger.note import Verifier
from ledger.tlogproof import TlogProof
from ledger.witnessing import cosigned_note
from registry import Registry, RegistrySettings
from registry.bundle.build import build_bundle
from registry.bundle.format import FORMAT
from registry.bundle.status import required_subjects, status_part
from registry.bundle.verify import BundleReport, verify_bundle
from registry.entries.codec import b64, parse_entry
from registry.entries.sdk import sign_capture
from registry.imaging.hashing import query_hashes
from registry.open import registry_sequencer
from testkit.pki import DevicePKI, KeyType, make_pki
from testkit.revocations import revoke_ca
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import TOKEN, picture, smuggle
from tests.support.status_fixtures import hex_id, revoke_device

ORIGIN = "example.org/provenance/vectors"
HOUR_MS = 3_600_000
# The step number of each check name of registry.bundle.verify.
CHECK_NUMBERS = {
    "checkpoint signature": 1, "witness cosignatures": 2, "capture inclusion": 3,
    "device inclusion": 3, "vendor inclusion": 3, "revocation inclusion": 3,
    "entries refer to each other": 4, "device certificate chain": 5, "revocation status": 6,
    "device signature on the claim": 7, "time evidence": 8, "revocations": 9,
    "image matches the capture": 10,
}  # fmt: skip


@dataclass
class Vector:
    name: str
    bundle: str
    log_key: str
    witness_keys: list[str] = field(default_factory=list)
    image: str | None = None  # base64 of the image file given, if any
    expected: dict[str, Any] = field(default_factory=dict)  # the Python verdict
    # False for a bundle holding what the page does not port (a revocation/v2): it must say
    # "not checked here" and never clean, where Python gives its verdict.
    ported: bool = True
    # Given to the page as a chosen file, as saved: a textarea would turn its CRLF into LF.
    saved: bool = False
    encoding: str = "utf-8"  # of the file saved, or of the bytes Python is given

    @property
    def tampered(self) -> bool:
        return not self.name.startswith(("valid", "unported"))

    @property
    def malformed(self) -> bool:
        return self.name.startswith("malformed")


# What the page shows for input it could not read: its one step, "reading the input", number 0.
MALFORMED = {
    "verdict": "malformed", "failed_check": 0, "cautions": [], "checks": ["reading the input"],
    "times": [],
}  # fmt: skip


def verdict_of(report: BundleReport) -> dict[str, Any]:
    """The verdict, and the checks made and the times stated, as `prov verify` names them."""
    failed = next((c for c in report.checks if not c.ok), None)
    cautions = [c.code for c in report.cautions]
    verdict = "failed" if failed else "cautions" if cautions else "clean"
    return {
        "verdict": verdict,
        "failed_check": CHECK_NUMBERS[failed.name] if failed else None,
        "cautions": cautions,
        "checks": [c.name for c in report.checks],
        "times": [t.describe() for t in report.times],
    }


def python_verdict(vector: Vector) -> dict[str, Any]:
    image = base64.b64decode(vector.image) if vector.image is not None else None
    witnesses = [CosignatureVerifier.from_vkey(k) for k in vector.witness_keys]
    report = verify_bundle(
        vector.bundle.encode(vector.encoding),
        Verifier.from_vkey(vector.log_key),
        query_hashes(image) if image is not None else None,
        witnesses,
        min(1, len(witnesses)),  # as prov verify: one, when any witness key is given
        image,
    )
    return verdict_of(report)


# --- a registry to make them with ------------------------------------------------------------


@dataclass
class World:
    registry: Registry
    signer: Signer
    clock: FixedClock

    @property
    def store(self) -> LogStore:
        return self.registry.store

    def vkey(self) -> str:
        return self.signer.verifier.vkey


@contextmanager
def world() -> Iterator[World]:
    """A registry on a fresh SQLite database (the vectors do not depend on the database)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'log.db'}"
        migrations.upgrade(url)
        engine = open_engine(url)
        store, signer, clock = LogStore(engine), Signer.generate(ORIGIN), FixedClock()
        registry_sequencer(store, signer, clock).initialize()
        settings = RegistrySettings(
            log=LogConfig(Path(tmp), url, Path(tmp) / "log.key"), admin_token=TOKEN,
            max_batch=50, verify_workers=0,
        )  # fmt: skip
        try:
            yield World(
                Registry(store, registry_sequencer(store, signer, clock), settings, clock),
                signer,
                clock,
            )
        finally:
            engine.dispose()


def enroll(w: World, device_key: KeyType = "ES256", intermediate: bool = True) -> DevicePKI:
    now = datetime.fromtimestamp(w.clock.now_ms / 1000, UTC)
    pki = make_pki(now, intermediate=intermediate, device_key=device_key)
    w.registry.add_vendor(f"Vendor {hex_id(pki.root.der)[:8]}", "camera", pki.root.der, TOKEN)
    w.registry.enroll_device(pki.device.der, pki.chain_der)
    return pki


def capture(w: World, pki: DevicePKI, seed: int, counter: int = 1, at: int | None = None) -> int:
    """A capture of picture `seed`, claimed at `at` (a second ago by default), admitted."""
    at = w.clock.now_ms - 1000 if at is None else at
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, counter, at
    )
    (result,) = w.registry.submit_captures([record])
    assert result.receipt is not None, result.reason
    return result.receipt.index


def bundle_of(w: World, index: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(build_bundle(w.store, index))
    return data


def assemble(w: World, capture_index: int, device_index: int, vendor_index: int) -> dict[str, Any]:
    """A bundle of these three entries, as registry.bundle.build makes one, for entries the
    registry's tables do not know (smuggled past admission); with a status part when the
    device's path verifies."""
    checkpoint = w.store.latest_checkpoint()
    note = cosigned_note(w.store, checkpoint)
    indexes = [capture_index, device_index, vendor_index]
    parts = [
        {
            "index": i,
            "entry": b64(w.store.entry(i)),
            "proof": TlogProof(i, tuple(p), note).encode().decode(),
        }
        for i, (_, p) in zip(indexes, w.store.receipts(indexes, checkpoint.size), strict=True)
    ]
    bundle: dict[str, Any] = {
        "format": FORMAT, "log": ORIGIN, "checkpoint": note.decode(),
        "capture": parts[0], "device": parts[1], "vendor": parts[2],
    }  # fmt: skip
    status_note = w.store.status_note(checkpoint.size)
    try:
        subjects = required_subjects(
            dict(parse_entry(w.store.entry(device_index))),
            dict(parse_entry(w.store.entry(vendor_index))),
        )
    except Exception:  # noqa: BLE001 - a broken chain: no status part, check 5 fails first
        return bundle
    assert status_note is not None
    proofs = w.store.status_proofs(checkpoint.size, [bytes.fromhex(s) for s in subjects])
    bundle["status"] = status_part(status_note, {s.hex(): p for s, p in proofs.items()})
    return bundle


def text(bundle: dict[str, Any]) -> str:
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True)


def cosigned(bundle: dict[str, Any], witness: Cosigner, at_s: int) -> dict[str, Any]:
    """The bundle with the witness's cosignature added to its checkpoint, in every proof too."""
    note = bundle["checkpoint"]
    body = note[: note.rfind("\n\n") + 1]
    return replace_note(bundle, note + witness.cosign(body, at_s).line())


# --- the mutations ---------------------------------------------------------------------------


def flip_b64(value: str, at: int = -1) -> str:
    """The base64 of the same bytes with one bit of the byte at `at` flipped."""
    raw = bytearray(base64.b64decode(value))
    raw[at] ^= 0x01
    return b64(bytes(raw))


def flip_signature_line(note: str, prefix: str) -> str:
    """The note with one bit of the signature on the line starting with `prefix` flipped."""
    lines = note.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            head, _, encoded = line.rpartition(" ")
            lines[i] = f"{head} {flip_b64(encoded)}"
            return "\n".join(lines)
    raise AssertionError(f"no signature line {prefix!r}")


def replace_note(bundle: dict[str, Any], new: str) -> dict[str, Any]:
    """The bundle with its checkpoint note replaced, in every proof too (each ends with it)."""
    old = bundle["checkpoint"]
    replaced: dict[str, Any] = json.loads(
        text(bundle).replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    )
    return replaced


def flip_proof_hash(part: dict[str, Any]) -> None:
    lines = part["proof"].split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    lines[at] = flip_b64(lines[at])
    part["proof"] = "\n".join(lines)


def alter_leaf(part: dict[str, Any]) -> None:
    entry = json.loads(base64.b64decode(part["entry"]))
    entry["claim"]["width"] += 1
    part["entry"] = b64(json.dumps(entry, sort_keys=True, separators=(",", ":")).encode())


def shift_index(part: dict[str, Any]) -> None:
    index = part["index"]
    part["index"] = index + 1
    part["proof"] = part["proof"].replace(f"\nindex {index}\n", f"\nindex {index + 1}\n", 1)


def mutated(bundle: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(text(bundle))
    change(copy)
    return copy


# --- the vectors -----------------------------------------------------------------------------


def base_vectors() -> list[Vector]:
    """The vectors made with a registry, without their Python verdicts (the formatting ones
    and the verdicts: tests/support/verify_vectors_json.make_vectors)."""
    vectors: list[Vector] = []
    with world() as w:
        vectors += _valid_and_tampered(w)
    with world() as w:
        vectors += _revoked(w)
    with world() as w:
        pki = enroll(w)
        w.clock.now_ms += 60_000
        index = capture(w, pki, 31)
        w.registry.revoke(revoke_ca(pki, 0, 0))  # revocation/v2 of the intermediate CA
        w.clock.now_ms += 60_000
        vectors.append(
            Vector("unported-ca-revocation", text(bundle_of(w, index)), w.vkey(), ported=False)
        )
    return vectors


def _valid_and_tampered(w: World) -> list[Vector]:
    pki = enroll(w)  # P-256 device under an intermediate CA
    ed = enroll(w, device_key="Ed25519", intermediate=False)
    w.clock.now_ms += 60_000
    first, ed_capture = capture(w, pki, 11), capture(w, ed, 12)
    other = enroll(w)  # a second vendor's device, for the swap
    w.clock.now_ms += 60_000
    other_capture = capture(w, other, 13)
    # Entries only a dishonest log would hold: the device's chain with its intermediate's
    # signature flipped, and the capture with the device's signature flipped.
    base = bundle_of(w, first)
    device_entry = json.loads(base64.b64decode(base["device"]["entry"]))
    device_entry["chain"] = [flip_b64(device_entry["chain"][0])]
    capture_entry = json.loads(base64.b64decode(base["capture"]["entry"]))
    capture_entry["sig"] = flip_b64(capture_entry["sig"], 10)
    bad_chain = smuggle(w.registry, w.signer, w.clock, [device_entry, capture_entry])
    bad_sig = bad_chain + 1
    w.clock.now_ms += 60_000
    valid = bundle_of(w, first)
    swapped_device = bundle_of(w, other_capture)["device"]
    key = w.vkey()
    witness = Cosigner.generate("witness.example/w1")
    witnessed = cosigned(valid, witness, w.clock.now_ms // 1000 + 5)
    # A witness that saw the tree two hours before the device says it took the picture.
    too_early = cosigned(valid, witness, (w.clock.now_ms - 2 * HOUR_MS) // 1000)
    wkeys = [witness.verifier.vkey]
    image = b64(picture(11))

    def vector(name: str, bundle: dict[str, Any], **kwargs: Any) -> Vector:
        return Vector(name, text(bundle), kwargs.pop("log_key", key), **kwargs)

    checkpoint = valid["checkpoint"]
    return [
        vector("valid-p256-intermediate", valid, image=image),
        vector("valid-ed25519-no-intermediate", bundle_of(w, ed_capture)),
        vector("valid-with-witness", witnessed, witness_keys=wkeys),
        vector("valid-without-status", mutated(valid, lambda b: b.pop("status"))),
        vector("flipped-checkpoint-signature", replace_note(valid, flip_signature_line(checkpoint, "\u2014 " + ORIGIN))),
        vector("wrong-log-key", valid, log_key=Signer.generate(ORIGIN).verifier.vkey),
        vector("altered-leaf", mutated(valid, lambda b: alter_leaf(b["capture"]))),
        vector("proof-hash-flipped", mutated(valid, lambda b: flip_proof_hash(b["device"]))),
        vector("wrong-index", mutated(valid, lambda b: shift_index(b["capture"]))),
        vector("swapped-device-entry", mutated(valid, lambda b: b.update(device=swapped_device))),
        vector("chain-cert-signature-flipped", assemble(w, first, bad_chain, valid["vendor"]["index"])),
        vector("claim-signature-flipped", assemble(w, bad_sig, valid["device"]["index"], valid["vendor"]["index"])),
        vector("cosignature-flipped", replace_note(witnessed, flip_signature_line(witnessed["checkpoint"], "\u2014 witness.example/w1")), witness_keys=wkeys),
        vector("image-not-matching", valid, image=b64(picture(99))),
        vector("witness-time-before-capture", too_early, witness_keys=wkeys),
    ]  # fmt: skip


def _revoked(w: World) -> list[Vector]:
    pki = enroll(w)
    w.clock.now_ms += 60_000
    index = capture(w, pki, 21)
    captured_at = w.clock.now_ms - 1000
    before = bundle_of(w, index)
    w.clock.now_ms += 60_000
    revoke_device(w.registry, pki, captured_at - HOUR_MS)
    w.clock.now_ms += 60_000
    # Claimed before the compromise, but logged after the revocation: it may be backdated.
    late = capture(w, pki, 22, counter=2, at=captured_at - 2 * HOUR_MS)
    w.clock.now_ms += 60_000
    revoked = bundle_of(w, index)
    key = w.vkey()
    device = hex_id(pki.device.der)
    absent = next(s for s in before["status"]["subjects"] if s["subject"] == device)

    def hide(bundle: dict[str, Any]) -> None:
        # The device's absence proof from before its revocation, beside the new status note.
        bundle.pop("revocations")
        subjects = bundle["status"]["subjects"]
        bundle["status"]["subjects"] = [absent if s["subject"] == device else s for s in subjects]

    return [
        Vector("valid-with-revocation", text(revoked), key),
        Vector("valid-logged-after-revocation", text(bundle_of(w, late)), key),
        Vector(
            "revocation-entry-removed", text(mutated(revoked, lambda b: b.pop("revocations"))), key
        ),
        Vector("status-proof-hiding-a-revocation", text(mutated(revoked, hide)), key),
    ]


def write_vectors(vectors: list[Vector], path: Path) -> None:
    """The vectors and their verdicts, for the record (bench/results/, not committed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(v) for v in vectors], indent=1) + "\n", encoding="utf-8")
