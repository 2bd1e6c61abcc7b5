"""Images to hashes, and hashes to matches.

`decode`: untrusted bytes to the pixels every hash is taken from (limits, EXIF orientation,
reduction); `hashing`: SHA-256, PDQ and pHash, the claim's features and a lookup's probes;
`features`: where the extra regions are taken; `matching`: the one match rule, shared by
lookups and `prov verify --image`; `neardup`: the in-memory near-duplicate indexes (a lookup's
radius search); `pairs`: the exact self-join of many hashes (the origin report's and the audit's
near pairs); `gate`: how many decodes a server process runs and queues at once (past that,
503 overloaded). Knows nothing of the log.
"""
