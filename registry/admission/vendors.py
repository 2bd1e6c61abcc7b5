"""Vendors: the operator registers each vendor's self-signed root CA as a vendor/v1 entry."""

import base64
import hmac

from sqlalchemy import Connection, select

from ledger.errors import NotFoundError, VerificationError
from registry.admission import indexer, rules
from registry.admission.certs import VendorRoot, load_vendor_root
from registry.admission.context import Writer, logged_index
from registry.admission.results import Receipt
from registry.admission.schema import reg_vendors
from registry.config import RegistrySettings
from registry.entries.codec import VENDOR, b64, encode_entry, parse_entry_as
from registry.entries.strings import check_no_nul
from registry.errors import ConflictError, NotAuthorizedError


def check_admin_token(settings: RegistrySettings, admin_token: str | None) -> None:
    """Raise unless `admin_token` is the operator's token (compared in constant time)."""
    expected = settings.admin_token
    if expected is None:
        raise NotAuthorizedError(
            "adding vendors is disabled: the operator has not configured PROV_ADMIN_TOKEN; set "
            "it where the log runs (the server's environment), then pass it with --admin-token",
            code="admin_disabled",
        )
    if admin_token is None or not hmac.compare_digest(admin_token.encode(), expected.encode()):
        raise NotAuthorizedError(
            "the admin token is missing or wrong: give the operator's token with --admin-token or "
            "PROV_ADMIN_TOKEN (over HTTP: the header Authorization: Bearer TOKEN)",
            code="bad_admin_token",
        )


def add_vendor(
    writer: Writer,
    name: str,
    role: str,
    root_der: bytes,
    admin_token: str | None,
    certificates: str | None = None,
) -> Receipt:
    """Register a vendor's self-signed root CA (operator only); a root logged already is
    answered with its first receipt. `certificates`: "per-capture" for a vendor whose devices
    sign each capture with a one-time certificate (registry.admission.capture_origin), None for
    one certificate per device."""
    check_admin_token(writer.settings, admin_token)
    writer.sequencer_or_refuse()
    check_no_nul({"name": name, "role": role, "certificates": certificates}, "vendor")
    root = rules.check_vendor(name, role, root_der, certificates)

    def find(connection: Connection) -> int | None:
        logged = connection.execute(
            select(
                reg_vendors.c.leaf_index,
                reg_vendors.c.certificates,
                reg_vendors.c.name,
                reg_vendors.c.role,
            ).where(reg_vendors.c.vendor_id == root.vendor_id)
        ).first()
        if logged is None:
            return None
        if (logged.name, logged.role) != (name, role):
            raise _registered_otherwise(root.vendor_id, logged.name, logged.role, logged.leaf_index)
        if logged.certificates != certificates:
            raise _certificates_fixed(root.vendor_id, logged.certificates)
        index: int = logged.leaf_index
        return index

    def make(connection: Connection, index: int, now: int) -> bytes:
        entry = {
            "kind": VENDOR,
            "logged_at": now,
            "name": name,
            "role": role,
            "root": b64(root.der),
        }
        if certificates is not None:  # absent, not null: older entries have no such field
            entry["certificates"] = certificates
        indexer.apply_vendor(connection, index, entry)
        return encode_entry(entry)

    return writer.append_one(find, make)


def _registered_otherwise(vendor_id: str, name: str, role: str, index: int) -> ConflictError:
    """The root is logged already under another name or role: the first entry stands (every
    device enrolled under it names that vendor), so a second name is refused, not reported as
    if it were logged."""
    return ConflictError(
        f"vendor root {vendor_id} is logged already, as {name!r} ({role}) at index {index}; "
        "a root is registered once: add it again with that name and role, or use another root",
        code="vendor_conflict",
    )


def _certificates_fixed(vendor_id: str, logged: str | None) -> VerificationError:
    """A vendor registered again with other certificates: its devices' origins were fixed by
    its first entry when they enrolled, so the log keeps that one."""
    was = "a one-time certificate per capture" if logged else "one certificate per device"
    return VerificationError(
        f"vendor {vendor_id} is registered already with {was}; that cannot change. Register "
        "it again exactly as it is, or give the other scheme a root of its own",
        code="vendor_certificates_fixed",
    )


def vendor_root(writer: Writer, vendor_id: str) -> VendorRoot:
    """The registered root of `vendor_id`, parsed from its logged entry once and kept."""
    if vendor_id not in writer.roots:
        with writer.store.engine.connect() as connection:
            index = logged_index(connection, reg_vendors.c.vendor_id, vendor_id)
        if index is None:
            raise NotFoundError(f"vendor {vendor_id} is not registered", code="unknown_vendor")
        entry = parse_entry_as(writer.store.entry(index), VENDOR)
        writer.roots[vendor_id] = load_vendor_root(base64.b64decode(entry["root"]))
    return writer.roots[vendor_id]


def vendor_ids(writer: Writer) -> list[str]:
    with writer.store.engine.connect() as connection:
        return list(connection.execute(select(reg_vendors.c.vendor_id)).scalars())
