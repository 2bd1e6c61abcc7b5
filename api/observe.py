"""`Observe`: the outermost middleware, so it sees every answer, the limits' refusals included.
It counts each request by its route TEMPLATE (e.g. /v1/origins/{origin_id}; "unmatched" for a
path no route matches): raw paths are client input, and a label per path would let any client
grow the metrics without bound. It counts the refusals that protect the server by their error
code, and with JSON logs on writes one `prov.access` line per request.
"""

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.logs import ACCESS_LOGGER
from api.metrics import UNMATCHED, Metrics

access_log = logging.getLogger(ACCESS_LOGGER)

# The statuses of the refusals counted in prov_rejections_total; their error code says which.
REJECTION_STATUSES = frozenset({413, 429, 503})
PEEK_BYTES = 4096  # error bodies are a few hundred bytes
MAX_LOGGED_PATH = 256


def route_template(scope: Scope, routes: Sequence[BaseRoute]) -> str:
    """The template of the route that answered, or would have (a refusal before routing):
    one matching path and method, else one matching the path alone (a 405)."""
    route = scope.get("route")
    if route is None:
        partial = None
        for candidate in routes:
            match, _child = candidate.matches(scope)
            if match == Match.FULL:
                route = candidate
                break
            if match == Match.PARTIAL and partial is None:
                partial = candidate
        route = route or partial
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


def error_code(body: bytes) -> str | None:
    """The `type` of an `{"error": {"type": ...}}` body (api.errors), if it is one."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    return kind if isinstance(kind, str) else None


def access_fields(
    scope: Scope, route: str, status: int, seconds: float, sent: int
) -> dict[str, Any]:
    """What a request's log line says: never headers, the query string or the body."""
    client = scope.get("client")
    return {
        "method": scope["method"],
        "route": route,
        "path": scope["path"][:MAX_LOGGED_PATH],
        "status": status,
        "duration_ms": round(seconds * 1000, 3),
        "client": client[0] if client else None,
        "bytes": sent,
    }


class _Response:
    """What Observe keeps of one response as it passes through."""

    def __init__(self) -> None:
        self.status = 500  # if the app raises before answering, the server answers 500
        self.sent = 0
        self.encoded = False
        self.head = b""

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers", []))
            self.encoded = b"content-encoding" in headers
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            self.sent += len(body)
            if self.status in REJECTION_STATUSES and len(self.head) < PEEK_BYTES:
                self.head += body[: PEEK_BYTES - len(self.head)]

    def rejection(self) -> str | None:
        if self.status not in REJECTION_STATUSES or self.encoded:
            return None
        return error_code(self.head)


class Observe:
    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: Sequence[BaseRoute],
        clock: Callable[[], float],
        after: Callable[[], None],
        log_requests: bool,
    ) -> None:
        """`routes`: the app's, each with its full path (the routers' own, not the app's: FastAPI
        may hold included routers as one opaque route each); `after`: run after
        every request (it samples the index gauges); `log_requests`: one JSON line each."""
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.clock = clock
        self.after = after
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        response = _Response()

        async def observed(message: Message) -> None:
            response.see(message)
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self._record(scope, response, self.clock() - started)

    def _record(self, scope: Scope, response: _Response, seconds: float) -> None:
        route = route_template(scope, self.routes)
        self.metrics.request(route, scope["method"], response.status, seconds)
        reason = response.rejection()
        if reason is not None:
            self.metrics.rejected(reason)
        if self.log_requests:
            fields = access_fields(scope, route, response.status, seconds, response.sent)
            access_log.info("request", extra={"fields": fields})
        self.after()
