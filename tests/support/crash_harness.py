"""Breaking a running log on purpose, and checking it kept its promises.

A `LogUnderTest` is a real log (database + key + a vendor and enrolled devices) served by real
`prov serve` processes. `Submitters` post signed capture batches to those servers from several
threads and remember every acknowledgement (the index, leaf hash and checkpoint the server
answered with) and every checkpoint they were shown. `LogAuditor.check` then holds the log to
its promises, from the outside (HTTP) and from the database:

* every acknowledged record is in the log at its index, with the same leaf bytes;
* the latest checkpoint verifies and is consistent with every checkpoint published before
  (no fork, no rollback);
* nothing half-written is visible: the tiles and entry bundles hold exactly the tree of the
  latest checkpoint (no hash or entry beyond it), the served tiles rebuild to its root
  (`prov audit replay`'s code), every entry passes the admission rules, and the derived
  registry rows cover exactly the entries of that tree.
"""

import base64
import datetime as dt
import json
import os
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

import migrations
from ledger import LogConfig, LogStore, Verifier, open_checkpoint, open_engine
from ledger.merkle import hash_leaf, verify_consistency
from ledger.remote import RemoteLog
from ledger.schema import log_checkpoints, log_entry_bundles, log_tiles
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, tiles_for_size
from registry import Registry, RegistrySettings
from registry.admission.schema import reg_captures, reg_devices, reg_state, reg_vendors
from registry.audit.replay import replay_log
from registry.entries.codec import CAPTURE, b64, capture_message, parse_entry
from registry.entries.sdk import device_id, sign_message
from registry.open import now_ms, registry_sequencer
from testkit.pki import IssuedCert, make_device, make_intermediate, make_root
from tests.support.serving import Server

ADMIN_TOKEN = "crash-test-operator-token"
ORIGIN = "crash.example/log"


@dataclass
class LogUnderTest:
    """A log with a vendor and `devices`, ready for `prov serve` processes."""

    data_dir: Path
    database_url: str
    log_key: Verifier
    devices: list[IssuedCert]

    @classmethod
    def create(cls, data_dir: Path, database_url: str, devices: int = 4) -> "LogUnderTest":
        migrations.upgrade(database_url)
        config = LogConfig(data_dir, database_url, data_dir / "log.key")
        signer = config.write_new_key(ORIGIN)
        store = LogStore(open_engine(database_url))
        registry_sequencer(store, signer, now_ms).initialize()
        settings = RegistrySettings(log=config, admin_token=ADMIN_TOKEN)
        registry = Registry(store, registry_sequencer(store, signer, now_ms), settings, now_ms)
        now = dt.datetime.now(dt.UTC)
        root = make_root(now)
        ca = make_intermediate(root, now)
        issued = [
            make_device(ca, now, key="ES256" if i % 2 else "Ed25519", common_name=f"Crash #{i}")
            for i in range(devices)
        ]
        registry.add_vendor("Crash Test Camera Co.", "camera", root.der, ADMIN_TOKEN)
        for device in issued:
            registry.enroll_device(device.der, [ca.der])
        registry.close()
        store.engine.dispose()
        return cls(data_dir, database_url, signer.verifier, issued)

    def server(self, log: Path, extra_env: Mapping[str, str] | None = None) -> Server:
        env = {
            **os.environ,
            "PROV_DATA_DIR": str(self.data_dir),
            "PROV_DATABASE_URL": self.database_url,
            "PROV_ADMIN_TOKEN": ADMIN_TOKEN,
            "PROV_RATE_LIMIT": "0",  # the submitters are one client hammering on purpose
            "PROV_VERIFY_WORKERS": "2",
            **(extra_env or {}),
        }
        return Server(["serve"], "/checkpoint", log, env)


class RecordSource:
    """Signed capture records with random hashes and increasing per-device counters."""

    def __init__(self, devices: list[IssuedCert], seed: int) -> None:
        self._devices = devices
        self._ids = [device_id(d.certificate) for d in devices]
        self._counters = [0] * len(devices)
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def batch(self, size: int) -> list[dict[str, Any]]:
        with self._lock:
            claims = []
            for _ in range(size):
                which = self._random.randrange(len(self._devices))
                self._counters[which] += 1
                claims.append(
                    (
                        which,
                        {
                            "device": self._ids[which],
                            "counter": self._counters[which],
                            "captured_at": now_ms() - 1000,
                            "media_type": "image/jpeg",
                            "width": 4000,
                            "height": 3000,
                            "sha256": self._random.randbytes(32).hex(),
                            "pdq": self._random.randbytes(32).hex(),
                            "pdq_quality": 100,
                            "phash": self._random.randbytes(8).hex(),
                        },
                    )
                )
        return [
            {
                "claim": claim,
                "sig": b64(sign_message(self._devices[which].private_key, capture_message(claim))),
            }
            for which, claim in claims
        ]


@dataclass(frozen=True)
class Acknowledgement:
    index: int
    leaf_hash: bytes
    record: dict[str, Any]
    server: str  # base URL of the server that acknowledged it
    at: float = 0.0  # time.monotonic() when the answer arrived


@dataclass
class Observations:
    """What the clients were told: acknowledgements and every checkpoint they were shown."""

    acknowledged: list[Acknowledgement] = field(default_factory=list)
    checkpoints: dict[int, set[bytes]] = field(default_factory=dict)  # size -> roots seen
    unanswered_batches: int = 0  # requests cut off by a kill: neither promised nor refused
    lock: threading.Lock = field(default_factory=threading.Lock)

    def saw_checkpoint(self, note: bytes, log_key: Verifier) -> None:
        checkpoint = open_checkpoint(note, log_key)
        with self.lock:
            self.checkpoints.setdefault(checkpoint.size, set()).add(checkpoint.root_hash)


class Submitters:
    """`threads` clients per server URL, each posting batches until stopped. A batch cut off by
    a kill is submitted again later, as a vendor's uploader would: it must then come back as
    new entries or as duplicates of what was logged, never as a conflict."""

    def __init__(
        self,
        servers: list[str],
        source: RecordSource,
        log_key: Verifier,
        observations: Observations,
        threads: int = 2,
        batch_sizes: tuple[int, int] = (1, 120),
        seed: int = 0,
    ) -> None:
        self._servers = servers
        self._source = source
        self._log_key = log_key
        self._seen = observations
        self._threads = threads
        self._batch_sizes = batch_sizes
        self._random = random.Random(seed)
        self._retry: list[list[dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.errors: list[str] = []  # answers no client should ever get (a 4xx/5xx body)

    def start(self) -> None:
        self._stop.clear()
        self._workers = [
            threading.Thread(target=self._run, args=(server,), daemon=True)
            for server in self._servers
            for _ in range(self._threads)
        ]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=60)
            assert not worker.is_alive(), "a submitter did not stop"

    def _next_batch(self) -> list[dict[str, Any]]:
        with self._lock:
            if self._retry:
                return self._retry.pop()
            size = self._random.randint(*self._batch_sizes)
        return self._source.batch(size)

    def _run(self, server: str) -> None:
        with httpx.Client(base_url=server, timeout=30) as http:
            while not self._stop.is_set():
                batch = self._next_batch()
                try:
                    response = http.post("/v1/captures", json={"records": batch})
                except httpx.TransportError:
                    with self._lock:
                        self._retry.append(batch)
                    with self._seen.lock:
                        self._seen.unanswered_batches += 1
                    self._stop.wait(0.05)
                    continue
                if response.status_code != 200:
                    self.errors.append(f"{response.status_code} {response.text[:300]}")
                    continue
                self._record(server, batch, response.json())

    def _record(self, server: str, batch: list[dict[str, Any]], body: dict[str, Any]) -> None:
        acks = []
        for record, result in zip(batch, body["results"], strict=True):
            if not result["accepted"]:
                self.errors.append(f"refused: {result['code']}: {result['reason']}")
                continue
            acks.append(
                Acknowledgement(
                    result["index"],
                    base64.b64decode(result["leaf_hash"]),
                    record,
                    server,
                    time.monotonic(),
                )
            )
            self._seen.saw_checkpoint(result["checkpoint"].encode(), self._log_key)
        with self._seen.lock:
            self._seen.acknowledged.extend(acks)


@dataclass
class AuditFigures:
    checks: int = 0
    acknowledged: int = 0
    found: int = 0
    lost: int = 0  # acknowledged, but not at its index with the same leaf
    checkpoints_published: int = 0
    forks: int = 0  # a published checkpoint the latest is not consistent with
    half_written: int = 0  # tiles, bundles, entries or derived rows disagreeing with the tree
    logged_twice: int = 0  # one record at two indexes
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if k != "problems"} | {
            "problems": self.problems[:20]
        }


class LogAuditor:
    """Checks a log against what its clients were promised; findings go to `figures`."""

    def __init__(self, log: LogUnderTest, observations: Observations, state_dir: Path) -> None:
        self._log = log
        self._seen = observations
        self._state = state_dir / "replay.json"
        self._engine = open_engine(log.database_url)
        self._store = LogStore(self._engine)
        self.figures = AuditFigures()
        self._verified: dict[int, bytes] = {}  # published checkpoints already checked
        self._anchor: tuple[int, bytes] | None = None  # the latest at the previous check

    def close(self) -> None:
        self._engine.dispose()

    def check(self, base_url: str) -> int:
        """Check the log as `base_url` serves it now; returns the latest tree size."""
        figures = self.figures
        figures.checks += 1
        note = httpx.get(f"{base_url}/checkpoint", timeout=30).content
        latest = open_checkpoint(note, self._log.log_key)
        with self._seen.lock:
            acknowledged = list(self._seen.acknowledged)
            published = {size: set(roots) for size, roots in self._seen.checkpoints.items()}
        self._check_history(base_url, latest.size, latest.root_hash, published)
        self._check_acknowledged(acknowledged, latest.size)
        self._check_storage(latest.size)
        self._check_replay(base_url)
        return latest.size

    def _problem(self, counter: str, message: str) -> None:
        setattr(self.figures, counter, getattr(self.figures, counter) + 1)
        self.figures.problems.append(message)

    def _check_history(
        self, base_url: str, size: int, root: bytes, published: dict[int, set[bytes]]
    ) -> None:
        self.figures.checkpoints_published = sum(len(roots) for roots in published.values())
        # Published checkpoints verified against an earlier latest are skipped (consistency is
        # transitive), so that earlier latest itself is always checked against this one.
        if self._anchor is not None:
            published = {**published}
            published.setdefault(self._anchor[0], set()).add(self._anchor[1])
        for old_size, roots in sorted(published.items()):
            if len(roots) > 1:
                self._problem("forks", f"two roots were published for tree size {old_size}")
            for old_root in roots:
                if (
                    self._verified.get(old_size) == old_root
                    and (old_size, old_root) != self._anchor
                ):
                    continue
                if old_size > size:
                    self._problem(
                        "forks", f"rollback: published size {old_size}, now serving {size}"
                    )
                    continue
                if old_size == 0:
                    continue
                proof = httpx.get(
                    f"{base_url}/v1/log/proof/consistency",
                    params={"first": old_size, "second": size},
                    timeout=30,
                ).json()["consistency_path"]
                try:
                    verify_consistency(
                        old_size, size, old_root, root, [base64.b64decode(h) for h in proof]
                    )
                except Exception as exc:
                    self._problem("forks", f"size {old_size} is not consistent with {size}: {exc}")
                    continue
                self._verified[old_size] = old_root
        self._verified[size] = root
        self._anchor = (size, root)

    def _check_acknowledged(self, acknowledged: list[Acknowledgement], size: int) -> None:
        figures = self.figures
        figures.acknowledged = len(acknowledged)
        wanted = sorted({ack.index for ack in acknowledged})
        leaves = self._store.entries(0, size) if wanted else []
        found = 0
        first_index: dict[str, int] = {}
        for ack in acknowledged:
            if ack.index >= size:
                self._problem("lost", f"entry {ack.index} was acknowledged; the log has {size}")
                continue
            leaf = leaves[ack.index]
            entry = parse_entry(leaf)
            same = (
                hash_leaf(leaf) == ack.leaf_hash
                and entry.get("claim") == ack.record["claim"]
                and entry.get("sig") == ack.record["sig"]
            )
            if not same:
                self._problem("lost", f"entry {ack.index} is not the acknowledged record")
                continue
            found += 1
            key = ack.record["sig"]
            if first_index.setdefault(key, ack.index) != ack.index:
                self._problem("logged_twice", f"one record acknowledged at two indexes: {key}")
        figures.found = found
        by_sig: dict[str, int] = {}
        for index, leaf in enumerate(leaves):
            entry = parse_entry(leaf)
            if entry["kind"] == CAPTURE and by_sig.setdefault(entry["sig"], index) != index:
                self._problem("logged_twice", f"entries {by_sig[entry['sig']]} and {index} repeat")

    def _check_storage(self, size: int) -> None:
        """The database holds the tree of `size` and nothing half-written beyond it."""
        with self._engine.connect() as connection:
            tiles = {
                (row.level, row.tile_index): len(row.hashes) // 32
                for row in connection.execute(
                    select(log_tiles.c.level, log_tiles.c.tile_index, log_tiles.c.hashes)
                )
            }
            bundles = connection.execute(
                select(func.count(), func.max(log_entry_bundles.c.bundle_index))
            ).one()
            last_bundle = connection.execute(
                select(log_entry_bundles.c.entries).where(
                    log_entry_bundles.c.bundle_index == -(-size // TILE_WIDTH) - 1
                )
            ).scalar()
            checkpoints = connection.execute(select(func.max(log_checkpoints.c.tree_size))).scalar()
            indexed = connection.execute(select(reg_state.c.indexed_size)).scalar()
            captures = connection.execute(select(func.count()).select_from(reg_captures)).scalar()
            derived = sum(
                connection.execute(select(func.count()).select_from(table)).scalar() or 0
                for table in (reg_vendors, reg_devices)
            )
        expected = {(ref.level, ref.index): ref.width for ref in tiles_for_size(size)}
        if tiles != expected:
            extra = {k: v for k, v in tiles.items() if expected.get(k) != v}
            self._problem("half_written", f"tiles beyond or short of size {size}: {extra}")
        want_bundles = -(-size // TILE_WIDTH)
        if (bundles[0], bundles[1]) != (want_bundles, want_bundles - 1 if size else None):
            self._problem("half_written", f"entry bundles {tuple(bundles)} for size {size}")
        if (
            last_bundle is not None
            and len(decode_entry_bundle(last_bundle)) != size - (want_bundles - 1) * TILE_WIDTH
        ):
            self._problem("half_written", f"the last entry bundle does not end at {size}")
        if checkpoints != size:
            self._problem("half_written", f"a checkpoint at {checkpoints}, serving {size}")
        if indexed != size:
            self._problem("half_written", f"derived rows reach {indexed}, the tree {size}")
        if (captures or 0) + derived != size:
            self._problem(
                "half_written", f"{captures} capture rows + {derived} others for {size} entries"
            )

    def _check_replay(self, base_url: str) -> None:
        """Rebuild the served tiles from the served entries (resuming from the last check)."""
        with RemoteLog(base_url) as remote:
            report = replay_log(remote, self._log.log_key, state_path=self._state, workers=1)
        for finding in report.findings:
            self._problem("half_written", f"replay: {finding}")
        for invalid in report.invalid:
            self._problem("half_written", f"replay: invalid entry {invalid}")


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures, and append them to PROV_CRASH_REPORT (JSON lines) if it is set."""
    line = json.dumps({"test": name, **figures}, sort_keys=True)
    print(line)
    path = os.environ.get("PROV_CRASH_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")
