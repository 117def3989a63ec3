"""Bad input gets a clear error with a stable code: never a 500, never a wrong answer."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import GraphQLClient

NEARBY = """query ($p: PointInput!, $r: Float!, $n: Int) {
  nearbyTickets(point: $p, radiusM: $r, first: $n) { distanceM } }"""
LOCATE = """query ($p: PointInput!) { locate(point: $p) { gridCell { code } } }"""
BOXED = """query ($b: BBoxInput) { communities(bbox: $b) { code } }"""
PAGE = """query ($n: Int, $after: String) { tickets(first: $n, after: $after) { totalCount } }"""
CENTRE = {"lon": 118.657, "lat": 34.918}

CASES: list[tuple[str, str, dict[str, Any], str, str | None]] = [
    ("longitude out of range", NEARBY, {"p": {"lon": 181, "lat": 34.9}, "r": 100.0},
     "BAD_USER_INPUT", "point.lon"),
    ("latitude out of range", LOCATE, {"p": {"lon": 118.6, "lat": -91}}, "BAD_USER_INPUT",
     "point.lat"),
    ("negative radius", NEARBY, {"p": CENTRE, "r": -5.0}, "BAD_USER_INPUT", "radiusM"),
    ("zero radius", NEARBY, {"p": CENTRE, "r": 0.0}, "BAD_USER_INPUT", "radiusM"),
    ("huge radius", NEARBY, {"p": CENTRE, "r": 50_001.0}, "BAD_USER_INPUT", "radiusM"),
    ("first below 1", NEARBY, {"p": CENTRE, "r": 100.0, "n": 0}, "BAD_USER_INPUT", "first"),
    ("page first below 1", PAGE, {"n": -1}, "BAD_USER_INPUT", "first"),
    ("forged cursor", PAGE, {"after": "bm90IGEgY3Vyc29y"}, "BAD_USER_INPUT", "after"),
    ("inverted bbox", BOXED, {"b": {"west": 118.7, "south": 34.9, "east": 118.6, "north": 35.0}},
     "BAD_USER_INPUT", "bbox.west"),
    ("south above north", BOXED,
     {"b": {"west": 118.6, "south": 35.0, "east": 118.7, "north": 34.9}}, "BAD_USER_INPUT",
     "bbox.south"),
    ("point outside the county", LOCATE, {"p": {"lon": 116.4, "lat": 39.9}},
     "OUTSIDE_COVERAGE", "point"),
    ("point outside the county, nearby", NEARBY, {"p": {"lon": 0, "lat": 0}, "r": 100.0,
                                                  "n": 5}, None, None),
    ("wrong type", LOCATE, {"p": {"lon": "east", "lat": 34.9}}, "BAD_USER_INPUT", None),
    ("unknown enum", NEARBY, {"p": {**CENTRE, "crs": "MARS"}, "r": 1.0}, "BAD_USER_INPUT", None),
]


@pytest.mark.parametrize(("name", "query", "variables", "code", "field"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_a_coded_error(county: GraphQLClient, name: str, query: str,
                                    variables: dict[str, Any], code: str | None,
                                    field: str | None) -> None:
    body = county(query, variables)
    if code is None:  # a valid question whose honest answer is empty
        assert body["data"]["nearbyTickets"] == []
        return
    error = body["errors"][0]
    assert error["extensions"]["code"] == code, error
    if field:
        assert error["extensions"]["field"] == field
    assert error["message"] != "Unexpected error."


@pytest.mark.parametrize("payload", ['{"query": "{ zones { code }", "variables": null}',
                                     '{"query": "{ zones { nope } }"}',
                                     '{"query": "query ($p: PointInput!) { locate(point: $p) { '
                                     'gridCell { code } } }", "variables": {"p": {"lon": NaN, '
                                     '"lat": 34.9}}}',
                                     '{"query": "query ($p: PointInput!) { locate(point: $p) { '
                                     'gridCell { code } } }", "variables": {"p": {"lon": '
                                     'Infinity, "lat": 34.9}}}',
                                     'not json at all'])
def test_malformed_requests_never_500(client: TestClient, payload: str) -> None:
    response = client.post("/graphql", content=payload,
                           headers={"content-type": "application/json"})
    assert response.status_code in (200, 400)
    body = response.json() if response.headers["content-type"].startswith("application/json") \
        else {}
    for error in body.get("errors", []):
        assert error["extensions"]["code"] in (
            "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "BAD_USER_INPUT", "BAD_REQUEST")


NUL_CASES: list[tuple[str, str, dict[str, Any] | None, str | None]] = [
    ("ticket code literal", '{ ticket(code: "N\\u0000x") { code } }', None, None),
    ("zone code literal", '{ communities(zoneCode: "Z\\u00001") { code } }', None, None),
    ("variable", "query ($z: String) { communities(zoneCode: $z) { code } }",
     {"z": "Z1\u0000"}, "z"),
    ("nested variable", """mutation ($i: CreateTicketInput!) { createTicket(input: $i) {
       ticket { code } errors { code } } }""",
     {"i": {"point": CENTRE, "itemCode": "P12", "description": "灯坏了\u0000",
            "channel": "HOTLINE_12345"}}, "i"),
]


@pytest.mark.parametrize(("name", "query", "variables", "field"), NUL_CASES,
                         ids=[c[0] for c in NUL_CASES])
def test_nul_characters_are_refused_before_anything_runs(
        county: GraphQLClient, db: Any, name: str, query: str,
        variables: dict[str, Any] | None, field: str | None) -> None:
    tickets_before = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    body = county(query, variables)
    assert body.get("data") is None
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"].get("field") == field
    assert db.execute("SELECT count(*) FROM tickets").fetchone()[0] == tickets_before


def test_an_escaped_backslash_before_u0000_is_not_a_nul(county: GraphQLClient) -> None:
    # "\\u0000" in GraphQL is a backslash followed by the text u0000: a harmless code.
    assert county.data('{ ticket(code: "N\\\\u0000x") { code } }') == {"ticket": None}


LOCATE_BODY = ('{"query": "query ($p: PointInput!) { locate(point: $p) { gridCell { code } } }", '
               '"variables": {"p": {"lon": %s, "lat": 34.9}}}')
MALFORMED: list[tuple[str, str, bytes, str | None, int, str]] = [
    # name, method, body, content type, status, code
    ("NaN in variables", "POST", (LOCATE_BODY % "NaN").encode(), "application/json", 400,
     "BAD_REQUEST"),
    ("Infinity in variables", "POST", (LOCATE_BODY % "Infinity").encode(), "application/json",
     400, "BAD_REQUEST"),
    ("1e400 in variables", "POST", (LOCATE_BODY % "1e400").encode(), "application/json", 400,
     "BAD_REQUEST"),
    ("invalid UTF-8", "POST", b'{"query": "{ zones { code } }\xff"}', "application/json", 400,
     "BAD_REQUEST"),
    ("text/plain body", "POST", b'{"query": "{ zones { code } }"}', "text/plain", 400,
     "BAD_REQUEST"),
    ("form body", "POST", b"query=%7B+zones+%7B+code+%7D+%7D",
     "application/x-www-form-urlencoded", 400, "BAD_REQUEST"),
    ("batched array", "POST", b'[{"query": "{ zones { code } }"}]', "application/json", 400,
     "BAD_REQUEST"),
    ("empty body", "POST", b"", "application/json", 400, "BAD_REQUEST"),
    ("JSON null", "POST", b"null", "application/json", 400, "BAD_REQUEST"),
    ("a number", "POST", b"3", "application/json", 400, "BAD_REQUEST"),
    ("non-string query", "POST", b'{"query": 42}', "application/json", 400, "BAD_REQUEST"),
    ("variables not an object", "POST", b'{"query": "{ zones { code } }", "variables": [1]}',
     "application/json", 400, "BAD_REQUEST"),
    ("mutation over GET", "GET", b"", None, 400, "BAD_REQUEST"),
    ("PUT", "PUT", b'{"query": "{ zones { code } }"}', "application/json", 405,
     "METHOD_NOT_ALLOWED"),
]


@pytest.mark.parametrize(("name", "method", "body", "content_type", "status", "code"),
                         MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_requests_get_a_json_error_with_a_code(
        client: TestClient, name: str, method: str, body: bytes, content_type: str | None,
        status: int, code: str) -> None:
    if method == "GET":
        response = client.get("/graphql", params={
            "query": 'mutation { cosignTicket(code: "X") { errors { code } } }'},
            headers={"accept": "application/json"})
    else:
        headers = {"content-type": content_type} if content_type else {}
        response = client.request(method, "/graphql", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == code and error["message"]


def test_every_first_cap_names_a_field_of_the_schema() -> None:
    from schema import build_schema
    from schema.limits import FIRST_CAPS

    graphql_schema = build_schema()._schema
    for key in FIRST_CAPS:
        type_name, field = key.split(".")
        fields = graphql_schema.get_type(type_name).fields  # type: ignore[union-attr]
        assert "first" in fields[field].args, key
