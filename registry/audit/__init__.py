"""Auditing a log from its public API: every entry re-checked by the admission rules
(`auditor`; the form of a leaf: `form`), priority cautions (`priority`), and the full replay
with resumable state (`replay`; the state's JSON: `state`).
"""
