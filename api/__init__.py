"""The HTTP API (FastAPI): thin routes over ledger/ and registry/."""

from api.app import create_app

__all__ = ["create_app"]
