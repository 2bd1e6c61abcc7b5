"""Every route that does a lookup's work is rate-limited, and every image decode a route causes
goes through the decode gate: checked on the app's own routes and on the routers' source, so a
new route cannot be left open."""

import ast
import inspect
from pathlib import Path

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api import create_app
from api.deps import LOOKUP_WORK
from api.limits import LimitedRoutes, RateLimit, does_lookup_work
from registry import RegistrySettings

ROUTERS = Path(__file__).resolve().parents[2] / "api" / "routers"
# What a route may call that decodes an image (and so must run inside gate.run).
DECODERS = frozenset(
    {"query_from_upload", "query_from_image", "query_hashes", "hash_image", "ingest_c2pa"}
)
# Words in an endpoint's source that mean lookup work, whatever its dependencies say.
LOOKUP_WORDS = ("finder", "gate", *DECODERS, "_by_binding")


def _limited_routes(app: FastAPI) -> LimitedRoutes:
    (routes,) = [
        m.kwargs["routes"] for m in app.user_middleware if getattr(m, "cls", None) == RateLimit
    ]
    assert isinstance(routes, LimitedRoutes)
    return routes


def test_every_route_that_does_lookup_work_is_limited(
    writable_settings: RegistrySettings,
) -> None:
    app = create_app(writable_settings)
    try:
        limited = _limited_routes(app)
        seen = 0
        for context in iter_route_contexts(app.routes):
            route, path = context.original_route, context.path
            if not isinstance(route, APIRoute) or path is None:
                continue
            source = inspect.getsource(route.endpoint)
            works = does_lookup_work(route) or any(word in source for word in LOOKUP_WORDS)
            for method in context.methods or ():
                if works or method == "POST":
                    assert (method, path) in limited, f"{method} {path} is not rate-limited"
                    seen += 1
        assert seen == len(limited.listing()) >= 10
        # A load balancer or Prometheus polls these every few seconds: never refused.
        for path in ("/healthz", "/readyz", "/metrics"):
            assert ("GET", path) not in limited, f"GET {path} is rate-limited"
    finally:
        app.state.prov.close()


def test_a_route_that_uses_the_lookup_says_so_by_its_dependency() -> None:
    """does_lookup_work reads the dependencies, so a route must get the lookup or the gate from
    api.deps (LOOKUP_WORK), never build its own."""
    assert {dep.__name__ for dep in LOOKUP_WORK} == {"get_lookup", "get_decode_gate"}
    for path in ROUTERS.glob("*.py"):
        tree = ast.parse(path.read_text())
        built = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in {"Lookup", "DecodeGate"}
        ]
        assert not built, f"{path.name} builds its own Lookup or DecodeGate"


def _gated_nodes(tree: ast.AST) -> tuple[set[int], set[str]]:
    """The ids of every node inside a call of `gate.run` (direct, or handed to
    run_in_threadpool), and the names of the functions referenced there (helpers that run
    gated)."""

    def is_gate_run(node: ast.expr) -> bool:
        return (
            isinstance(node, ast.Attribute)
            and node.attr == "run"
            and isinstance(node.value, ast.Name)
            and node.value.id == "gate"
        )

    inside: set[int] = set()
    helpers: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if not (is_gate_run(node.func) or any(is_gate_run(arg) for arg in node.args)):
            continue
        for sub in ast.walk(node):
            inside.add(id(sub))
            if isinstance(sub, ast.Name):
                helpers.add(sub.id)
    return inside, helpers


def test_every_decode_in_a_route_runs_through_the_gate() -> None:
    for path in ROUTERS.glob("*.py"):
        tree = ast.parse(path.read_text())
        inside, helpers = _gated_nodes(tree)
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if function.name in helpers:
                continue  # its whole body runs gated
            for node in ast.walk(function):
                name = (
                    node.id
                    if isinstance(node, ast.Name)
                    else node.attr
                    if isinstance(node, ast.Attribute)
                    else None
                )
                if name in DECODERS:
                    assert id(node) in inside, (
                        f"{path.name}:{getattr(node, 'lineno', '?')} {function.name} decodes outside gate.run"
                    )
