"""The short load-with-faults runs: a few clients against `redgrid serve` on a PostgreSQL
cluster of its own, restarted (fast shutdown) mid-run, or stopped for a while and started
again; nothing acknowledged is lost or duplicated, requests during the outage fail fast with a
retryable UNAVAILABLE, and reads, tiles, OGC items and writes all answer again after it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.load_faults import FAIL_FAST_TARGET_S, correctness, own_cluster, run
from db.embedded import EmbeddedCluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedCluster]:
    """One cluster with the demo data for both runs (each run checks only its own tickets)."""
    with own_cluster() as fresh:
        yield fresh


def _nothing_lost_and_faults_answered_as_faults(result: dict[str, Any]) -> None:
    sql = result["sql"]
    # Every createTicket was acknowledged in the end (failed ones were retried with their
    # key), and the database holds exactly one ticket per key, each the one acknowledged.
    assert sql["acknowledged"] > 0
    assert sql["acknowledged"] == sql["requests_create_keys"] == sql["tickets_of_the_run"]
    assert sql["lost"] == 0 and sql["duplicated"] == 0, sql
    assert sql["retry_answered_another_code"] == 0
    assert sql["failed_keys_with_more_than_one_ticket"] == 0
    assert sql["unacknowledged_but_written"] == 0
    assert sql["tickets_without_creation_event"] == 0
    assert sql["orphan_events"] == sql["orphan_notifications"] == 0
    assert sql["events_missing_notifications"] == 0
    # Faults were answered as faults, only while the database was away.
    assert result["http_5xx_outside_window"] == 0, result["phases"]
    assert result["internal_server_errors"] == 0
    assert result["leaked_messages"] == 0, result["leak_examples"]
    assert result["phases"]["before"]["errors"] == 0, result["phases"]["before"]
    assert result["phases"]["after"]["errors"] == 0, result["phases"]["after"]
    during = result["phases"]["during"]["by_answer"]
    assert set(during) <= {"no answer", "200 UNAVAILABLE", "503 UNAVAILABLE", "200 TIMEOUT",
                           "503 TIMEOUT"}, during
    # Generous on timing (a shared machine): the fault took place and writes came back.
    assert result["outage_s"] > 0
    assert result["recovery_s"] is not None and result["recovery_s"] < 10.0
    # After it every kind of request succeeded again, tiles and OGC included.
    assert {"read", "tile", "layer", "ogc", "create"} <= set(result["after_ok_by_kind"])
    assert all(correctness(result).values()), correctness(result)


def test_a_database_restart_under_load_loses_and_duplicates_nothing(
        cluster: EmbeddedCluster) -> None:
    _nothing_lost_and_faults_answered_as_faults(
        run("db_restart", clients=4, seconds=14, fault_at=4, cluster=cluster))


def test_a_long_outage_fails_requests_fast_and_loses_nothing(cluster: EmbeddedCluster) -> None:
    result = run("db_outage", clients=4, seconds=8, fault_at=2, outage_s=6, cluster=cluster)
    _nothing_lost_and_faults_answered_as_faults(result)
    during = result["phases"]["during"]
    # Requests kept coming and failing through the outage, each within 2 s, not after the
    # pool's 30 s wait for a busy pool.
    assert during["errors"] >= 8, during
    assert during["failure_s"]["max"] <= FAIL_FAST_TARGET_S, during
