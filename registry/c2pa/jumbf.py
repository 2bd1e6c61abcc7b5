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
_MAX_SEGMENT = 65535  # the u16 segment length, which counts itself


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
    return manifest_store_and_span(data)[0]


def manifest_store_and_span(data: bytes) -> tuple[bytes, tuple[int, int]]:
    """The JPEG's manifest store, and the (start, length) of the APP11 segments that hold it:
    the one range its c2pa.hash.data must exclude (C2PA §A.3.2). A file with two C2PA stores is
    refused: a validator and this registry could each read a different one."""
    if data[:2] != b"\xff\xd8":
        raise MalformedError(
            "C2PA ingest reads JPEG files (no JPEG start-of-image marker)", code="c2pa_unsupported"
        )
    # instance -> (sequence, data, segment start, segment end) of each of its segments
    instances: dict[bytes, list[tuple[int, bytes, int, int]]] = {}
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
            end = position + 2 + length
            instances.setdefault(instance, []).append((sequence, segment[8:], position, end))
        position += 2 + length
    found: list[tuple[bytes, tuple[int, int]]] = []
    for parts in instances.values():
        parts.sort()
        store = parts[0][1] + b"".join(part[1][8:] for part in parts[1:])
        try:
            top = parse_boxes(store)
        except MalformedError:
            continue
        if len(top) == 1 and top[0].label == "c2pa":
            found.append((store, _span(parts)))
    if len(found) > 1:
        raise MalformedError(
            "the file carries more than one C2PA manifest store", code="c2pa_multiple_stores"
        )
    if not found:
        raise MalformedError("the file carries no C2PA manifest store", code="c2pa_no_manifest")
    return found[0]


def _span(parts: list[tuple[int, bytes, int, int]]) -> tuple[int, int]:
    """(start, length) of a store's segments; (start, -1) when they are not one unbroken run
    in sequence order, which no single exclusion can cover."""
    start, end = parts[0][2], parts[0][3]
    for _, _, segment_start, segment_end in parts[1:]:
        if segment_start != end:
            return start, -1
        end = segment_end
    return start, end - start


def min_app11_length(store_length: int) -> int:
    """The fewest bytes of APP11 segments that can hold a store of `store_length` bytes: each
    segment has 12 bytes of marker, length, "JP", instance and sequence number, and each after
    the first repeats the store's 8-byte box header; a segment holds at most 65,533 bytes after
    its marker."""
    first = _MAX_SEGMENT - 10
    if store_length <= first:
        return store_length + 12
    later = _MAX_SEGMENT - 18
    more = -(-(store_length - first) // later)
    return store_length + 12 * (1 + more) + 8 * more


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
    """The manifest `label` in the store `store`, which must be its active manifest.

    C2PA (§11.1.4.1, §10.2) makes manifest labels unique within a store and the last manifest
    the active one, which is the one a validator checks against the file. A store with two
    boxes of one label is refused outright: c2pa-rs validates the last, and anything keyed by
    the label (this function, once) could read the other. A manifest other than the last is
    refused too: it is an ingredient's, never what the file's validation was about."""
    top = parse_boxes(store)
    if len(top) != 1 or top[0].label != "c2pa":
        raise MalformedError("not a C2PA manifest store", code="c2pa_malformed")
    labels = [child.label for child in top[0].children if child.box_type == "jumb"]
    duplicated = sorted({name for name in labels if labels.count(name) > 1})
    if duplicated:
        raise MalformedError(
            f"the manifest store holds more than one box labelled {duplicated[0]!r}; C2PA "
            "labels are unique in a store",
            code="c2pa_duplicate_manifest_label",
        )
    if label not in labels:
        raise MalformedError(f"the manifest store has no manifest {label!r}", code="c2pa_malformed")
    if labels[-1] != label:
        raise MalformedError(
            f"manifest {label!r} is not the store's active (last) manifest, {labels[-1]!r}",
            code="c2pa_not_active_manifest",
        )
    found = top[0].child(label)
    assert found is not None
    return found


def box(box_type: bytes, payload: bytes) -> bytes:
    """`u32 LBox || TBox || payload` (ISO/IEC 19566-5 box)."""
    return (len(payload) + 8).to_bytes(4, "big") + box_type + payload


def superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    """A `jumb` superbox: its `jumd` description (type UUID, toggles, NUL-ended label), then
    its children, each already a whole box."""
    description = type_uuid + bytes([_REQUESTABLE_AND_LABELLED]) + label.encode() + b"\x00"
    return box(b"jumb", box(b"jumd", description) + b"".join(children))
