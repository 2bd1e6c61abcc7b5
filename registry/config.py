"""The registry's settings: the log's location plus the operator's policy knobs.

Environment: PROV_ADMIN_TOKEN (operator token for adding vendors; unset = nobody may),
PROV_MAX_BATCH (records per submission, default 1000), PROV_MAX_FUTURE_SKEW_MS (how far in the
future a capture time may be, default 300000 = 5 minutes), PROV_VERIFY_WORKERS (processes that
verify capture signatures, default: the number of CPUs), PROV_MAX_BODY_BYTES (API request limit,
default 32 MiB), PROV_MAX_IMAGE_PIXELS (largest image a lookup decodes, default Pillow's
89,478,485; at most twice that, where Pillow itself refuses), PROV_RATE_LIMIT and
PROV_RATE_BURST (each client address may make PROV_RATE_BURST write or lookup requests at once,
then PROV_RATE_LIMIT a second; defaults 20 and 40; 0 in either turns the limit off),
PROV_TRUSTED_PROXIES (comma-separated addresses or CIDR networks of reverse proxies whose
X-Forwarded-For names the client, default none: api.limits), PROV_LOOKUP_MAX_PIXELS (most pixels
a lookup decodes, after JPEG draft reduction; default 40,000,000), PROV_DECODE_CONCURRENCY and
PROV_DECODE_QUEUE (image decodes at once per server process, default the number of CPUs, and
waiting, default twice that; past both a request is answered 503: registry.imaging.gate).
"""

import ipaddress
import math
import os
from dataclasses import dataclass, field

from ledger import LogConfig
from ledger.errors import ConfigurationError
from registry.imaging.hashing import DEFAULT_MAX_PIXELS

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Pillow refuses to open an image over twice its own MAX_IMAGE_PIXELS (its default, here)
# before we could look at it, so a larger setting could not be honoured.
MAX_IMAGE_PIXELS_CEILING = 2 * DEFAULT_MAX_PIXELS
# Lookups decode more often than ingestion and from anyone, so they get a lower cap. A decode
# peaks at ~8 bytes a decoded pixel (RGB or RGBA pixels, the EXIF-transposed copy, the RGB
# conversion; an 88 MP PNG measured ~0.7 GiB), so 40 MP is ~320 MB, and the default of one
# decode per CPU keeps a 2-core process under ~0.7 GB of decode memory. 40 MP still takes every
# camera's JPEG (a 100 MP one decodes at 1/8 scale, 1.6 MP) and any PNG up to ~7,700 x 5,200.
DEFAULT_LOOKUP_MAX_PIXELS = 40_000_000
# How far after the log's clock a claimed capture time may be (device clocks run ahead): the
# default of PROV_MAX_FUTURE_SKEW_MS, and of an audit's --max-skew-ms.
DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60 * 1000


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not an integer") from None


def _optional_int_env(name: str) -> int | None:
    return None if os.environ.get(name) in (None, "") else _int_env(name, 0)


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{name}={raw!r} is not a finite number")
    return value


def _proxies_env(name: str) -> tuple[IPNetwork, ...]:
    raw = os.environ.get(name, "")
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"{name}={raw!r}: {item!r} is not an IP address or CIDR network; list the "
                "reverse proxies' addresses, comma-separated, e.g. 10.0.0.5,192.168.1.0/24"
            ) from None
    return tuple(networks)


def _cpus() -> int:
    return os.cpu_count() or 1


def cpu_share(workers: int, cpus: int | None = None) -> int:
    """The default PROV_DECODE_CONCURRENCY and PROV_VERIFY_WORKERS of each of `prov serve
    --workers N`'s processes: the machine's CPUs shared among them, at least one each. Each
    worker counting every CPU as its own let 2 workers on 2 cores run 4 decodes at once (an
    88 MP JPEG holds a core for 0.7 s and ~130 MB while it is hashed) and keep 4 signature
    processes of ~100 MB each (bench/hostile_bench.py, docs/benchmarks.md)."""
    return max(1, (cpus or _cpus()) // max(1, workers))


@dataclass(frozen=True)
class RegistrySettings:
    log: LogConfig
    admin_token: str | None = field(default=None, repr=False)
    max_batch: int = 1000
    max_future_skew_ms: int = DEFAULT_MAX_FUTURE_SKEW_MS
    verify_workers: int = 0  # 0: verify in this process
    max_body_bytes: int = 32 * 1024 * 1024
    max_image_pixels: int = DEFAULT_MAX_PIXELS
    rate_limit: float = 20.0  # requests a second per client address; 0: no limit
    rate_burst: int = 40  # requests at once per client address; 0: no limit
    # Reverse proxies whose X-Forwarded-For is believed (api.limits.client_key); empty: none.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    lookup_max_pixels: int = DEFAULT_LOOKUP_MAX_PIXELS
    decode_concurrency: int = field(default_factory=_cpus)
    decode_queue: int | None = None  # None: twice decode_concurrency

    def __post_init__(self) -> None:
        if not 1 <= self.max_image_pixels <= MAX_IMAGE_PIXELS_CEILING:
            raise ConfigurationError(
                f"PROV_MAX_IMAGE_PIXELS={self.max_image_pixels} is outside 1 to "
                f"{MAX_IMAGE_PIXELS_CEILING} (twice Pillow's own limit, past which it refuses "
                "to open an image); choose a value in that range"
            )
        if not 1 <= self.lookup_max_pixels <= MAX_IMAGE_PIXELS_CEILING:
            raise ConfigurationError(
                f"PROV_LOOKUP_MAX_PIXELS={self.lookup_max_pixels} is outside 1 to "
                f"{MAX_IMAGE_PIXELS_CEILING}; choose a value in that range (default "
                f"{DEFAULT_LOOKUP_MAX_PIXELS})"
            )
        if self.decode_concurrency < 1:
            raise ConfigurationError(
                f"PROV_DECODE_CONCURRENCY={self.decode_concurrency} must be at least 1 (the "
                "image decodes a server process runs at once; default the number of CPUs)"
            )
        if self.decode_queue_size < 0:
            raise ConfigurationError(
                f"PROV_DECODE_QUEUE={self.decode_queue_size} is negative; use 0 (refuse when "
                "every decode slot is busy) or more (decodes that may wait for a slot)"
            )
        for name, value in (
            ("PROV_RATE_LIMIT", self.rate_limit),
            ("PROV_RATE_BURST", self.rate_burst),
        ):
            if value < 0:
                raise ConfigurationError(
                    f"{name}={value:g} is negative; use 0 (no limit) or a positive number"
                )

    @property
    def decode_queue_size(self) -> int:
        """Decodes that may wait for a slot before the server answers 503."""
        return 2 * self.decode_concurrency if self.decode_queue is None else self.decode_queue

    @property
    def rate_limited(self) -> bool:
        return self.rate_limit > 0 and self.rate_burst > 0

    @classmethod
    def from_env(cls, log: LogConfig) -> "RegistrySettings":
        return cls(
            log=log,
            admin_token=os.environ.get("PROV_ADMIN_TOKEN") or None,
            max_batch=_int_env("PROV_MAX_BATCH", 1000),
            max_future_skew_ms=_int_env("PROV_MAX_FUTURE_SKEW_MS", DEFAULT_MAX_FUTURE_SKEW_MS),
            verify_workers=_int_env("PROV_VERIFY_WORKERS", os.cpu_count() or 1),
            max_body_bytes=_int_env("PROV_MAX_BODY_BYTES", 32 * 1024 * 1024),
            max_image_pixels=_int_env("PROV_MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS),
            rate_limit=_float_env("PROV_RATE_LIMIT", 20.0),
            rate_burst=_int_env("PROV_RATE_BURST", 40),
            trusted_proxies=_proxies_env("PROV_TRUSTED_PROXIES"),
            lookup_max_pixels=_int_env("PROV_LOOKUP_MAX_PIXELS", DEFAULT_LOOKUP_MAX_PIXELS),
            decode_concurrency=_int_env("PROV_DECODE_CONCURRENCY", _cpus()),
            decode_queue=_optional_int_env("PROV_DECODE_QUEUE"),
        )
