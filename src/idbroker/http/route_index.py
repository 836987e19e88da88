"""Route dispatch by index instead of by scan.

Starlette's router tries every route's regex in order until one matches. With some eighty
routes, ``GET /api/v2/users/{id}`` (the 39th) paid for 38 failed regex matches, more than the
handler's own database read (docs/performance.md, "Hot-path work"). A route can only match a
path that starts with the literal text before its first parameter, so this index looks up just
the routes whose literal prefix the path has — by exact path, and by each prefix of the path that
ends in ``/`` — and tries those, in their original order, with Starlette's own ``matches``. The
outcome is the one the scan gives: a route outside the candidates cannot match. Anything the
candidates do not fully match (405s, slash redirects, 404s) goes to Starlette's router unchanged.
"""

from __future__ import annotations

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, Router
from starlette.types import Receive, Scope, Send


class RouteIndex:
    def __init__(self, router: Router) -> None:
        self.router = router
        self._fallback = router.app
        self._indexed: list[BaseRoute] | None = None
        self._exact: dict[str, list[int]] = {}
        self._prefix: dict[str, list[int]] = {}
        self._always: list[int] = []

    def _build(self) -> None:
        routes = list(self.router.routes)
        self._exact, self._prefix, self._always = {}, {}, []
        for n, route in enumerate(routes):
            path = route.path if isinstance(route, Route | Mount) else None
            if path is None:
                self._always.append(n)
                continue
            if isinstance(route, Mount):
                path = path.rstrip("/") + "/{path:path}"
            literal = path.split("{", 1)[0]
            if literal == path:
                self._exact.setdefault(path, []).append(n)
            elif literal.endswith("/"):
                self._prefix.setdefault(literal, []).append(n)
            else:
                self._always.append(n)
        self._indexed = routes

    def candidates(self, path: str) -> list[BaseRoute]:
        if self._indexed is None or len(self._indexed) != len(self.router.routes):
            self._build()
        assert self._indexed is not None
        found = [*self._always, *self._exact.get(path, ())]
        slash = path.find("/")
        while slash != -1:
            found.extend(self._prefix.get(path[:slash + 1], ()))
            slash = path.find("/", slash + 1)
        found.sort()
        return [self._indexed[n] for n in found]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._fallback(scope, receive, send)
            return
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope.setdefault("router", self.router)
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL:
                break  # a 405 (or a later full match): Starlette's scan decides, as ever
        await self._fallback(scope, receive, send)


def index_routes(router: Router) -> None:
    """Make ``router`` dispatch through a RouteIndex (its middleware_stack is what it calls)."""
    router.middleware_stack = RouteIndex(router)
