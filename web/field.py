"""The grid worker's phone app 网格员移动端 at `/field/`: an installable web app (manifest,
service worker, icons) served from the project's own files, with no build step.

`GET /field/config.json` tells the app, per role, the channel its reports are filed on and
the moves it may make, and which statuses "my cells" lists, derived from the policy table,
the lifecycle and the vocabulary (the app keeps no copy of any). The server still checks
every move; this only decides which buttons to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from db.vocabulary import OPEN_STATUSES
from resolvers import policy
from resolvers.actor import Actor, Role
from resolvers.lifecycle import MOVES, needs_note
from resolvers.policy import FILING_CHANNELS, Operation

FIELD = Path(__file__).resolve().parent / "field"
# A phone files on its own channel: a patrol, a supervisor's find, a door knocked on.
CHANNEL_PREFERENCE = ("GRID_PATROL", "SUPERVISOR", "DOOR_KNOCKING", "ONLINE")
# The moves offered on a phone; rejecting needs a reason and rating is the reporter's.
FIELD_OPERATIONS = frozenset({Operation.DISPATCH, Operation.START, Operation.RESOLVE,
                              Operation.CLOSE, Operation.REOPEN})
NO_CACHE = {"Cache-Control": "no-cache"}
# What "my cells" lists: open tickets, and resolved ones waiting for an on-site check (where a
# CLOSE starts).
LISTED = (*OPEN_STATUSES,
          *sorted(s for m in MOVES if m.operation is Operation.CLOSE for s in m.source))


def role_config(role: Role) -> dict[str, Any]:
    """What the app offers a caller of `role`: its filing channel and its moves."""
    actor = Actor(f"{role.value.lower()}-config", role)
    channels = FILING_CHANNELS.get(role, frozenset())
    moves = [{"from": sorted(m.source), "to": m.target, "operation": m.operation.name,
              "needsNote": needs_note(role, m.target)}
             for m in MOVES
             if m.operation in FIELD_OPERATIONS and policy.may(actor, m.operation)
             and not (m.operation is Operation.CLOSE and role is Role.RESIDENT)]
    return {"channel": next((c for c in CHANNEL_PREFERENCE if c in channels), None),
            "moves": moves}


def field_config(push_public_key: str | None = None) -> dict[str, Any]:
    """The roles' channels and moves, the statuses "my cells" lists, and the VAPID public key
    the app subscribes to push with (None: the server sends no push)."""
    return {"roles": {r.value: role_config(r) for r in Role if r not in (Role.SYSTEM,)},
            "listed": list(LISTED),
            "push": {"publicKey": push_public_key} if push_public_key else None}


async def _page(request: Request) -> Response:
    return FileResponse(FIELD / "index.html", headers=NO_CACHE)


async def _worker(request: Request) -> Response:
    # Always checked for a new version; its scope is the app's folder.
    return FileResponse(FIELD / "sw.js", media_type="text/javascript",
                        headers={**NO_CACHE, "Service-Worker-Allowed": "/field/"})


async def _manifest(request: Request) -> Response:
    return FileResponse(FIELD / "manifest.webmanifest", media_type="application/manifest+json",
                        headers=NO_CACHE)


def routes(push_public_key: str | None = None) -> list[BaseRoute]:
    config = orjson.dumps(field_config(push_public_key))

    async def _config(request: Request) -> Response:
        return Response(config, media_type="application/json", headers=NO_CACHE)

    return [Mount("/field", routes=[
        Route("/", _page),
        Route("/sw.js", _worker),
        Route("/manifest.webmanifest", _manifest),
        Route("/config.json", _config),
        Mount("/", app=StaticFiles(directory=FIELD, check_dir=False), name="field"),
    ])]
