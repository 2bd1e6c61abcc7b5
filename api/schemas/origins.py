"""Body of GET /v1/origins/{id}: one row of the origin report (registry.origins.clusters), the
checkpoint it was computed at, and whether the id is a device's or a vendor's. GET /v1/clusters
serves the report's own bytes, which the registry defines and anyone recomputes."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReportCheckpoint(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="base64 SHA-256 root hash")


class OriginOut(BaseModel):
    # The row's own fields differ between devices and vendors: they pass through as they are.
    model_config = ConfigDict(extra="allow")

    checkpoint: ReportCheckpoint
    kind: str = Field(description="device or vendor")
    score: int
    signals: dict[str, Any] = Field(description="signal name -> count (and evidence, for a device)")
