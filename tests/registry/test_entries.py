"""Entry encoding: the fast JCS path agrees with the rfc8785 package byte for byte."""

import hashlib
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from registry.entries.codec import canonical, canonical_claim, capture_leaf, capture_record_id

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text()
    | st.floats(allow_nan=False, allow_infinity=False)
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _values, max_size=6))
def test_canonical_is_rfc8785(value: dict[str, Any]) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_canonical_known_answer() -> None:
    value: dict[str, Any] = {"b": [1, "\u00e9\n"], "a": {"\u20ac": 1, "z": None}, "c": True}
    assert canonical(value) == rfc8785.dumps(value)
    assert canonical({"b": 1, "a": "x"}) == b'{"a":"x","b":1}'


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.text(max_size=8), _values, max_size=6),
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=90
    ),
    st.integers(0, 2**53 - 1),
)
def test_capture_leaf_and_record_id_are_jcs(
    claim: dict[str, Any], sig: str, logged_at: int
) -> None:
    claim_jcs = canonical(claim)
    entry: dict[str, Any] = {
        "kind": "capture/v1",
        "logged_at": logged_at,
        "claim": claim,
        "sig": sig,
    }
    assert capture_leaf(claim_jcs, sig, logged_at) == rfc8785.dumps(entry)
    expected = hashlib.sha256(rfc8785.dumps({"claim": claim, "sig": sig})).digest()
    assert capture_record_id(claim_jcs, sig) == expected


_hex = st.text("0123456789abcdef", min_size=1, max_size=64)


@settings(max_examples=200)
@given(
    media_type=st.text(min_size=1, max_size=20),
    counter=st.integers(0, 2**53 - 1),
    features=st.dictionaries(
        st.from_regex(r"[a-z0-9][a-z0-9./-]{0,10}", fullmatch=True), _hex, max_size=4
    ),
)
def test_canonical_claim_is_rfc8785_for_claims_check_claim_accepts(
    media_type: str, counter: int, features: dict[str, str]
) -> None:
    claim: dict[str, Any] = {
        "device": "ab" * 32, "counter": counter, "captured_at": 1_790_000_000_000,
        "media_type": media_type, "width": 4000, "height": 3000, "sha256": "cd" * 32,
        "pdq": "ef" * 32, "pdq_quality": 90, "phash": "01" * 8, "features": features,
    }  # fmt: skip
    try:
        expected = rfc8785.dumps(claim)
    except rfc8785.CanonicalizationError:
        return  # lone surrogates: both refuse (canonical_claim raises MalformedError)
    assert canonical_claim(claim) == expected
