"""The write side: what the log accepts, and the tables derived from it.

`registry.Registry` is the façade every route and command calls. `rules` states each admission
rule once, as pure functions that `registry.audit` re-runs on a replayed log; `certs` validates
device chains with cryptography's X.509 verifier; `schema` and `indexer` are the derived reg_*
tables, rebuilt from the log by `Registry.reindex`; `capture_cautions` stores what the log
knows against each capture.
"""
