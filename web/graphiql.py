"""GraphiQL served from the project's own npm packages, so it works on an intranet.

`GET /graphql` from a browser (outside production) gets `static/graphiql/index.html`, which
loads React, GraphiQL and its explorer plugin from `node_modules` through `/vendor/...`; no
request leaves the server. The README's GraphQL examples open as tabs
(`/graphiql/examples.json`), and the headers pane takes `{"Authorization": "Bearer …"}`,
which also goes with subscriptions in `connection_init`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from web.settings import CHECKOUT

PAGE = Path(__file__).resolve().parent / "static" / "graphiql" / "index.html"
README = CHECKOUT / "README.md"
NODE_MODULES = CHECKOUT / "node_modules"
# URL path under /vendor -> the folder of an npm package that serves it.
VENDOR = {
    "react": NODE_MODULES / "react" / "umd",
    "react-dom": NODE_MODULES / "react-dom" / "umd",
    "graphiql": NODE_MODULES / "graphiql",
    "graphiql-explorer": NODE_MODULES / "@graphiql" / "plugin-explorer" / "dist",
}
_BLOCK = re.compile(r"```graphql\n(.*?)```", re.S)


def readme_examples(readme: Path = README) -> list[str]:
    """The GraphQL examples of the README, in order (empty where no README is installed)."""
    try:
        return _BLOCK.findall(readme.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []


@lru_cache(maxsize=1)
def _examples_json() -> bytes:
    tabs: list[dict[str, Any]] = []
    for query in readme_examples():
        first = query.splitlines()[0]
        headers = ""
        if first.startswith("# as "):  # the README's "# as ROLE [SCOPE ...]": needs a token
            headers = '{"Authorization": "Bearer <redgrid token --role ...>"}'
        tabs.append({"query": query, "headers": headers})
    return orjson.dumps(tabs)


async def examples(request: Request) -> Response:
    return Response(_examples_json(), media_type="application/json")


def routes() -> list[BaseRoute]:
    """The examples and the vendored packages (the page itself is served by `/graphql`)."""
    return [
        Route("/graphiql/examples.json", examples),
        *(Mount(f"/vendor/{name}", app=StaticFiles(directory=folder, check_dir=False))
          for name, folder in VENDOR.items()),
    ]
