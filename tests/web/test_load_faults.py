"""The short load-with-faults run: a few clients against `redgrid serve` on a PostgreSQL
cluster of its own, restarted (fast shutdown) mid-run; nothing acknowledged is lost or
duplicated, and reads, tiles, OGC items and writes all answer again after the restart."""

from __future__ import annotations

from bench.load_faults import run, verdicts


def test_a_database_restart_under_load_loses_and_duplicates_nothing() -> None:
    result = run("db_restart", clients=4, seconds=14, fault_at=4)
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
    # Generous on timing (a shared machine): the restart took place and writes came back.
    assert result["outage_s"] > 0
    assert result["recovery_s"] is not None and result["recovery_s"] < 10.0
    # After the restart every kind of request succeeded again, tiles and OGC included.
    assert {"read", "tile", "layer", "ogc", "create"} <= set(result["after_ok_by_kind"])
    assert all(verdicts(result).values()), verdicts(result)
