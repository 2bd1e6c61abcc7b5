"""POST /v1/lookups (issue 17): up to 1,000 hash sets computed locally, answered in order, a
malformed item answered as that item's error; over 1,000 is 413; the rate limiter counts a
batch of N as N lookups."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.limits import TokenBuckets
from api.settings import ApiSettings
from registry import Registry, RegistrySettings
from registry.lookup.batch import MAX_LOOKUPS
from registry.lookup.query import query_from_image
from testkit.pki import DevicePKI
from tests.support.clocks import FixedClock, Seconds
from tests.support.registry_fixtures import picture, record, with_banner


def hash_set(image: bytes, *, with_sha256: bool = True) -> dict[str, Any]:
    """What `prov lookup --hash-only` sends for one image."""
    query = query_from_image(image)
    probes = [vars(probe) for probe in query.probes]
    return {"probes": probes, "sha256": query.sha256} if with_sha256 else {"probes": probes}


@contextmanager
def serve(settings: RegistrySettings, clock: Seconds | None = None) -> Iterator[TestClient]:
    app = create_app(ApiSettings(settings, monotonic=clock or Seconds()))
    try:
        with TestClient(app) as client:
            yield client
    finally:
        app.state.prov.registry.close()
        app.state.prov.store.engine.dispose()


@pytest.fixture
def logged(registry: Registry, enrolled: DevicePKI, clock: FixedClock) -> int:
    """The leaf index of a capture of picture(1)."""
    result = registry.submit_captures([record(enrolled.device, 1, 1, clock.now_ms - 10_000)])[0]
    assert result.receipt is not None
    return result.receipt.index


def test_each_hash_set_is_answered_in_order(
    writable_settings: RegistrySettings, logged: int
) -> None:
    image = picture(1)
    items = [
        hash_set(image),  # the same file: registered
        hash_set(picture(77)),  # nothing like it
        {"pdq": "xyz", "pdq_quality": 90},  # malformed: its own error, not the batch's
        hash_set(with_banner(image), with_sha256=False),  # edited: near-duplicate
        {"probes": [], "sha256": None},
    ]
    with serve(writable_settings) as client:
        response = client.post("/v1/lookups", json={"lookups": items})
        single = client.post("/v1/lookup", json=items[0]).json()

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert len(results) == 5
    assert results[0]["verdict"] == "registered"
    assert results[0]["matches"][0]["leaf_index"] == logged
    assert results[0]["matches"] == single["matches"]  # the same answer as one lookup
    assert results[1]["verdict"] == "not-found"
    assert results[2] == {
        "error": {"type": "bad_pdq", "message": "lookups[2]: pdq must be 64 hex characters"}
    }
    assert results[3]["verdict"] == "near-duplicate"
    assert results[3]["matches"][0]["leaf_index"] == logged
    assert results[4]["error"]["type"] == "bad_query"
    assert results[4]["error"]["message"].startswith("lookups[4]: ")
    # All against one tree.
    assert {r["tree_size"] for r in results if "verdict" in r} == {single["tree_size"]}


def test_over_a_thousand_is_413_and_a_thousand_is_answered(
    writable_settings: RegistrySettings,
) -> None:
    one = hash_set(picture(3))
    with serve(replace(writable_settings, rate_limit=0)) as client:
        over = client.post("/v1/lookups", json={"lookups": [one] * (MAX_LOOKUPS + 1)})
        full = client.post("/v1/lookups", json={"lookups": [one] * MAX_LOOKUPS})
    assert over.status_code == 413, over.text
    error = over.json()["error"]
    assert error["type"] == "too_large"
    assert "at most 1000" in error["message"] and "smaller batches" in error["message"]
    assert full.status_code == 200
    assert len(full.json()["results"]) == MAX_LOOKUPS


@pytest.mark.parametrize(
    "body",
    [[], {}, {"lookups": []}, {"lookups": {}}, {"lookups": [{}], "more": 1}, "lookups"],
)
def test_a_body_that_is_not_a_batch_is_refused_whole(
    writable_settings: RegistrySettings, body: object
) -> None:
    with serve(writable_settings) as client:
        response = client.post("/v1/lookups", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "bad_query"


def test_a_batch_of_n_costs_n_lookups_of_the_rate_limit(
    writable_settings: RegistrySettings,
) -> None:
    clock = Seconds()
    settings = replace(writable_settings, rate_limit=2.0, rate_burst=10)
    one = hash_set(picture(3))
    with serve(settings, clock) as client:
        assert client.post("/v1/lookups", json={"lookups": [one] * 30}).status_code == 200
        # 30 lookups from a bucket of 10: 20 in debt, then 1 more to spend at 2 a second.
        refused = client.post("/v1/lookup", json=one)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "11"
        clock.now += 10
        assert client.post("/v1/lookup", json=one).status_code == 429
        clock.now += 1
        assert client.post("/v1/lookup", json=one).status_code == 200


def test_a_bucket_in_debt_is_not_forgotten_as_idle() -> None:
    clock = Seconds()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)
    assert buckets.take("a") == 0.0
    buckets.charge("a", 100)
    clock.now += 50  # past burst / rate, where an idle bucket is dropped
    assert buckets.take("other") == 0.0
    # 1 - 100 + 50 tokens: 50 seconds until it has one again.
    assert buckets.take("a") == pytest.approx(50.0)


def test_the_page_says_the_json_route_keeps_the_image_on_the_machine(
    writable_settings: RegistrySettings,
) -> None:
    with serve(writable_settings) as client:
        page = client.get("/").text
    note = page[page.index('id="json-route"') :].split("</p>")[0]
    assert "POST /v1/lookups" in note and "prov lookup --hash-only" in note
    assert "the image never leaves it" in note
