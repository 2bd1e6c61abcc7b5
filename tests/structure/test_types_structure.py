"""The typed formats (registry.entries.formats) say what the validators check, and the shared
constants have one definition (issue 14)."""

import json
from typing import get_type_hints

from registry.audit import auditor
from registry.config import DEFAULT_MAX_FUTURE_SKEW_MS, RegistrySettings
from registry.entries import codec, formats
from registry.imaging import hashing, matching, neardup


def test_the_claim_type_has_exactly_the_fields_check_claim_allows() -> None:
    claim = formats.Claim
    assert set(get_type_hints(claim)) == codec._CLAIM_FIELDS | codec._OPTIONAL_CLAIM_FIELDS
    # counter is absent from c2pa-capture/v1 claims; meta is optional (features too, but its
    # NotRequired is in registry.imaging.hashing, whose postponed annotations Python 3.11's
    # TypedDict does not read at run time: mypy checks it).
    assert {"counter", "meta"} <= claim.__optional_keys__
    assert "device" in claim.__required_keys__


def test_entry_types_name_their_kinds() -> None:
    kinds = {
        get_type_hints(t)["kind"].__args__[0]
        for t in (
            formats.VendorEntry,
            formats.DeviceEntry,
            formats.CaptureEntry,
            formats.C2paCaptureEntry,
            formats.RevocationEntry,
            formats.ScopedRevocationEntry,
        )
    }
    assert kinds == set(codec.KINDS)


def test_a_parsed_capture_is_the_dict_it_was() -> None:
    entry = {"kind": codec.CAPTURE, "logged_at": 1, "claim": {"device": "00"}, "sig": "AA=="}
    leaf = json.dumps(entry).encode()
    assert codec.parse_entry(leaf) == entry


def test_the_pdq_radius_and_quality_floor_are_defined_once() -> None:
    assert matching.PDQ_RADIUS is hashing.PDQ_RADIUS == 31
    assert matching.MIN_QUALITY is hashing.MIN_QUALITY == 50
    assert neardup.NearDuplicateIndex.RADIUS == hashing.PDQ_RADIUS


def test_the_audit_allows_the_skew_admission_does() -> None:
    assert auditor.DEFAULT_MAX_SKEW_MS == DEFAULT_MAX_FUTURE_SKEW_MS
    assert RegistrySettings.__dataclass_fields__["max_future_skew_ms"].default == (
        DEFAULT_MAX_FUTURE_SKEW_MS
    )
