"""Vendors: the operator registers each vendor's self-signed root CA as a vendor/v1 entry."""

import base64
import hmac

from sqlalchemy import Connection, select

from ledger.errors import NotFoundError
from registry.admission import indexer, rules
from registry.admission.certs import VendorRoot, load_vendor_root
from registry.admission.context import Writer, logged_index
from registry.admission.results import Receipt
from registry.admission.schema import reg_vendors
from registry.config import RegistrySettings
from registry.entries.codec import VENDOR, b64, encode_entry, parse_entry_as
from registry.errors import NotAuthorizedError


def check_admin_token(settings: RegistrySettings, admin_token: str | None) -> None:
    """Raise unless `admin_token` is the operator's token (compared in constant time)."""
    expected = settings.admin_token
    if expected is None:
        raise NotAuthorizedError(
            "adding vendors is disabled: the operator has not configured PROV_ADMIN_TOKEN",
            code="admin_disabled",
        )
    if admin_token is None or not hmac.compare_digest(admin_token.encode(), expected.encode()):
        raise NotAuthorizedError("the admin token is missing or wrong", code="bad_admin_token")


def add_vendor(
    writer: Writer, name: str, role: str, root_der: bytes, admin_token: str | None
) -> Receipt:
    """Register a vendor's self-signed root CA (operator only); a root logged already is
    answered with its first receipt."""
    check_admin_token(writer.settings, admin_token)
    writer.sequencer_or_refuse()
    root = rules.check_vendor(name, role, root_der)

    def find(connection: Connection) -> int | None:
        return logged_index(connection, reg_vendors.c.vendor_id, root.vendor_id)

    def make(connection: Connection, index: int, now: int) -> bytes:
        entry = {
            "kind": VENDOR,
            "logged_at": now,
            "name": name,
            "role": role,
            "root": b64(root.der),
        }
        indexer.apply_vendor(connection, index, entry)
        return encode_entry(entry)

    return writer.append_one(find, make)


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
