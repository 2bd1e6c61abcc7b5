"""Wiring: a Registry over the log a configuration points at."""

import time
from collections.abc import Callable

from ledger import LogStore, Sequencer, open_engine
from registry.admission.registry import Registry
from registry.config import RegistrySettings


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def open_registry(
    settings: RegistrySettings, *, writable: bool = True, clock: Callable[[], int] = now_ms
) -> Registry:
    """A Registry on the configured database. It can append only where the log key is.
    `clock` (POSIX milliseconds) dates what it logs."""
    store = LogStore(open_engine(settings.log.database_url))
    sequencer = None
    if writable and settings.log.key_file.exists():
        sequencer = Sequencer(store, settings.log.load_signer(), clock)
    return Registry(store, sequencer, settings, clock)
