"""Issue 15, part 2: revocations of a CA or a whole vendor root (revocation/v2), attacked.

Who gains from abusing them: a vendor revoking a rival's CA, a thief with a device key or a
sibling CA's key revoking what it does not own, an operator slipping an unsigned revocation
into the log, a device enrolled after its CA was revoked trying to log fresh captures. Each
attack is a test; the honest uses (a CA revoking itself, the root revoking a CA or itself) are
applied by admission, lookups, reindex, the audit and the origin report alike. Both databases.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from ledger import Signer
from ledger.errors import MalformedError, NotFoundError, VerificationError
from registry import Registry
from registry.audit.replay import replay_log
from registry.cautions import CAPTURED_IN_COMPROMISE_WINDOW, LOGGED_AFTER_REVOCATION
from registry.entries.sdk import sign_capture, sign_scoped_revocation
from registry.lookup.query import Lookup, LookupResult, query_from_image
from registry.origins.facts import load_facts
from registry.origins.report import build_report
from testkit.pki import DevicePKI, IssuedCert, make_device, make_intermediate, make_root
from testkit.revocations import revoke_ca, revoke_device, revoke_vendor
from tests.support.clocks import FixedClock
from tests.support.in_process import served
from tests.support.registry_fixtures import TOKEN, now_of, picture
from tests.support.status_fixtures import hex_id, smuggle_scoped

HOUR_MS = 3_600_000


@dataclass
class Vendor:
    """A vendor root with two device CAs, A and B, and one device under each."""

    root: IssuedCert
    ca_a: IssuedCert
    ca_b: IssuedCert
    under_a: DevicePKI
    under_b: DevicePKI


def make_vendor(registry: Registry, now: datetime, name: str = "Example Camera Co.") -> Vendor:
    root = make_root(now, common_name=f"{name} Root", organization=name)
    ca_a = make_intermediate(root, now, common_name=f"{name} CA A", organization=name)
    ca_b = make_intermediate(root, now, common_name=f"{name} CA B", organization=name)
    registry.add_vendor(name, "camera", root.der, TOKEN)
    pkis = []
    for ca, serial in ((ca_a, "A1"), (ca_b, "B1")):
        device = make_device(ca, now, common_name=f"{name} #{serial}", organization=name)
        registry.enroll_device(device.der, [ca.der])
        pkis.append(DevicePKI(root, (ca,), device))
    return Vendor(root, ca_a, ca_b, pkis[0], pkis[1])


@pytest.fixture
def vendor(registry: Registry, clock: FixedClock) -> Vendor:
    return make_vendor(registry, now_of(clock))


def shoot(registry: Registry, pki: DevicePKI, seed: int, counter: int, at: int) -> int:
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, counter, at
    )
    (result,) = registry.submit_captures([record])
    assert result.receipt is not None, result.reason
    return result.receipt.index


def refused(registry: Registry, pki: DevicePKI, seed: int, counter: int, at: int) -> str:
    record = sign_capture(
        picture(seed), pki.device.private_key, pki.device.certificate, counter, at
    )
    (result,) = registry.submit_captures([record])
    assert result.receipt is None
    return f"{result.code}: {result.reason}"


def lookup(registry: Registry, seed: int) -> LookupResult:
    return Lookup(registry.store).lookup(query_from_image(picture(seed)))


def codes(result: LookupResult) -> set[str]:
    return {c.code for c in result.cautions}


def codes_at(registry: Registry, indexes: Sequence[int]) -> dict[int, set[str]]:
    from registry.admission.capture_cautions import read_cautions

    with registry.store.engine.connect() as connection:
        stored = read_cautions(connection, indexes)
    return {i: {c.code for c in stored.get(i, [])} for i in indexes}


# --- honest use: whom a CA or root revocation reaches ---


def test_a_ca_revoking_itself_reaches_its_devices_only(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    a = shoot(registry, vendor.under_a, 1, 1, since + 60_000)
    b = shoot(registry, vendor.under_b, 2, 1, since + 60_000)
    before = shoot(registry, vendor.under_a, 3, 2, since - 60_000)
    revocation = registry.revoke(revoke_ca(vendor.under_a, 0, since)).index
    assert codes(lookup(registry, 1)) == {CAPTURED_IN_COMPROMISE_WINDOW}
    assert codes(lookup(registry, 2)) == set()  # CA B's device is untouched
    assert codes(lookup(registry, 3)) == set()  # before the compromise, logged before it
    (window,) = lookup(registry, 1).cautions
    assert window.evidence == (revocation,)
    assert codes_at(registry, [a, b, before]) == {a: {CAPTURED_IN_COMPROMISE_WINDOW}, b: set(),
                                                  before: set()}  # fmt: skip


def test_the_root_revokes_a_ca_and_then_the_whole_vendor(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    shoot(registry, vendor.under_a, 1, 1, since + 1)
    shoot(registry, vendor.under_b, 2, 1, since + 1)
    registry.revoke(revoke_ca(vendor.under_a, 0, since, signer=vendor.root))
    assert codes(lookup(registry, 2)) == set()
    registry.revoke(revoke_vendor(vendor.under_a, since))
    assert codes(lookup(registry, 1)) == {CAPTURED_IN_COMPROMISE_WINDOW}
    assert codes(lookup(registry, 2)) == {CAPTURED_IN_COMPROMISE_WINDOW}


def test_a_device_enrolled_after_its_ca_was_revoked_is_refused_after_the_compromise(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    registry.revoke(revoke_ca(vendor.under_a, 0, since))
    late = make_device(vendor.ca_a, now_of(clock), common_name="Example Camera Co. #A2")
    registry.enroll_device(late.der, [vendor.ca_a.der])  # enrolment itself is still allowed
    pki = DevicePKI(vendor.root, (vendor.ca_a,), late)
    assert refused(registry, pki, 5, 1, since + 1).startswith("ca_revoked: ")
    # Before the compromise it may still log (the capture time is only its word: cautioned).
    earlier = shoot(registry, pki, 6, 2, since - 1)
    assert codes_at(registry, [earlier])[earlier] == {LOGGED_AFTER_REVOCATION}
    # The CA's older devices are refused too, and CA B's are not.
    assert refused(registry, vendor.under_a, 7, 1, since + 2).startswith("ca_revoked: ")
    shoot(registry, vendor.under_b, 8, 1, since + 2)


def test_a_revoked_vendor_root_refuses_new_captures_after_the_compromise(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    registry.revoke(revoke_vendor(vendor.under_a, since))
    assert refused(registry, vendor.under_b, 1, 1, since).startswith("vendor_revoked: ")


def test_the_same_scoped_revocation_twice_is_logged_once(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    first = registry.revoke(revoke_ca(vendor.under_a, 0, since))
    again = registry.revoke(revoke_ca(vendor.under_a, 0, since))  # re-signed: other bytes
    assert again.index == first.index and again.duplicate
    assert registry.store.latest_checkpoint().size == first.index + 1


def test_reindex_rebuilds_the_same_scoped_cautions(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    captures = [shoot(registry, vendor.under_a, s, s, since + s) for s in (1, 2)]
    captures.append(shoot(registry, vendor.under_b, 3, 1, since + 3))
    registry.revoke(revoke_ca(vendor.under_a, 0, since))
    before = codes_at(registry, captures)
    registry.reindex()
    assert codes_at(registry, captures) == before
    assert before[captures[0]] == {CAPTURED_IN_COMPROMISE_WINDOW} and before[captures[2]] == set()


# --- attacks on who may revoke ---


def test_a_sibling_ca_cannot_revoke_another_ca(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    forged = revoke_ca(vendor.under_a, 0, 0, signer=vendor.ca_b)
    with pytest.raises(VerificationError) as caught:
        registry.revoke(forged)
    assert caught.value.code == "revocation_bad_signer"


def test_a_device_key_cannot_revoke_its_ca(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    forged = revoke_ca(vendor.under_a, 0, 0, signer=vendor.under_a.device)
    with pytest.raises(VerificationError) as caught:
        registry.revoke(forged)
    assert caught.value.code == "revocation_bad_signer"


def test_an_intermediate_cannot_revoke_its_vendor_root(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    forged = sign_scoped_revocation(
        scope="vendor", subject=vendor.root.certificate, vendor_root=vendor.root.certificate,
        compromised_since=0, reason="x", ca_key=vendor.ca_a.private_key,
        ca_cert=vendor.ca_a.certificate,
    )  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        registry.revoke(forged)
    assert caught.value.code == "revocation_bad_signer"


def test_a_rival_vendor_cannot_revoke_another_vendors_ca(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    rival = make_vendor(registry, now_of(clock), "Rival Optics")
    # Under its own vendor id: the victim's CA does not chain to the rival's root.
    as_rival = sign_scoped_revocation(
        scope="ca", subject=vendor.ca_a.certificate, vendor_root=rival.root.certificate,
        compromised_since=0, reason="x", ca_key=rival.root.private_key,
        ca_cert=rival.root.certificate,
    )  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        registry.revoke(as_rival)
    assert caught.value.code == "revocation_bad_chain"
    # Under the victim's vendor id: the rival's root is not on the CA's path.
    as_victim = sign_scoped_revocation(
        scope="ca", subject=vendor.ca_a.certificate, vendor_root=vendor.root.certificate,
        compromised_since=0, reason="x", ca_key=rival.root.private_key,
        ca_cert=rival.root.certificate,
    )  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        registry.revoke(as_victim)
    assert caught.value.code == "revocation_bad_signer"
    assert registry.store.latest_checkpoint().size == 6  # 2 vendors, 4 devices


def test_a_stranger_ca_posing_as_the_vendors_cannot_revoke(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    """A CA with the victim CA's name and the stranger's key, listed as the CA "above"."""
    stranger_root = make_root(now_of(clock), common_name="Example Camera Co. Root")
    impostor = make_intermediate(
        stranger_root, now_of(clock), common_name="Example Camera Co. CA A"
    )
    forged = sign_scoped_revocation(
        scope="ca", subject=impostor.certificate, vendor_root=vendor.root.certificate,
        compromised_since=0, reason="x", ca_key=impostor.private_key, ca_cert=impostor.certificate,
    )  # fmt: skip
    with pytest.raises(VerificationError) as caught:
        registry.revoke(forged)
    assert caught.value.code == "revocation_bad_chain"


def test_a_revocation_of_an_unknown_vendor_is_not_found(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    other = make_root(now_of(clock), common_name="Unregistered Root")
    with pytest.raises(NotFoundError):
        registry.revoke(
            sign_scoped_revocation(
                scope="vendor", subject=other.certificate, vendor_root=other.certificate,
                compromised_since=0, reason="x", ca_key=other.private_key,
                ca_cert=other.certificate,
            )
        )  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("scope", "model", "bad_scope"),
        ("certs", [], "bad_certs"),
        ("firmware", [], "bad_firmware"),
        ("firmware", ["2.00", "2.00"], "bad_firmware"),
        ("firmware", ["2.00\x00"], "bad_firmware"),
        ("subject", "ab", "bad_subject"),
        ("extra", 1, "unknown_field"),
    ],
)
def test_malformed_scoped_revocations_are_malformed_not_failed(
    registry: Registry, vendor: Vendor, field: str, value: object, code: str
) -> None:
    revocation = {**revoke_ca(vendor.under_a, 0, 0), field: value}
    with pytest.raises(MalformedError) as caught:
        registry.revoke(revocation)
    assert caught.value.code == code


def test_a_device_revocation_v2_is_signed_by_a_ca_on_its_path(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    shoot(registry, vendor.under_a, 1, 1, since + 1)
    with pytest.raises(VerificationError):
        registry.revoke(revoke_device(vendor.under_a, since, signer=vendor.ca_b))
    registry.revoke(revoke_device(vendor.under_a, since, signer=vendor.root))
    assert codes(lookup(registry, 1)) == {CAPTURED_IN_COMPROMISE_WINDOW}


# --- the auditor and the origin report ---


def test_audit_replay_checks_scoped_revocations(
    registry: Registry, vendor: Vendor, clock: FixedClock, signer: Signer, tmp_path: Path
) -> None:
    since = clock.now_ms - HOUR_MS
    in_window = shoot(registry, vendor.under_a, 1, 1, since + 1)
    honest = registry.revoke(revoke_ca(vendor.under_a, 0, since)).index
    later = make_device(vendor.ca_a, now_of(clock), common_name="Example Camera Co. #A3")
    registry.enroll_device(later.der, [vendor.ca_a.der])
    backdated = shoot(registry, DevicePKI(vendor.root, (vendor.ca_a,), later), 2, 1, since - 1)
    untouched = shoot(registry, vendor.under_b, 3, 1, since + 1)
    forged = smuggle_scoped(registry, signer, clock, vendor.under_b, vendor.ca_b.der, "ca", 0)
    with served(registry, signer, tmp_path) as remote:
        report = replay_log(remote, signer.verifier, workers=1)
    # The unsigned CA revocation is reported and applies to nothing (CA B's capture stays
    # clean); the honest one applies to a capture under CA A logged after it.
    assert [(i.index, i.code) for i in report.invalid] == [(forged, "revocation_bad_signature")]
    found = {(c.index, c.code, c.evidence) for c in report.cautions}
    assert (backdated, LOGGED_AFTER_REVOCATION, (honest,)) in found
    assert untouched not in {c.index for c in report.cautions}
    # Logged before the revocation: lookups caution it (re-judged); replay reports entries as
    # they arrive, as it does for device revocations (docs/threat-model.md).
    assert in_window not in {c.index for c in report.cautions}


def test_the_origin_report_names_a_ca_revocation(
    registry: Registry, vendor: Vendor, clock: FixedClock
) -> None:
    since = clock.now_ms - HOUR_MS
    shoot(registry, vendor.under_a, 1, 1, since + 1)
    shoot(registry, vendor.under_b, 2, 1, since + 1)
    revocation = registry.revoke(revoke_ca(vendor.under_a, 0, since)).index
    report = build_report(load_facts(registry.store))
    rows = {row["device"]: row for row in report["devices"]}
    flagged = rows[hex_id(vendor.under_a.device.der)]
    assert "compromise_window" in flagged["signals"]
    (named,) = flagged["revoked_by"]
    assert named.startswith(f"log entry {revocation}: every device under CA ")
    assert "of Example Camera Co." in named
    assert hex_id(vendor.under_b.device.der) not in rows


def test_a_vendor_cannot_pile_revocations_on_one_subject(
    registry: Registry, vendor: Vendor, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every revocation of a subject rides in each bundle under it, and the status index holds
    at most 65,535 per subject (past that, no checkpoint could be signed): a vendor re-revoking
    one CA with fresh dates must hit a bound long before, and the log must go on."""
    from registry.admission import revocations
    from registry.errors import TooLargeError

    monkeypatch.setattr(revocations, "MAX_REVOCATIONS_PER_SUBJECT", 3)
    first = [registry.revoke(revoke_ca(vendor.under_a, 0, since)) for since in range(3)]
    # At the bound, one already logged (re-signed: other bytes) is still its first receipt.
    again = registry.revoke(revoke_ca(vendor.under_a, 0, 1))
    assert again.duplicate and again.index == first[1].index
    with pytest.raises(TooLargeError) as caught:
        registry.revoke(revoke_ca(vendor.under_a, 0, 99))
    assert caught.value.code == "too_many_revocations" and "Revoke the CA above" in str(
        caught.value
    )
    shoot(registry, vendor.under_b, 1, 1, clock.now_ms - HOUR_MS)  # the log goes on
    registry.revoke(revoke_ca(vendor.under_b, 0, 0))  # and another subject is still revoked


def test_re_judging_tens_of_thousands_of_captures_fits_in_statements(registry: Registry) -> None:
    """A CA revocation re-judges every capture under it: 70,000 cautions are more bind
    parameters than one PostgreSQL statement may carry (65,535), and the revocation must not
    fail for it."""
    from registry.admission.capture_cautions import read_cautions, write_cautions
    from registry.cautions import Caution

    leaves = range(10**9, 10**9 + 70_000)
    flagged = [Caution(CAPTURED_IN_COMPROMISE_WINDOW, "in the window", (3,))]
    with registry.store.engine.begin() as connection:
        write_cautions(connection, {leaf: flagged for leaf in leaves})
        write_cautions(connection, {leaf: [] for leaf in leaves[:40_000]})  # re-judged clean
        stored = read_cautions(connection, [leaves[0], leaves[39_999], leaves[40_000]])
    assert [leaves[40_000]] == sorted(stored)
    assert stored[leaves[40_000]][0].code == CAPTURED_IN_COMPROMISE_WINDOW
