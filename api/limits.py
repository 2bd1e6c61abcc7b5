"""Limits on what one request, and one client, may cost the server.

`BodySizeLimit`: the request body size, enforced while reading: a client may send no
Content-Length, or lie in it. The body is read (up to the limit) before the app sees it.

`RateLimit` and `TokenBuckets`: per-client token buckets on the routes that write to the log
or do a lookup's work (`LimitedRoutes`: every POST, and every route that takes the lookup or
the decode gate, api.deps.LOOKUP_WORK, whatever its method), answered with 429 and Retry-After.
The set is derived from the app's routes, so a new lookup route cannot be left open
(tests/structure/test_limits_structure.py). The key is the client's address
(api.forwarded.client_address): the TCP peer, or, when the peer is one of PROV_TRUSTED_PROXIES,
the address that proxy reports in X-Forwarded-For (walked from the right). X-Forwarded-For from
any other peer is ignored: a client could set it to get a fresh bucket per request. Each API
replica counts on its own, so N replicas admit N times the rate.

The image decodes themselves are bounded per process by the decode gate
(registry.imaging.gate, 503 with Retry-After when full) and the lookup pixel cap
(PROV_LOOKUP_MAX_PIXELS, registry.imaging.decode).
"""

import functools
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import LOOKUP_WORK, WORK_CHARGE
from api.errors import ledger_error_response
from api.forwarded import client_address
from ledger.errors import LedgerError
from registry.config import IPNetwork
from registry.errors import RateLimitedError, TooLargeError

# Reads are not limited unless they do a lookup's work: tiles and checkpoints are cheap and
# meant to be served by caches anyway.
LIMITED_METHODS = frozenset({"POST"})  # the writes, and lookups with a body


@dataclass(frozen=True)
class LimitedRoutes:
    """The routes a client pays for: (method, path template, path pattern) each."""

    routes: tuple[tuple[str, str, re.Pattern[str]], ...]

    @classmethod
    def of(cls, routes: Sequence[BaseRoute]) -> "LimitedRoutes":
        """From an app's routes (`app.routes`; included routers are walked, with their prefixes)."""
        limited = []
        for context in iter_route_contexts(routes):
            route, path = context.original_route, context.path
            if not isinstance(route, APIRoute) or path is None:
                continue
            heavy = does_lookup_work(route)
            regex = compile_path(path)[0]
            limited += [
                (method, path, regex)
                for method in sorted(context.methods or ())
                if heavy or method in LIMITED_METHODS
            ]
        return cls(tuple(limited))

    def listing(self) -> list[tuple[str, str]]:
        """(method, path template), sorted: for tests and docs."""
        return sorted((method, path) for method, path, _regex in self.routes)

    def __contains__(self, method_path: object) -> bool:
        if not isinstance(method_path, tuple) or len(method_path) != 2:
            return False
        method, path = method_path
        return any(m == method and regex.match(path) for m, _path, regex in self.routes)


def does_lookup_work(route: APIRoute) -> bool:
    """Whether the route takes the lookup or the decode gate (api.deps.LOOKUP_WORK), directly
    or through another dependency."""
    pending, seen = [route.dependant], set()
    while pending:
        dependant = pending.pop()
        if dependant.call in LOOKUP_WORK:
            return True
        seen.add(id(dependant))
        pending += [d for d in dependant.dependencies if id(d) not in seen]
    return False


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
    same as no bucket and is dropped (one in debt from a batch, `charge`, once it has refilled); past `max_keys` busy keys the least recently seen go
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

    def charge(self, key: str, tokens: int) -> None:
        """Spend `tokens` more of `key`'s, after take() admitted its request: a batch of N
        lookups is N lookups' work. The bucket may go below zero (the batch is served, not
        refused for being bigger than the burst), and the client's next request waits until it
        has refilled past one token again: N lookups cost N / rate seconds, in one request or
        in N."""
        if tokens <= 0:
            return
        now = self._clock()
        held, seen = self._buckets.pop(key, (float(self.burst), now))
        held = min(float(self.burst), held + max(now - seen, 0.0) * self.rate)
        self._buckets[key] = (held - tokens, now)

    def _forget_idle(self, now: float) -> None:
        # Oldest first, so the first bucket seen recently enough ends the scan.
        while self._buckets:
            key, (tokens, seen) = next(iter(self._buckets.items()))
            if now - seen < self._refill_s:
                return
            del self._buckets[key]
            refilled = tokens + (now - seen) * self.rate
            if refilled < self.burst:  # still paying off a batch (charge): kept, as of now
                self._buckets[key] = (refilled, now)


class RateLimit:
    """429 with Retry-After for a client over its bucket on one of `routes`, before its body
    is read."""

    def __init__(
        self,
        app: ASGIApp,
        buckets: TokenBuckets,
        routes: LimitedRoutes,
        trusted_proxies: Sequence[IPNetwork] = (),
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.routes = routes
        self.trusted_proxies = tuple(trusted_proxies)

    def client_key(self, scope: Scope) -> str:
        client = scope.get("client")
        peer = str(client[0]) if client else ""
        forwarded = [
            value.decode("latin-1")
            for name, value in scope.get("headers", [])
            if name == b"x-forwarded-for"
        ]
        return client_address(peer, forwarded, self.trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["method"], scope["path"]) in self.routes:
            key = self.client_key(scope)
            wait = self.buckets.take(key)
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
            # A route that does more than one lookup's work charges the rest (api.deps).
            scope[WORK_CHARGE] = functools.partial(self.buckets.charge, key)
        await self.app(scope, receive, send)
