"""The registry's logged formats and what signs them.

`codec`: the entry kinds (vendor/v1, device/v1, capture/v1, c2pa-capture/v1, revocation/v1),
their strict parsing and their canonical bytes (RFC 8785 JCS): what the log hashes. `formats`:
their shapes as types (TypedDicts: entries are read as the JSON objects they are). `signatures`:
device signatures (ES256 raw r||s, low-S; Ed25519). `claim_identity`: a claim's id whatever
its signature. `sdk`: how a device signs a capture. No database, no images beyond hashing
through `registry.imaging`; a logged format is never changed, only added beside.
"""
