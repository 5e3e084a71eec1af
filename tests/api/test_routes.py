"""The app's route table: its order is chosen for speed (the data plane first), which is safe only
while no path can be answered by routes of two different routers."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute
from starlette.routing import Match, Route

from shipyard.api.app import create_app
from shipyard.api.routing import PrefixedRoute
from shipyard.platform import Platform


def _sample(path: str) -> str:
    """A concrete path for a route template (`/v1/prompts/{name}/versions/{ref}` → …/x1/versions/3)."""
    return re.sub(r"\{([^}:]+)(:[^}]+)?\}", lambda m: "3" if m.group(1) in ("version", "ref") else "x1", path)


def test_no_path_is_answered_by_routes_of_two_routers(services: Platform) -> None:
    routes = [route for route in create_app(services=services).router.routes if isinstance(route, Route)]
    assert len(routes) > 90
    clashes = []
    for route in routes:
        for method in route.methods or ():
            scope = {"type": "http", "path": _sample(route.path), "method": method, "root_path": "", "headers": []}
            owners = {other.endpoint.__module__ for other in routes if other.matches(scope)[0] == Match.FULL}
            if len(owners) > 1:
                clashes.append((method, route.path, sorted(owners)))
    assert clashes == []


def test_the_data_plane_is_matched_first(services: Platform) -> None:
    """Each route tried before the right one costs ~0.3 µs of every call (docs/benchmarks.md)."""
    paths = [getattr(route, "path", None) for route in create_app(services=services).router.routes]
    assert paths.index("/v1/chat/completions") == 0
    assert paths.index("/deployments/{name}/invocations") < 10
    assert paths.index("/v1/ask") < 25 and paths.index("/v1/collections/{name}/search") < 30


def test_every_route_rejects_a_foreign_path_by_its_prefix(services: Platform) -> None:
    """A router made without `route_class=PrefixedRoute` would put its routes back on the slow path."""
    app = create_app(services=services)
    api_routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    assert api_routes and all(isinstance(route, PrefixedRoute) for route in api_routes)
    # The prefix only answers sooner, never differently: a miss by prefix is a miss by the regex too.
    for route in api_routes:
        for other in api_routes:
            scope = {"type": "http", "path": _sample(other.path), "method": "GET", "root_path": "", "headers": []}
            assert route.matches(scope)[0] == APIRoute.matches(route, scope)[0], (route.path, other.path)
