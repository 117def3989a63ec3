"""The committed schema.graphql is what the code serves."""

from __future__ import annotations

from schema import SDL_PATH, build_schema


def test_committed_schema_is_current() -> None:
    committed = SDL_PATH.read_text(encoding="utf-8")
    assert committed == build_schema().as_str() + "\n", (
        "schema.graphql is stale: run `make schema` and commit it")
