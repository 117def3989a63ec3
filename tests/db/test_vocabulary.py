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
from resolvers.lifecycle import MOVES, OPEN
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


def test_the_workflow_moves_between_statuses_of_the_vocabulary() -> None:
    named = {m.target for m in MOVES} | {s for m in MOVES for s in m.source}
    assert named == set(vocabulary.TICKET_STATUSES)
    assert all(isinstance(s, vocabulary.TicketStatus) for s in named)
    # A member is its database value: comparisons with a row's status hold either way round.
    assert all(s == s.value and s in vocabulary.TICKET_STATUSES for s in named)


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


# Where a status name must stay spelled out, and why: other vocabularies that share a word
# with the statuses (event actions, notification kinds, service-room applications), and the
# demo's scripted histories, which are data.
KEPT_STATUS_WORDS: dict[str, set[str]] = {
    "bench/create_checks.py": {"DISPATCHED"},  # a notification kind
    "bench/load_faults.py": {"DISPATCHED"},  # an event action
    # notification kinds, room applications; an index's predicate as migrated
    "db/models.py": {"DISPATCHED", "REJECTED", "RESOLVED"},
    "db/seed.py": {"DISPATCHED"},  # an event action
    "db/demo/tickets.py": set(vocabulary.TICKET_STATUSES),  # the demo's scripted histories
    "db/demo/workflow.py": {"RESOLVED", "CLOSED", "REJECTED"},  # read from those histories
    "db/demo/community_life.py": {"REJECTED"},  # a room application's
    "db/queries/ticket_writes.py": {"DISPATCHED"},  # the routing event's action
    "resolvers/workflow.py": {"DISPATCHED", "RESOLVED", "REJECTED"},  # event actions
    "resolvers/community_life.py": {"REJECTED"},  # a room application's
    "schema/community_life.py": {"REJECTED"},  # a room application's
    "schema/subscriptions.py": {"DISPATCHED"},  # a notification kind
    "web/push.py": {"DISPATCHED"},  # a notification kind
}
# The time zone's name, its offset, the offset as arithmetic.
ZONE_COPIES = {".py": re.compile(r"hours\s*=\s*8\b|[\"']Asia/Shanghai[\"']|[\"']\+08:00|8 \* 3600"),
               ".js": re.compile(r"\+08:00|Asia/Shanghai|8 \* 3600(?!\d)")}
# The withheld threshold written as a number in prose (descriptions compose it from MIN_COUNT).
THRESHOLD = re.compile(rf"\b(under|fewer than|less than|below) {MIN_COUNT}\b|少于 ?{MIN_COUNT}(?!\d)",
                       re.IGNORECASE)
STATUS_WORD = re.compile(r"([\"'])(" + "|".join(vocabulary.TICKET_STATUSES) + r")\1")


def _sources() -> list[Path]:
    """The project's code: Python below the layers and the benchmarks, the page's and the
    field app's JavaScript; not the vocabulary itself nor the migrations (history as it was
    written)."""
    found = [p for layer in ("web", "schema", "resolvers", "db", "geo", "bench")
             for p in (ROOT / layer).rglob("*.py")
             if "migrations" not in p.parts and p.name != "vocabulary.py"]
    return found + [p for folder in ("static", "field") for p in (ROOT / "web" / folder).rglob("*.js")]


def test_no_copy_of_the_vocabulary_is_left() -> None:
    """No module spells the time zone or its offset, writes the withheld threshold as a
    number, names a ticket status in a string (bar the words other vocabularies share, listed
    in KEPT_STATUS_WORDS), or lists the statuses, levels or channels again."""
    copies = []
    lists = [vocabulary.OPEN_STATUSES, vocabulary.LEVELS, vocabulary.CHANNELS[:3]]
    for path in _sources():
        name = path.relative_to(ROOT).as_posix()
        text = path.read_text(encoding="utf-8")
        copies += [f"{name}: the time zone {m.group()!r}" for m in ZONE_COPIES[path.suffix].finditer(text)]
        copies += [f"{name}: the threshold {m.group()!r}" for m in THRESHOLD.finditer(text)]
        kept = KEPT_STATUS_WORDS.get(name, set())
        copies += [f"{name}: the status {m.group()}" for m in STATUS_WORD.finditer(text)
                   if m.group(2) not in kept]
        for values in lists:
            # 'A', 'B', 'C' or A: '…', B: '…' in a literal (the page's colours, A: '#…', are
            # its own)
            spelled = r"\s*,\s*".join(
                rf"[\"']?\b{v}\b[\"']?(\s*:\s*[\"'][^\"'#][^\"']*[\"'])?" for v in values)
            if re.search(spelled, text):
                copies.append(f"{name}: {values}")
    assert copies == []


def test_the_kept_status_words_are_still_there() -> None:
    """Each exception to the rule above is in use, so the list shrinks when the code does."""
    for name, words in KEPT_STATUS_WORDS.items():
        found = {m.group(2) for m in STATUS_WORD.finditer((ROOT / name).read_text(encoding="utf-8"))}
        assert words <= found, (name, words - found)
