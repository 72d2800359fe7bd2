"""Every /api/v1/ route, read from the URL resolver, with its view class, methods and actions: the
scope table test and the idempotency test walk it so a new endpoint is covered the day it is added."""

import re
from dataclasses import dataclass

from django.urls import URLResolver, get_resolver

from koinonia.api import scopes

API_PREFIX = "api/v1/"
# Open on purpose (AllowAny): the schema and its viewer, which integrators read before having a key.
UNAUTHENTICATED = {"api_schema", "api_docs"}
_PARAM = re.compile(r"\(\?P<(?P<name>\w+)>[^)]*\)")


@dataclass(frozen=True)
class Endpoint:
    route: str  # the pattern as written, e.g. api/v1/^members/(?P<pk>[0-9]+)/?$
    name: str
    method: str  # upper case
    action: str | None
    view_class: type
    initkwargs: dict

    def url(self, **values) -> str:
        """A concrete path: every parameter given or 999999 (a row no church has)."""
        path = self.route.replace("^", "").replace("$", "").replace("/?", "/")
        path = _PARAM.sub(lambda m: str(values.get(m.group("name"), 999999)), path)
        return "/" + path

    def view(self):
        view = self.view_class(**self.initkwargs)
        view.action = self.action
        return view

    def required_scopes(self):
        return scopes.required_scopes(self.view(), self.method)

    def __str__(self) -> str:
        return f"{self.method} {self.url()} ({self.view_class.__name__}.{self.action or self.method.lower()})"


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_endpoints(urlconf=None) -> list[Endpoint]:
    endpoints = []
    for route, pattern in _walk(get_resolver(urlconf).url_patterns):
        if not route.startswith(API_PREFIX) or pattern.name in UNAUTHENTICATED:
            continue
        callback = pattern.callback
        view_class = callback.cls
        initkwargs = dict(getattr(callback, "initkwargs", {}))
        actions = getattr(callback, "actions", None)
        if actions is None:  # an APIView: each handler it defines
            allowed = [m for m in view_class.http_method_names if m not in ("head", "options")]
            actions = {m: None for m in allowed if hasattr(view_class, m)}
        for method, action in actions.items():
            if method in ("head", "options") or method not in view_class.http_method_names:
                continue
            endpoints.append(
                Endpoint(
                    route=route,
                    name=pattern.name,
                    method=method.upper(),
                    action=action,
                    view_class=view_class,
                    initkwargs=initkwargs,
                )
            )
    return endpoints
