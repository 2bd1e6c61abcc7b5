"""Device id prefixes resolve by a query on the enrolled devices (registry.admission.device_ids):
exact, unique, ambiguous (listing the candidates) or unknown, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import insert

from ledger import LogStore
from ledger.errors import MalformedError, NotFoundError
from registry.admission.device_ids import resolve_device_id
from registry.admission.schema import reg_devices

# Two ids sharing their first 9 characters, and a third beside them: certificates cannot be
# made to collide, so the rows are written directly.
TWINS = ("abcdef012" + "0" * 55, "abcdef012" + "1" * 55)
OTHER = "abcdef02" + "2" * 56


@pytest.fixture
def devices(store: LogStore) -> LogStore:
    rows = [
        {
            "device_id": device_id,
            "vendor_id": "v" * 64,
            "issuer_id": "i" * 64,
            "origin_id": device_id,
            "algorithm": "ES256",
            "public_key": b"key",
            "not_before_ms": 0,
            "not_after_ms": 1,
            "leaf_index": index,
            "logged_at_ms": 0,
        }
        for index, device_id in enumerate((*TWINS, OTHER), 1)
    ]
    with store.engine.begin() as connection:
        connection.execute(insert(reg_devices), rows)
    return store


def resolve(store: LogStore, text: str) -> str:
    with store.engine.connect() as connection:
        return resolve_device_id(connection, text)


@pytest.mark.parametrize("text", [TWINS[0], TWINS[0].upper(), TWINS[0][:10], " abcdef0120 "])
def test_a_unique_prefix_or_the_full_id_resolves(devices: LogStore, text: str) -> None:
    assert resolve(devices, text) == TWINS[0]


def test_a_prefix_no_other_id_shares_resolves(devices: LogStore) -> None:
    assert resolve(devices, "ABCDEF02") == OTHER


def test_an_ambiguous_prefix_lists_the_candidates(devices: LogStore) -> None:
    with pytest.raises(MalformedError, match="ambiguous") as raised:
        resolve(devices, "abcdef01")

    assert raised.value.code == "ambiguous_device"
    assert all(twin in str(raised.value) for twin in TWINS)
    assert OTHER not in str(raised.value)


def test_an_unknown_prefix_is_not_found(devices: LogStore) -> None:
    with pytest.raises(NotFoundError, match="is not enrolled") as raised:
        resolve(devices, "abcdef03")

    assert raised.value.code == "unknown_device"


@pytest.mark.parametrize(
    ("text", "says"),
    [("abcdef0", "at least 8"), ("abcdefgh", "not hexadecimal"), ("a" * 65, "longer than")],
)
def test_a_malformed_id_says_what_is_wrong(devices: LogStore, text: str, says: str) -> None:
    with pytest.raises(MalformedError, match=says):
        resolve(devices, text)
