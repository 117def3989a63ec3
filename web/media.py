"""`/media/{name}`: ticket photos through signed, expiring URLs.

GraphQL hands such URLs (`Ticket.photos`) only to callers whose scope covers the ticket; the
URL itself is the permission: an HMAC-SHA256 of the name and the expiry time under a server
secret (`REDGRID_MEDIA_SECRET`, or one made once in the data folder). A URL that was altered
or has expired is a 403; nothing about the photo is told. The bytes come from the media store
(a folder or an S3-compatible bucket, `REDGRID_MEDIA_STORE`) through this route only: a bucket
is never public. A store that fails is a 503 MEDIA_STORE_UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.media import NAME, FolderStore, MediaStore, MediaStoreError, S3Location
from resolvers.errors import ErrorCode
from resolvers.photos import MEDIA_TYPE, MediaAccess, store_unavailable
from web.errors import error_response
from web.settings import Settings


def open_store(settings: Settings) -> MediaStore:
    """The media store `settings` name (checked by Settings.check_media)."""
    if settings.media_store == "s3":
        from db.s3store import S3Store  # botocore is loaded only by a server that uses it

        return S3Store(S3Location(
            bucket=settings.media_s3_bucket, region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=settings.media_s3_secret_access_key,
            endpoint_url=settings.media_s3_endpoint, prefix=settings.media_s3_prefix,
            addressing=settings.media_s3_addressing))
    return FolderStore(settings.media_folder)


def kept_secret(data_dir: Path, name: str = "media-secret") -> str:
    """A random secret made once in the data folder (shared by the server's processes)."""
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as out:  # the first process to get here
                out.write(secrets.token_urlsafe(48))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text(encoding="utf-8").strip()


async def media(request: Request) -> Response:
    access: MediaAccess = request.app.state.media
    name = request.path_params["name"]
    expires = request.query_params.get("exp", "")
    signature = request.query_params.get("sig", "")
    if not NAME.match(name) or not access.valid(name, expires, signature):
        return error_response(ErrorCode.FORBIDDEN, "This photo link is not valid or has "
                              "expired; ask for the ticket again for a fresh one.")
    try:
        data = await asyncio.to_thread(access.store.get, name)
    except MediaStoreError as exc:
        refused = store_unavailable(exc)
        return error_response(refused.code, refused.message, retryable=exc.retryable,
                              headers={"Retry-After": "5"})
    if data is None:
        return error_response(ErrorCode.NOT_FOUND, "No such photo.")
    left = max(0, math.floor(int(expires) - time.time()))
    return Response(data, media_type=MEDIA_TYPE, headers={
        "Cache-Control": f"private, max-age={left}", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'inline; filename="{name}"'})


routes = [Route("/media/{name}", media)]
