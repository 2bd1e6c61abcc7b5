"""Wiring: a Registry over the log a configuration points at."""

import time
from collections.abc import Callable

from ledger import LogStore, Sequencer, Signer, open_engine
from ledger.database import STALL_TIMEOUT_S
from ledger.published import PublishedMark
from ledger.sequencer import SequencerObserver
from registry.admission.registry import Registry
from registry.config import RegistrySettings
from registry.entries.status_subjects import status_subjects


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def registry_sequencer(
    store: LogStore,
    signer: Signer,
    clock: Callable[[], int],
    *,
    stall_timeout_s: float = STALL_TIMEOUT_S,
    observer: SequencerObserver | None = None,
    mark: PublishedMark | None = None,
) -> Sequencer:
    """The sequencer of a registry's log: it keeps the status index of the revocations
    (registry.entries.status_subjects) and signs its note beside every checkpoint; with
    `mark`, it never forks what the log published (ledger.published)."""
    return Sequencer(
        store,
        signer,
        clock,
        status_rule=status_subjects,
        stall_timeout_s=stall_timeout_s,
        observer=observer,
        mark=mark,
    )


def open_registry(
    settings: RegistrySettings,
    *,
    writable: bool = True,
    clock: Callable[[], int] = now_ms,
    observer: SequencerObserver | None = None,
) -> Registry:
    """A Registry on the configured database. It can append only where the log key is.
    `clock` (POSIX milliseconds) dates what it logs; `observer` watches its sequencer."""
    store = LogStore(open_engine(settings.log.database_url))
    sequencer = None
    if writable and settings.log.key_file.exists():
        signer = settings.log.load_signer()
        mark = settings.log.published_mark()
        sequencer = registry_sequencer(store, signer, clock, observer=observer, mark=mark)
    return Registry(store, sequencer, settings, clock)
