"""One interface to a registry, local or remote, for the CLI.

The rule: commands act on the local database (`--data-dir` / `--database`, where the log key
is) unless a server URL is given (`--server`, `PROV_SERVER`), in which case they call that
server's HTTP API. Both return the same JSON shapes and raise the same errors.
"""

import json
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, Protocol

import httpx

from ledger.errors import LedgerError, MalformedError, UnavailableError
from registry.admission.registry import Registry
from registry.bundle.build import build_bundle
from registry.entries.codec import b64
from registry.errors import ERRORS, SHARED_STATUS, OverloadedError, RateLimitedError
from registry.lookup.batch import MAX_LOOKUPS, lookup_batch, parse_items
from registry.lookup.query import Lookup, query_from_upload
from registry.origins.facts import load_facts
from registry.origins.report import build_report, report_bytes


class RegistryClient(Protocol):
    def add_vendor(
        self, name: str, role: str, root_der: bytes, admin_token: str | None
    ) -> dict[str, Any]: ...
    def enroll_device(self, cert_der: bytes, chain_der: Sequence[bytes]) -> dict[str, Any]: ...
    def device(self, device_id: str) -> dict[str, Any]: ...
    def submit_captures(self, records: Sequence[Any]) -> list[dict[str, Any]]: ...
    def revoke(self, revocation: dict[str, Any]) -> dict[str, Any]: ...
    def bundle(self, index: int) -> bytes: ...
    def lookup_image(self, data: bytes, name: str) -> dict[str, Any]: ...
    def lookup_hashes(self, hash_sets: Sequence[object]) -> list[dict[str, Any]]: ...
    def ingest_c2pa(self, data: bytes, name: str) -> dict[str, Any]: ...
    def clusters(self, at: int | None) -> bytes: ...
    def close(self) -> None: ...


class LocalClient:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._lookup: Lookup | None = None  # built at the first lookup, kept for the batch

    def _finder(self) -> Lookup:
        if self._lookup is None:
            self._lookup = Lookup(self._registry.store)
        return self._lookup

    def add_vendor(
        self, name: str, role: str, root_der: bytes, admin_token: str | None
    ) -> dict[str, Any]:
        return self._registry.add_vendor(name, role, root_der, admin_token).to_json()

    def enroll_device(self, cert_der: bytes, chain_der: Sequence[bytes]) -> dict[str, Any]:
        return self._registry.enroll_device(cert_der, chain_der).to_json()

    def device(self, device_id: str) -> dict[str, Any]:
        return self._registry.device(device_id)

    def submit_captures(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        return [result.to_json() for result in self._registry.submit_captures(records)]

    def revoke(self, revocation: dict[str, Any]) -> dict[str, Any]:
        return self._registry.revoke(revocation).to_json()

    def bundle(self, index: int) -> bytes:
        return build_bundle(self._registry.store, index)

    def lookup_image(self, data: bytes, name: str) -> dict[str, Any]:
        query = query_from_upload(self._registry.settings, data, name)
        return self._finder().lookup(query).to_json()

    def lookup_hashes(self, hash_sets: Sequence[object]) -> list[dict[str, Any]]:
        """Each hash set's answer, or its error, in order (as POST /v1/lookups answers)."""
        return lookup_batch(self._finder(), parse_items(list(hash_sets)))

    def ingest_c2pa(self, data: bytes, name: str) -> dict[str, Any]:
        return self._registry.ingest_c2pa(data, name).to_json()

    def clusters(self, at: int | None) -> bytes:
        return report_bytes(build_report(load_facts(self._registry.store, at)))

    def close(self) -> None:
        self._registry.close()


# A server's error status back to the error class it came from: a 4xx by its status; a 5xx is
# the server failing (UnavailableError: exit 3, "try again later or elsewhere", whatever class
# raised it on the server), but a SHARED_STATUS class (503 `overloaded`), known by its code.
_ERROR_BY_STATUS: dict[int, type[LedgerError]] = {
    error.http_status: error
    for error in ERRORS
    if error not in SHARED_STATUS and error.http_status < 500
}
_ERROR_BY_CODE: dict[tuple[int, str], type[LedgerError]] = {
    (error.http_status, error.default_code): error for error in SHARED_STATUS
}
# What the messages of UnavailableError tell the user to check, by default.
SERVER_HINT = "is the server running? check --server / PROV_SERVER"


def error_class_for(status: int, code: str) -> type[LedgerError]:
    """The class a server's error answer came from (UnavailableError for a status none has:
    a server that answers so is not one this client can talk to)."""
    return _ERROR_BY_CODE.get((status, code)) or _ERROR_BY_STATUS.get(status, UnavailableError)


def not_a_server(url: str, response: httpx.Response, hint: str) -> UnavailableError:
    """The answer of something that is not a Provenance Ledger server (a web page, a proxy's
    error): named by its status and type, never printed (it may be a whole HTML page)."""
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return UnavailableError(
        f"{url} answered HTTP {response.status_code} with {kind}, not a Provenance Ledger "
        f"server's JSON: {hint}",
        code="not_a_server",
    )


def is_html(response: httpx.Response) -> bool:
    """No answer of the API a client reads is HTML: one that is comes from something else."""
    kind: str = response.headers.get("content-type", "")
    return kind.startswith("text/html")


# A rate-limited server says when to come back (Retry-After); `prov submit` waits that long
# and tries again, a few times, never longer than this each time (a hostile server could
# otherwise park the client for days).
RATE_LIMIT_RETRIES = 5
MAX_RETRY_AFTER_S = 60


def _retry_after_s(response: httpx.Response) -> int:
    """Retry-After in whole seconds, within 1 to MAX_RETRY_AFTER_S (1 if absent or a date)."""
    raw = response.headers.get("retry-after", "").strip()
    seconds = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else 1
    return min(max(seconds, 1), MAX_RETRY_AFTER_S)


# Hash sets per POST /v1/lookups. The server takes up to MAX_LOOKUPS, but charges each as a
# lookup against the client's rate limit: smaller chunks keep each wait for the next short
# (250 at the default 20 a second: about 12 s), for the same total.
LOOKUP_CHUNK = min(250, MAX_LOOKUPS)


class HttpClient:
    def __init__(
        self,
        base_url: str,
        timeout: float = 120.0,
        *,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        retries: int = RATE_LIMIT_RETRIES,
        hint: str = SERVER_HINT,
    ) -> None:
        """`http` replaces the HTTP client (tests pass a TestClient); `sleep` waits out a 429;
        `hint` is what an UnavailableError tells the user to check (where the URL came from)."""
        if not base_url.startswith(("http://", "https://")):
            raise MalformedError(
                f"server URL {base_url!r} must start with http:// or https://", code="bad_url"
            )
        self._base = base_url.rstrip("/")
        self._hint = hint
        self._http = http or httpx.Client(base_url=self._base, timeout=timeout)
        self._sleep = sleep
        self._retries = retries

    def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request, repeated after Retry-After while the server answers 429."""
        for attempt in range(max(self._retries, 0) + 1):
            try:
                response = self._http.request(method, path, **options)
            except httpx.HTTPError as exc:
                raise UnavailableError(
                    f"cannot reach the server {self._base} ({exc or type(exc).__name__}): "
                    f"{self._hint}",
                    code="server_unreachable",
                ) from None
            if response.status_code != 429 or attempt == self._retries:
                break
            self._sleep(_retry_after_s(response))
        if is_html(response):
            raise not_a_server(self._base, response, self._hint)
        return response

    def _json(self, response: httpx.Response) -> Any:
        """The JSON of a successful answer; one that is not JSON is not from a server of ours."""
        try:
            return response.json()
        except ValueError:
            raise not_a_server(self._base, response, self._hint) from None

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self._send(method, path, json=body, headers=headers)
        if response.is_success:
            return self._json(response)
        self._raise(response)

    def _raise(self, response: httpx.Response) -> NoReturn:
        try:
            error = response.json()["error"]
            code, message = str(error["type"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            raise not_a_server(self._base, response, self._hint) from None
        error = error_class_for(response.status_code, code)
        if error is UnavailableError:
            raise UnavailableError(
                f"the server {self._base} failed on this request (HTTP {response.status_code}, "
                f"{code}: {message}); try again later, or tell its operator",
                code=code,
            )
        message = f"{message} (server {self._base})"
        if error is RateLimitedError:
            raise RateLimitedError(message, _retry_after_s(response), code=code)
        if error is OverloadedError:
            raise OverloadedError(message, _retry_after_s(response), code=code)
        raise error(message, code=code)

    def add_vendor(
        self, name: str, role: str, root_der: bytes, admin_token: str | None
    ) -> dict[str, Any]:
        body = {"name": name, "role": role, "root": b64(root_der)}
        result: dict[str, Any] = self._call("POST", "/v1/vendors", body, admin_token)
        return result

    def enroll_device(self, cert_der: bytes, chain_der: Sequence[bytes]) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", "/v1/devices", {"cert": b64(cert_der), "chain": [b64(c) for c in chain_der]}
        )
        return result

    def device(self, device_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/v1/devices/{device_id}")
        return result

    def submit_captures(self, records: Sequence[Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self._call(
            "POST", "/v1/captures", {"records": list(records)}
        )["results"]
        return results

    def revoke(self, revocation: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", "/v1/revocations", revocation)
        return result

    def bundle(self, index: int) -> bytes:
        return self._content("GET", f"/v1/bundles/{index}")

    def lookup_image(self, data: bytes, name: str) -> dict[str, Any]:
        response = self._send("POST", "/v1/lookup", files={"image": (name, data)})
        if response.is_success:
            result: dict[str, Any] = self._json(response)
            return result
        self._raise(response)

    def lookup_hashes(self, hash_sets: Sequence[object]) -> list[dict[str, Any]]:
        """POST /v1/lookups, in chunks of LOOKUP_CHUNK: only the hashes leave this machine."""
        results: list[dict[str, Any]] = []
        for start in range(0, len(hash_sets), LOOKUP_CHUNK):
            chunk = list(hash_sets[start : start + LOOKUP_CHUNK])
            answered: list[dict[str, Any]] = self._call("POST", "/v1/lookups", {"lookups": chunk})[
                "results"
            ]
            if len(answered) != len(chunk):
                raise UnavailableError(
                    f"the server answered {len(answered)} of {len(chunk)} lookups "
                    f"(server {self._base}); is it a Provenance Ledger server?",
                    code="server_error",
                )
            results += answered
        return results

    def ingest_c2pa(self, data: bytes, name: str) -> dict[str, Any]:
        ascii_name = name.encode("ascii", "replace").decode()  # a header value is ASCII
        headers = {"Content-Type": "image/jpeg", "X-Filename": ascii_name}
        response = self._send("POST", "/v1/c2pa/ingest", content=data, headers=headers)
        if response.is_success:
            result: dict[str, Any] = self._json(response)
            return result
        self._raise(response)

    def clusters(self, at: int | None) -> bytes:
        return self._content("GET", "/v1/clusters", params={} if at is None else {"at": at})

    # The log's own endpoints and the C2PA API: HTTP only (no LocalClient twin), for `prov
    # demo` and other callers that check proofs themselves against the server they talk to.

    def _content(self, method: str, path: str, **options: Any) -> bytes:
        response = self._send(method, path, **options)
        if response.is_success:
            return response.content
        self._raise(response)

    def checkpoint(self) -> bytes:
        """The signed checkpoint note, as served (with any witness cosignatures)."""
        return self._content("GET", "/checkpoint")

    def log_info(self) -> dict[str, Any]:
        """GET /v1/log: origin, tree_size, root_hash and checkpoint of the latest tree."""
        result: dict[str, Any] = self._call("GET", "/v1/log")
        return result

    def entry(self, index: int) -> dict[str, Any]:
        """GET /v1/log/entries/INDEX: the entry's leaf data (base64) and its metadata."""
        result: dict[str, Any] = self._call("GET", f"/v1/log/entries/{index}")
        return result

    def consistency_proof(self, first: int) -> dict[str, Any]:
        """GET /v1/log/proof/consistency: from the tree of size `first` to the latest."""
        result: dict[str, Any] = self._call("GET", f"/v1/log/proof/consistency?first={first}")
        return result

    def c2pa_matches_by_content(self, data: bytes) -> list[dict[str, Any]]:
        """POST /v1/c2pa/matches/byContent (C2PA soft-binding API): the manifests like `data`."""
        headers = {"Content-Type": "image/jpeg"}
        body = self._content("POST", "/v1/c2pa/matches/byContent", content=data, headers=headers)
        try:
            matches: list[dict[str, Any]] = json.loads(body)["matches"]
        except (ValueError, KeyError, TypeError):
            raise UnavailableError(
                f"{self._base} answered byContent without a JSON list of matches: {self._hint}",
                code="not_a_server",
            ) from None
        return matches

    def c2pa_manifest(self, manifest_id: str) -> bytes:
        """GET /v1/c2pa/manifests/ID: the C2PA manifest store, rebuilt from the log."""
        return self._content("GET", f"/v1/c2pa/manifests/{manifest_id}")

    def close(self) -> None:
        self._http.close()
