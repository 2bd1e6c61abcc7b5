"""The write side: what the log accepts, and the tables derived from it.

`registry.Registry` is the façade every route and command calls; each kind of entry has its
module: `vendors`, `devices`, `captures` (parse, screen, verify, admit, assemble),
`c2pa_ingest`, `revocations`, and `reindex` (rebuild the reg_* tables from the log). They share
`context.Writer`: every append goes through `Writer.append`, where the builder decides its
leaves and outcome under the log's write lock (`Sequencer.append_decided`). `results` holds
what they answer (Receipt, CaptureResult). `rules` states each admission rule once, as pure
functions that `registry.audit` re-runs on a replayed log; `certs` validates device chains with
cryptography's X.509 verifier; `schema` and `indexer` are the derived reg_* tables;
`capture_cautions` stores what the log knows against each capture.
"""
