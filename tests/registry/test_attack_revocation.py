"""Hole 4 of issue 13: a revoked key must never produce a clean, green verdict.

The attacks: a thief of a device key backdates `captured_at` to just before the revocation's
`compromised_since` (admitted, since the claimed time is before the compromise); and a capture
logged before the revocation, but claiming a time inside the compromise window. Each interface -
the registry's lookup, the HTTP API, the web page, `prov lookup`, `prov verify` (and the bundle
it checks), the origin report and `prov audit replay` - must say what the log knows against the
capture, and the caution must survive `prov reindex`. Both databases.
"""

import base64
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from api import create_app
from cli.errors import EXIT_CAUTION, EXIT_OK
from cli.main import main
from ledger import LogConfig, Signer
from ledger.note import write_private_key_file
from registry import Registry, RegistrySettings
from registry.audit.replay import replay_log
from registry.bundle.build import build_bundle
from registry.bundle.verify import verify_bundle
from registry.cautions import (
    CAPTURED_IN_COMPROMISE_WINDOW,
    LATE_LOGGING_MS,
    LOGGED_AFTER_REVOCATION,
    LOGGED_LATE,
    REVOCATION_STATUS_UNPROVEN,
)
from registry.entries.codec import REVOCATION, encode_entry
from registry.entries.sdk import sign_capture, sign_revocation
from registry.lookup.query import Lookup, LookupResult, query_from_image
from registry.origins.facts import load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI, make_pki
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import now_of, picture, smuggle

SEED = 23  # the picture at stake


def device_id(pki: DevicePKI) -> str:
    return hashlib.sha256(pki.device.der).hexdigest()


def capture(registry: Registry, pki: DevicePKI, seed: int, counter: int, captured_at: int) -> int:
    """Sign and submit one capture (with the device's key, as its holder or its thief)."""
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, counter, captured_at
    )
    (result,) = registry.submit_captures([record])
    assert result.receipt is not None, result.reason
    return result.receipt.index


def revoke(registry: Registry, pki: DevicePKI, since: int) -> int:
    ca = pki.intermediates[0]
    revocation = sign_revocation(
        device_id(pki), since, "key extracted", ca.private_key, ca.certificate
    )
    return registry.revoke(revocation).index


def lookup(registry: Registry, seed: int) -> LookupResult:
    return Lookup(registry.store).lookup(query_from_image(picture(seed)))


def codes(cautions: Any) -> set[tuple[str, tuple[int, ...]]]:
    """(code, evidence) of Caution objects or their JSON."""
    found = set()
    for c in cautions:
        if isinstance(c, dict):
            found.add((c["code"], tuple(c["evidence"])))
        else:
            found.add((c.code, tuple(c.evidence)))
    return found


def key_file(tmp_path: Path, signer: Signer) -> Path:
    """The log's key in the data directory, written once."""
    path = tmp_path / "log.key"
    if not path.exists():
        write_private_key_file(path, signer.to_string(), "log")
    return path


@contextmanager
def api(tmp_path: Path, url: str, signer: Signer) -> Iterator[TestClient]:
    key = key_file(tmp_path, signer)
    app = create_app(RegistrySettings(log=LogConfig(tmp_path, url, key), verify_workers=0))
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


def prov(tmp_path: Path, url: str, signer: Signer, *args: str) -> Result:
    """`prov --data-dir D --database URL ...` on the test's log (its key in D)."""
    key_file(tmp_path, signer)
    return CliRunner().invoke(main, ["--data-dir", str(tmp_path), "--database", url, *args])


def write_bundle(registry: Registry, index: int, path: Path) -> Path:
    path.write_bytes(build_bundle(registry.store, index))
    return path


def verify_cli(path: Path, signer: Signer, *extra: str) -> Result:
    return CliRunner().invoke(
        main, ["verify", str(path), "--log-key", signer.verifier.vkey, *extra]
    )


# --- the attacks ---


def test_backdated_capture_after_revocation_is_cautioned(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    since = clock.now_ms - 60_000
    revocation = revoke(registry, enrolled, since)
    # The thief backdates to just before the compromise: admission cannot refuse it.
    index = capture(registry, enrolled, SEED, 1, since - 1)
    expected = (LOGGED_AFTER_REVOCATION, (revocation,))

    # The registry's lookup: the match and the lookup as a whole.
    result = lookup(registry, SEED)
    assert result.verdict == "registered"
    (match,) = result.matches
    assert match.leaf_index == index and expected in codes(match.cautions)
    assert expected in codes(result.cautions)
    as_json = json.loads(json.dumps(result.to_json()))  # as a client reads it
    assert expected in codes(as_json["cautions"])
    assert expected in codes(as_json["matches"][0]["cautions"])
    assert all(set(c) == {"code", "message", "evidence"} for c in as_json["cautions"])

    # The bundle carries the revocation, and verifying it says so.
    bundle = build_bundle(registry.store, index)
    assert [r["index"] for r in json.loads(bundle)["revocations"]] == [revocation]
    report = verify_bundle(bundle, signer.verifier)
    assert report.ok, report.checks
    assert expected in codes(report.cautions)

    # The origin report.
    facts = load_facts(registry.store)
    device = next(d for d in build_report(facts)["devices"] if d["device"] == device_id(enrolled))
    assert index in device["signals"][LOGGED_AFTER_REVOCATION]["evidence"]

    # The HTTP API and the page.
    with api(tmp_path, migrated_url, signer) as client:
        answer = client.post("/v1/lookup", files={"image": ("x.png", picture(SEED), "image/png")})
        assert answer.status_code == 200
        assert expected in codes(answer.json()["cautions"])
        assert expected in codes(answer.json()["matches"][0]["cautions"])
        served_bundle = client.get(f"/v1/bundles/{index}")
        assert expected in codes(verify_bundle(served_bundle.content, signer.verifier).cautions)
        assert served_bundle.headers["prov-cautions"] == LOGGED_AFTER_REVOCATION
        page = client.post("/", files={"image": ("x.png", picture(SEED), "image/png")})
        assert page.status_code == 200
        assert 'class="verdict caution"' in page.text
        assert "Registered — with cautions" in page.text
        assert LOGGED_AFTER_REVOCATION in page.text
        assert 'class="verdict clean"' not in page.text

    # The CLI: `prov lookup` (JSON and text) and `prov verify`, exit 4.
    image = tmp_path / "found.png"
    image.write_bytes(picture(SEED))
    looked = prov(tmp_path, migrated_url, signer, "lookup", str(image), "--json")
    assert looked.exit_code == EXIT_CAUTION, looked.output
    assert expected in codes(json.loads(looked.stdout)["cautions"])
    text = prov(tmp_path, migrated_url, signer, "lookup", str(image))
    assert text.exit_code == EXIT_CAUTION, text.output
    assert text.stdout.index(LOGGED_AFTER_REVOCATION) < text.stdout.index("registered")
    path = write_bundle(registry, index, tmp_path / "b.json")
    verified = verify_cli(path, signer)
    assert verified.exit_code == EXIT_CAUTION, verified.output
    assert verified.stdout.index(LOGGED_AFTER_REVOCATION) < verified.stdout.index("bundle verified")
    assert "with cautions" in verified.stdout

    # The caution is derived from the log: `prov reindex` rebuilds it.
    assert prov(tmp_path, migrated_url, signer, "reindex").exit_code == 0
    assert expected in codes(lookup(registry, SEED).cautions)
    registry.reindex()
    assert expected in codes(lookup(registry, SEED).matches[0].cautions)


def test_capture_in_compromise_window_is_not_green(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    clean = capture(registry, enrolled, 5, 1, clock.now_ms - 90_000)
    index = capture(registry, enrolled, SEED, 2, clock.now_ms - 10_000)
    assert lookup(registry, SEED).cautions == []  # nothing is known against it yet
    # The revocation comes later, dating the compromise before the capture.
    revocation = revoke(registry, enrolled, clock.now_ms - 20_000)
    expected = (CAPTURED_IN_COMPROMISE_WINDOW, (revocation,))

    result = lookup(registry, SEED)
    assert codes(result.cautions) == {expected}
    assert codes(result.matches[0].cautions) == {expected}
    # A capture from before the compromise, logged before the revocation, stays clean.
    assert lookup(registry, 5).cautions == [] and lookup(registry, 5).matches[0].cautions == []

    with api(tmp_path, migrated_url, signer) as client:
        answer = client.post("/v1/lookup", files={"image": ("x.png", picture(SEED), "image/png")})
        assert codes(answer.json()["cautions"]) == {expected}
        page = client.post("/", files={"image": ("x.png", picture(SEED), "image/png")})
        assert 'class="verdict caution"' in page.text and CAPTURED_IN_COMPROMISE_WINDOW in page.text
        assert 'class="verdict clean"' not in page.text
        fine = client.post("/", files={"image": ("y.png", picture(5), "image/png")})
        assert 'class="verdict clean"' in fine.text and 'id="cautions"' not in fine.text

    path = write_bundle(registry, index, tmp_path / "b.json")
    verified = verify_cli(path, signer, "--json")
    assert verified.exit_code == EXIT_CAUTION, verified.output
    report = json.loads(verified.stdout)
    assert report["ok"] is True and codes(report["cautions"]) == {expected}
    clean_path = write_bundle(registry, clean, tmp_path / "clean.json")
    clean_run = verify_cli(clean_path, signer, "--json")
    assert clean_run.exit_code == EXIT_OK, clean_run.output
    assert json.loads(clean_run.stdout)["cautions"] == []


def test_late_logged_capture_is_cautioned(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    captured_at = clock.now_ms + 60_000  # inside the certificate's validity
    clock.now_ms += LATE_LOGGING_MS + 120_000  # uploaded more than a day later
    index = capture(registry, enrolled, SEED, 1, captured_at)
    assert codes(lookup(registry, SEED).cautions) == {(LOGGED_LATE, (index,))}
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert report.ok and codes(report.cautions) == {(LOGGED_LATE, (index,))}


# --- the bundle's revocations ---


def test_bundle_carries_revocations(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 10_000)
    first = revoke(registry, enrolled, clock.now_ms - 20_000)
    second = revoke(registry, enrolled, clock.now_ms - 5_000)
    bundle = json.loads(build_bundle(registry.store, index))
    assert [r["index"] for r in bundle["revocations"]] == [first, second]
    for part in bundle["revocations"]:
        entry = json.loads(base64.b64decode(part["entry"]))
        assert entry["kind"] == REVOCATION and entry["device"] == device_id(enrolled)
        assert part["proof"].endswith(bundle["checkpoint"])
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert report.ok, report.checks
    check = next(c for c in report.checks if c.name == "revocations")
    assert check.ok and "2 revocation(s)" in check.detail
    # Only the first dates the compromise before the capture.
    assert codes(report.cautions) == {(CAPTURED_IN_COMPROMISE_WINDOW, (first,))}


def _canonical(bundle: dict[str, Any]) -> bytes:
    return json.dumps(bundle, separators=(",", ":"), sort_keys=True).encode()


def test_bundle_with_an_altered_revocation_fails(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 10_000)
    revoke(registry, enrolled, clock.now_ms - 20_000)
    bundle = json.loads(build_bundle(registry.store, index))
    entry = json.loads(base64.b64decode(bundle["revocations"][0]["entry"]))
    # Moved the compromise after the capture, to make the capture look clean.
    entry["compromised_since"] = clock.now_ms
    bundle["revocations"][0]["entry"] = base64.b64encode(encode_entry(entry)).decode()
    tampered = _canonical(bundle)
    report = verify_bundle(tampered, signer.verifier)
    assert not report.ok
    assert [c.name for c in report.checks if not c.ok] == ["revocation inclusion"]
    path = tmp_path / "tampered.json"
    path.write_bytes(tampered)
    assert verify_cli(path, signer).exit_code == 1
    # Dropping one revocation's proof, or pointing it at another index, fails the same way.
    bundle = json.loads(build_bundle(registry.store, index))
    bundle["revocations"][0]["index"] = index
    assert not verify_bundle(_canonical(bundle), signer.verifier).ok


def test_bundle_with_a_forged_revocation_fails(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer
) -> None:
    """A revocation the log holds but nobody with authority signed (smuggled past admission,
    then indexed by a reindex): verify names the bad signature instead of applying it."""
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 10_000)
    stranger = make_pki(now_of(clock), intermediate=True).intermediates[0]
    forged = sign_revocation(
        device_id(enrolled),
        clock.now_ms - 20_000,
        "forged",
        stranger.private_key,
        stranger.certificate,
    )
    forged["signer"] = hashlib.sha256(enrolled.intermediates[0].der).hexdigest()  # the real CA
    smuggle(registry, signer, clock, [{**forged, "logged_at": clock.now_ms}])
    registry.reindex()
    report = verify_bundle(build_bundle(registry.store, index), signer.verifier)
    assert not report.ok
    (failed,) = [c for c in report.checks if not c.ok]
    assert failed.name == "revocations" and "signature" in failed.detail


def test_old_format_bundle_without_revocations_still_verifies(
    registry: Registry, enrolled: DevicePKI, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    index = capture(registry, enrolled, SEED, 1, clock.now_ms - 10_000)
    data = build_bundle(registry.store, index)
    # No revocation: no `revocations` field, and a status proof that there is none.
    assert "revocations" not in json.loads(data) and "status" in json.loads(data)
    path = tmp_path / "old.json"
    path.write_bytes(data)
    run = verify_cli(path, signer)
    assert run.exit_code == EXIT_OK, run.output
    assert "bundle verified" in run.stdout and "caution" not in run.stdout
    # A bundle made before either field existed, of a capture since revoked: still a bundle,
    # but one whose revocation status nothing proves (issue 15: never clean).
    revoke(registry, enrolled, clock.now_ms - 20_000)
    bundle = json.loads(build_bundle(registry.store, index))
    del bundle["revocations"], bundle["status"]
    report = verify_bundle(_canonical(bundle), signer.verifier)
    assert report.ok and [c.code for c in report.cautions] == [REVOCATION_STATUS_UNPROVEN]


# --- the audit ---


def test_audit_replay_reports_captures_logged_after_revocation(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
) -> None:
    before = capture(registry, enrolled, 5, 1, clock.now_ms - 90_000)
    since = clock.now_ms - 60_000
    revocation = revoke(registry, enrolled, since)
    backdated = capture(registry, enrolled, SEED, 2, since - 1)
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    # An honest log: every entry follows the rules, so it verifies - and the caution is reported.
    assert report.ok and report.invalid == []
    assert [(c.index, c.code, c.evidence) for c in report.cautions] == [
        (backdated, LOGGED_AFTER_REVOCATION, (revocation,))
    ]
    assert before not in {c.index for c in report.cautions}
    as_json = report.to_json()
    assert as_json["ok"] is True
    assert as_json["cautions"][0]["index"] == backdated
    assert as_json["cautions"][0]["code"] == LOGGED_AFTER_REVOCATION


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_prov_audit_replay_prints_cautions(
    registry: Registry,
    enrolled: DevicePKI,
    clock: FixedClock,
    signer: Signer,
    tmp_path: Path,
    migrated_url: str,
) -> None:
    from tests.support.serving import prov_serve

    since = clock.now_ms - 60_000
    revoke(registry, enrolled, since)
    backdated = capture(registry, enrolled, SEED, 1, since - 1)
    key_file(tmp_path, signer)
    options = ["--data-dir", str(tmp_path), "--database", migrated_url]
    with prov_serve(options, tmp_path / "serve.log") as base:
        run = CliRunner().invoke(main, ["audit", "replay", base, "--log-key", signer.verifier.vkey])
    assert run.exit_code == EXIT_OK, run.output
    assert f"CAUTION entry {backdated} (capture/v1, {LOGGED_AFTER_REVOCATION})" in run.output
    assert "the log verifies" in run.output and "1 capture with cautions" in run.output
