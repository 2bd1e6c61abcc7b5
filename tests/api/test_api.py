"""The HTTP API: C2SP tlog-tiles read paths and the /v1/log JSON API, on SQLite and PostgreSQL.

Every test builds the app from a LogConfig over a migrated database, appends leaves with the
`sequencer` fixture (same signer as the app's key file), and checks what a client would verify:
signatures, hashes and proofs against roots computed here from the leaves themselves.
"""

import base64
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api import create_app
from ledger import (
    EMPTY_ROOT,
    LogConfig,
    Sequencer,
    Signer,
    hash_leaf,
    open_checkpoint,
    tree_hash,
    verify_consistency,
    verify_inclusion,
)
from ledger.merkle import HASH_SIZE
from ledger.note import write_private_key_file
from ledger.tiles import decode_entry_bundle

IMMUTABLE = "public, max-age=31536000, immutable"
LEAF_COUNT = 600  # two full tiles (0-255, 256-511) and a partial one of 88 at level 0
BATCHES = (100, 300, 200)  # appended in batches that end inside tiles, so tiles grow across them


def make_leaves(count: int, start: int = 0) -> list[bytes]:
    return [f"entry {i:05d}".encode() for i in range(start, start + count)]


def root_of(leaves: Sequence[bytes]) -> bytes:
    """MTH of the leaves, computed here without the log."""
    return tree_hash([hash_leaf(leaf) for leaf in leaves])


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def split_hashes(body: bytes) -> list[bytes]:
    assert len(body) % HASH_SIZE == 0
    return [body[i : i + HASH_SIZE] for i in range(0, len(body), HASH_SIZE)]


def assert_error(response: httpx.Response, status: int, kind: str) -> str:
    """The response is the API's JSON error of `status` and `kind`; returns its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["type"] == kind
    assert error["message"].strip()
    message: str = error["message"]
    return message


@pytest.fixture
def client(
    tmp_path: Path, migrated_url: str, signer: Signer, sequencer: Sequencer
) -> Iterator[TestClient]:
    """The app for the log the `sequencer` fixture writes (already initialized, size 0)."""
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    config = LogConfig(data_dir=tmp_path, database_url=migrated_url, key_file=key_file)
    app = create_app(config)
    with TestClient(app) as test_client:
        yield test_client
    app.state.prov.store.engine.dispose()


@pytest.fixture
def leaves(client: TestClient, sequencer: Sequencer) -> list[bytes]:
    """LEAF_COUNT leaves appended to the served log."""
    appended: list[bytes] = []
    for count in BATCHES:
        batch = make_leaves(count, start=len(appended))
        sequencer.append(batch)
        appended += batch
    assert len(appended) == LEAF_COUNT
    return appended


def get_json(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# /checkpoint


def test_checkpoint_of_empty_log_is_signed_and_not_cached(
    client: TestClient, signer: Signer
) -> None:
    response = client.get("/checkpoint")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    checkpoint = open_checkpoint(response.content, signer.verifier)
    assert checkpoint.origin == signer.name
    assert (checkpoint.size, checkpoint.root_hash) == (0, EMPTY_ROOT)


def test_checkpoint_commits_to_every_appended_leaf(
    client: TestClient, signer: Signer, leaves: list[bytes]
) -> None:
    checkpoint = open_checkpoint(client.get("/checkpoint").content, signer.verifier)

    assert checkpoint.size == LEAF_COUNT
    assert checkpoint.root_hash == root_of(leaves)


def test_checkpoint_follows_appends_made_while_serving(
    client: TestClient, signer: Signer, sequencer: Sequencer
) -> None:
    first = make_leaves(3)
    sequencer.append(first)
    before = open_checkpoint(client.get("/checkpoint").content, signer.verifier)
    sequencer.append(make_leaves(2, start=3))
    after = open_checkpoint(client.get("/checkpoint").content, signer.verifier)

    assert (before.size, before.root_hash) == (3, root_of(first))
    assert (after.size, after.root_hash) == (5, root_of(make_leaves(5)))


# /tile/<L>/<N>[.p/<W>] and /tile/entries/<N>[.p/<W>]


def get_tile(client: TestClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["cache-control"] == IMMUTABLE
    content: bytes = response.content
    return content


def test_full_level0_tile_holds_the_first_256_leaf_hashes(
    client: TestClient, leaves: list[bytes]
) -> None:
    body = get_tile(client, "/tile/0/000")

    assert len(body) == 8192
    assert split_hashes(body) == [hash_leaf(leaf) for leaf in leaves[:256]]


def test_full_entry_bundle_holds_the_first_256_leaves(
    client: TestClient, leaves: list[bytes]
) -> None:
    assert decode_entry_bundle(get_tile(client, "/tile/entries/000")) == leaves[:256]


def test_partial_level0_tile_holds_the_hashes_of_the_last_leaves(
    client: TestClient, leaves: list[bytes]
) -> None:
    body = get_tile(client, "/tile/0/002.p/88")

    assert split_hashes(body) == [hash_leaf(leaf) for leaf in leaves[512:600]]


def test_level1_tile_holds_the_roots_of_the_full_level0_tiles(
    client: TestClient, leaves: list[bytes]
) -> None:
    body = get_tile(client, "/tile/1/000.p/2")

    assert split_hashes(body) == [root_of(leaves[0:256]), root_of(leaves[256:512])]


def test_partial_entry_bundle_holds_the_last_leaves(
    client: TestClient, leaves: list[bytes]
) -> None:
    assert decode_entry_bundle(get_tile(client, "/tile/entries/002.p/88")) == leaves[512:600]


@pytest.mark.parametrize(("index", "width"), [(1, 5), (2, 10)], ids=["now-full", "partial"])
def test_narrower_partial_tile_is_a_prefix_of_the_stored_tile(
    client: TestClient, leaves: list[bytes], index: int, width: int
) -> None:
    # A client holding an older checkpoint asks for the tile at the width it had then.
    hashes = split_hashes(get_tile(client, f"/tile/0/{index:03d}.p/{width}"))

    first = index * 256
    assert hashes == [hash_leaf(leaf) for leaf in leaves[first : first + width]]


def test_narrower_partial_entry_bundle_is_a_prefix_of_the_stored_bundle(
    client: TestClient, leaves: list[bytes]
) -> None:
    assert decode_entry_bundle(get_tile(client, "/tile/entries/001.p/7")) == leaves[256:263]


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/002.p/200",
        "/tile/1/000.p/3",
        "/tile/2/000.p/1",
        "/tile/entries/002.p/89",
        "/tile/entries/003.p/1",
        "/tile/0/003",
        "/tile/entries/002",
    ],
)
def test_tile_beyond_the_log_is_not_found(
    client: TestClient, leaves: list[bytes], path: str
) -> None:
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/2",
        "/tile/0/0002",
        "/tile/0/x000/001",
        "/tile/0/x001",
        "/tile/64/000",
        "/tile/64/000.p/1",
        "/tile/-1/000",
        "/tile/00/000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/",
        "/tile/entries/000.p/256",
        "/tile/entries/abc",
    ],
)
def test_malformed_tile_path_is_rejected_with_a_message(
    client: TestClient, leaves: list[bytes], path: str
) -> None:
    assert_error(client.get(path), 400, "malformed")


def test_tile_level_above_63_is_rejected_naming_the_level(
    client: TestClient, leaves: list[bytes]
) -> None:
    message = assert_error(client.get("/tile/64/000.p/1"), 400, "malformed")

    assert "level" in message


# Compression


def test_large_entry_bundle_is_gzipped_for_clients_that_accept_it(
    client: TestClient, leaves: list[bytes]
) -> None:
    response = client.get("/tile/entries/000.p/255", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    # Tiles are cached as immutable, so caches must keep the two encodings apart.
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) < len(response.content)
    assert decode_entry_bundle(response.content) == leaves[:255]  # httpx decompressed it


def test_entry_bundle_is_sent_uncompressed_to_clients_that_do_not_accept_gzip(
    client: TestClient, leaves: list[bytes]
) -> None:
    response = client.get("/tile/entries/000.p/255", headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert decode_entry_bundle(response.content) == leaves[:255]


def test_hash_tiles_are_never_compressed_and_read_the_same_twice(
    client: TestClient, leaves: list[bytes]
) -> None:
    # Random hashes: gzip would only make them larger. The second read comes from the cache.
    first = client.get("/tile/0/000", headers={"Accept-Encoding": "gzip"})
    again = client.get("/tile/0/000", headers={"Accept-Encoding": "gzip"})

    for response in (first, again):
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert response.headers["cache-control"] == IMMUTABLE
        assert split_hashes(response.content) == [hash_leaf(leaf) for leaf in leaves[:256]]


def test_cached_bundle_keeps_each_encoding_apart(client: TestClient, leaves: list[bytes]) -> None:
    for encoding in ("gzip", "identity", "gzip", "identity"):
        response = client.get("/tile/entries/000", headers={"Accept-Encoding": encoding})
        assert response.status_code == 200
        assert ("content-encoding" in response.headers) == (encoding == "gzip")
        assert decode_entry_bundle(response.content) == leaves[:256]


def test_small_entry_bundle_is_not_compressed(client: TestClient, leaves: list[bytes]) -> None:
    response = client.get("/tile/entries/000.p/1", headers={"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert decode_entry_bundle(response.content) == leaves[:1]


# /v1/log


def test_log_status_reports_the_latest_signed_checkpoint(
    client: TestClient, signer: Signer, leaves: list[bytes]
) -> None:
    status = get_json(client, "/v1/log")

    assert status["origin"] == signer.name
    assert status["tree_size"] == LEAF_COUNT
    assert status["root_hash"] == b64(root_of(leaves))
    assert status["vkey"] == signer.verifier.vkey
    checkpoint = open_checkpoint(status["checkpoint"].encode(), signer.verifier)
    assert (checkpoint.size, checkpoint.root_hash) == (LEAF_COUNT, root_of(leaves))


@pytest.mark.parametrize("index", [0, 255, 256, 511, 599])
def test_entry_returns_the_exact_leaf_bytes_and_leaf_hash(
    client: TestClient, leaves: list[bytes], index: int
) -> None:
    entry = get_json(client, f"/v1/log/entries/{index}")

    assert entry["index"] == index
    assert base64.b64decode(entry["data"]) == leaves[index]
    assert entry["leaf_hash"] == b64(hash_leaf(leaves[index]))


def test_entry_beyond_the_log_is_not_found(client: TestClient, leaves: list[bytes]) -> None:
    assert_error(client.get(f"/v1/log/entries/{LEAF_COUNT}"), 404, "not_found")


@pytest.mark.parametrize("index", ["-1", "x", "1.5"])
def test_entry_with_an_invalid_index_is_malformed(
    client: TestClient, leaves: list[bytes], index: str
) -> None:
    assert_error(client.get(f"/v1/log/entries/{index}"), 400, "malformed")


# /v1/log/proof/inclusion


def check_inclusion(proof: dict[str, Any], leaves: list[bytes], index: int, size: int) -> None:
    """The proof is for leaves[index] in the tree of `size` and leads to that tree's root."""
    assert (proof["leaf_index"], proof["tree_size"]) == (index, size)
    leaf_hash = base64.b64decode(proof["leaf_hash"])
    assert leaf_hash == hash_leaf(leaves[index])
    path = [base64.b64decode(h) for h in proof["inclusion_path"]]
    verify_inclusion(leaf_hash, index, size, path, root_of(leaves[:size]))


@pytest.mark.parametrize(
    ("index", "size"),
    [(0, 1), (0, 600), (7, 100), (255, 256), (256, 600), (300, 301), (511, 512), (599, 600)],
)
def test_inclusion_proof_by_index_verifies_against_the_root_at_that_size(
    client: TestClient, leaves: list[bytes], index: int, size: int
) -> None:
    proof = get_json(client, "/v1/log/proof/inclusion", index=index, tree_size=size)

    check_inclusion(proof, leaves, index, size)


def test_inclusion_proof_defaults_to_the_latest_tree_size(
    client: TestClient, leaves: list[bytes]
) -> None:
    proof = get_json(client, "/v1/log/proof/inclusion", index=42)

    check_inclusion(proof, leaves, 42, LEAF_COUNT)


def leaf_whose_base64_hash_needs_escaping(leaves: list[bytes]) -> int:
    """A leaf whose base64 hash contains '+' and '/', which must survive the query string."""
    return next(i for i, leaf in enumerate(leaves) if {"+", "/"} <= set(b64(hash_leaf(leaf))))


@pytest.mark.parametrize("encoding", ["hex", "base64"])
def test_inclusion_proof_by_leaf_hash_accepts_hex_and_base64(
    client: TestClient, leaves: list[bytes], encoding: str
) -> None:
    index = leaf_whose_base64_hash_needs_escaping(leaves)
    leaf_hash = hash_leaf(leaves[index])
    given = leaf_hash.hex() if encoding == "hex" else b64(leaf_hash)

    proof = get_json(client, "/v1/log/proof/inclusion", leaf_hash=given, tree_size=500)

    check_inclusion(proof, leaves, index, 500)


def test_inclusion_proof_for_a_leaf_hash_not_in_the_log_is_not_found(
    client: TestClient, leaves: list[bytes]
) -> None:
    unknown = hash_leaf(b"never appended").hex()

    assert_error(
        client.get("/v1/log/proof/inclusion", params={"leaf_hash": unknown}), 404, "not_found"
    )


def test_inclusion_proof_by_leaf_hash_ignores_leaves_after_tree_size(
    client: TestClient, leaves: list[bytes]
) -> None:
    later = hash_leaf(leaves[10]).hex()
    response = client.get("/v1/log/proof/inclusion", params={"leaf_hash": later, "tree_size": 10})

    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "params",
    [{}, {"tree_size": 5}, {"index": 1, "leaf_hash": "00" * 32}],
    ids=["neither", "only-tree-size", "both"],
)
def test_inclusion_proof_needs_exactly_one_of_index_and_leaf_hash(
    client: TestClient, leaves: list[bytes], params: dict[str, Any]
) -> None:
    message = assert_error(client.get("/v1/log/proof/inclusion", params=params), 400, "malformed")

    assert "index" in message and "leaf_hash" in message


@pytest.mark.parametrize(
    "params",
    [
        {"index": 5, "tree_size": LEAF_COUNT + 1},
        {"leaf_hash": hash_leaf(b"entry 00005").hex(), "tree_size": LEAF_COUNT + 1},
    ],
    ids=["by-index", "by-leaf-hash"],
)
def test_inclusion_proof_for_a_tree_larger_than_the_log_is_malformed(
    client: TestClient, leaves: list[bytes], params: dict[str, Any]
) -> None:
    message = assert_error(client.get("/v1/log/proof/inclusion", params=params), 400, "malformed")

    assert str(LEAF_COUNT + 1) in message


@pytest.mark.parametrize(
    "params",
    [
        {"index": 5, "tree_size": 5},
        {"index": LEAF_COUNT},
        {"index": -1},
        {"index": 0, "tree_size": 0},
    ],
)
def test_inclusion_proof_for_an_index_outside_the_tree_is_malformed(
    client: TestClient, leaves: list[bytes], params: dict[str, Any]
) -> None:
    assert_error(client.get("/v1/log/proof/inclusion", params=params), 400, "malformed")


def test_inclusion_proof_with_a_non_integer_index_names_the_parameter(
    client: TestClient, leaves: list[bytes]
) -> None:
    response = client.get("/v1/log/proof/inclusion", params={"index": "abc"})

    assert "index" in assert_error(response, 400, "malformed")


@pytest.mark.parametrize("leaf_hash", ["zz", "00" * 31, b64(b"\x00" * 31), "not base64!"])
def test_inclusion_proof_with_a_malformed_leaf_hash_is_rejected(
    client: TestClient, leaves: list[bytes], leaf_hash: str
) -> None:
    response = client.get("/v1/log/proof/inclusion", params={"leaf_hash": leaf_hash})

    assert "leaf_hash" in assert_error(response, 400, "malformed")


# /v1/log/proof/consistency


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (1, 1),
        (1, 600),
        (5, 600),
        (100, 400),
        (255, 600),
        (256, 512),
        (300, 301),
        (512, 600),
        (600, 600),
    ],
)
def test_consistency_proof_verifies_between_the_roots_of_both_sizes(
    client: TestClient, leaves: list[bytes], first: int, second: int
) -> None:
    proof = get_json(client, "/v1/log/proof/consistency", first=first, second=second)

    assert (proof["first"], proof["second"]) == (first, second)
    path = [base64.b64decode(h) for h in proof["consistency_path"]]
    verify_consistency(first, second, root_of(leaves[:first]), root_of(leaves[:second]), path)


def test_consistency_proof_defaults_to_the_latest_tree_size(
    client: TestClient, leaves: list[bytes]
) -> None:
    proof = get_json(client, "/v1/log/proof/consistency", first=100)

    assert proof["second"] == LEAF_COUNT
    path = [base64.b64decode(h) for h in proof["consistency_path"]]
    verify_consistency(100, LEAF_COUNT, root_of(leaves[:100]), root_of(leaves), path)


@pytest.mark.parametrize(
    "params",
    [
        {"first": 6, "second": 5},
        {"first": 0, "second": 5},
        {"first": 5, "second": 0},
        {"first": 5, "second": LEAF_COUNT + 1},
        {"first": LEAF_COUNT + 1},
        {"first": "x"},
        {},
    ],
    ids=["first>second", "first=0", "second=0", "second>size", "first>size", "first=x", "none"],
)
def test_consistency_proof_between_impossible_sizes_is_malformed(
    client: TestClient, leaves: list[bytes], params: dict[str, Any]
) -> None:
    assert_error(client.get("/v1/log/proof/consistency", params=params), 400, "malformed")


# Documentation


def test_interactive_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_openapi_schema_lists_the_read_paths(client: TestClient) -> None:
    schema = get_json(client, "/openapi.json")

    assert {"/checkpoint", "/v1/log", "/v1/log/proof/inclusion"} <= set(schema["paths"])
