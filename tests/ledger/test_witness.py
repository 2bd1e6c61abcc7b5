"""The C2SP tlog-witness: the add-checkpoint rules on SQLite and PostgreSQL, the HTTP app, and
a real `prov witness serve`.

Checkpoints and consistency proofs come from `History`, a log kept in memory here and built
with ledger.merkle, so the witness is checked against proofs it did not compute itself.
"""

import base64
import json
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.witness_app import WitnessSettings, create_witness_app
from cli.main import main
from ledger import Checkpoint, Signer, hash_leaf, prove_consistency, sign_checkpoint, tree_hash
from ledger.cosignature import CosignatureVerifier, Cosigner, verify_cosignatures
from ledger.database import open_engine
from ledger.errors import MalformedError
from ledger.merkle import Node
from ledger.note import write_private_key_file
from ledger.witness import (
    MAX_BODY_BYTES,
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessResponse,
    parse_add_checkpoint,
    read_refusals,
)
from tests.support.databases import ORIGIN
from tests.support.serving import PROV, witness_serve

WITNESS_NAME = "witness.example.org/w1"
NOW = 1_790_000_000


class History:
    """A log's leaves in memory: its signed checkpoints and consistency proofs at any size."""

    def __init__(self, signer: Signer, size: int, fork_at: int | None = None) -> None:
        self.signer = signer
        self.hashes = [
            hash_leaf(
                f"entry {i}{' forked' if fork_at is not None and i >= fork_at else ''}".encode()
            )
            for i in range(size)
        ]

    def root(self, size: int) -> bytes:
        return tree_hash(self.hashes[:size])

    def checkpoint(self, size: int) -> bytes:
        return sign_checkpoint(Checkpoint(self.signer.name, size, self.root(size)), self.signer)

    def proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        return prove_consistency(old, new, self._read)

    def _read(self, nodes: Sequence[Node]) -> list[bytes]:
        return [
            tree_hash(self.hashes[n.index << n.level : (n.index + 1) << n.level]) for n in nodes
        ]

    def body(self, old: int, new: int) -> bytes:
        return request_body(old, self.proof(old, new), self.checkpoint(new))


def request_body(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    lines = "".join(base64.b64encode(h).decode() + "\n" for h in proof)
    return f"old {old}\n{lines}\n".encode() + note


@pytest.fixture
def cosigner() -> Cosigner:
    return Cosigner.generate(WITNESS_NAME)


@pytest.fixture
def history(signer: Signer) -> History:
    return History(signer, 64)


@pytest.fixture
def witness(migrated_url: str, signer: Signer, cosigner: Cosigner) -> Iterator[Witness]:
    engine = open_engine(migrated_url)
    yield Witness(engine, cosigner, {ORIGIN: signer.verifier})
    engine.dispose()


def assert_cosigned(response: WitnessResponse, note: bytes, witness: CosignatureVerifier) -> int:
    """A 200 whose body is one cosignature line by `witness` on `note`; returns its timestamp."""
    assert response.status == 200, response.body
    assert response.body.startswith("\u2014 ".encode()) and response.body.endswith(b"\n")
    (cosignature,) = verify_cosignatures(note + response.body, [witness])
    return cosignature.timestamp


def assert_refused(response: WitnessResponse, status: int, *phrases: str) -> None:
    assert response.status == status, response.body
    assert response.content_type.startswith("text/plain")
    for phrase in phrases:
        assert phrase in response.body.decode()


def stored_size(witness: Witness) -> int | None:
    latest = witness.latest(ORIGIN)
    return None if latest is None else latest.size


# The protocol, on both databases


def test_first_checkpoint_with_old_0_is_cosigned(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    note = history.checkpoint(5)
    response = witness.add_checkpoint(request_body(0, [], note), NOW)

    assert assert_cosigned(response, note, cosigner.verifier) == NOW
    latest = witness.latest(ORIGIN)
    assert latest is not None
    assert (latest.size, latest.root_hash, latest.note) == (5, history.root(5), note)
    assert latest.updated_ms == NOW * 1000


def test_growth_with_a_consistency_proof_is_cosigned(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    for old, new in [(5, 13), (13, 16), (16, 17), (17, 64)]:
        response = witness.add_checkpoint(history.body(old, new), NOW + new)
        assert assert_cosigned(response, history.checkpoint(new), cosigner.verifier) == NOW + new
        assert stored_size(witness) == new
    assert read_refusals(witness.engine) == []


def test_empty_tree_then_growth_from_old_0(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    # A fresh log (`prov init`) signs size 0; from it, old 0 is the only possible old size.
    assert witness.add_checkpoint(history.body(0, 0), NOW).status == 200
    response = witness.add_checkpoint(history.body(0, 9), NOW)
    assert_cosigned(response, history.checkpoint(9), cosigner.verifier)


def test_same_checkpoint_again_is_cosigned_again(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    response = witness.add_checkpoint(history.body(5, 5), NOW + 60)
    assert assert_cosigned(response, history.checkpoint(5), cosigner.verifier) == NOW + 60


def test_timestamps_never_go_back_when_the_clock_does(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    response = witness.add_checkpoint(history.body(5, 8), NOW - 3600)
    assert assert_cosigned(response, history.checkpoint(8), cosigner.verifier) == NOW


def test_stale_old_size_is_409_with_the_stored_size(witness: Witness, history: History) -> None:
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    assert witness.add_checkpoint(history.body(5, 9), NOW).status == 200

    for body in (history.body(5, 12), history.body(0, 12), history.body(3, 12)):
        response = witness.add_checkpoint(body, NOW)
        assert (response.status, response.body) == (409, b"9\n")
        assert response.content_type == SIZE_CONTENT_TYPE == "text/x.tlog.size"
    assert stored_size(witness) == 9
    assert read_refusals(witness.engine) == []  # how a client learns the size: not evidence


def test_same_size_different_root_is_409_and_kept(
    witness: Witness, history: History, signer: Signer
) -> None:
    fork = History(signer, 64, fork_at=3)
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    body = fork.body(5, 5)

    assert_refused(witness.add_checkpoint(body, NOW), 409, "two different roots")
    (refusal,) = read_refusals(witness.engine)
    assert (refusal.origin, refusal.status, refusal.request) == (ORIGIN, 409, body)
    latest = witness.latest(ORIGIN)
    assert latest is not None and latest.root_hash == history.root(5)


def test_bad_proof_is_422_and_kept_as_evidence(witness: Witness, history: History) -> None:
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200
    proof = history.proof(5, 13)
    proof[1] = bytes(32)
    body = request_body(5, proof, history.checkpoint(13))

    assert_refused(witness.add_checkpoint(body, NOW + 1), 422, "does not verify")
    (refusal,) = read_refusals(witness.engine, ORIGIN)
    assert (refusal.status, refusal.request, refusal.received_ms) == (422, body, (NOW + 1) * 1000)
    assert "consistency proof" in refusal.reason
    assert stored_size(witness) == 5


@pytest.mark.parametrize(
    "proof_change",
    [lambda p: p[:-1], lambda p: [*p, bytes(32)], lambda p: list(reversed(p))],
    ids=["proof-truncated", "proof-extended", "proof-reversed"],
)
def test_changed_proof_is_422(
    witness: Witness, history: History, proof_change: Callable[[list[bytes]], list[bytes]]
) -> None:
    assert witness.add_checkpoint(history.body(0, 6), NOW).status == 200
    proof = proof_change(history.proof(6, 21))
    response = witness.add_checkpoint(request_body(6, proof, history.checkpoint(21)), NOW)
    assert_refused(response, 422)
    assert stored_size(witness) == 6


def test_forked_larger_checkpoint_is_refused(
    witness: Witness, history: History, signer: Signer
) -> None:
    # The same log key signs a second history that differs from leaf 3 on: its own proof from
    # size 5 is valid for it, but not from the root this witness cosigned.
    fork = History(signer, 64, fork_at=3)
    assert witness.add_checkpoint(history.body(0, 5), NOW).status == 200

    assert_refused(witness.add_checkpoint(fork.body(5, 20), NOW), 422, "does not verify")
    assert [r.status for r in read_refusals(witness.engine)] == [422]
    assert stored_size(witness) == 5


def test_rolled_back_checkpoint_is_refused(witness: Witness, history: History) -> None:
    assert witness.add_checkpoint(history.body(0, 20), NOW).status == 200

    older = request_body(20, [], history.checkpoint(7))
    assert_refused(witness.add_checkpoint(older, NOW), 400, "larger than the checkpoint's 7")
    response = witness.add_checkpoint(request_body(7, [], history.checkpoint(7)), NOW)
    assert (response.status, response.body) == (409, b"20\n")
    assert stored_size(witness) == 20


def test_non_empty_proof_with_old_0_is_422(witness: Witness, history: History) -> None:
    # tlog-witness: "The proof MUST be empty if the old size is zero. If the Merkle Consistency
    # Proof doesn't verify ... 422". No non-empty proof from size 0 verifies, so 422 (not 400).
    body = request_body(0, [history.root(4)], history.checkpoint(8))
    assert_refused(witness.add_checkpoint(body, NOW), 422, "must be empty")
    assert stored_size(witness) is None


def test_unknown_origin_is_404(witness: Witness) -> None:
    other = History(Signer.generate("example.org/another-log"), 8)
    assert_refused(witness.add_checkpoint(other.body(0, 8), NOW), 404, "example.org/another-log")


def test_signature_by_a_wrong_key_is_403(witness: Witness) -> None:
    impostor = History(Signer.generate(ORIGIN), 8)  # same origin, another key
    assert_refused(witness.add_checkpoint(impostor.body(0, 8), NOW), 403, "not signed")
    assert stored_size(witness) is None
    assert read_refusals(witness.engine) == []


def test_old_larger_than_size_is_400(witness: Witness, history: History) -> None:
    body = request_body(9, [], history.checkpoint(8))
    assert_refused(witness.add_checkpoint(body, NOW), 400, "old size 9")


def test_unknown_signatures_are_ignored(
    witness: Witness, history: History, cosigner: Cosigner
) -> None:
    other = Cosigner.generate("witness.example.org/other")
    note = history.checkpoint(5)
    text = note.decode().partition("\n\n")[0] + "\n"
    note += other.cosign(text, NOW).line().encode()  # another witness's cosignature

    response = witness.add_checkpoint(request_body(0, [], note), NOW)
    assert_cosigned(response, note, cosigner.verifier)


def test_malformed_bodies_are_400(witness: Witness, history: History) -> None:
    note = history.checkpoint(8)
    proof_line = base64.b64encode(bytes(32)).decode() + "\n"
    cases = {
        "leading-zeros": b"old 05\n\n" + note,
        "64-proof-lines": b"old 5\n" + proof_line.encode() * 64 + b"\n" + note,
        "non-base64-proof-line": b"old 5\n" + b"not*base64\n\n" + note,
        "missing-blank-line": b"old 0\n" + note,
        "note-without-signatures": b"old 0\n\n" + note.partition(b"\n\n")[0] + b"\n",
    }
    for name, body in cases.items():
        response = witness.add_checkpoint(body, NOW)
        assert response.status == 400, (name, response.body)
    assert stored_size(witness) is None
    assert read_refusals(witness.engine) == []


# parse_add_checkpoint


def test_parse_add_checkpoint_splits_the_body(history: History) -> None:
    proof = history.proof(5, 13)
    note = history.checkpoint(13)
    assert parse_add_checkpoint(request_body(5, proof, note)) == (5, tuple(proof), note)
    assert parse_add_checkpoint(b"old 0\n\n" + note) == (0, (), note)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"old 05\n\nx", "leading zeros"),
        (b"old -1\n\nx", "leading zeros"),
        (b"old  5\n\nx", "leading zeros"),
        (b"new 5\n\nx", "must start with a line `old <size>`"),
        (b"old 5", "no empty line"),
        (b"old 5\n" + b"AAAA\n\nx", "not a 32-byte hash"),
        (b"old 5\n" + base64.b64encode(bytes(33)) + b"\n\nx", "33 bytes"),
        (b"old 5\n" + b"A" * 43 + b"B=\n\nx", "not canonical"),
        (b"old 5\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\nx", "at most 63"),
        (b"old 5\n\xff\n\nx", "ASCII"),
        (b"old 0\n\n" + b"x" * MAX_BODY_BYTES, "larger than"),
    ],
    ids=[
        "leading-zero",
        "negative",
        "two-spaces",
        "not-old",
        "no-empty-line",
        "short-hash",
        "long-hash",
        "non-canonical-base64",
        "64-proof-lines",
        "non-ascii",
        "too-large",
    ],
)
def test_parse_add_checkpoint_rejects(body: bytes, message: str) -> None:
    with pytest.raises(MalformedError, match=message):
        parse_add_checkpoint(body)


def test_63_proof_lines_parse() -> None:
    line = base64.b64encode(bytes(32)) + b"\n"
    assert len(parse_add_checkpoint(b"old 5\n" + line * 63 + b"\nx").proof) == 63


# Concurrency: check-old-size and update are one atomic step


def race(
    barrier: threading.Barrier, witness: Witness, history: History, old: int, new: int
) -> tuple[int, int, int]:
    """Submit old -> new the moment every other racer is ready; (old, new, status)."""
    body = history.body(old, new)
    barrier.wait()
    return old, new, witness.add_checkpoint(body, NOW).status


def test_racing_requests_never_roll_the_stored_size_back(
    migrated_url: str, signer: Signer, cosigner: Cosigner, history: History
) -> None:
    current = 1
    engines = [open_engine(migrated_url) for _ in range(3)]
    witnesses = [Witness(e, cosigner, {ORIGIN: signer.verifier}) for e in engines]
    try:
        assert witnesses[0].add_checkpoint(history.body(0, current), NOW).status == 200
        cosigned_max = current
        for _round in range(8):
            n, n_plus_k = current + 1, current + 3
            requests = [(current, n), (current, n_plus_k), (n, n_plus_k)]
            barrier = threading.Barrier(len(requests))
            with ThreadPoolExecutor(len(requests)) as pool:
                futures = [
                    pool.submit(race, barrier, witnesses[i], history, *r)
                    for i, r in enumerate(requests)
                ]
                results = [f.result() for f in futures]
            cosigned = [new for _, new, status in results if status == 200]
            assert all(status in (200, 409) for _, _, status in results), results
            # Exactly one of the two requests from the stored size wins the old-size check.
            assert sum(status == 200 for old, _, status in results if old == current) == 1
            cosigned_max = max(cosigned_max, *cosigned)
            assert stored_size(witnesses[0]) == cosigned_max, results
            current = cosigned_max
    finally:
        for engine in engines:
            engine.dispose()


# HTTP: create_witness_app


@pytest.fixture
def client(
    tmp_path: Path, migrated_url: str, signer: Signer, cosigner: Cosigner
) -> Iterator[TestClient]:
    key_file = tmp_path / "witness.key"
    write_private_key_file(key_file, cosigner.to_string(), "witness")
    settings = WitnessSettings(migrated_url, key_file, [signer.verifier.vkey], clock=lambda: NOW)
    app = create_witness_app(settings)
    with TestClient(app) as test_client:
        yield test_client
    engine: Engine = app.state.witness.engine
    engine.dispose()


def test_http_add_checkpoint_statuses(
    client: TestClient, history: History, signer: Signer, cosigner: Cosigner
) -> None:
    def post(body: bytes) -> httpx.Response:
        response: httpx.Response = client.post("/add-checkpoint", content=body)
        return response

    first = post(history.body(0, 5))
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "text/plain; charset=utf-8"
    (cosignature,) = verify_cosignatures(history.checkpoint(5) + first.content, [cosigner.verifier])
    assert cosignature.timestamp == NOW

    stale = post(history.body(0, 9))
    assert (stale.status_code, stale.content) == (409, b"5\n")
    assert stale.headers["content-type"] == "text/x.tlog.size"

    assert post(history.body(5, 9)).status_code == 200
    assert post(request_body(9, [bytes(32)], history.checkpoint(12))).status_code == 422
    assert post(History(signer, 64, fork_at=2).body(9, 9)).status_code == 409
    assert post(History(Signer.generate("example.org/x"), 4).body(0, 4)).status_code == 404
    assert post(History(Signer.generate(ORIGIN), 12).body(9, 12)).status_code == 403
    assert post(request_body(13, [], history.checkpoint(12))).status_code == 400
    malformed = post(b"old 09\n\n" + history.checkpoint(12))
    assert malformed.status_code == 400
    assert "leading zeros" in malformed.text


def test_http_body_over_the_limit_is_400(client: TestClient) -> None:
    response = client.post("/add-checkpoint", content=b"old 0\n\n" + b"x" * (2 * MAX_BODY_BYTES))
    assert response.status_code == 400
    assert "larger than" in response.text


def test_http_describes_the_witness(client: TestClient, signer: Signer, cosigner: Cosigner) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.json() == {
        "name": WITNESS_NAME,
        "vkey": cosigner.verifier.vkey,
        "origins": [ORIGIN],
    }
    assert CosignatureVerifier.from_vkey(response.json()["vkey"]) == cosigner.verifier


# The CLI


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The options under test decide; a developer's PROV_* variables must not."""
    for name in list(os.environ):
        if name.startswith("PROV_"):
            monkeypatch.delenv(name)
    return dict(os.environ)


def printed_witness_key(output: str) -> CosignatureVerifier:
    (line,) = [line for line in output.splitlines() if line.startswith("verifier key: ")]
    return CosignatureVerifier.from_vkey(line.removeprefix("verifier key: "))


def test_init_defaults_to_prov_witness_and_refuses_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    first = runner.invoke(main, ["witness", "init", "--name", WITNESS_NAME])
    assert first.exit_code == 0, first.output
    key_file = tmp_path / "prov-witness" / "witness.key"
    assert (key_file.stat().st_mode & 0o777) == 0o600
    assert (tmp_path / "prov-witness" / "witness.sqlite").exists()
    vkey = printed_witness_key(first.stdout)
    assert Cosigner.from_string(key_file.read_text()).verifier == vkey

    again = runner.invoke(main, ["witness", "init", "--name", WITNESS_NAME])
    assert again.exit_code == 0, again.output
    assert printed_witness_key(again.stdout) == vkey
    other = runner.invoke(main, ["witness", "init", "--name", "witness.example.org/w2"])
    assert other.exit_code == 2
    assert "use another --key-file" in other.output
    assert Cosigner.from_string(key_file.read_text()).verifier == vkey


def test_status_without_a_database_says_to_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean_env: dict[str, str]
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["witness", "status"])
    assert result.exit_code == 2
    assert "prov witness init" in result.output


def test_prov_witness_serve_cosigns_over_http(
    tmp_path: Path, clean_env: dict[str, str], signer: Signer, history: History
) -> None:
    key_file, url = tmp_path / "w" / "witness.key", f"sqlite:///{tmp_path / 'w' / 'witness.db'}"
    (tmp_path / "w").mkdir()
    storage = ["--key-file", str(key_file), "--database", url]
    init = subprocess.run(
        [str(PROV), "witness", "init", "--name", WITNESS_NAME, *storage],
        capture_output=True, text=True, env=clean_env, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    witness_key = printed_witness_key(init.stdout)

    options = ["--log", signer.verifier.vkey, *storage]
    with witness_serve(options, tmp_path / "serve.log", clean_env) as base:
        assert httpx.get(f"{base}/", timeout=5).json()["origins"] == [ORIGIN]
        response = httpx.post(f"{base}/add-checkpoint", content=history.body(0, 10), timeout=5)
        assert response.status_code == 200, response.text
        (cosignature,) = verify_cosignatures(
            history.checkpoint(10) + response.content, [witness_key]
        )
        assert abs(cosignature.timestamp - time.time()) < 60
        stale = httpx.post(f"{base}/add-checkpoint", content=history.body(0, 12), timeout=5)
        assert (stale.status_code, stale.text) == (409, "10\n")
        assert stale.headers["content-type"] == "text/x.tlog.size"

    status = CliRunner().invoke(main, ["witness", "status", "--json", "--database", url])
    assert status.exit_code == 0, status.output
    (logged,) = json.loads(status.stdout)["logs"]
    assert (logged["origin"], logged["tree_size"], logged["refusals"]) == (ORIGIN, 10, 0)
    assert logged["root_hash"] == base64.b64encode(history.root(10)).decode()
