"""Offline proof bundles: everything a verifier needs to check one capture without us.

`format`: the document and its parsing; `build`: a bundle from the log (server side, SQL);
`verify`: the offline verification, running the numbered checks of `checks` into a `report`
(no SQLAlchemy); `witness_time`: the time evidence of k witnesses' cosignatures.
"""
