"""Issue 13, hole 1: C2PA attribution forgery.

The attacker owns a registered camera B. They lift the genuine manifest of any public photo by
camera A, sign their own image X with B under the same manifest label, with B's hard-binding
exclusion sized to cover a store holding both manifests. c2pa-rs validates the last manifest
(B's) as active and trusted; a registry that logged the first manifest with that label would
record "camera A captured X at A's time", and an auditor would re-verify A's genuine signature.

Each check that stops it is shown on its own: duplicate labels are refused; what is logged must
be the manifest c2pa-rs validated; the logged hard binding must hash the ingested file; the
certificate chain is read only from the COSE protected header. An old log holding such evidence
is reported by `prov audit replay` (what can be seen without the file) and by `prov verify
--image` (with it).
"""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

import registry.admission.c2pa_ingest as registry_module
import registry.c2pa.evidence as c2pa_evidence_module
from cli.main import main
from ledger import Signer
from ledger.errors import LedgerError, MalformedError, VerificationError
from registry import Registry
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.c2pa.binding import check_hard_binding
from registry.c2pa.evidence import check_entry, check_evidence, evidence_from_store
from registry.c2pa.jumbf import Box, manifest_store_from_jpeg, parse_boxes
from registry.entries.codec import C2PA_CAPTURE, encode_entry, parse_entry_as
from registry.entries.formats import C2paEvidence
from registry.imaging.hashing import hash_image, query_hashes
from registry.open import registry_sequencer
from testkit.pki import make_device, make_intermediate, make_root
from tests.support.c2pa_camera import C2PA_EKUS, Camera
from tests.support.c2pa_forgery import forge, only_manifest, raw, store_of
from tests.support.clocks import FixedClock
from tests.support.in_process import api_client, served
from tests.support.registry_fixtures import TOKEN, now_of

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


class NamedCamera(Camera):
    """A camera of its own vendor, with names that tell the two apart in a report."""

    def __init__(self, clock: FixedClock, maker: str) -> None:
        now = now_of(clock)
        self.root = make_root(now, common_name=f"{maker} Root CA", organization=maker)
        self.ca = make_intermediate(
            self.root, now, common_name=f"{maker} Device CA", organization=maker
        )
        self.device = make_device(
            self.ca, now, common_name=f"{maker} #1", organization=maker, eku=C2PA_EKUS
        )
        self.captured_at = now - dt.timedelta(minutes=1)

    @property
    def key(self) -> ec.EllipticCurvePrivateKey:
        key = self.device.private_key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key


@pytest.fixture
def cameras(registry: Registry, clock: FixedClock) -> tuple[NamedCamera, NamedCamera]:
    """Camera A (the victim, whose photo is public) and camera B (the attacker's own), each of
    a registered vendor."""
    a, b = NamedCamera(clock, "Alpha Cameras"), NamedCamera(clock, "Bravo Cameras")
    registry.add_vendor("Alpha Cameras", "camera", a.root.der, TOKEN)
    registry.add_vendor("Bravo Cameras", "camera", b.root.der, TOKEN)
    b.captured_at -= dt.timedelta(minutes=5)  # a time of B's own, to tell them apart
    return a, b


def attribution_forgery(a: NamedCamera, b: NamedCamera) -> tuple[bytes, Box]:
    """Image X signed by B, carrying A's genuine manifest first under the same label; and A's
    manifest."""
    genuine = only_manifest(a.shoot(101))
    forged = forge(b.shoot(102), b.key, before=[raw(genuine)], label=genuine.label)
    return forged, genuine


def _first_with_label(store: bytes, label: str) -> Box:
    """What `registry.c2pa.jumbf.manifest` did before the fix: the first box with that label."""
    found = parse_boxes(store)[0].child(label)
    assert found is not None
    return found


def size(registry: Registry) -> int:
    return registry.store.latest_checkpoint().size


@BOTH
def test_duplicate_manifest_label_is_refused(
    registry: Registry,
    cameras: tuple[NamedCamera, NamedCamera],
    signer: Signer,
    tmp_path: Path,
) -> None:
    forged, genuine = attribution_forgery(*cameras)
    store = parse_boxes(manifest_store_from_jpeg(forged))[0]
    assert [m.label for m in store.children] == [genuine.label, genuine.label]
    before = size(registry)
    with api_client(registry, signer, tmp_path) as client:
        refused = client.post(
            "/v1/c2pa/ingest", content=forged, headers={"content-type": "image/jpeg"}
        )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["type"] == "c2pa_duplicate_manifest_label"
    assert size(registry) == before  # nothing logged, not even A's device


@BOTH
def test_an_active_manifest_other_than_the_one_we_would_log_is_refused(
    registry: Registry,
    cameras: tuple[NamedCamera, NamedCamera],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Were the store's manifest picked the old way, comparing it with what c2pa-rs validated
    # (B's certificate and claim) alone refuses it.
    monkeypatch.setattr(c2pa_evidence_module, "manifest", _first_with_label)
    forged, _ = attribution_forgery(*cameras)
    before = size(registry)
    with pytest.raises(VerificationError) as refused:
        registry.ingest_c2pa(forged, "x.jpg")
    assert refused.value.code == "c2pa_active_manifest_mismatch"
    assert "Bravo Cameras" in str(refused.value) and "Alpha Cameras" in str(refused.value)
    assert size(registry) == before


@BOTH
def test_a_manifest_that_is_not_last_in_its_store_is_refused(
    registry: Registry, cameras: tuple[NamedCamera, NamedCamera]
) -> None:
    # Distinct labels, A's genuine manifest after B's: c2pa-rs validates the last (A's, over
    # a file it does not bind), and the registry would never log one that is not the last.
    a, b = cameras
    genuine = only_manifest(a.shoot(103))
    mine = only_manifest(b.shoot(104))
    with pytest.raises(MalformedError) as refused:
        evidence_from_store(store_of(raw(mine), raw(genuine)), mine.label)
    assert refused.value.code == "c2pa_not_active_manifest"


@BOTH
def test_x5chain_only_in_the_unprotected_header_is_refused(
    registry: Registry, cameras: tuple[NamedCamera, NamedCamera]
) -> None:
    _, b = cameras
    forged = forge(b.shoot(105), b.key, x5chain_unprotected=True)
    before = size(registry)
    with pytest.raises(LedgerError):  # c2pa-rs 0.91 finds no chain there either
        registry.ingest_c2pa(forged, "x.jpg")
    assert size(registry) == before
    # and the registry's own check, which auditors run, refuses it whatever c2pa-rs does
    store = manifest_store_from_jpeg(forged)
    evidence = evidence_from_store(store, only_manifest(forged).label)
    with pytest.raises(VerificationError) as refused:
        check_evidence(evidence)
    assert refused.value.code == "c2pa_x5chain_unprotected"


@BOTH
def test_a_hard_binding_that_does_not_match_the_file_is_refused(
    registry: Registry,
    cameras: tuple[NamedCamera, NamedCamera],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # With both checks above out of the way, recomputing the logged binding over the file
    # alone still refuses the forgery: A's signed hash is of A's photo, not of X.
    monkeypatch.setattr(c2pa_evidence_module, "manifest", _first_with_label)
    monkeypatch.setattr(registry_module, "check_validated", lambda *_: None)
    forged, genuine = attribution_forgery(*cameras)
    before = size(registry)
    with pytest.raises(VerificationError) as refused:
        registry.ingest_c2pa(forged, "x.jpg")
    assert refused.value.code == "c2pa_hard_binding_mismatch"
    assert size(registry) == before
    # An exclusion that also covers picture bytes after the store, its hash computed for that:
    # c2pa-rs 0.91 refuses it too (dataHash.mismatch), and so, on its own, does the registry's
    # check of the logged binding against the file: it leaves bytes the camera did not sign.
    _, b = cameras
    widened = forge(b.shoot(106), b.key, widen_by=67)
    with pytest.raises(VerificationError):
        registry.ingest_c2pa(widened, "x.jpg")
    assert size(registry) == before
    with pytest.raises(VerificationError) as wrong_span:
        check_hard_binding(_evidence_of(widened), widened)
    assert wrong_span.value.code == "c2pa_exclusion_mismatch"
    check_hard_binding(_evidence_of(b.shoot(106)), b.shoot(106))  # the honest file binds


@BOTH
def test_the_honest_file_still_passes_every_check(
    registry: Registry, cameras: tuple[NamedCamera, NamedCamera]
) -> None:
    _, b = cameras
    signed = b.shoot(107)
    result = registry.ingest_c2pa(signed, "b.jpg")
    assert result.receipt is not None
    entry = parse_entry_as(registry.store.entry(result.receipt.index), C2PA_CAPTURE)
    check_hard_binding(entry["c2pa"], signed)
    assert check_entry(entry).chain[0] == b.device.der


def _old_entry(
    registry: Registry, honest_index: int, c2pa: C2paEvidence, clock: FixedClock, **claim: Any
) -> dict[str, Any]:
    honest = parse_entry_as(registry.store.entry(honest_index), C2PA_CAPTURE)
    return {
        **honest,
        "logged_at": clock(),
        "claim": {**honest["claim"], **claim},
        "c2pa": c2pa,
    }


@BOTH
def test_audit_replay_reports_forged_c2pa_evidence(
    registry: Registry,
    cameras: tuple[NamedCamera, NamedCamera],
    signer: Signer,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    a, b = cameras
    honest = registry.ingest_c2pa(b.shoot(108), "b.jpg").receipt
    assert honest is not None
    unprotected = forge(b.shoot(108), b.key, x5chain_unprotected=True)
    too_short = forge(b.shoot(108), b.key, exclusion_length=100)
    entries = [
        _old_entry(registry, honest.index, _evidence_of(unprotected), clock),
        _old_entry(registry, honest.index, _evidence_of(too_short), clock),
    ]
    first = (
        registry_sequencer(registry.store, signer, clock)
        .append([encode_entry(e) for e in entries])
        .first_index
    )
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    assert report.counts[C2PA_CAPTURE] == 3, (report.counts, report.invalid)
    assert {(i.index, i.code) for i in report.invalid} == {
        (first, "c2pa_x5chain_unprotected"),
        (first + 1, "c2pa_exclusion_mismatch"),
    }


def _evidence_of(signed: bytes) -> C2paEvidence:
    """The entry's c2pa object for a file's only manifest, read without any of the checks."""
    return evidence_from_store(manifest_store_from_jpeg(signed), only_manifest(signed).label)


@BOTH
def test_prov_verify_image_catches_an_old_forged_attribution(
    registry: Registry,
    cameras: tuple[NamedCamera, NamedCamera],
    signer: Signer,
    clock: FixedClock,
    tmp_path: Path,
) -> None:
    # What the unfixed registry logged for the forgery: A's genuine evidence (device, time),
    # with the registry's measurements of X. Only the file X shows the lie.
    a, b = cameras
    photo_a = a.shoot(101)
    logged_a = registry.ingest_c2pa(photo_a, "a.jpg").receipt
    assert logged_a is not None
    forged, _ = attribution_forgery(a, b)
    measured = hash_image(forged, "x.jpg").claim_fields()
    genuine_c2pa = parse_entry_as(registry.store.entry(logged_a.index), C2PA_CAPTURE)["c2pa"]
    old = _old_entry(registry, logged_a.index, genuine_c2pa, clock, **measured)
    index = (
        registry_sequencer(registry.store, signer, clock).append([encode_entry(old)]).first_index
    )
    registry.reindex()  # as the unfixed registry would have indexed it
    bundle = build_bundle(registry.store, index)
    without_image = verify_bundle(bundle, signer.verifier)
    assert without_image.ok  # A's signature is genuine: nothing in the entry alone shows it
    with_image = verify_bundle(bundle, signer.verifier, query_hashes(forged), image=forged)
    assert not with_image.ok
    failed = next(c for c in with_image.checks if not c.ok)
    assert failed.name == "image matches the capture"
    assert "c2pa_hard_binding_mismatch" in failed.detail
    # the genuine photo itself still verifies against the genuine entry
    genuine = build_bundle(registry.store, logged_a.index)
    assert verify_bundle(genuine, signer.verifier, query_hashes(photo_a), image=photo_a).ok

    # `prov verify --image`, as a fact-checker holding the file runs it
    (tmp_path / "bundle.json").write_bytes(bundle)
    (tmp_path / "x.jpg").write_bytes(forged)
    verified = CliRunner().invoke(
        main,
        [
            "verify", str(tmp_path / "bundle.json"), "--log-key", signer.verifier.vkey,
            "--image", str(tmp_path / "x.jpg"), "--json",
        ],
    )  # fmt: skip
    assert verified.exit_code != 0
    checks = json.loads(verified.stdout)["checks"]
    assert any(not c["ok"] and "c2pa_hard_binding_mismatch" in c["detail"] for c in checks)
