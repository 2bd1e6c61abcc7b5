"""Origin clusters: near-duplicate groups across the log, and per-device evidence of abuse,
recomputable by anyone from the public log.

`facts` (the log as of a checkpoint, read from the derived tables) -> `clusters` (near-duplicate
groups, anchored on the first logged) -> `signals` (per-device evidence, one function per
signal) -> `report` (scores and the canonical JSON report).
"""
