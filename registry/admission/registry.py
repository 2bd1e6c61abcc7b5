"""The registry's write side: vendors, devices, captures and revocations, appended to the log.

Each operation checks what it can outside the log's write lock (shapes, certificates, capture
signatures: the expensive part, spread over worker processes), then decides the rest inside it
(replays, revocations, counters) in `Sequencer.append_built`, where the entries get their
`logged_at` and the derived rows are written in the same transaction as the leaves.
"""

import base64
import dataclasses
import hashlib
import hmac
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import Connection, select

from ledger import LogStore, Sequencer, SignedCheckpoint
from ledger.errors import (
    ConfigurationError,
    LedgerError,
    MalformedError,
    NotFoundError,
    VerificationError,
)
from ledger.sequencer import AppendResult, Clock
from ledger.store import read_entries
from registry.admission import indexer, rules
from registry.admission.certs import DeviceCertificate, VendorRoot, load_vendor_root
from registry.admission.schema import reg_captures, reg_devices, reg_revocations, reg_vendors
from registry.c2pa.binding import check_hard_binding
from registry.c2pa.evidence import check_evidence, evidence_from_store
from registry.c2pa.reader import check_validated, read_signed_file
from registry.config import RegistrySettings
from registry.entries.claim_identity import c2pa_claim_id, capture_claim_id
from registry.entries.codec import (
    C2PA_CAPTURE,
    CAPTURE,
    DEVICE,
    VENDOR,
    b64,
    canonical_claim,
    capture_leaf,
    capture_record_id,
    check_capture_record,
    encode_entry,
    hex_field,
    parse_entry,
)
from registry.entries.formats import C2paEvidence
from registry.entries.signatures import verify_batch
from registry.errors import NotAuthorizedError, TooLargeError
from registry.imaging.hashing import hash_image

_IN_PROCESS_BELOW = 64  # smaller batches are not worth the round trip to worker processes


@dataclass(frozen=True)
class Receipt:
    """Where an entry is in the log, and the proof that it is there."""

    index: int
    leaf_hash: bytes
    tree_size: int
    checkpoint: bytes
    inclusion_proof: list[bytes]
    duplicate: bool = False  # the same entry was already in the log

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": b64(self.leaf_hash),
            "tree_size": self.tree_size,
            "checkpoint": self.checkpoint.decode(),
            "inclusion_proof": [b64(h) for h in self.inclusion_proof],
            "duplicate": self.duplicate,
        }


@dataclass(frozen=True)
class CaptureResult:
    """The outcome for one record of a submitted batch."""

    position: int
    receipt: Receipt | None = None
    counter_status: str | None = None
    flags: tuple[str, ...] = ()
    code: str | None = None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.receipt is not None

    def to_json(self) -> dict[str, Any]:
        if self.receipt is None:
            return {
                "position": self.position,
                "accepted": False,
                "code": self.code,
                "reason": self.reason,
            }
        return {
            "position": self.position,
            "accepted": True,
            **self.receipt.to_json(),
            "counter_status": self.counter_status,
            "flags": list(self.flags),
        }


@dataclass
class _Pending:
    """A verified record on its way through the write lock."""

    position: int
    claim: dict[str, Any]
    sig: str
    claim_jcs: bytes  # canonical(claim), computed once
    index: int | None = None  # where it is in the log: new, or the earlier copy of a replay
    replay: bool = False
    rejection: tuple[str, str] | None = None
    flags: list[str] = field(default_factory=list)
    c2pa: C2paEvidence | None = None  # a c2pa-capture/v1's evidence; `sig` is its signature


class Registry:
    def __init__(
        self,
        store: LogStore,
        sequencer: Sequencer | None,
        settings: RegistrySettings,
        now: Clock,
    ) -> None:
        self._store = store
        self._sequencer = sequencer
        self._settings = settings
        self._now = now
        self._roots: dict[str, VendorRoot] = {}
        self._pool: ProcessPoolExecutor | None = None

    @property
    def store(self) -> LogStore:
        return self._store

    @property
    def settings(self) -> RegistrySettings:
        return self._settings

    def start_verify_workers(self) -> None:
        """Start the signature-verification processes now: otherwise the first large batch waits
        for them, seconds where they are spawned (as in `prov serve --workers N`)."""
        workers = self._settings.verify_workers
        if workers > 1 and self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=workers)
            list(self._pool.map(verify_batch, [[]] * workers))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    # --- helpers ---

    def _writer(self) -> Sequencer:
        if self._sequencer is None:
            raise ConfigurationError(
                "this server has no log key, so it cannot append: run it where `prov init` "
                "wrote the key (or set PROV_LOG_KEY_FILE)"
            )
        return self._sequencer

    def _receipts(
        self, indexes: Sequence[int], checkpoint: SignedCheckpoint, duplicates: set[int]
    ) -> list[Receipt]:
        found = self._store.receipts(indexes, checkpoint.size)
        return [
            Receipt(index, leaf_hash, checkpoint.size, checkpoint.note, proof, index in duplicates)
            for index, (leaf_hash, proof) in zip(indexes, found, strict=True)
        ]

    def _append(self, build: Callable[[Connection, int, int], list[bytes]]) -> AppendResult:
        """Append what `build` decides, and record how far the derived rows now reach."""

        def build_and_mark(connection: Connection, first: int, now: int) -> list[bytes]:
            leaves = build(connection, first, now)
            if leaves:
                indexer.set_indexed_size(connection, first + len(leaves))
            return leaves

        return self._writer().append_built(build_and_mark)

    def _single(
        self, build: Callable[[Connection, int, int], list[bytes]], existing: list[int]
    ) -> Receipt:
        """Append one entry (or find it already logged) and return its receipt."""
        result = self._append(build)
        index = existing[0] if existing else result.first_index
        return self._receipts([index], result.checkpoint, {index} if existing else set())[0]

    def _vendor_root(self, vendor_id: str) -> VendorRoot:
        if vendor_id not in self._roots:
            with self._store.engine.connect() as connection:
                index = connection.execute(
                    select(reg_vendors.c.leaf_index).where(reg_vendors.c.vendor_id == vendor_id)
                ).scalar()
            if index is None:
                raise NotFoundError(f"vendor {vendor_id} is not registered", code="unknown_vendor")
            entry = parse_entry(self._store.entry(index))
            self._roots[vendor_id] = load_vendor_root(base64.b64decode(entry["root"]))
        return self._roots[vendor_id]

    def _existing(self, connection: Connection, column: Any, value: Any) -> int | None:
        table = column.table
        found: int | None = connection.execute(
            select(table.c.leaf_index).where(column == value)
        ).scalar()
        return found

    # --- vendors ---

    def check_admin_token(self, admin_token: str | None) -> None:
        """Raise unless `admin_token` is the operator's token (compared in constant time)."""
        expected = self._settings.admin_token
        if expected is None:
            raise NotAuthorizedError(
                "adding vendors is disabled: the operator has not configured PROV_ADMIN_TOKEN",
                code="admin_disabled",
            )
        if admin_token is None or not hmac.compare_digest(admin_token.encode(), expected.encode()):
            raise NotAuthorizedError("the admin token is missing or wrong", code="bad_admin_token")

    def add_vendor(self, name: str, role: str, root_der: bytes, admin_token: str | None) -> Receipt:
        """Register a vendor's self-signed root CA (operator only)."""
        self.check_admin_token(admin_token)
        self._writer()
        root = rules.check_vendor(name, role, root_der)
        existing: list[int] = []

        def build(connection: Connection, first: int, now: int) -> list[bytes]:
            found = self._existing(connection, reg_vendors.c.vendor_id, root.vendor_id)
            if found is not None:
                existing.append(found)
                return []
            entry = {
                "kind": VENDOR,
                "logged_at": now,
                "name": name,
                "role": role,
                "root": b64(root.der),
            }
            leaf = encode_entry(entry)
            indexer.apply_vendor(connection, first, entry)
            return [leaf]

        return self._single(build, existing)

    # --- devices ---

    def enroll_device(self, cert_der: bytes, chain_der: Sequence[bytes]) -> Receipt:
        """Enroll a device certificate that chains to a registered vendor root."""
        self._writer()  # a server without the log key says so before anything else
        device_id = hashlib.sha256(cert_der).hexdigest()
        with self._store.engine.connect() as connection:
            found = self._existing(connection, reg_devices.c.device_id, device_id)
        if found is not None:
            return self._receipts([found], self._store.latest_checkpoint(), {found})[0]
        vendor_id, device = self._find_vendor(cert_der, chain_der)
        existing: list[int] = []

        def build(connection: Connection, first: int, now: int) -> list[bytes]:
            again = self._existing(connection, reg_devices.c.device_id, device.device_id)
            if again is not None:
                existing.append(again)
                return []
            entry = {
                "kind": DEVICE,
                "logged_at": now,
                "cert": b64(cert_der),
                "chain": [b64(c) for c in rules.path_chain(device)],
                "vendor": vendor_id,
            }
            leaf = encode_entry(entry)
            indexer.apply_device(connection, first, entry, device)
            return [leaf]

        return self._single(build, existing)

    def _find_vendor(
        self, cert_der: bytes, chain_der: Sequence[bytes]
    ) -> tuple[str, DeviceCertificate]:
        """The registered vendor whose root the X.509 verifier builds a path to, and that path.

        Every root named as the issuer of a submitted certificate is tried (a chain may hold
        strays, and two vendors' roots may share a name); the vendor is the one a path verifies
        to, never merely the one the top of the submitted chain names."""
        try:
            issuers = [x509.load_der_x509_certificate(d).issuer for d in (cert_der, *chain_der)]
        except ValueError as exc:
            raise MalformedError(
                f"device certificate or chain is not DER X.509: {exc}", code="cert_malformed"
            ) from None
        candidates = [
            vendor_id
            for vendor_id in self._vendor_ids()
            if self._vendor_root(vendor_id).certificate.subject in issuers
        ]
        failure: LedgerError | None = None
        for vendor_id in candidates:
            try:
                at = self._now()
                return vendor_id, rules.check_device(
                    cert_der, chain_der, self._vendor_root(vendor_id), at
                )
            except LedgerError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        raise VerificationError(
            "chain does not lead to a registered vendor root: no registered root is named "
            f"{issuers[-1].rfc4514_string()!r}",
            code="cert_untrusted_chain",
        )

    def device(self, device_id: str) -> dict[str, Any]:
        hex_field({"device": device_id}, "device", "device id", 64)
        with self._store.engine.connect() as connection:
            row = connection.execute(
                select(reg_devices, reg_vendors.c.name, reg_vendors.c.role)
                .join(reg_vendors, reg_vendors.c.vendor_id == reg_devices.c.vendor_id)
                .where(reg_devices.c.device_id == device_id)
            ).first()
            if row is None:
                raise NotFoundError(f"device {device_id} is not enrolled", code="unknown_device")
            revocations = connection.execute(
                select(reg_revocations).where(reg_revocations.c.device_id == device_id)
            ).all()
            captures = connection.execute(
                select(reg_captures.c.leaf_index).where(reg_captures.c.device_id == device_id)
            ).all()
        return {
            "device_id": device_id,
            "vendor_id": row.vendor_id,
            "vendor_name": row.name,
            "role": row.role,
            "algorithm": row.algorithm,
            "issuer_id": row.issuer_id,
            "not_before_ms": row.not_before_ms,
            "not_after_ms": row.not_after_ms,
            "leaf_index": row.leaf_index,
            "logged_at_ms": row.logged_at_ms,
            "max_counter": row.max_counter,
            "captures": len(captures),
            "revocations": [
                {
                    "leaf_index": r.leaf_index,
                    "compromised_since_ms": r.compromised_since_ms,
                    "reason": r.reason,
                    "signer_id": r.signer_id,
                    "logged_at_ms": r.logged_at_ms,
                }
                for r in revocations
            ],
        }

    # --- captures ---

    def submit_captures(self, records: Sequence[Any]) -> list[CaptureResult]:
        """Admit a batch of device-signed capture records; one result per record, in order."""
        self._writer()
        if not records:
            raise MalformedError("the batch has no records", code="empty_batch")
        if len(records) > self._settings.max_batch:
            raise TooLargeError(
                f"the batch has {len(records)} records; at most {self._settings.max_batch} per "
                "submission (PROV_MAX_BATCH): split it into smaller batches",
                code="batch_too_large",
            )
        pending: list[_Pending] = []
        results: dict[int, CaptureResult] = {}
        for position, record in enumerate(records):
            try:
                claim, signature = check_capture_record(record)
            except LedgerError as exc:
                results[position] = CaptureResult(position, code=exc.code, reason=str(exc))
                continue
            try:
                claim_jcs = canonical_claim(claim)
            except LedgerError as exc:
                results[position] = CaptureResult(position, code=exc.code, reason=str(exc))
                continue
            pending.append(_Pending(position, claim, b64(signature), claim_jcs))

        keys = self._device_keys({p.claim["device"] for p in pending})
        now = self._now()
        to_verify: list[_Pending] = []
        for item in pending:
            device = keys.get(item.claim["device"])
            problem = rules.claim_problem(
                item.claim, device, now, self._settings.max_future_skew_ms
            ) or (rules.high_s_problem(device, base64.b64decode(item.sig)) if device else None)
            if problem is not None:
                results[item.position] = CaptureResult(
                    item.position, code=problem[0], reason=problem[1]
                )
            else:
                to_verify.append(item)
        verdicts = self._verify(
            [
                rules.capture_signature_job(
                    keys[item.claim["device"]], item.claim_jcs, base64.b64decode(item.sig)
                )
                for item in to_verify
            ]
        )
        verified = []
        for item, ok in zip(to_verify, verdicts, strict=True):
            if ok:
                verified.append(item)
            else:
                results[item.position] = CaptureResult(
                    item.position,
                    code="bad_signature",
                    reason=f"signature does not verify with the enrolled key of device {item.claim['device']}",
                )

        rows: dict[int, indexer.CaptureRow] = {}
        result = self._append(lambda c, first, now: self._admit(c, first, now, verified, rows))
        logged = [item for item in verified if item.index is not None]
        receipts = self._receipts(
            [item.index for item in logged if item.index is not None], result.checkpoint, set()
        )
        for item, receipt in zip(logged, receipts, strict=True):
            # Per record, not per index: the first of a claim sent twice in a batch is new.
            row = None if item.replay else rows.get(receipt.index)
            results[item.position] = CaptureResult(
                item.position,
                receipt=dataclasses.replace(receipt, duplicate=item.replay),
                counter_status=row.counter_status if row else None,
                flags=tuple(item.flags),
            )
        for item in verified:
            if item.rejection is not None:
                code, reason = item.rejection
                results[item.position] = CaptureResult(item.position, code=code, reason=reason)
        return [results[position] for position in range(len(records))]

    def _admit(
        self,
        connection: Connection,
        first: int,
        now: int,
        verified: list[_Pending],
        rows: dict[int, indexer.CaptureRow],
    ) -> list[bytes]:
        """Under the write lock: replays, revocations, then entries and their rows."""
        record_ids = [capture_record_id(item.claim_jcs, item.sig) for item in verified]
        # Replays are found by the claim, not the record: the same claim signed differently
        # (a malleated or re-signed copy) is the same capture, answered with the first receipt.
        claim_ids = [_claim_id(item) for item in verified]
        known: dict[bytes, int] = {}
        for cid, index in connection.execute(
            select(reg_captures.c.claim_id, reg_captures.c.leaf_index)
            .where(reg_captures.c.claim_id.in_(set(claim_ids)))
            .order_by(reg_captures.c.leaf_index)
        ):
            known.setdefault(bytes(cid), index)
        revoked: dict[str, int] = {}
        for device, since in connection.execute(
            select(reg_revocations.c.device_id, reg_revocations.c.compromised_since_ms).where(
                reg_revocations.c.device_id.in_({item.claim["device"] for item in verified})
            )
        ):
            revoked[device] = min(since, revoked.get(device, since))
        entries: list[dict[str, Any]] = []
        entry_ids: list[bytes] = []
        entry_claims: list[bytes] = []
        leaves: list[bytes] = []
        batch_ids: dict[bytes, int] = {}
        for item, rid, cid in zip(verified, record_ids, claim_ids, strict=True):
            item.index, item.replay, item.rejection, item.flags = None, False, None, []
            if cid in known or cid in batch_ids:
                item.index, item.replay = known.get(cid, batch_ids.get(cid)), True
                continue
            since = revoked.get(item.claim["device"])
            item.rejection = rules.revoked_problem(item.claim, since)
            if item.rejection is not None:
                continue
            if since is not None:
                item.flags.append("logged_after_revocation")
            item.index = first + len(entries)
            batch_ids[cid] = item.index
            if item.c2pa is None:
                entry = {"kind": CAPTURE, "logged_at": now, "claim": item.claim, "sig": item.sig}
                leaves.append(capture_leaf(item.claim_jcs, item.sig, now))
            else:
                entry = {
                    "kind": C2PA_CAPTURE,
                    "logged_at": now,
                    "claim": item.claim,
                    "c2pa": item.c2pa,
                }
                leaves.append(encode_entry(entry))
            entries.append(entry)
            entry_ids.append(rid)
            entry_claims.append(cid)
        for row in indexer.apply_captures(connection, first, entries, entry_ids, entry_claims):
            rows[row.index] = row
        return leaves

    def _device_keys(self, device_ids: set[str]) -> dict[str, rules.EnrolledDevice]:
        if not device_ids:
            return {}
        with self._store.engine.connect() as connection:
            found = connection.execute(
                select(
                    reg_devices.c.device_id,
                    reg_devices.c.vendor_id,
                    reg_devices.c.issuer_id,
                    reg_devices.c.algorithm,
                    reg_devices.c.public_key,
                    reg_devices.c.not_before_ms,
                    reg_devices.c.not_after_ms,
                ).where(reg_devices.c.device_id.in_(sorted(device_ids)))
            ).all()
        return {
            row.device_id: rules.EnrolledDevice(
                row.device_id,
                row.vendor_id,
                row.issuer_id,
                row.algorithm,
                bytes(row.public_key),
                row.not_before_ms,
                row.not_after_ms,
            )
            for row in found
        }

    def _verify(self, jobs: list[tuple[str, bytes, bytes, bytes]]) -> list[bool]:
        workers = self._settings.verify_workers
        if workers <= 1 or len(jobs) < _IN_PROCESS_BELOW:
            return verify_batch(jobs)
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=workers)
        size = -(-len(jobs) // workers)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        return [ok for chunk in self._pool.map(verify_batch, chunks) for ok in chunk]

    # --- C2PA captures ---

    def ingest_c2pa(self, data: bytes, name: str = "image") -> CaptureResult:
        """Log a camera's C2PA-signed file as a c2pa-capture/v1 entry (registry.c2pa.evidence).

        The C2PA SDK validates the file against the registered vendor roots; the signer's
        certificate is enrolled as a device/v1 entry first if it is not yet; the entry keeps
        the claim, its signature and the assertions it relies on, re-verified here exactly as
        an auditor will, plus the registry's hashes of the file.
        """
        self._writer()
        roots = [self._vendor_root(vendor_id) for vendor_id in self._vendor_ids()]
        if not roots:
            raise NotFoundError("no vendor is registered, so no C2PA signer can be trusted")
        pem = [root.certificate.public_bytes(Encoding.PEM).decode() for root in roots]
        signed = read_signed_file(data, name, pem)
        c2pa = evidence_from_store(signed.store, signed.manifest)
        evidence = check_evidence(c2pa)
        # What is logged must be what the SDK validated, and bind this very file.
        check_validated(signed.validated, c2pa, evidence)
        check_hard_binding(c2pa, data)
        root_ders = {root.der for root in roots}
        chain = [der for der in evidence.chain[1:] if der not in root_ders]
        self.enroll_device(evidence.chain[0], chain)
        hashes = hash_image(data, name, max_pixels=self._settings.max_image_pixels)
        claim = {
            "device": evidence.device_id,
            "captured_at": evidence.captured_at,
            **hashes.claim_fields(),
        }
        device = self._device_keys({evidence.device_id}).get(evidence.device_id)
        problem = rules.claim_problem(claim, device, self._now(), self._settings.max_future_skew_ms)
        if problem is not None:
            raise VerificationError(problem[1], code=problem[0])
        item = _Pending(0, claim, c2pa["signature"], canonical_claim(claim), c2pa=c2pa)
        rows: dict[int, indexer.CaptureRow] = {}
        result = self._append(lambda c, first, now: self._admit(c, first, now, [item], rows))
        if item.rejection is not None:
            raise VerificationError(item.rejection[1], code=item.rejection[0])
        assert item.index is not None
        receipt = self._receipts(
            [item.index], result.checkpoint, {item.index} if item.replay else set()
        )[0]
        row = rows.get(item.index)
        return CaptureResult(0, receipt, row.counter_status if row else None, tuple(item.flags))

    def _vendor_ids(self) -> list[str]:
        with self._store.engine.connect() as connection:
            return list(connection.execute(select(reg_vendors.c.vendor_id)).scalars())

    # --- revocations ---

    def revoke(self, revocation: Any) -> Receipt:
        """Log a CA-signed revocation of a device, dated by its compromise."""
        self._writer()
        body, signature = rules.parse_revocation(revocation)
        device = body["device"]
        info = self.device(device)  # NotFoundError for a device that is not enrolled
        entry = parse_entry(self._store.entry(info["leaf_index"]))
        # The signer is judged against the path the verifier builds from the logged entry now,
        # not against its chain or the derived issuer_id (either may predate this rule).
        verified = rules.check_device(
            base64.b64decode(entry["cert"]),
            [base64.b64decode(c) for c in entry["chain"]],
            self._vendor_root(info["vendor_id"]),
            entry["logged_at"],
        )
        ca = rules.ca_certificate(body["signer"], device, verified.path_der)
        rules.check_revocation(body, signature, ca)
        compromised_since, reason, signer = (
            body["compromised_since"],
            body["reason"],
            body["signer"],
        )
        sig_b64 = b64(signature)
        existing: list[int] = []

        def build(connection: Connection, first: int, now: int) -> list[bytes]:
            for row in connection.execute(
                select(reg_revocations.c.leaf_index).where(
                    reg_revocations.c.device_id == device,
                    reg_revocations.c.compromised_since_ms == compromised_since,
                    reg_revocations.c.signer_id == signer,
                )
            ):
                entry = parse_entry(read_entries(connection, row.leaf_index, row.leaf_index + 1)[0])
                # The same signed body is the same revocation whatever its signature bytes
                # (ECDSA signatures are malleable and randomized): never logged twice.
                if entry.get("reason") == reason:
                    existing.append(row.leaf_index)
                    return []
            entry = {**body, "logged_at": now, "sig": sig_b64}
            leaf = encode_entry(entry)
            indexer.apply_revocation(connection, first, entry)
            return [leaf]

        return self._single(build, existing)

    # --- rebuilding the derived indexes ---

    def reindex(self, chunk: int = 10_000) -> int:
        """Drop every derived row and rebuild them from the log's entries; returns the count."""
        replayed = [0]

        def rebuild(connection: Connection, first: int, _now: int) -> list[bytes]:
            indexer.clear(connection)
            for start in range(0, first, chunk):
                end = min(first, start + chunk)
                replayed[0] += indexer.replay(
                    connection, start, read_entries(connection, start, end)
                )
            indexer.set_indexed_size(connection, first)
            return []

        self._writer().append_built(rebuild)
        return replayed[0]


def _claim_id(item: _Pending) -> bytes:
    if item.c2pa is None:
        return capture_claim_id(item.claim_jcs)
    return c2pa_claim_id(item.c2pa)
