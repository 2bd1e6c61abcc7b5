"""A forked copy of a registry's log: another database, signed with the same log key, that
holds the first `keep` entries of the original and then entries of its own. It is what a log
operator shows someone it wants to deceive (a split view); served over the same HTTP API, so an
auditor sees it only as another log at another address.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

import migrations
from api import create_app
from ledger import LogConfig, LogStore, Signer, open_engine
from ledger.note import write_private_key_file
from ledger.remote import RemoteLog
from registry import RegistrySettings
from registry.open import registry_sequencer
from tests.support.clocks import FixedClock


@contextmanager
def forked_copy(
    original: LogStore, signer: Signer, clock: FixedClock, directory: Path, keep: int, own: int
) -> Iterator[LogStore]:
    """The copy's store: `keep` entries of `original`, then `own` entries no one else has."""
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'fork.db'}"
    migrations.upgrade(url)
    engine = open_engine(url)
    try:
        store = LogStore(engine)
        sequencer = registry_sequencer(store, signer, clock)
        sequencer.initialize()
        leaves = [original.entry(i) for i in range(keep)]
        leaves += [f'{{"kind":"fork/v1","n":{n}}}'.encode() for n in range(own)]
        sequencer.append(leaves)
        yield store
    finally:
        engine.dispose()


class KeptOpen(RemoteLog):
    """A RemoteLog whose `close` leaves the shared test client open, so that several `prov`
    invocations in one test can each open and close "their" log."""

    def close(self) -> None:
        pass


@contextmanager
def served_store(store: LogStore, signer: Signer, directory: Path) -> Iterator[TestClient]:
    """The registry's HTTP API over `store`, holding the log key (in `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "log.key"
    key_file.unlink(missing_ok=True)
    write_private_key_file(key_file, signer.to_string(), "log")
    url = store.engine.url.render_as_string(hide_password=False)
    settings = RegistrySettings(log=LogConfig(directory, url, key_file), verify_workers=0)
    with TestClient(create_app(settings)) as client:
        yield client
