"""Origin clusters: near-duplicate groups across the log, and per-device evidence of abuse,
recomputable by anyone from the public log (`clusters`).
"""
