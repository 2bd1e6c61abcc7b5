"""Request dependencies: the objects routes need, built once in create_app."""

from typing import Annotated

from fastapi import Depends, Request

from ledger import LogStore, Verifier


def get_store(request: Request) -> LogStore:
    store: LogStore = request.app.state.store
    return store


def get_log_key(request: Request) -> Verifier | None:
    key: Verifier | None = request.app.state.log_key
    return key


Store = Annotated[LogStore, Depends(get_store)]
LogKey = Annotated[Verifier | None, Depends(get_log_key)]
