"""``GET /client/{client_id}.js``: Lock's client configuration script (oauth/lock_client.py).
Lock appends ``?t<epoch millis>`` to defeat caches; the query string is ignored."""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idbroker.oauth.lock_client import lock_client_config, set_client_script

CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
JS = "application/javascript"
HEADERS = {"Cache-Control": "no-cache"}


async def lock_client_script(request: Request) -> Response:
    client_id = request.path_params["client_id"]
    config = (await lock_client_config(request.app.state.runtime, client_id)
              if CLIENT_ID.fullmatch(client_id) else None)
    if config is None:
        # Lock waits for setClient and then reports the client as unknown; say so here too.
        return Response("/* unknown client */\n", status_code=404, media_type=JS, headers=HEADERS)
    return Response(set_client_script(config), media_type=JS, headers=HEADERS)


routes = [Route("/client/{client_id}.js", lock_client_script, methods=["GET"])]
