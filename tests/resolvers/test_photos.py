"""Cleaning a photo with Pillow, signing its URLs, and undoing the files of a step that was
not stored."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from PIL import ExifTags, Image

from db.database import Database
from db.media import FolderStore
from resolvers.errors import DomainError
from resolvers.photos import MAX_SIDE, THUMB_SIDE, Attachment, MediaAccess, clean, media_name


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def test_a_sideways_photo_is_turned_upright_and_keeps_no_metadata() -> None:
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # the camera was held on its side: rotate 90° to view
    exif[ExifTags.Base.Model] = "P60 Pro"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    data = encoded(Image.new("RGB", (4000, 3000), "red"), "JPEG", exif=exif,
                   comment=b"shot at home")
    photo = clean(data, "image/jpeg", "photos.0")
    image = Image.open(io.BytesIO(photo.image))
    assert image.size == (photo.width, photo.height) == (1536, MAX_SIDE)  # portrait now
    assert len(image.getexif()) == 0 and "comment" not in image.info
    assert max(Image.open(io.BytesIO(photo.thumbnail)).size) == THUMB_SIDE


def test_transparency_goes_on_white_and_small_images_keep_their_size() -> None:
    data = encoded(Image.new("RGBA", (120, 80), (0, 0, 0, 0)), "WEBP", lossless=True)
    photo = clean(data, "image/webp", "photos.0")
    image = Image.open(io.BytesIO(photo.image))
    assert image.mode == "RGB" and image.size == (120, 80)
    assert min(image.getpixel((60, 40))) > 240  # type: ignore[arg-type]


def test_a_gif_sent_as_png_is_not_accepted() -> None:
    data = encoded(Image.new("P", (10, 10)), "GIF")
    with pytest.raises(DomainError) as refused:
        clean(data, "image/png", "photos.0")
    assert refused.value.code.value == "NOT_AN_IMAGE"


def test_signatures() -> None:
    access = MediaAccess(FolderStore(Path("/nonexistent")), b"k" * 32, ttl_s=60)
    name = media_name("a" * 64)
    url, expires = access.url(name, now=1_000)
    assert expires == 1_060 and url.startswith(f"/media/{name}?exp=1060&sig=")
    sig = url.split("sig=")[1]
    assert access.valid(name, "1060", sig, now=1_059)
    assert not access.valid(name, "1060", sig, now=1_061)  # expired
    assert not access.valid(media_name("b" * 64), "1060", sig, now=1_000)  # another photo
    assert not access.valid(name, "1061", sig, now=1_000)  # a longer life
    assert not access.valid(name, "-1", sig, now=1_000)
    other = MediaAccess(access.store, b"x" * 32, ttl_s=60)
    assert not other.valid(name, "1060", sig, now=1_000)  # another server's secret


async def test_undo_keeps_files_another_row_names(pool: Database, db: psycopg.Connection,
                                                  tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    access = MediaAccess(store, b"k" * 32, ttl_s=60)
    shared, own = "1" * 64, "2" * 64
    store.put(media_name(shared), b"shared")
    store.put(media_name(own), b"own")
    ticket_id = db.execute("SELECT min(id) FROM tickets").fetchone()[0]  # type: ignore[index]
    db.execute("INSERT INTO ticket_photos (ticket_id, sha256, thumb_sha256, media_type, width, "
               "height, bytes, created_at) VALUES (%s, %s, %s, 'image/jpeg', 1, 1, 1, %s)",
               (ticket_id, shared, "3" * 64, datetime.now(UTC)))
    try:
        attachment = Attachment(pool, access, [], "someone", "latest")
        attachment.written = [media_name(shared), media_name(own)]
        await attachment.undo()
        assert store.names() == [media_name(shared)]
    finally:
        db.execute("DELETE FROM ticket_photos WHERE sha256 = %s", (shared,))
