"""The shared vectors (tests/support/verify_vectors.py) saved again as an editor or jq would
(each must keep its verdict in both verifiers), and JSON texts that are no bundle (malformed in
both): parse_bundle reads any JSON formatting, with the same strictness (docs/design.md 4.5)."""

import json
from collections.abc import Callable
from functools import reduce
from typing import Any

from ledger.errors import MalformedError
from tests.support.verify_vectors import (
    MALFORMED,
    Vector,
    base_vectors,
    mutated,
    python_verdict,
    text,
)


def make_vectors() -> list[Vector]:
    """Every vector, with its Python verdict."""
    vectors = base_vectors()
    vectors += reformatted(vectors) + malformed(next(v for v in vectors if v.image))
    for vector in vectors:
        try:
            vector.expected = python_verdict(vector)
        except MalformedError:
            vector.expected = dict(MALFORMED)
    return vectors


def reversed_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [reversed_keys(item) for item in value]
    return value


# How an editor or jq saves a bundle again; each is read as the same bundle.
REFORMATS: dict[str, Callable[[Any], str]] = {
    "indent-2": lambda b: json.dumps(b, indent=2),
    "keys-reversed": lambda b: json.dumps(reversed_keys(b), separators=(",", ":")),
    "crlf": lambda b: json.dumps(b, indent="\t").replace("\n", "\r\n") + "\r\n",
    "trailing-newline": lambda b: text(b) + "\n",
    "unescaped-unicode": lambda b: json.dumps(b, indent=1, ensure_ascii=False) + "\n",
}


def reformatted(vectors: list[Vector]) -> list[Vector]:
    """Each valid bundle, and two tampered ones, in every formatting of REFORMATS."""
    chosen = [v for v in vectors if not v.tampered and v.ported]
    chosen += [v for v in vectors if v.name in ("altered-leaf", "wrong-index")]
    again = [
        Vector(
            f"{v.name}/{how}", reformat(json.loads(v.bundle)), v.log_key, v.witness_keys,
            v.image, saved=how in ("crlf", "unescaped-unicode"),
        )
        for v in chosen
        for how, reformat in REFORMATS.items()
    ]  # fmt: skip
    # Saved in another encoding JSON allows (json.detect_encoding): with a BOM, or UTF-16.
    first, pretty = chosen[0], REFORMATS["unescaped-unicode"](json.loads(chosen[0].bundle))
    for encoding in ("utf-8-sig", "utf-16", "utf-16-be"):
        again.append(
            Vector(
                f"{first.name}/{encoding}", pretty, first.log_key, first.witness_keys, first.image,
                saved=True, encoding=encoding,
            )
        )  # fmt: skip
    return again


RAW = "@@raw@@"  # a string an edit puts where raw JSON text goes in (see `raw_edit`)


def raw_edit(bundle: dict[str, Any], edit: Callable[[dict[str, Any]], None], raw: str) -> str:
    """The bundle's text with the string RAW, placed by `edit` as a key or a value, replaced by
    `raw`: JSON no dict can hold (a key twice, NaN, 2.0 kept as written)."""
    edited = text(mutated(bundle, edit))
    assert edited.count(json.dumps(RAW)) == 1
    return edited.replace(json.dumps(RAW), raw)


def malformed(valid: Vector) -> list[Vector]:
    """Bundles whose JSON a lenient reader would take (the last of two values, a float): both
    verifiers must refuse them as malformed. And three edits that parse but fail check 3."""
    bundle = json.loads(valid.bundle)
    index = bundle["capture"]["index"]

    def into(*path: str | int) -> Callable[..., Callable[[dict[str, Any]], None]]:
        def put(**fields: Any) -> Callable[[dict[str, Any]], None]:
            def walk(at: Any, step: str | int) -> Any:
                return at[step]

            return lambda b: reduce(walk, path, b).update(fields)

        return put

    top, capture, subject = into(), into("capture"), into("status", "subjects", 0)
    edits = {
        "malformed-duplicate-key-at-the-top": (top(**{RAW: "another.example/log"}), '"log"'),
        "malformed-duplicate-key-in-capture": (capture(**{RAW: index + 1}), '"index"'),
        "malformed-duplicate-key-in-a-status-subject": (subject(**{RAW: "00" * 32}), '"subject"'),
        "malformed-float-index": (capture(index=RAW), f"{index}.0"),
        "malformed-exponent-index": (capture(index=RAW), f"{index}e0"),
        "malformed-nan-index": (capture(index=RAW), "NaN"),
        "malformed-infinite-index": (capture(index=RAW), "-Infinity"),
        "malformed-bool-index": (capture(index=RAW), "true"),
        "malformed-negative-index": (capture(index=RAW), "-1"),
        "index-beyond-2^53": (capture(index=RAW), str(2**53 + index)),
        "index-minus-zero": (capture(index=RAW), "-0"),
    }
    vectors = [
        Vector(name, raw_edit(bundle, edit, raw), valid.log_key)
        for name, (edit, raw) in edits.items()
    ]
    key = valid.log_key
    unknown = json.dumps(bundle | {"note": "added by hand"}, indent=2)
    extra = mutated(bundle, capture(note="added by hand"))
    unescaped = REFORMATS["unescaped-unicode"](bundle)
    return [
        *vectors,
        Vector("malformed-unknown-field", unknown, key),
        Vector("malformed-trailing-data", text(bundle) + "\n{}", key),
        # Windows-1252 writes the checkpoint's em dash as the byte 0x97, which no UTF-8 has.
        Vector("malformed-not-utf-8", unescaped, key, saved=True, encoding="cp1252"),
        Vector("unknown-field-in-capture", json.dumps(extra, indent=2), key),
    ]
