"""Request dependencies: the objects routes need, built once in create_app."""

from typing import Annotated

from fastapi import Depends, Request

from ledger import LogStore, Verifier
from registry import Registry, RegistrySettings
from registry.lookup.query import Lookup


def get_store(request: Request) -> LogStore:
    store: LogStore = request.app.state.store
    return store


def get_log_key(request: Request) -> Verifier | None:
    key: Verifier | None = request.app.state.log_key
    return key


def get_registry(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


def get_admin_token(request: Request) -> str | None:
    """The bearer token of `Authorization: Bearer <token>`, if any."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def get_settings(request: Request) -> RegistrySettings:
    settings: RegistrySettings = request.app.state.settings
    return settings


def get_lookup(request: Request) -> Lookup:
    lookup: Lookup = request.app.state.lookup
    return lookup


SettingsDep = Annotated[RegistrySettings, Depends(get_settings)]
LookupDep = Annotated[Lookup, Depends(get_lookup)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
AdminToken = Annotated[str | None, Depends(get_admin_token)]
Store = Annotated[LogStore, Depends(get_store)]
LogKey = Annotated[Verifier | None, Depends(get_log_key)]
