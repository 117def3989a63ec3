"""The ticket vocabulary has one home, db/vocabulary.py: the GraphQL enums, the database's
check constraints, the workflow and the map page's configuration all come from it."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
from graphql import GraphQLEnumType
from starlette.testclient import TestClient

from db import vocabulary
from db.queries.disclosure import MIN_COUNT
from resolvers.lifecycle import OPEN
from schema import build_schema

ROOT = Path(__file__).resolve().parents[2]


def _enum_values(name: str) -> list[str]:
    enum_type = build_schema()._schema.type_map[name]
    assert isinstance(enum_type, GraphQLEnumType)
    return list(enum_type.values)


def test_the_graphql_enums_are_the_vocabulary() -> None:
    assert _enum_values("TicketStatus") == list(vocabulary.TICKET_STATUSES)
    assert _enum_values("Channel") == list(vocabulary.CHANNELS)
    assert _enum_values("Level") == list(vocabulary.LEVELS)
    assert OPEN == set(vocabulary.OPEN_STATUSES) < set(vocabulary.TICKET_STATUSES)


def test_every_value_has_a_chinese_label() -> None:
    for labels, values in ((vocabulary.STATUS_LABELS, vocabulary.TicketStatus),
                           (vocabulary.CHANNEL_LABELS, vocabulary.Channel),
                           (vocabulary.LEVEL_LABELS, vocabulary.Level)):
        assert set(labels) == set(values)
        assert all(re.search(r"[\u4e00-\u9fff]", label) for label in labels.values())


def test_the_database_accepts_exactly_the_vocabulary(db: psycopg.Connection) -> None:
    checks = dict(db.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'tickets'::regclass AND contype = 'c'").fetchall())
    for name, values in (("status", vocabulary.TICKET_STATUSES), ("level", vocabulary.LEVELS),
                         ("channel", vocabulary.CHANNELS)):
        found = next(d for n, d in checks.items() if n.endswith(name))
        assert sorted(re.findall(r"'([A-Z_0-9]+)'", found)) == sorted(values)


def test_the_map_config_carries_the_vocabulary_with_labels(client: TestClient) -> None:
    config = client.get("/map-config.json").json()
    assert config["statuses"] == {s.value: label for s, label in vocabulary.STATUS_LABELS.items()}
    assert list(config["statuses"]) == list(vocabulary.TICKET_STATUSES)
    assert config["openStatuses"] == list(vocabulary.OPEN_STATUSES)
    assert config["levels"] == {v.value: label for v, label in vocabulary.LEVEL_LABELS.items()}
    assert config["channels"] == {c.value: label
                                  for c, label in vocabulary.CHANNEL_LABELS.items()}
    assert config["withheldUnder"] == MIN_COUNT


def test_no_copy_of_the_vocabulary_is_left() -> None:
    """No module spells the time zone's offset or the withheld threshold, or lists the statuses,
    levels or channels again."""
    copies = []
    sources = [p for layer in ("web", "schema", "resolvers", "db", "geo")
               for p in (ROOT / layer).rglob("*.py")
               if "migrations" not in p.parts and p.name != "vocabulary.py"]
    sources += list((ROOT / "web" / "static").glob("*.js"))
    lists = [vocabulary.OPEN_STATUSES, vocabulary.LEVELS, vocabulary.CHANNELS[:3]]
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if "timedelta(hours=8)" in text or re.search(r"少于 \d", text):
            copies.append(f"{path.relative_to(ROOT)}: the UTC+8 offset or the threshold")
        for values in lists:
            # 'A', 'B', 'C' or A: '…', B: '…' in a literal (the page's colours, A: '#…', are
            # its own)
            spelled = r"\s*,\s*".join(
                rf"[\"']?\b{v}\b[\"']?(\s*:\s*[\"'][^\"'#][^\"']*[\"'])?" for v in values)
            if re.search(spelled, text):
                copies.append(f"{path.relative_to(ROOT)}: {values}")
    assert copies == []
