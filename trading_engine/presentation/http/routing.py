"""The bounded ``route`` label of a request: its route template, never the raw path."""

from __future__ import annotations

from aiohttp import web

UNMATCHED = "unmatched"


async def route_template(request: web.Request) -> str:
    """``/api/v1/orders/{order_id}`` for a matched request; for a 405, the template of the resource
    whose path matched; for anything else that matches no route, the fixed value ``unmatched``."""
    match_info = request.match_info
    resource = match_info.route.resource
    if resource is not None:
        return resource.canonical
    if isinstance(match_info.http_exception, web.HTTPMethodNotAllowed):
        for candidate in request.app.router.resources():
            _, allowed = await candidate.resolve(request)
            if allowed:  # the path matched, only the method did not
                return candidate.canonical
    return UNMATCHED
