"""Bundles saved again by an editor or `jq` still verify (issue 17): any JSON formatting is read,
with the content as strict as ever: no duplicate keys, no unknown fields, no other types."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from ledger import MalformedError, Signer
from registry import Registry
from registry.bundle.build import build_bundle
from registry.bundle.verify import parse_bundle, verify_bundle
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import record
from tests.support.verify_vectors_json import reversed_keys

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # offline


@pytest.fixture
def bundle(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> bytes:
    """The bundle of a logged capture, as the log writes it (compact, keys sorted)."""
    [result] = registry.submit_captures([record(enrolled.device, 1, 1, clock.now_ms)])
    assert result.receipt is not None
    return build_bundle(registry.store, result.receipt.index)


REFORMATS: dict[str, Callable[[Any], bytes]] = {
    "jq (indented 2, newline)": lambda b: (json.dumps(b, indent=2) + "\n").encode(),
    "an editor (tabs, CRLF)": lambda b: json.dumps(b, indent="\t").replace("\n", "\r\n").encode(),
    "keys in another order": lambda b: json.dumps(reversed_keys(b)).encode(),
    "spaces after separators": lambda b: json.dumps(b, sort_keys=True).encode(),
    "non-ASCII escaped otherwise": lambda b: json.dumps(b, ensure_ascii=False).encode(),
}


@pytest.mark.parametrize("reformat", REFORMATS.values(), ids=REFORMATS.keys())
def test_a_reformatted_bundle_verifies(
    bundle: bytes, signer: Signer, reformat: Callable[[Any], bytes]
) -> None:
    data = reformat(json.loads(bundle))
    assert data != bundle

    report = verify_bundle(data, signer.verifier)

    assert report.ok, [c for c in report.checks if not c.ok]
    assert report.checks == verify_bundle(bundle, signer.verifier).checks


def test_the_bundle_as_written_is_still_the_canonical_form(bundle: bytes) -> None:
    assert bundle == json.dumps(json.loads(bundle), separators=(",", ":"), sort_keys=True).encode()


def _with(bundle: bytes, old: bytes, new: bytes) -> bytes:
    assert bundle.count(old) == 1
    return bundle.replace(old, new)


def test_a_duplicate_key_is_malformed(bundle: bytes) -> None:
    twice = _with(bundle, b'"log":', b'"log":"another.example/log","log":')

    with pytest.raises(MalformedError, match="'log' twice"):
        parse_bundle(twice)


def test_a_duplicate_key_inside_a_part_is_malformed(bundle: bytes) -> None:
    index = json.loads(bundle)["capture"]["index"]
    twice = _with(bundle, f'"index":{index},'.encode(), f'"index":0,"index":{index},'.encode())

    with pytest.raises(MalformedError, match="'index' twice"):
        parse_bundle(twice)


def test_an_unknown_field_is_malformed_in_any_formatting(bundle: bytes) -> None:
    parsed = json.loads(bundle) | {"note": "added by hand"}

    with pytest.raises(MalformedError, match="fields must be exactly"):
        parse_bundle(json.dumps(parsed, indent=2).encode())


@pytest.mark.parametrize("number", ["2.0", "2e0", "NaN", "true"])
def test_an_index_of_another_type_is_malformed(bundle: bytes, number: str) -> None:
    index = json.loads(bundle)["capture"]["index"]
    edited = _with(
        bundle, f'"index":{index},"proof"'.encode(), f'"index":{number},"proof"'.encode()
    )

    with pytest.raises(MalformedError):
        parse_bundle(edited)
