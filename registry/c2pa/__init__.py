"""C2PA Content Credentials: reading and validating signed files at ingest (`reader`), the
JUMBF boxes (`jumbf`), the evidence a c2pa-capture/v1 entry keeps and its re-verification from
the entry alone (`evidence`), the hard binding over the file (`binding`), and the Soft Binding
Resolution API's answers (`softbinding`).
"""
