"""Request dependencies: the parts of AppState (api.state) a route needs, and the caller's
bearer token. The one place that reads app.state."""

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from api.caches import TileCache
from api.metrics import Metrics
from api.origin_reports import OriginReports
from api.state import AppState
from ledger import LogStore, Verifier
from registry import Registry, RegistrySettings
from registry.imaging.gate import DecodeGate
from registry.lookup.query import IndexStats, Lookup


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.prov
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_store(state: StateDep) -> LogStore:
    return state.store


def get_log_key(state: StateDep) -> Verifier | None:
    return state.log_key


def get_registry(state: StateDep) -> Registry:
    return state.registry


def get_settings(state: StateDep) -> RegistrySettings:
    return state.settings.registry


def get_lookup(state: StateDep) -> Lookup:
    return state.lookup


def get_decode_gate(state: StateDep) -> DecodeGate:
    return state.decode_gate


def get_tile_cache(state: StateDep) -> TileCache:
    return state.tile_cache


def get_origin_reports(state: StateDep) -> OriginReports:
    return state.origin_reports


def get_metrics(state: StateDep) -> Metrics:
    return state.metrics


def get_admin_token(request: Request) -> str | None:
    """The bearer token of `Authorization: Bearer <token>`, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]
# A route that takes either of these does a lookup's work (searches the near-duplicate index, or
# decodes an image): api.limits rate-limits it, whatever its method.
LookupDep = Annotated[Lookup, Depends(get_lookup)]
DecodeGateDep = Annotated[DecodeGate, Depends(get_decode_gate)]
LOOKUP_WORK = frozenset({get_lookup, get_decode_gate})


# Where api.limits.RateLimit leaves, in the request's scope, how to charge the client's bucket
# for more than one lookup's work (absent: no rate limit).
WORK_CHARGE = "prov.work_charge"


def get_work_charge(request: Request) -> Callable[[int], None]:
    """Charge the caller `n` more lookups' work than the one the rate limiter counted."""
    charge: Callable[[int], None] | None = request.scope.get(WORK_CHARGE)
    return charge or (lambda _n: None)


WorkChargeDep = Annotated[Callable[[int], None], Depends(get_work_charge)]


def get_index_stats(state: StateDep) -> Callable[[], IndexStats]:
    """How to read the near-duplicate index's size, without its lookups (the health routes
    take this, so they are not counted as lookup work and stay unlimited)."""
    return state.lookup.stats


IndexStatsDep = Annotated[Callable[[], IndexStats], Depends(get_index_stats)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
AdminToken = Annotated[str | None, Depends(get_admin_token)]
Store = Annotated[LogStore, Depends(get_store)]
LogKey = Annotated[Verifier | None, Depends(get_log_key)]
TileCacheDep = Annotated[TileCache, Depends(get_tile_cache)]
OriginReportsDep = Annotated[OriginReports, Depends(get_origin_reports)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
