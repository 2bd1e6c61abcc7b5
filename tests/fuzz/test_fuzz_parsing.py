"""Hostile input to the parsers `prov verify` and the log's readers run: log entries and their
field checks, checkpoints, signed notes and vkeys, tlog-proofs, and proof bundles.

Every input is either accepted or rejected with a LedgerError (MalformedError or
VerificationError) that says why; never a TypeError, KeyError, ValueError, RecursionError or
OverflowError, and `prov verify` exits 1 or 2, never with a traceback.

The bundles are built here, without a database: a log key and a witness key of the test's own
sign them, so the fuzzer can also play a hostile log - one that signs entries of any shape - and
a hostile witness, and reach every check past the signatures.
"""

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from cli.main import main
from ledger import (
    Checkpoint,
    LedgerError,
    MalformedError,
    Signer,
    TlogProof,
    VerificationError,
    hash_leaf,
    open_checkpoint,
    parse_checkpoint,
    parse_tlog_proof,
    prove_inclusion,
    sign_checkpoint,
    tree_hash,
)
from ledger.cosignature import CosignatureVerifier, Cosigner
from ledger.encoding import decode_base64, parse_decimal
from ledger.merkle import Node
from ledger.note import Verifier, open_note, parse_note
from ledger.status import EMPTY_STATUS_ROOT, prove_status
from ledger.status_note import StatusCommitment, sign_status
from registry.admission.rules import check_vendor, parse_revocation
from registry.bundle.verify import BundleReport, verify_bundle
from registry.entries.codec import (
    check_capture_record,
    check_claim,
    encode_entry,
    parse_entry,
)
from registry.entries.sdk import sign_capture, sign_revocation
from registry.imaging.hashing import query_hashes
from testkit.pki import DevicePKI, make_pki
from tests.support.registry_fixtures import picture

ORIGIN = "example.org/provenance/fuzz"
WITNESS = "witness.example/fuzz"
FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Python's own exceptions that a check turned into a detail: never a clear reason for a person.
_RAW_EXCEPTION = re.compile(r"^[A-Za-z]*(Error|Exception)\b")


def note(what: str) -> None:
    """A hypothesis statistics event (shown by --hypothesis-show-statistics), when fuzzing."""
    if currently_in_test_context():
        event(what)


def rejected(call: Callable[[], Any]) -> LedgerError | None:
    """Run `call`: None if it returned, its LedgerError if it raised one with a message.
    Anything else propagates and fails the test."""
    try:
        call()
    except (MalformedError, VerificationError) as exc:
        assert str(exc).strip(), repr(exc)
        assert exc.code, repr(exc)
        note(f"rejected: {type(exc).__name__}")
        return exc
    note("accepted")
    return None


# --- hostile values ---

NON_CANONICAL_BASE64 = [
    "QR==",  # unused bits set
    "QQ=",  # short padding
    "QQ",  # no padding
    "QQ===",
    "Q Q==",
    "QQ==\n",
    "-_8=",  # the URL-safe alphabet
    "Zm9v\u00e9",  # non-ASCII
    "Zm9v\u0660",
    "====",
    "",
]
HOSTILE_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 0, 2**53, 2**53 - 1, 2**63, 2**64, -(2**63), 10**400]),
    st.text(max_size=20),
    st.sampled_from(NON_CANONICAL_BASE64),
    st.sampled_from(["A" * 5_000, "\u2014 " * 100, "\x00", "\ud800", "aa" * 33, "0" * 64]),
)
HOSTILE = st.one_of(
    HOSTILE_SCALARS,
    st.lists(HOSTILE_SCALARS, max_size=3),
    st.dictionaries(st.text(max_size=5), HOSTILE_SCALARS, max_size=3),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def nested(depth: int, opener: bytes = b"[", closer: bytes = b"]") -> bytes:
    return opener * depth + closer * depth


def replace_at(value: Any, path: Sequence[str | int], new: Any) -> Any:
    """A copy of the JSON `value` with the item at `path` replaced (or removed, for REMOVE)."""
    if not path:
        return new
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
    head = path[0]
    if new is REMOVE and len(path) == 1:
        del copy[head]
    else:
        copy[head] = replace_at(copy[head], path[1:], new)
    return copy


REMOVE = object()


def paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path into a JSON value, the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


@st.composite
def hostile_edit(draw: st.DrawFn, value: Any) -> Any:
    """`value` with one item replaced by a hostile value, removed, or one key added."""
    path = draw(st.sampled_from(paths(value)))
    kind = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if kind == "remove" and path:
        return replace_at(value, path, REMOVE)
    if kind == "add":
        target = value
        for part in path:
            target = target[part]
        if isinstance(target, dict):
            return replace_at(value, path, {**target, draw(st.text(max_size=8)): draw(HOSTILE)})
    return replace_at(value, path, draw(HOSTILE))


def byte_mutation(data: bytes) -> st.SearchStrategy[bytes]:
    """`data` truncated, or with bytes flipped, deleted or inserted."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(data)
        for _ in range(draw(st.integers(1, 3))):
            if not out:
                break
            at = draw(st.integers(0, len(out) - 1))
            edit = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
            if edit == "flip":
                out[at] ^= draw(st.sampled_from([0x01, 0x20, 0x80, 0xFF]))
            elif edit == "delete":
                del out[at : at + draw(st.integers(1, 8))]
            elif edit == "insert":
                out[at:at] = draw(
                    st.sampled_from(
                        [b"\n", b"\n\n", b" ", b"+", b"=", b"\xe2\x80\x94 ", b"\xff", b"0"]
                    )
                )
            else:
                del out[at:]
        return bytes(out)

    return mutate()


# --- a log and a witness of the test's own, and bundles they sign ---


@dataclass(frozen=True)
class World:
    log: Signer
    witness: Cosigner
    pki: DevicePKI
    image: bytes
    entries: dict[str, dict[str, Any]]  # capture, device, vendor: as the registry logs them


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def make_world() -> World:
    now_ms = time.time_ns() // 1_000_000
    pki = make_pki(datetime.fromtimestamp(now_ms / 1000, UTC), intermediate=True)
    image = picture(3)
    record = sign_capture(image, pki.device.private_key, pki.device.certificate, 1, now_ms)
    vendor_id = hashlib.sha256(pki.root.der).hexdigest()
    entries = {
        "vendor": {
            "kind": "vendor/v1", "logged_at": now_ms, "name": "Fuzz Camera Co.",
            "role": "camera", "root": _b64(pki.root.der),
        },
        "device": {
            "kind": "device/v1", "logged_at": now_ms + 1, "cert": _b64(pki.device.der),
            "chain": [_b64(c) for c in pki.chain_der], "vendor": vendor_id,
        },
        "capture": {"kind": "capture/v1", "logged_at": now_ms + 2, **record},
    }  # fmt: skip
    return World(Signer.generate(ORIGIN), Cosigner.generate(WITNESS), pki, image, entries)


WORLD = make_world()


def leaf_of(entry: Any) -> bytes:
    """How a log would store the entry; anything JSON can say, canonical or not."""
    if isinstance(entry, dict):
        try:
            return encode_entry(entry)
        except LedgerError:
            pass
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def signed_bundle(
    entries: dict[str, Any],
    world: World = WORLD,
    cosigned_at: int | None = None,
    leaves: dict[str, bytes] | None = None,
) -> bytes:
    """A bundle whose tree holds [vendor, device, capture] (or the given leaves), its checkpoint
    signed by the world's log key, and cosigned by its witness at `cosigned_at` if given."""
    leaves = leaves or {name: leaf_of(entries[name]) for name in ("vendor", "device", "capture")}
    order = ["vendor", "device", "capture"]
    hashes = [hash_leaf(leaves[name]) for name in order]
    checkpoint = Checkpoint(ORIGIN, len(hashes), tree_hash(hashes))
    note = sign_checkpoint(checkpoint, world.log)
    if cosigned_at is not None:
        note += world.witness.cosign(checkpoint.body(), cosigned_at).line().encode()

    def read(nodes: Sequence[Node]) -> list[bytes]:
        return [tree_hash(hashes[n.index << n.level : (n.index + 1) << n.level]) for n in nodes]

    parts = {}
    for name in ("capture", "device", "vendor"):
        index = order.index(name)
        proof = TlogProof(index, tuple(prove_inclusion(index, len(hashes), read)), note)
        parts[name] = {
            "index": index,
            "entry": _b64(leaves[name]),
            "proof": proof.encode().decode(),
        }
    bundle = {
        "format": "provenance-ledger/bundle/v1",
        "log": ORIGIN,
        "checkpoint": note.decode(),
        "status": _status(world, checkpoint),
        **parts,
    }
    return canonical_bundle(bundle)


def _status(world: World, checkpoint: Checkpoint) -> dict[str, Any]:
    """The status part of a log that holds no revocation: its note, and an absence proof for
    the device, its CA and its root (registry.bundle.status)."""
    commitment = StatusCommitment(ORIGIN, checkpoint.size, checkpoint.root_hash, EMPTY_STATUS_ROOT)
    ders = (world.pki.device.der, *world.pki.chain_der, world.pki.root.der)
    subjects = sorted(hashlib.sha256(der).digest() for der in ders)
    return {
        "note": sign_status(commitment, world.log).decode(),
        "subjects": [
            {"subject": s.hex(), "proof": _b64(prove_status({}, s).encode())} for s in subjects
        ],
    }


def canonical_bundle(bundle: Any) -> bytes:
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode()


VALID_BUNDLE = signed_bundle(WORLD.entries)
WITNESSED_BUNDLE = signed_bundle(WORLD.entries, cosigned_at=int(time.time()))
WITNESSES = [WORLD.witness.verifier]
IMAGE_QUERY = query_hashes(WORLD.image)


def judged(
    data: bytes,
    image: tuple[str, Any] | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
    log_key: Verifier = WORLD.log.verifier,
) -> BundleReport | None:
    """verify_bundle's verdict, checked for clarity: None if it rejected the bundle outright."""
    report: BundleReport | None = None

    def verify() -> None:
        nonlocal report
        report = verify_bundle(data, log_key, image, witnesses, len(witnesses))

    if rejected(verify) is not None:
        return None
    assert report is not None and report.checks
    for claim in report.times:
        assert claim.describe()  # as prov verify prints them
    if report.ok:
        note("bundle verified")
        return report
    failed = [c for c in report.checks if not c.ok]
    assert len(failed) == 1 and failed[0] is report.checks[-1], report.checks
    detail = failed[0].detail
    assert detail.strip() and not _RAW_EXCEPTION.match(detail), f"{failed[0].name}: {detail}"
    note(f"failed: {failed[0].name}")
    return report


def test_the_bundles_built_here_verify() -> None:
    """The fuzzer starts from bundles that pass every check."""
    for data, witnesses in ((VALID_BUNDLE, []), (WITNESSED_BUNDLE, WITNESSES)):
        report = judged(data, IMAGE_QUERY, witnesses)
        assert report is not None and report.ok, report


# --- encodings ---


@FUZZ
@given(text=st.one_of(st.text(max_size=30), st.sampled_from(NON_CANONICAL_BASE64)))
def test_base64_is_canonical_or_malformed(text: str) -> None:
    try:
        decoded = decode_base64(text, "field")
    except MalformedError as exc:
        assert "field" in str(exc)
        return
    assert base64.b64encode(decoded).decode() == text


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=12), st.sampled_from(["\u0661", "+1", "-0", "01", " 1", "1_0", "\u00b2"])
    )
)
def test_decimals_are_plain_or_malformed(text: str) -> None:
    try:
        value = parse_decimal(text, "size")
    except MalformedError:
        return
    assert str(value) == text


# --- log entries and their field checks ---


@FUZZ
@given(leaf=st.one_of(st.binary(max_size=64), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_entries_of_any_shape_parse_or_are_malformed(leaf: bytes) -> None:
    if rejected(lambda: parse_entry(leaf)) is None:
        assert parse_entry(leaf)["kind"] in (
            "vendor/v1",
            "device/v1",
            "capture/v1",
            "revocation/v1",
        )


@pytest.mark.parametrize(
    "leaf",
    [
        nested(100_000),
        nested(100_000, b'{"a":', b"}"),
        b'{"kind":"capture/v1","claim":' + nested(50_000) + b"}",
    ],
    ids=["arrays", "objects", "inside a capture"],
)
def test_entries_nested_deeper_than_the_parser_are_malformed(leaf: bytes) -> None:
    # json.loads raised RecursionError past ~1,000 levels.
    assert isinstance(rejected(lambda: parse_entry(leaf)), MalformedError)


CAPTURE_RECORD = {k: WORLD.entries["capture"][k] for k in ("claim", "sig")}


@FUZZ
@given(record=hostile_edit(CAPTURE_RECORD))
def test_capture_records_pass_or_are_malformed(record: Any) -> None:
    if rejected(lambda: check_capture_record(record)) is None:
        claim, signature = check_capture_record(record)
        assert signature and claim is record["claim"]


@FUZZ
@given(claim=hostile_edit(CAPTURE_RECORD["claim"]))
def test_capture_claims_pass_or_are_malformed(claim: Any) -> None:
    rejected(lambda: check_claim(claim))


REVOCATION = sign_revocation(
    hashlib.sha256(WORLD.pki.device.der).hexdigest(), 1_790_000_000_000, "key extracted",
    WORLD.pki.root.private_key, WORLD.pki.root.certificate,
)  # fmt: skip


@FUZZ
@given(revocation=hostile_edit(REVOCATION))
def test_revocations_parse_or_are_malformed(revocation: Any) -> None:
    rejected(lambda: parse_revocation(revocation))


@FUZZ
@given(
    name=HOSTILE_SCALARS,
    role=HOSTILE_SCALARS,
    root=st.one_of(st.binary(max_size=64), byte_mutation(WORLD.pki.root.der)),
)
def test_vendor_fields_pass_or_are_rejected(name: Any, role: Any, root: bytes) -> None:
    rejected(lambda: check_vendor(name, role, root))


# --- checkpoints, notes and vkeys ---

NOTE = sign_checkpoint(Checkpoint(ORIGIN, 3, hashlib.sha256(b"root").digest()), WORLD.log)


@FUZZ
@given(
    text=st.one_of(
        st.text(max_size=80),
        byte_mutation(NOTE.split(b"\n\n")[0] + b"\n").map(lambda b: b.decode("utf-8", "replace")),
    )
)
def test_checkpoint_bodies_parse_or_are_malformed(text: str) -> None:
    rejected(lambda: parse_checkpoint(text))


@FUZZ
@given(note=st.one_of(byte_mutation(NOTE), st.binary(max_size=80)))
def test_signed_checkpoints_open_or_are_rejected(note: bytes) -> None:
    rejected(lambda: parse_note(note))
    if rejected(lambda: open_checkpoint(note, WORLD.log.verifier)) is None:
        assert open_checkpoint(note, WORLD.log.verifier).size == 3


@FUZZ
@given(note=byte_mutation(WITNESSED_BUNDLE and json.loads(WITNESSED_BUNDLE)["checkpoint"].encode()))
def test_cosigned_notes_open_or_are_rejected(note: bytes) -> None:
    rejected(lambda: open_note(note, [WORLD.log.verifier]))
    from ledger.cosignature import verify_cosignatures

    rejected(lambda: verify_cosignatures(note, WITNESSES))


@FUZZ
@given(
    vkey=st.one_of(
        byte_mutation(WORLD.log.verifier.vkey.encode()).map(lambda b: b.decode("utf-8", "replace")),
        byte_mutation(WORLD.witness.verifier.vkey.encode()).map(
            lambda b: b.decode("utf-8", "replace")
        ),
        st.text(max_size=60),
    )
)
def test_vkeys_parse_or_are_malformed(vkey: str) -> None:
    rejected(lambda: Verifier.from_vkey(vkey))
    rejected(lambda: CosignatureVerifier.from_vkey(vkey))


# --- tlog-proofs ---

PROOF = json.loads(VALID_BUNDLE)["capture"]["proof"].encode()
CAPTURE_LEAF = base64.b64decode(json.loads(VALID_BUNDLE)["capture"]["entry"])


@FUZZ
@given(data=st.one_of(byte_mutation(PROOF), st.binary(max_size=80)))
def test_tlog_proofs_parse_and_verify_or_are_rejected(data: bytes) -> None:
    if rejected(lambda: parse_tlog_proof(data)) is None:
        proof = parse_tlog_proof(data)
        rejected(lambda: proof.verify(CAPTURE_LEAF, WORLD.log.verifier))


# --- bundles, as prov verify reads them ---


@FUZZ
@given(data=byte_mutation(WITNESSED_BUNDLE))
def test_byte_mutated_bundles_are_rejected_clearly(data: bytes) -> None:
    judged(data, witnesses=WITNESSES)


# Ids name the cut, not its byte count: the bundle's length differs between
# processes (signatures vary), and pytest-xdist needs every worker to collect
# the same test ids.
TRUNCATIONS = {
    "empty": 0,
    "one byte": 1,
    "100 bytes": 100,
    "half": len(VALID_BUNDLE) // 2,
    "all but the last byte": len(VALID_BUNDLE) - 1,
}


@pytest.mark.parametrize("size", TRUNCATIONS.values(), ids=TRUNCATIONS.keys())
def test_truncated_bundles_are_malformed(size: int) -> None:
    assert judged(VALID_BUNDLE[:size]) is None


@pytest.mark.parametrize(
    "data", [nested(100_000), b'{"format":' + nested(100_000) + b"}"], ids=["arrays", "in a field"]
)
def test_bundles_nested_deeper_than_the_parser_are_malformed(data: bytes) -> None:
    # json.loads raised RecursionError past ~1,000 levels.
    assert isinstance(rejected(lambda: verify_bundle(data, WORLD.log.verifier)), MalformedError)


@FUZZ
@given(bundle=hostile_edit(json.loads(WITNESSED_BUNDLE)))
def test_bundles_with_fields_of_the_wrong_type_are_rejected_clearly(bundle: Any) -> None:
    """Edited, then written canonically again, so the edit reaches the checks."""
    judged(canonical_bundle(bundle), witnesses=WITNESSES)


@pytest.mark.parametrize(
    "path", [("checkpoint",), ("capture", "proof"), ("device", "proof"), ("vendor", "entry")]
)
@pytest.mark.parametrize("value", ["\ud800", "\udfff\n", ["a list"], 7])
def test_bundle_text_that_is_not_text_is_rejected_clearly(
    path: tuple[str, ...], value: Any
) -> None:
    # A lone surrogate reached str.encode() (a UnicodeEncodeError out of prov verify, or a
    # check whose reason was the encoder's message).
    bundle = replace_at(json.loads(WITNESSED_BUNDLE), path, value)
    report = judged(canonical_bundle(bundle), witnesses=WITNESSES)
    assert report is None or not report.ok


@FUZZ
@given(part=st.sampled_from(["capture", "device", "vendor"]), data=st.data())
def test_bundles_from_a_hostile_log_are_rejected_clearly(part: str, data: st.DataObject) -> None:
    """The log key signs entries of any shape: every check past the signatures sees them."""
    entries = dict(WORLD.entries)
    entries[part] = data.draw(hostile_edit(entries[part]))
    judged(signed_bundle(entries, cosigned_at=int(time.time())), IMAGE_QUERY, WITNESSES)


@FUZZ
@given(leaf=st.one_of(st.binary(max_size=40), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_bundles_with_a_hostile_leaf_are_rejected_clearly(leaf: bytes) -> None:
    leaves = {name: leaf_of(WORLD.entries[name]) for name in ("vendor", "device", "capture")}
    leaves["device"] = leaf
    judged(signed_bundle(WORLD.entries, leaves=leaves))


@pytest.mark.parametrize("timestamp", [0, 1, 2**31, 2**40, 2**53, 2**63 - 1])
def test_a_witness_timestamp_of_any_size_gives_a_verdict(timestamp: int) -> None:
    """A witness key the user trusts signs whatever time it likes: a verdict, not a crash."""
    judged(signed_bundle(WORLD.entries, cosigned_at=timestamp), witnesses=WITNESSES)


@pytest.mark.parametrize(
    "logged_at", [-1, 253_402_300_800_000, 2**53 - 1, 10**20, "1", 1.5, None, True]
)
def test_a_logged_at_no_clock_could_give_fails_the_capture_entry(logged_at: Any) -> None:
    """Past 9999-12-31, or not an integer: the log signed an entry it could not have made.
    (The times were printed with datetime, which raised on them: a crash of prov verify.)"""
    entries = {**WORLD.entries, "capture": {**WORLD.entries["capture"], "logged_at": logged_at}}
    report = judged(signed_bundle(entries, cosigned_at=int(time.time())), witnesses=WITNESSES)
    assert report is not None and not report.ok
    assert report.checks[-1].name == "capture inclusion"
    assert "'logged_at' must be an integer" in report.checks[-1].detail


# --- prov verify ---


def prov_verify(tmp_path: Path, data: bytes, *extra: str) -> Any:
    path = tmp_path / "fuzzed.bundle.json"
    path.write_bytes(data)
    return CliRunner().invoke(
        main, ["verify", str(path), "--log-key", WORLD.log.verifier.vkey, *extra]
    )


def flip_in_log_signature(data: bytes) -> bytes:
    """The bundle with one character of the log's signature on its checkpoint changed."""
    bundle = json.loads(data)
    lines = bundle["checkpoint"].splitlines()
    line = next(text for text in lines if text.startswith(f"\u2014 {ORIGIN} "))
    changed = line[:-3] + ("A" if line[-3] != "A" else "B") + line[-2:]
    bundle["checkpoint"] = bundle["checkpoint"].replace(line, changed)
    return canonical_bundle(bundle)


def with_entry(part: str, **fields: Any) -> bytes:
    """A bundle signed by the log whose `part` entry has these fields changed."""
    return signed_bundle({**WORLD.entries, part: {**WORLD.entries[part], **fields}})


MUTATED_BUNDLES: dict[str, Callable[[bytes], bytes]] = {
    "a changed character in the log's signature": flip_in_log_signature,
    "truncated": lambda b: b[: len(b) // 3],
    "not JSON": lambda b: b"\xff" + b,
    "nested too deep": lambda b: nested(100_000),
    "the device entry of another kind": lambda b: signed_bundle(
        WORLD.entries,
        leaves={
            "vendor": leaf_of(WORLD.entries["vendor"]),
            "device": leaf_of(WORLD.entries["vendor"]),
            "capture": leaf_of(WORLD.entries["capture"]),
        },
    ),  # fmt: skip
    "a device certificate that is not base64": lambda b: with_entry("device", cert="QR=="),
    "a device chain that is a string": lambda b: with_entry("device", chain="QUJD"),
    "a capture logged in the year 300,000": lambda b: with_entry("capture", logged_at=2**53 - 1),
    "a capture logged at a string": lambda b: with_entry("capture", logged_at="1"),
    "a vendor without a name": lambda b: with_entry("vendor", name=None),
}


@pytest.mark.parametrize("name", MUTATED_BUNDLES)
def test_prov_verify_exits_1_or_2_on_mutated_bundles(tmp_path: Path, name: str) -> None:
    data = MUTATED_BUNDLES[name](WITNESSED_BUNDLE)
    for extra in ([], ["--json"], ["--witness-key", WORLD.witness.verifier.vkey]):
        result = prov_verify(tmp_path, data, *extra)
        assert result.exit_code in (1, 2), (extra, result.output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            result.exception
        )
        assert "Traceback" not in result.output


def test_prov_verify_accepts_the_unmutated_bundle(tmp_path: Path) -> None:
    result = prov_verify(tmp_path, WITNESSED_BUNDLE, "--witness-key", WORLD.witness.verifier.vkey)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("timestamp", [1, 2**40, 2**63 - 1])
def test_prov_verify_states_any_witness_time(tmp_path: Path, timestamp: int) -> None:
    """A trusted witness may sign any time: before the capture is a failure (exit 1), after
    it - however far - a date to print (exit 0); never a crash."""
    data = signed_bundle(WORLD.entries, cosigned_at=timestamp)
    result = prov_verify(tmp_path, data, "--witness-key", WORLD.witness.verifier.vkey)
    assert result.exit_code == (1 if timestamp == 1 else 0), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "existed no later than" in result.output
