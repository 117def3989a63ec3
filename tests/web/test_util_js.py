"""The page's shared helpers (web/static/util.js) run in Node on the server's own
configuration: status colours and times come from the vocabulary, not from a copy."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from db import vocabulary
from web.signin import vocabulary_config

UTIL = Path(__file__).resolve().parents[2] / "web" / "static" / "util.js"


def _run(config: dict[str, Any], statuses: list[str], times: list[str]) -> dict[str, Any]:
    script = f"""import({json.dumps(UTIL.as_uri())}).then((u) => {{
      u.useVocabulary({json.dumps(config)});
      console.log(JSON.stringify({{
        colours: {json.dumps(statuses)}.map(u.statusColour),
        times: {json.dumps(times)}.map(u.beijingTime),
        other: u.OTHER_STATUS_COLOUR }}));
    }});"""
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True,
                          text=True, timeout=60, check=True)
    return dict(json.loads(done.stdout))


def test_every_status_has_its_own_colour_and_a_new_one_is_drawn_grey() -> None:
    config = vocabulary_config()
    statuses = list(config["statuses"])
    out = _run(config, [*statuses, "ON_HOLD"], [])
    known, unknown = out["colours"][:-1], out["colours"][-1]
    assert len(set(known)) == len(statuses) and out["other"] not in known
    assert unknown == out["other"]
    # A vocabulary grown by a status draws it too, in a colour of its own while the palette lasts.
    grown = {**config, "statuses": {**config["statuses"], "ON_HOLD": "暂缓"}}
    assert _run(grown, ["ON_HOLD"], [])["colours"] != [out["other"]]


def test_times_are_shown_in_the_configured_zone() -> None:
    config = vocabulary_config()
    assert config["timeZone"] == {"name": vocabulary.TIME_ZONE,
                                  "utcOffset": vocabulary.UTC_OFFSET_ISO}
    instants = [datetime(2024, 3, 4, 18, 30, tzinfo=UTC), datetime(2024, 12, 31, 23, 59, tzinfo=UTC)]
    expected = [t.astimezone(vocabulary.SHANGHAI).strftime("%Y-%m-%d %H:%M") for t in instants]
    assert _run(config, [], [t.isoformat() for t in instants])["times"] == expected
    # The offset comes from the configuration: another zone's shifts the same instants.
    west = {**config, "timeZone": {"name": "America/Bogota", "utcOffset": "-05:00"}}
    assert _run(west, [], [instants[0].isoformat()])["times"] == ["2024-03-04 13:30"]


def test_the_offset_is_the_zones_own() -> None:
    assert datetime(2024, 7, 1, tzinfo=vocabulary.SHANGHAI).isoformat().endswith(
        vocabulary.UTC_OFFSET_ISO)
