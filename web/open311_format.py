"""Open311 GeoReport v2's two formats (`.json`, `.xml`): a body rendered as either, for the
Open311 routes (`web/open311.py`) and their errors (`web/errors.py`) alike."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response

# The formats, by the suffix of the path.
FORMATS = {"json": "application/json", "xml": "text/xml"}
# The element name of one item of each list, in the XML format.
ITEM_TAGS = {"services": "service", "attributes": "attribute", "values": "value",
             "endpoints": "endpoint", "formats": "format", "service_requests": "request",
             "errors": "error"}


def element(tag: str, value: Any) -> ET.Element:
    """`value` as the XML element `tag`: a dict's keys as children, a list's items under the
    list's item tag, booleans as true/false, None as an empty element."""
    node = ET.Element(tag)
    if isinstance(value, dict):
        for key, item in value.items():
            node.append(element(key, item))
    elif isinstance(value, list):
        for item in value:
            node.append(element(ITEM_TAGS.get(tag, "item"), item))
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif value is not None:
        node.text = str(value)
    return node


def render(fmt: str, root: str, body: Any, status: int = 200,
           headers: Mapping[str, str] | None = None) -> Response:
    """`body` as JSON, or as XML under the element `root` (lists as one element per item)."""
    if fmt == "xml":
        content = ET.tostring(element(root, body), encoding="utf-8", xml_declaration=True)
    else:
        content = orjson.dumps(body)
    return Response(content, status_code=status, headers=dict(headers or {}),
                    media_type=f"{FORMATS.get(fmt, FORMATS['json'])}; charset=utf-8")
