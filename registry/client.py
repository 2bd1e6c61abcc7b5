"""One interface to a registry, local or remote, for the CLI.

The rule: commands act on the local database (`--data-dir` / `--database`, where the log key
is) unless a server URL is given (`--server`, `PROV_SERVER`), in which case they call that
server's HTTP API. Both return the same JSON shapes and raise the same errors.
"""

from collections.abc import Sequence
from typing import Any, NoReturn, Protocol

import httpx

from ledger.errors import (
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotAuthorizedError,
    NotFoundError,
    StorageError,
    VerificationError,
)
from registry.bundle import build_bundle
from registry.clusters import build_report, load_facts, report_bytes
from registry.entries import b64
from registry.lookup import Lookup, query_from_image
from registry.registry import Registry


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
    def clusters(self, at: int | None) -> bytes: ...
    def close(self) -> None: ...


class LocalClient:
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

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
        return Lookup(self._registry.store).lookup(query_from_image(data, name)).to_json()

    def clusters(self, at: int | None) -> bytes:
        return report_bytes(build_report(load_facts(self._registry.store, at)))

    def close(self) -> None:
        self._registry.close()


_ERROR_BY_STATUS: dict[int, type[LedgerError]] = {
    400: MalformedError,
    401: NotAuthorizedError,
    404: NotFoundError,
    413: MalformedError,
    422: VerificationError,
    503: ConfigurationError,
}


class HttpClient:
    def __init__(self, base_url: str, timeout: float = 120.0) -> None:
        self._base = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self._base, timeout=timeout)

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"cannot reach the server {self._base}: {exc}") from None
        if response.is_success:
            return response.json()
        self._raise(response)

    def _raise(self, response: httpx.Response) -> NoReturn:
        try:
            error = response.json()["error"]
            code, message = str(error["type"]), str(error["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "http_error", f"{response.status_code} {response.text[:200]}"
        raise _ERROR_BY_STATUS.get(response.status_code, StorageError)(
            f"{message} (server {self._base})", code=code
        )

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
        headers: dict[str, str] = {}
        try:
            response = self._http.get(f"/v1/bundles/{index}", headers=headers)
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"cannot reach the server {self._base}: {exc}") from None
        if response.is_success:
            return response.content
        self._raise(response)

    def lookup_image(self, data: bytes, name: str) -> dict[str, Any]:
        try:
            response = self._http.post("/v1/lookup", files={"image": (name, data)})
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"cannot reach the server {self._base}: {exc}") from None
        if response.is_success:
            result: dict[str, Any] = response.json()
            return result
        self._raise(response)

    def clusters(self, at: int | None) -> bytes:
        try:
            response = self._http.get("/v1/clusters", params={} if at is None else {"at": at})
        except httpx.HTTPError as exc:
            raise ConfigurationError(f"cannot reach the server {self._base}: {exc}") from None
        if response.is_success:
            return response.content
        self._raise(response)

    def close(self) -> None:
        self._http.close()
