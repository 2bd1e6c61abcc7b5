"""The registry's settings: the log's location plus the operator's policy knobs.

Environment: PROV_ADMIN_TOKEN (operator token for adding vendors; unset = nobody may),
PROV_MAX_BATCH (records per submission, default 1000), PROV_MAX_FUTURE_SKEW_MS (how far in the
future a capture time may be, default 300000 = 5 minutes), PROV_VERIFY_WORKERS (processes that
verify capture signatures, default: the number of CPUs), PROV_MAX_BODY_BYTES (API request limit).
"""

import os
from dataclasses import dataclass, field

from ledger import LogConfig
from ledger.errors import ConfigurationError


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None


@dataclass(frozen=True)
class RegistrySettings:
    log: LogConfig
    admin_token: str | None = field(default=None, repr=False)
    max_batch: int = 1000
    max_future_skew_ms: int = 5 * 60 * 1000
    verify_workers: int = 0  # 0: verify in this process
    max_body_bytes: int = 32 * 1024 * 1024

    @classmethod
    def from_env(cls, log: LogConfig) -> "RegistrySettings":
        return cls(
            log=log,
            admin_token=os.environ.get("PROV_ADMIN_TOKEN") or None,
            max_batch=_int_env("PROV_MAX_BATCH", 1000),
            max_future_skew_ms=_int_env("PROV_MAX_FUTURE_SKEW_MS", 5 * 60 * 1000),
            verify_workers=_int_env("PROV_VERIFY_WORKERS", os.cpu_count() or 1),
            max_body_bytes=_int_env("PROV_MAX_BODY_BYTES", 32 * 1024 * 1024),
        )
