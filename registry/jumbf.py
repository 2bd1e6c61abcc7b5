"""C2PA manifest stores in JPEG files: the JUMBF boxes (ISO/IEC 19566-5) and the bytes C2PA signs.

Pure functions, bytes in and out. `c2pa-python` validates a file at ingest; these read out the
few pieces a log entry keeps so that an auditor can re-verify the claim signature from the entry
alone: the claim (CBOR), its COSE_Sign1 signature, and the assertions the entry relies on.

Layout (C2PA 2.x §11, JUMBF): the manifest store is a superbox labelled `c2pa`, holding one
superbox per manifest (labelled with its URN), each holding `c2pa.assertions` (one superbox per
assertion), `c2pa.claim.v2` (or `c2pa.claim`) and `c2pa.signature`, whose content boxes are
`cbor` boxes. A box is `u32 LBox || 4-byte TBox || payload` (LBox 1: a u64 XLBox follows; 0: to
the end). A superbox (`jumb`) starts with a description box (`jumd`): a 16-byte type UUID, a
toggles byte, then, if toggle bit 1 is set, a NUL-terminated label.

In a JPEG the store is split over APP11 segments (C2PA §A.3.2): `FF EB || u16 length ||
"JP" || u16 box instance || u32 sequence number || data`, where every segment after the first
of an instance repeats the store's 8-byte box header before its data.
"""

import struct
from dataclasses import dataclass

from ledger.errors import MalformedError

# JUMBF description type UUIDs of the C2PA superboxes (C2PA 2.x §11.1.4): the ASCII tag, then
# the ISO base suffix 0011-0010-8000-00AA00389B71.
_UUID_SUFFIX = bytes.fromhex("00110010800000aa00389b71")
STORE_UUID = b"c2pa" + _UUID_SUFFIX
MANIFEST_UUID = b"c2ma" + _UUID_SUFFIX
ASSERTIONS_UUID = b"c2as" + _UUID_SUFFIX
CLAIM_UUID = b"c2cl" + _UUID_SUFFIX
SIGNATURE_UUID = b"c2cs" + _UUID_SUFFIX
_REQUESTABLE_AND_LABELLED = 0x03  # jumd toggles: bit 0 requestable, bit 1 label present

_APP11 = 0xEB
_START_OF_SCAN = 0xDA
_NO_LENGTH_MARKERS = {0x01, *range(0xD0, 0xD8)}  # TEM and RSTn carry no length field


@dataclass(frozen=True)
class Box:
    """One JUMBF box: its type, label (superboxes only), content and children."""

    box_type: str
    label: str
    payload: bytes  # everything after the box header (for a superbox: jumd and children)
    children: tuple["Box", ...] = ()

    def child(self, label: str) -> "Box | None":
        return next((c for c in self.children if c.label == label), None)

    def content(self, box_type: str = "cbor") -> bytes:
        """The payload of this superbox's first content box of `box_type`."""
        for child in self.children:
            if child.box_type == box_type:
                return child.payload
        raise MalformedError(
            f"JUMBF box {self.label!r} has no {box_type} content", code="c2pa_malformed"
        )


def manifest_store_from_jpeg(data: bytes) -> bytes:
    """The JUMBF manifest store embedded in a JPEG's APP11 segments, reassembled."""
    if data[:2] != b"\xff\xd8":
        raise MalformedError(
            "C2PA ingest reads JPEG files (no JPEG start-of-image marker)", code="c2pa_unsupported"
        )
    instances: dict[bytes, list[tuple[int, bytes]]] = {}
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise MalformedError(f"JPEG marker expected at byte {position}", code="c2pa_malformed")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in _NO_LENGTH_MARKERS:
            position += 2
            continue
        if marker == _START_OF_SCAN:
            break
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        segment = data[position + 4 : position + 2 + length]
        if marker == _APP11 and segment[:2] == b"JP" and len(segment) >= 8:
            instance, sequence = segment[2:4], struct.unpack(">I", segment[4:8])[0]
            instances.setdefault(instance, []).append((sequence, segment[8:]))
        position += 2 + length
    for parts in instances.values():
        parts.sort()
        store = parts[0][1] + b"".join(part[8:] for _, part in parts[1:])
        try:
            top = parse_boxes(store)
        except MalformedError:
            continue
        if len(top) == 1 and top[0].label == "c2pa":
            return store
    raise MalformedError("the file carries no C2PA manifest store", code="c2pa_no_manifest")


def parse_boxes(data: bytes) -> list[Box]:
    """The boxes in `data`, superboxes parsed recursively."""
    boxes = []
    position = 0
    while position < len(data):
        if position + 8 > len(data):
            raise MalformedError("truncated JUMBF box header", code="c2pa_malformed")
        size, box_type = struct.unpack(">I4s", data[position : position + 8])
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", data[position + 8 : position + 16])
            header = 16
        elif size == 0:
            size = len(data) - position
        if size < header or position + size > len(data):
            raise MalformedError("JUMBF box length runs past its container", code="c2pa_malformed")
        payload = data[position + header : position + size]
        kind = box_type.decode("latin-1")
        if kind == "jumb":
            description_size = struct.unpack(">I", payload[:4])[0] if len(payload) >= 4 else 0
            if description_size < 25 or payload[4:8] != b"jumd":
                raise MalformedError("JUMBF superbox without a description", code="c2pa_malformed")
            label = _description_label(payload[8:description_size])
            children = tuple(parse_boxes(payload[description_size:]))
            boxes.append(Box(kind, label, payload, children))
        else:
            boxes.append(Box(kind, "", payload))
        position += size
    return boxes


def _description_label(description: bytes) -> str:
    toggles = description[16]
    if not toggles & 0x02:
        return ""
    return description[17:].split(b"\x00", 1)[0].decode("utf-8", "replace")


def superbox_content(payload: bytes, label: str, box_type: str = "cbor") -> bytes:
    """The first `box_type` content box of a superbox given as its payload, without its header:
    what a claim's hashed URI covers (C2PA §8.3)."""
    description_size = int.from_bytes(payload[:4], "big")
    if description_size < 25 or payload[4:8] != b"jumd":
        raise MalformedError(f"JUMBF box {label!r} has no description", code="c2pa_malformed")
    superbox = Box("jumb", label, payload, tuple(parse_boxes(payload[description_size:])))
    return superbox.content(box_type)


def manifest(store: bytes, label: str) -> Box:
    """The manifest `label` in the store `store`."""
    top = parse_boxes(store)
    if not top or top[0].label != "c2pa":
        raise MalformedError("not a C2PA manifest store", code="c2pa_malformed")
    found = top[0].child(label)
    if found is None:
        raise MalformedError(f"the manifest store has no manifest {label!r}", code="c2pa_malformed")
    return found


def box(box_type: bytes, payload: bytes) -> bytes:
    """`u32 LBox || TBox || payload` (ISO/IEC 19566-5 box)."""
    return (len(payload) + 8).to_bytes(4, "big") + box_type + payload


def superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    """A `jumb` superbox: its `jumd` description (type UUID, toggles, NUL-ended label), then
    its children, each already a whole box."""
    description = type_uuid + bytes([_REQUESTABLE_AND_LABELLED]) + label.encode() + b"\x00"
    return box(b"jumb", box(b"jumd", description) + b"".join(children))
