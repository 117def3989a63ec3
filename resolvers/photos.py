"""Photos on tickets 工单照片: checked, cleaned and re-encoded before anything is stored, and
shown only through signed, expiring URLs.

An upload is refused with a stable code, before anything is written, when it is not one of the
accepted image types (UNSUPPORTED_MEDIA_TYPE), larger than MAX_PHOTO_BYTES (PHOTO_TOO_LARGE,
counted while reading, before decoding), has more than MAX_PIXELS pixels (PHOTO_TOO_MANY_PIXELS:
a decompression bomb is refused from its header, before its pixels are decoded), does not
decode (NOT_AN_IMAGE), or is one too many for one step (TOO_MANY_PHOTOS). An accepted photo is
decoded and re-encoded with Pillow as JPEG: turned upright by its EXIF orientation, then every
piece of metadata (EXIF with GPS position and device, XMP, comments, ICC) is left behind; its
longest side is at most MAX_SIDE pixels, and a THUMB_SIDE thumbnail is made beside it.

A media store that cannot be reached or refuses RedGrid (db/media.py MediaStoreError) fails the
step with MEDIA_STORE_UNAVAILABLE: no ticket, no move, no photo row.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import logging
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from psycopg import AsyncConnection

from db.database import Database
from db.media import MediaStore, MediaStoreError
from db.queries.photos import PhotoRow, add_photos, photos_by_ticket, photos_named
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode
from resolvers.tickets import ticket_scope

if TYPE_CHECKING:
    from PIL import Image

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 48-megapixel phone camera is 8000 × 6000; anything more is refused
MAX_PHOTOS_PER_STEP = 5
MAX_SIDE = 2048
THUMB_SIDE = 320
JPEG_QUALITY = 85
# Declared content type → the formats Pillow must find in the bytes.
ACCEPTED_TYPES = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}
MEDIA_TYPE = "image/jpeg"
EXTENSION = "jpg"
_READ_CHUNK = 256 * 1024

log = logging.getLogger("redgrid.media")


class Upload(Protocol):
    """A file of a multipart request (Starlette's UploadFile)."""

    filename: str | None
    content_type: str | None

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True)
class Photo:
    """A cleaned photo ready to store: the re-encoded image and its thumbnail."""

    image: bytes
    thumbnail: bytes
    width: int
    height: int

    @property
    def row(self) -> PhotoRow:
        return PhotoRow(sha256=digest(self.image), thumb_sha256=digest(self.thumbnail),
                        media_type=MEDIA_TYPE, width=self.width, height=self.height,
                        bytes=len(self.image))

    @property
    def names(self) -> tuple[str, str]:
        return media_name(digest(self.image)), media_name(digest(self.thumbnail))


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def media_name(sha256: str) -> str:
    return f"{sha256}.{EXTENSION}"


def _refused(code: ErrorCode, message: str, field: str) -> DomainError:
    return DomainError(code, message, field)


async def _read_bounded(upload: Upload, field: str) -> bytes:
    """The upload's bytes, refused as soon as more than MAX_PHOTO_BYTES have been read."""
    chunks: list[bytes] = []
    size = 0
    while chunk := await upload.read(_READ_CHUNK):
        size += len(chunk)
        if size > MAX_PHOTO_BYTES:
            raise _refused(ErrorCode.PHOTO_TOO_LARGE, f"a photo may have at most "
                           f"{MAX_PHOTO_BYTES // (1024 * 1024)} MB", field)
        chunks.append(chunk)
    return b"".join(chunks)


def _jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # No exif=, icc_profile= or comment: the new file carries pixels only.
    image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def clean(data: bytes, declared: str, field: str) -> Photo:
    """Decodes, checks and re-encodes one image (CPU-bound: run it off the event loop)."""
    # Pillow is loaded with the first photo, not in every server process that never sees one.
    from PIL import Image, ImageOps, UnidentifiedImageError

    expected = ACCEPTED_TYPES[declared]
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its own limit and twice it: refuse those too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=list(ACCEPTED_TYPES.values())) as source:
                if source.width * source.height > MAX_PIXELS:
                    raise _refused(ErrorCode.PHOTO_TOO_MANY_PIXELS, f"a photo may have at most "
                                   f"{MAX_PIXELS:,} pixels, this one has "
                                   f"{source.width} × {source.height}", field)
                if source.format != expected:
                    raise _refused(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"the file is "
                                   f"{source.format}, not the {declared} it was sent as", field)
                source.load()
                upright = ImageOps.exif_transpose(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _refused(ErrorCode.PHOTO_TOO_MANY_PIXELS,
                       f"a photo may have at most {MAX_PIXELS:,} pixels", field) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise _refused(ErrorCode.NOT_AN_IMAGE, "the file is not a JPEG, PNG or WebP image "
                       "that can be read", field) from None
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    image = upright.convert("RGB")
    image.info = {}  # Pillow would write a carried-over JPEG comment back out
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    return Photo(image=_jpeg(image), thumbnail=_jpeg(thumb), width=image.width,
                 height=image.height)


async def read_photos(uploads: Sequence[Any] | None, field: str) -> list[Photo]:
    """The uploads of one step, checked and cleaned; nothing is stored here."""
    if not uploads:
        return []
    if len(uploads) > MAX_PHOTOS_PER_STEP:
        raise _refused(ErrorCode.TOO_MANY_PHOTOS, f"at most {MAX_PHOTOS_PER_STEP} photos go "
                       f"with one step, got {len(uploads)}", field)
    photos = []
    for i, upload in enumerate(uploads):
        at = f"{field}.{i}"
        if not hasattr(upload, "read"):
            raise _refused(ErrorCode.BAD_USER_INPUT, "a photo must be a file of a multipart "
                           "request (the GraphQL multipart request specification)", at)
        declared = (upload.content_type or "").split(";")[0].strip().lower()
        if declared not in ACCEPTED_TYPES:
            raise _refused(ErrorCode.UNSUPPORTED_MEDIA_TYPE, f"photos are "
                           f"{', '.join(ACCEPTED_TYPES)}; got {declared or 'no content type'}",
                           at)
        data = await _read_bounded(upload, at)
        photos.append(await asyncio.to_thread(clean, data, declared, at))
    return photos


def store_photos(store: MediaStore, photos: Sequence[Photo], written: list[str]) -> None:
    """Writes the images and thumbnails, adding to `written` each name written now (not there
    before) as it goes, so a store that fails half-way still tells what to remove."""
    for photo in photos:
        for name, data in zip(photo.names, (photo.image, photo.thumbnail)):
            if store.put(name, data):
                written.append(name)


def store_unavailable(exc: MediaStoreError, field: str | None = None) -> DomainError:
    """The caller's error for a store that failed: what happened is logged, not told."""
    log.warning("media store: %s", exc.reason)
    again = "try again shortly" if exc.retryable else "the server's photo store needs attention"
    return DomainError(ErrorCode.MEDIA_STORE_UNAVAILABLE,
                       f"the photo store is unavailable; nothing was stored ({again})", field)


@dataclass(frozen=True)
class MediaAccess:
    """The media store and what signs its URLs: a server secret and how long a URL lives."""

    store: MediaStore
    secret: bytes
    ttl_s: int  # REDGRID_MEDIA_URL_TTL (web/settings.py)

    def signature(self, name: str, expires: int) -> str:
        message = f"{name}\n{expires}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def url(self, name: str, now: float | None = None) -> tuple[str, int]:
        """A signed path to `name` and when it expires (epoch seconds)."""
        expires = int(now if now is not None else time.time()) + self.ttl_s
        return f"/media/{name}?exp={expires}&sig={self.signature(name, expires)}", expires

    def valid(self, name: str, expires: str, signature: str, now: float | None = None) -> bool:
        """Whether a URL's `exp` and `sig` were made here for `name` and have not expired."""
        if not expires.isdigit() or int(expires) < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self.signature(name, int(expires)), signature)


async def stored(media: MediaAccess | None, photos: Sequence[Photo], written: list[str]) -> None:
    """Writes `photos` to the media store off the event loop, adding the names written now to
    `written`; MEDIA_STORE_UNAVAILABLE when the store fails."""
    if not photos:
        return
    if media is None:
        raise RuntimeError("photos came with no media store configured")
    try:
        await asyncio.to_thread(store_photos, media.store, photos, written)
    except MediaStoreError as exc:
        raise store_unavailable(exc, "photos") from None



class Attachment:
    """Photos going onto a ticket with one step: `hook` writes the files and their rows inside
    the step's transaction; `undo` removes the files it wrote if that transaction failed."""

    def __init__(self, db: Database, media: MediaAccess | None, photos: Sequence[Photo],
                 actor: str | None, step: str) -> None:
        self.db = db
        self.media = media
        self.photos = list(photos)
        self.actor = actor
        self.step = step
        self.written: list[str] = []

    @property
    def fingerprint(self) -> str:
        """The photos in text, for a retry's idempotency check ("" without photos)."""
        if not self.photos:
            return ""
        return "photos:" + ",".join(digest(p.image) for p in self.photos)

    @property
    def hook(self) -> Callable[[AsyncConnection[Any], int], Awaitable[None]] | None:
        return self._attach if self.photos else None

    async def _attach(self, conn: AsyncConnection[Any], ticket_id: int) -> None:
        await stored(self.media, self.photos, self.written)
        await add_photos(conn, ticket_id, [p.row for p in self.photos], step=self.step,
                         actor=self.actor, now=datetime.now(UTC))

    async def undo(self) -> None:
        """Removes the files written for a step that was not stored, unless a row names them:
        the same image may have come with another step meanwhile. When the database cannot
        say (it went away), the files stay: an unreferenced file costs only space, a removed
        one would lose a photo."""
        if self.media is None or not self.written:
            return
        store, written, self.written = self.media.store, self.written, []
        try:
            async with self.db.connection() as conn:
                named = await photos_named(conn, [n.split(".")[0] for n in written])
        except Exception:  # the step's own error is the one to report
            return

        def remove() -> None:
            try:
                for name in written:
                    if name.split(".")[0] not in named:
                        store.delete(name)
            except MediaStoreError as exc:  # left behind: it costs only space
                log.warning("media store: %s; unreferenced photos stay", exc.reason)

        await asyncio.to_thread(remove)


@contextlib.asynccontextmanager
async def attaching(db: Database, media: MediaAccess | None, photos: Sequence[Photo],
                    actor: str | None, step: str) -> AsyncIterator[Attachment]:
    """An Attachment whose files are removed again when the block fails."""
    attachment = Attachment(db, media, photos, actor, step)
    try:
        yield attachment
    except BaseException:
        await attachment.undo()
        raise


async def visible_photos(conn: AsyncConnection[Any], actor: Actor,
                         ticket_ids: Sequence[int]) -> list[Any]:
    """The photos of those tickets the caller sees as records (the disclosure rule): none at
    all for callers who see aggregates only (the public, planners)."""
    try:
        scope = ticket_scope(actor)
    except DomainError as exc:
        if exc.code is ErrorCode.FORBIDDEN:
            return []
        raise
    return await photos_by_ticket(conn, ticket_ids, scope)
