"""A log as an outside party sees it: its public HTTP read API, and nothing else.

Auditors and monitors use this, never the database: the C2SP paths (`/checkpoint`,
`/tile/<L>/<N>[.p/<W>]`, `/tile/entries/<N>[.p/<W>]`) and, for consistency proofs, the JSON
`/v1/log/proof/consistency`; for the status index (ledger.status, ledger.status_note), the JSON
`/v1/status/<size>` and `/v1/status/<size>/proofs/<subject hex>`. Nothing fetched is trusted:
callers verify every byte.

Failures carry the URL: UnavailableError (exit 3, "try again later or elsewhere") when the log
cannot be reached, answers a web page (it is not a log) or fails (5xx); NotFoundError when it
answers 404 for something it should serve; StorageError when it answers otherwise.
"""

import json
from types import TracebackType
from typing import Self

import httpx

from ledger.encoding import decode_base64
from ledger.errors import MalformedError, NotFoundError, StorageError, UnavailableError
from ledger.merkle import HASH_SIZE
from ledger.tiles import TILE_WIDTH, entries_path, tile_path

__all__ = ["RemoteLog"]


class RemoteLog:
    """The read API of the log at `base_url`. Thread-safe (one pooled httpx client)."""

    def __init__(
        self, base_url: str, *, timeout: float = 30.0, http: httpx.Client | None = None
    ) -> None:
        """`http`, if given, is used instead of a new client (tests pass a FastAPI TestClient);
        its base URL must be `base_url`."""
        if not base_url.startswith(("http://", "https://")):
            raise MalformedError(
                f"log URL {base_url!r} must start with http:// or https://", code="bad_url"
            )
        self.base_url = base_url.rstrip("/")
        self._http = http or httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def checkpoint(self) -> bytes:
        return self._get("/checkpoint")

    def cosigned_checkpoint(self) -> bytes:
        """The newest checkpoint a witness cosigned, with its cosignatures (not a C2SP path)."""
        return self._get("/checkpoint/cosigned")

    def tile(self, level: int, index: int, width: int = TILE_WIDTH) -> bytes:
        return self._get("/" + tile_path(level, index, width))

    def entry_bundle(self, index: int, width: int = TILE_WIDTH) -> bytes:
        return self._get("/" + entries_path(index, width))

    def consistency_proof(self, old: int, new: int) -> list[bytes]:
        body = self._get(f"/v1/log/proof/consistency?first={old}&second={new}")
        try:
            encoded = json.loads(body)["consistency_path"]
            proof = [decode_base64(h, "consistency proof hash") for h in encoded]
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(
                f"{self.base_url}: the consistency proof {old} -> {new} is not the JSON the "
                f"log API defines ({exc})"
            ) from None
        if any(len(h) != HASH_SIZE for h in proof):
            raise StorageError(f"{self.base_url}: a consistency proof hash is not 32 bytes")
        return proof

    def status_note(self, size: int) -> bytes:
        """The status note the log signed for its checkpoint of `size` (NotFoundError if none)."""
        body = self._json(f"/v1/status/{size}", "status note")
        note = body.get("note") if isinstance(body, dict) else None
        if not isinstance(note, str):
            raise StorageError(f"{self.base_url}: the status note of {size} is not a string")
        return note.encode()

    def status_proof(self, size: int, subject: bytes) -> bytes:
        """The encoded ledger.status proof of `subject` at `size`, unverified."""
        body = self._json(f"/v1/status/{size}/proofs/{subject.hex()}", "status proof")
        proof = body.get("proof") if isinstance(body, dict) else None
        if not isinstance(proof, str):
            raise StorageError(f"{self.base_url}: the status proof is not a base64 string")
        try:
            return decode_base64(proof, "status proof")
        except MalformedError as exc:
            raise StorageError(f"{self.base_url}: {exc}") from None

    def _json(self, path: str, what: str) -> object:
        try:
            return json.loads(self._get(path))
        except ValueError:
            raise StorageError(f"{self.base_url}{path}: the {what} is not JSON") from None

    def _get(self, path: str) -> bytes:
        try:
            response = self._http.get(path)
        except httpx.HTTPError as exc:
            raise UnavailableError(
                f"cannot reach the log at {self.base_url} ({exc or type(exc).__name__}): is it "
                "running? check the URL",
                code="server_unreachable",
            ) from None
        if response.headers.get("content-type", "").startswith("text/html"):
            # A log serves its checkpoint, tiles and proofs as text, bytes or JSON, never a page;
            # what answers with one is a web site. Not printed: it may be a whole HTML page.
            raise UnavailableError(
                f"{self.base_url}{path} answered HTTP {response.status_code} with a web page, "
                "not a Provenance Ledger log: check the URL",
                code="not_a_server",
            )
        if response.status_code >= 500:
            raise UnavailableError(
                f"{self.base_url}{path}: the log failed to answer (HTTP "
                f"{response.status_code}); try again later, or tell its operator",
                code="server_error",
            )
        if response.status_code == 404:
            raise NotFoundError(f"{self.base_url}{path}: the log answers 404 Not Found")
        if response.status_code != 200:
            raise StorageError(
                f"{self.base_url}{path}: the log answers HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        return response.content
