"""AppState: the objects every request shares, built once by create_app and stored on
`app.state.prov`; routes get them through api.deps, never from app.state directly."""

from dataclasses import dataclass, field

from api.caches import TileCache
from api.metrics import Metrics
from api.origin_reports import OriginReports
from api.settings import ApiSettings
from ledger import LogStore, Verifier
from ledger.witnessing import WitnessLoop
from registry import Registry
from registry.imaging.gate import DecodeGate
from registry.lookup.query import Lookup

TILE_CACHE_BYTES = 128 * 1024 * 1024  # per server process


@dataclass
class AppState:
    settings: ApiSettings
    registry: Registry
    lookup: Lookup
    log_key: Verifier | None  # None where this server does not know the log's key
    decode_gate: DecodeGate  # every image decode a request causes goes through it
    metrics: Metrics = field(default_factory=Metrics)
    tile_cache: TileCache = field(default_factory=lambda: TileCache(TILE_CACHE_BYTES))
    origin_reports: OriginReports = field(default_factory=OriginReports)
    witness_loop: WitnessLoop | None = None  # set while the app runs, if it pushes

    @property
    def store(self) -> LogStore:
        return self.registry.store

    def close(self) -> None:
        """Stop the verify workers and the report worker; release the database connections."""
        self.origin_reports.close()
        self.registry.close()
        self.store.engine.dispose()
