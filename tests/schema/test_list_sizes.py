"""Every list the API returns says how long it can be, and the lists that grow with the years
are cut at their stated cap."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, build_schema

from resolvers import workflow
from tests.conftest import GraphQLClient, Minter

SCHEMA = Path(__file__).resolve().parents[2] / "schema.graphql"
# A size sentence: a cap, one item per something, or all of a small set.
SIZE = re.compile(r"\b(At most|at most|One per|All)\b")


def _is_list(t: object) -> bool:
    while isinstance(t, GraphQLNonNull):
        t = t.of_type
    return isinstance(t, GraphQLList)


def test_every_list_field_states_its_size() -> None:
    schema = build_schema(SCHEMA.read_text(encoding="utf-8"))
    lists = {f"{name}.{field}": f.description or ""
             for name, t in schema.type_map.items()
             if isinstance(t, GraphQLObjectType) and not name.startswith("__")
             for field, f in t.fields.items() if _is_list(f.type)}
    assert len(lists) >= 40  # the check is not empty by construction
    unstated = sorted(path for path, text in lists.items() if not SIZE.search(text))
    assert unstated == []


def test_low_rated_tickets_stop_at_the_cap(gql: GraphQLClient, token: Minter,
                                           db: psycopg.Connection,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    unit, low = db.execute("SELECT unit_code, count(*) FROM tickets WHERE rating <= 2 "
                           "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1").fetchone()  # type: ignore[misc]
    assert low >= 3
    query = ("query ($u: String!) { unitRatings(unitCode: $u) { low lowRatedTicketCodes } }")
    county = gql.as_(token("COUNTY_OFFICE"))
    whole = county.data(query, {"u": unit})["unitRatings"]
    assert len(whole["lowRatedTicketCodes"]) == whole["low"] == low
    monkeypatch.setattr(workflow, "MAX_LISTED", 2)
    capped = county.data(query, {"u": unit})["unitRatings"]
    # the newest two of the same list, and the count still the whole count
    assert capped["lowRatedTicketCodes"] == whole["lowRatedTicketCodes"][:2]
    assert capped["low"] == low
