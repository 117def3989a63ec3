"""Generates the field app's committed data: the item list with pinyin initials and the icons.

Run once, after the demand catalogue changes, with pypinyin and Pillow installed (neither is
a runtime dependency of RedGrid):

    python scripts/field_assets.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image, ImageDraw
from pypinyin import Style, lazy_pinyin

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from db.catalogue import load_catalogue  # noqa: E402

FIELD = ROOT / "web" / "field"
RED = (196, 30, 36)
WHITE = (255, 255, 255)


def initials(name: str) -> str:
    """The pinyin initials of a Chinese name, lower case: 公共区域保洁不到位 -> ggqybjbdw."""
    return "".join(p[0] for p in lazy_pinyin(name, style=Style.FIRST_LETTER) if p).lower()


def items() -> list[dict[str, str]]:
    return [{"code": i.code, "name": i.name_zh, "category": i.category_code,
             "categoryName": i.category_zh, "initials": initials(i.name_zh)}
            for i in load_catalogue()]


def icon(size: int) -> Image.Image:
    """A red tile with a white 3 × 3 grid and a marker in the middle cell: the grid 网格."""
    image = Image.new("RGB", (size, size), RED)
    draw = ImageDraw.Draw(image)
    margin, width = size * 0.2, max(2, size // 40)
    step = (size - 2 * margin) / 3
    for i in range(4):
        at = margin + i * step
        draw.line([(margin, at), (size - margin, at)], fill=WHITE, width=width)
        draw.line([(at, margin), (at, size - margin)], fill=WHITE, width=width)
    centre, radius = size / 2, step * 0.28
    draw.ellipse([centre - radius, centre - radius, centre + radius, centre + radius], fill=WHITE)
    return image


def main() -> None:
    (FIELD / "items.json").write_text(
        json.dumps(items(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for size in (192, 512):
        icon(size).save(FIELD / "icons" / f"icon-{size}.png", optimize=True)


if __name__ == "__main__":
    main()
