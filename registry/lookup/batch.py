"""Many lookups in one request (POST /v1/lookups): hash sets a client computed locally, each
in the per-item form of a JSON lookup (registry.lookup.parse.query_from_json), answered in
order against one checkpoint.

A malformed item is that item's error, not the request's: a fact-checker's batch of 1,000
answers 999 and says which one was wrong. A body that is not `{"lookups": [...]}`, or holds
more than MAX_LOOKUPS items, is refused whole (a batch over the limit costs the server the
same whether or not its items are good).
"""

from dataclasses import dataclass

from ledger.errors import MalformedError
from registry.errors import TooLargeError
from registry.lookup.parse import Query, query_from_json
from registry.lookup.query import Lookup

MAX_LOOKUPS = 1000


@dataclass(frozen=True)
class ItemError:
    """Why one item of a batch was not looked up."""

    code: str
    message: str

    def to_json(self) -> dict[str, object]:
        return {"error": {"type": self.code, "message": self.message}}


def batch_items(body: object) -> list[object]:
    """The items of `{"lookups": [...]}`: 1 to MAX_LOOKUPS of them, or the whole is refused."""
    if not isinstance(body, dict) or set(body) != {"lookups"}:
        raise MalformedError(
            'a batch lookup is {"lookups": [hash set, ...]}, each hash set in the form of a '
            "JSON POST /v1/lookup",
            code="bad_query",
        )
    items = body["lookups"]
    if not isinstance(items, list) or not items:
        raise MalformedError("'lookups' must be a non-empty list of hash sets", code="bad_query")
    if len(items) > MAX_LOOKUPS:
        raise TooLargeError(
            f"{len(items)} lookups in one request; at most {MAX_LOOKUPS}: send smaller batches"
        )
    return items


def parse_items(items: list[object]) -> list[Query | ItemError]:
    """Each item's query, or the error that item alone gets (with its position)."""
    parsed: list[Query | ItemError] = []
    for position, item in enumerate(items):
        try:
            parsed.append(query_from_json(item))
        except MalformedError as error:
            parsed.append(ItemError(error.code, f"lookups[{position}]: {error}"))
    return parsed


def lookup_batch(finder: Lookup, parsed: list[Query | ItemError]) -> list[dict[str, object]]:
    """The answers in the items' order: a lookup result, or `{"error": {type, message}}`."""
    queries = [item for item in parsed if isinstance(item, Query)]
    answers = iter(finder.lookup_many(queries))
    return [
        item.to_json() if isinstance(item, ItemError) else next(answers).to_json()
        for item in parsed
    ]
