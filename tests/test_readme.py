"""Every GraphQL example in the README runs against the demo data without errors."""

from __future__ import annotations

import pytest

from tests.conftest import GraphQLClient, Minter
from web.graphiql import readme_examples

EXAMPLES = readme_examples()


def _has_content(value: object) -> bool:
    if isinstance(value, dict):
        return any(_has_content(v) for v in value.values())
    if isinstance(value, list):
        return bool(value) and any(_has_content(v) for v in value)
    return value is not None


@pytest.mark.parametrize("query", EXAMPLES, ids=[f"example-{i}" for i in range(len(EXAMPLES))])
def test_readme_example_returns_real_data(gql: GraphQLClient, token: Minter, query: str) -> None:
    first = query.splitlines()[0]
    if first.startswith("# as "):  # "# as ROLE [SCOPE ...]"
        role, *scopes = first[len("# as "):].split()
        gql = gql.as_(token(role, *scopes))
    data = gql.data(query)
    for field, value in data.items():
        assert _has_content(value), f"{field} came back empty"


def test_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 5


def _example(field: str) -> str:
    return next(q for q in EXAMPLES if f"{field}(" in q)


def test_readme_points_lie_inside_a_compound(gql: GraphQLClient, token: Minter) -> None:
    """The catalogue routes a lift entrapment (P11) in a compound to its property company; the
    README's example point must show that, not a fallback to the community."""
    located = gql.data(_example("locate"))["locate"]
    assert located["compound"] is not None and located["gridCell"] is not None
    query = _example("createTicket")
    role, *scopes = query.splitlines()[0][len("# as "):].split()
    out = gql.as_(token(role, *scopes)).data(query)["createTicket"]
    assert out["errors"] == [] and out["ticket"]["compound"] is not None
    assert out["ticket"]["responsibleUnit"]["kind"] == "PROPERTY_COMPANY"
