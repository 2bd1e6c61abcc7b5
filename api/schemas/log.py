"""Bodies of /v1/log: the log's status, its entries and proofs."""

from pydantic import BaseModel, Field


class LogStatus(BaseModel):
    origin: str
    tree_size: int
    root_hash: str = Field(description="base64 SHA-256 root hash")
    checkpoint: str = Field(description="the signed checkpoint note")
    vkey: str | None = Field(description="the log's verifier key, if this server knows it")


class LogEntry(BaseModel):
    index: int
    leaf_hash: str = Field(description="base64 SHA-256(0x00 || data)")
    data: str = Field(description="base64 of the exact leaf bytes that were hashed")


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    consistency_path: list[str]
