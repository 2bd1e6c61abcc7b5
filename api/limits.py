"""Limits on what one request, and one client, may cost the server.

`BodySizeLimit`: the request body size, enforced while reading: a client may send no
Content-Length, or lie in it. The body is read (up to the limit) before the app sees it.

`RateLimit` and `TokenBuckets`: per-client token buckets on the endpoints that write to the
log or hash an image (`LIMITED_PATHS`), answered with 429 and Retry-After. The key is the
address of the TCP peer: behind a reverse proxy every client shares the proxy's address, so
there the proxy should limit instead (PROV_RATE_LIMIT=0 here). Forwarded-for headers are not
trusted: any client could set them to get a fresh bucket per request. Each API replica counts
on its own, so N replicas admit N times the rate.
"""

import math
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ledger_error_response
from ledger.errors import LedgerError
from registry.errors import RateLimitedError, TooLargeError

# POST paths a client pays for: the writes (each is a locked transaction and signature checks)
# and the image lookups (decoding and 8+ PDQ hashes of an upload), with their C2PA soft-binding
# twins (byContent hashes an upload; POST byBinding is the JSON lookup). Reads are not limited:
# tiles and checkpoints are cheap and meant to be served by caches anyway.
LIMITED_PATHS = frozenset(
    {
        "/v1/vendors",
        "/v1/devices",
        "/v1/captures",
        "/v1/revocations",
        "/v1/lookup",
        "/v1/c2pa/ingest",
        "/v1/c2pa/matches/byContent",
        "/v1/c2pa/matches/byBinding",
        "/",
    }
)
# Idle clients are forgotten (see TokenBuckets); this caps the rest: ~250 bytes each, 25 MB.
MAX_TRACKED_CLIENTS = 100_000


async def _send_error(error: LedgerError, scope: Scope, receive: Receive, send: Send) -> None:
    await ledger_error_response(error)(scope, receive, send)


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_error(self._too_large(), scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _send_error(self._too_large(), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> TooLargeError:
        return TooLargeError(
            f"request body exceeds {self.max_bytes} bytes (PROV_MAX_BODY_BYTES); "
            "send smaller batches",
            code="body_too_large",
        )


class TokenBuckets:
    """One token bucket per key: a key may spend `burst` requests at once, then `rate` a
    second. Pure: time is `clock()`, monotonic seconds. Not thread-safe; the middleware calls
    it from the event loop only.

    Memory stays bounded: a bucket idle for `burst / rate` seconds has refilled, so it is the
    same as no bucket and is dropped; past `max_keys` busy keys the least recently seen go
    first (they come back with a full bucket, which errs towards serving them).
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float],
        max_keys: int = MAX_TRACKED_CLIENTS,
    ) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a token bucket needs rate > 0, burst >= 1 and max_keys >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._refill_s = burst / rate
        # key -> (tokens, when last seen), least recently seen first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str) -> float:
        """Spend one of `key`'s tokens: 0.0 if it had one, else the seconds until it will."""
        now = self._clock()
        self._forget_idle(now)
        tokens, seen = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(now - seen, 0.0) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        return wait

    def _forget_idle(self, now: float) -> None:
        # Oldest first, so the first bucket seen recently enough ends the scan.
        while self._buckets:
            key, (_tokens, seen) = next(iter(self._buckets.items()))
            if now - seen < self._refill_s:
                return
            del self._buckets[key]


class RateLimit:
    """429 with Retry-After for a client over its bucket on a `LIMITED_PATHS` POST, before
    its body is read."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets) -> None:
        self.app = app
        self.buckets = buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] in LIMITED_PATHS:
            client = scope.get("client")
            wait = self.buckets.take(client[0] if client else "")
            if wait > 0:
                retry_after = max(1, math.ceil(wait))
                error = RateLimitedError(
                    f"too many requests from this address: at most {self.buckets.rate:g} a "
                    f"second, in bursts of {self.buckets.burst} (PROV_RATE_LIMIT, "
                    f"PROV_RATE_BURST); retry in {retry_after} s (Retry-After)",
                    retry_after,
                )
                await _send_error(error, scope, receive, send)
                return
        await self.app(scope, receive, send)
