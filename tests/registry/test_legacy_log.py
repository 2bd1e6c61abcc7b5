"""A log written before the status index (tests/fixtures/legacy_log, made by the code of
commit bc9edcf): upgraded by the migrations and opened by today's code, it still replays clean,
its old bundle still verifies, and initialize() indexes its revocation at once."""

import gzip
import json
from pathlib import Path

from ledger import LogConfig, LogStore, Signer, Verifier, open_engine, open_status, status_root
from ledger.note import write_private_key_file
from ledger.remote import RemoteLog
from ledger.schema import log_status_notes
from migrations import upgrade
from registry import RegistrySettings
from registry.audit.replay import replay_log
from registry.bundle.verify import verify_bundle
from registry.cautions import LOGGED_AFTER_REVOCATION, REVOCATION_STATUS_UNPROVEN
from registry.entries.status_subjects import status_subjects
from registry.open import registry_sequencer
from tests.support.clocks import FixedClock
from tests.support.registry_fixtures import serving_app

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_log"
SIZE = 7  # vendor 0, device 1, captures 2-4 and 6, revocation 5 (see the fixture's README)
REVOCATION = 5


def _copy(tmp_path: Path) -> tuple[str, Signer]:
    database = tmp_path / "log.db"
    database.write_bytes(gzip.decompress((FIXTURE / "log.db.gz").read_bytes()))
    url = f"sqlite:///{database}"
    upgrade(url)
    return url, Signer.from_string((FIXTURE / "log.key").read_text())


def test_the_fixture_is_what_its_readme_says() -> None:
    vkey = (FIXTURE / "log.vkey").read_text().strip()
    assert Signer.from_string((FIXTURE / "log.key").read_text()).verifier == Verifier.from_vkey(
        vkey
    )
    assert "bc9edcf" in (FIXTURE / "README.md").read_text()
    total = sum(path.stat().st_size for path in FIXTURE.iterdir())
    assert total < 300_000


def test_an_upgraded_legacy_log_replays_clean(tmp_path: Path) -> None:
    url, signer = _copy(tmp_path)
    key_file = tmp_path / "log.key"
    write_private_key_file(key_file, signer.to_string(), "log")
    settings = RegistrySettings(log=LogConfig(tmp_path, url, key_file), verify_workers=0)
    with serving_app(settings) as client:
        report = replay_log(RemoteLog("http://testserver", http=client), signer.verifier, workers=1)
    assert report.ok and report.invalid == []
    # The capture logged after the revocation is cautioned, as today's replay of a new log would.
    assert [(c.index, c.code) for c in report.cautions] == [(6, LOGGED_AFTER_REVOCATION)]


def test_its_old_bundle_passes_every_check_of_todays_verifier(tmp_path: Path) -> None:
    signer = Signer.from_string((FIXTURE / "log.key").read_text())
    bundle = (FIXTURE / "bundle.json").read_bytes()
    assert json.loads(bundle)["revocations"]  # made after the revocation: it carries it
    report = verify_bundle(bundle, signer.verifier)
    assert report.checks and all(check.ok for check in report.checks), report.checks
    assert report.ok
    # Captured and logged before the compromise and the revocation: its only caution is that a
    # bundle made before status proofs cannot prove its revocation status (status-bundles).
    assert [c.code for c in report.cautions] == [REVOCATION_STATUS_UNPROVEN]


def test_initialize_indexes_its_revocation_with_the_recomputed_root(tmp_path: Path) -> None:
    url, signer = _copy(tmp_path)
    store = LogStore(open_engine(url))
    assert store.status_note(SIZE) is None
    assert registry_sequencer(store, signer, FixedClock()).initialize().size == SIZE
    leaves = store.entries(0, SIZE)
    recomputed: dict[bytes, list[int]] = {}
    for index, leaf in enumerate(leaves):
        for subject in status_subjects(leaf):
            recomputed.setdefault(subject, []).append(index)
    device = bytes.fromhex(json.loads(leaves[REVOCATION])["device"])
    assert recomputed == {device: [REVOCATION]}
    assert store.status_items(SIZE) == recomputed
    note = store.status_note(SIZE)
    assert note is not None
    commitment = open_status(note, signer.verifier)
    assert commitment.root_hash == store.latest_checkpoint().checkpoint.root_hash
    assert commitment.status_root == status_root(recomputed)
    # Only the latest checkpoint gets a note: the older ones were signed before the index.
    with store.engine.connect() as connection:
        sizes = list(
            connection.scalars(
                log_status_notes.select().with_only_columns(log_status_notes.c.tree_size)
            )
        )
    assert sizes == [SIZE]
    store.engine.dispose()
