"""Auditing a log from its public API: every entry re-checked by the admission rules
(`auditor`; the form of a leaf: `form`), priority cautions (`priority`), the full replay
with resumable state (`replay`; the state's JSON: `state`; the history it pins: `pinned`),
and one round of `prov audit watch` against the log and its mirrors (`watch`).
"""
