"""ApiSettings: everything create_app needs, the clocks included, so a test runs on fixed time."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger import LogConfig
from registry import RegistrySettings
from registry.open import now_ms


@dataclass(frozen=True)
class ApiSettings:
    registry: RegistrySettings
    push_to_witnesses: bool = True
    """Only one process pushes checkpoints to witnesses: `prov serve --workers N` turns it off
    in its workers (PROV_WITNESS_PUSH=0) and pushes from its own process."""
    monotonic: Callable[[], float] = field(default=time.monotonic)
    """Monotonic seconds: the per-client rate limit's refills."""
    clock_ms: Callable[[], int] = field(default=now_ms)
    """POSIX milliseconds: the registry's clock, which dates what it logs."""
    log_requests: bool = False
    """One JSON line per request on the `prov.access` logger (PROV_LOG_FORMAT=json)."""

    @classmethod
    def of(cls, settings: "ApiSettings | RegistrySettings | LogConfig") -> "ApiSettings":
        """The settings of an app on a log's or a registry's settings, with the real clocks."""
        if isinstance(settings, ApiSettings):
            return settings
        if isinstance(settings, LogConfig):
            settings = RegistrySettings(log=settings)
        return cls(settings)
