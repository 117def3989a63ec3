-- A province's tickets: partitioned by county (LIST) and, inside each county, by month
-- (RANGE on created_at). Run by tests/db/test_partitioning.py and bench/partitioning.py;
-- docs/scaling.md explains the choices. `:counties` and `:months` are filled in by the caller
-- (psql variables or string substitution): the partition list is generated below.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE province_tickets (
    id bigint GENERATED ALWAYS AS IDENTITY,
    county_code varchar(6) NOT NULL,
    code varchar(24) NOT NULL,
    status varchar(16) NOT NULL,
    item_code varchar(4) NOT NULL,
    cell_code varchar(15) NOT NULL,
    created_at timestamptz NOT NULL,
    geom geometry(Point, 4326) NOT NULL,
    geom_metric geometry(Point, 4549) NOT NULL,
    -- A unique key on a partitioned table must hold the partition keys.
    PRIMARY KEY (county_code, created_at, id),
    UNIQUE (county_code, created_at, code)
) PARTITION BY LIST (county_code);

CREATE TABLE province_ticket_events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    county_code varchar(6) NOT NULL,
    ticket_id bigint NOT NULL,
    ticket_created_at timestamptz NOT NULL,
    at timestamptz NOT NULL,
    action varchar(32) NOT NULL,
    PRIMARY KEY (county_code, at, id)
) PARTITION BY LIST (county_code);

-- One partition per county, each a RANGE-partitioned table of months; indexes are declared
-- on the parents and created on every partition.
CREATE FUNCTION create_county_partitions(county text, first_month date, months int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    m date;
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF province_tickets FOR VALUES IN (%L) '
                   'PARTITION BY RANGE (created_at)', 'tickets_' || county, county);
    EXECUTE format('CREATE TABLE %I PARTITION OF province_ticket_events FOR VALUES IN (%L) '
                   'PARTITION BY RANGE (at)', 'ticket_events_' || county, county);
    FOR i IN 0 .. months - 1 LOOP
        m := first_month + make_interval(months => i);
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       'tickets_' || county || '_' || to_char(m, 'YYYYMM'), 'tickets_' || county,
                       m, m + interval '1 month');
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       'ticket_events_' || county || '_' || to_char(m, 'YYYYMM'),
                       'ticket_events_' || county, m, m + interval '1 month');
    END LOOP;
END $$;

CREATE INDEX ix_province_tickets_geom_metric_open ON province_tickets USING gist (geom_metric)
    WHERE status IN ('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS');
CREATE INDEX ix_province_tickets_cell_created ON province_tickets (cell_code, created_at);
CREATE INDEX ix_province_ticket_events_ticket ON province_ticket_events (ticket_id);
