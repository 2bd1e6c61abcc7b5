"""C2PA Content Credentials: reading and validating signed files at ingest (`reader`), the
JUMBF boxes (`jumbf`), the COSE_Sign1 claim signature (`cose`), the evidence a c2pa-capture/v1
entry keeps and its re-verification from the entry alone (`evidence`), and the hard binding
over the file (`binding`). Pure of the database: the Soft Binding Resolution API's answers,
which need lookups and bundles, are `registry.lookup.softbinding`.
"""
