-- The peer's view of RedGrid's queries Q1-Q4 for PostGraphile v4 (bench/peer.py), created in
-- the benchmark database only, in a schema of its own. PostGraphile exposes a function that
-- returns a table type as a query field, and a function taking a table type as its first
-- argument as a (computed) field of that type, so each query is a function and each nesting a
-- function on the row type. The tables are row types only: they stay empty. The SQL is the
-- SQL RedGrid runs (db/queries/tickets.py, db/queries/places.py).
DROP SCHEMA IF EXISTS peer CASCADE;
CREATE SCHEMA peer;

-- Q1: nearbyTickets, open statuses: rank on the indexed EPSG:4549 column with spare rows,
-- then cut on geodesic metres (nearest_sql).
CREATE TABLE peer.ticket_hit (code text PRIMARY KEY, status text, distance_m float8,
                              geom geometry(Point, 4326));
CREATE FUNCTION peer.nearby_tickets(lon float8, lat float8, radius_m float8, n int)
RETURNS SETOF peer.ticket_hit LANGUAGE sql STABLE AS $$
  SELECT code, status, distance_m, geom FROM (
    SELECT code, status, geom,
           ST_Distance(geom::geography,
                       ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) AS distance_m
    FROM (
      SELECT code, status, geom FROM tickets
      WHERE status IN ('DISPATCHED', 'IN_PROGRESS', 'SUBMITTED')
        AND geom_metric && ST_Expand(ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326),
                                                  4549), radius_m * 1.001 + 1)
      ORDER BY geom_metric <-> ST_Transform(ST_SetSRID(ST_MakePoint(lon, lat), 4326), 4549)
      LIMIT n + greatest(8, n / 2)
    ) k
  ) d
  WHERE distance_m <= radius_m ORDER BY distance_m, code LIMIT n
$$;

-- Q2: communities intersecting a box, with their outlines.
CREATE TABLE peer.area (code text PRIMARY KEY, name text, geom geometry(Polygon, 4326));
CREATE FUNCTION peer.communities_in_box(west float8, south float8, east float8, north float8)
RETURNS SETOF peer.area LANGUAGE sql STABLE AS $$
  SELECT code, name, geom FROM communities
  WHERE ST_Intersects(geom, ST_MakeEnvelope(west, south, east, north, 4326)) ORDER BY code
$$;

-- Q3: one ticket with its grid cell, compound, community, unit and events.
CREATE TABLE peer.ticket (id bigint PRIMARY KEY, code text, status text, level text,
                          item_code text, created_at timestamptz, due_at timestamptz,
                          version int, cell_code text, compound_code text,
                          community_code text, unit_code text);
CREATE TABLE peer.place (code text PRIMARY KEY, name text);
CREATE TABLE peer.grid_cell (code text PRIMARY KEY, households int);
CREATE TABLE peer.unit (code text PRIMARY KEY, name text, kind text);
CREATE TABLE peer.ticket_event (id bigint PRIMARY KEY, at timestamptz, action text,
                                from_status text, to_status text, note text);
CREATE FUNCTION peer.ticket_by_code(code text) RETURNS peer.ticket LANGUAGE sql STABLE AS $$
  SELECT t.id, t.code, t.status, t.level, t.item_code, t.created_at, t.due_at, t.version,
         t.cell_code, t.compound_code, t.community_code, t.unit_code
  FROM tickets t WHERE t.code = ticket_by_code.code
$$;
CREATE FUNCTION peer.ticket_grid_cell(t peer.ticket) RETURNS peer.grid_cell
LANGUAGE sql STABLE AS $$ SELECT code, households FROM grid_cells WHERE code = t.cell_code $$;
CREATE FUNCTION peer.ticket_compound(t peer.ticket) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM compounds WHERE code = t.compound_code $$;
CREATE FUNCTION peer.ticket_community(t peer.ticket) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM communities WHERE code = t.community_code $$;
CREATE FUNCTION peer.ticket_responsible_unit(t peer.ticket) RETURNS peer.unit
LANGUAGE sql STABLE AS $$ SELECT code, name, kind FROM units WHERE code = t.unit_code $$;
CREATE FUNCTION peer.ticket_events(t peer.ticket) RETURNS SETOF peer.ticket_event
LANGUAGE sql STABLE AS $$
  SELECT id, at, action, from_status, to_status, note FROM ticket_events
  WHERE ticket_id = t.id ORDER BY at, id
$$;

-- Q4: locate a point (lowest code on shared edges) with its 2 nearest clinics.
CREATE TABLE peer.location (lon float8, lat float8, cell_code text, community_code text,
                            zone_code text, street_code text, compound_code text,
                            PRIMARY KEY (lon, lat));
CREATE TABLE peer.facility_hit (code text PRIMARY KEY, name text, distance_m float8);
CREATE FUNCTION peer.locate(lon float8, lat float8) RETURNS peer.location
LANGUAGE sql STABLE AS $$
  WITH p AS (SELECT ST_SetSRID(ST_MakePoint(lon, lat), 4326) AS g),
  cell AS (
      SELECT c.code, c.community_code FROM grid_cells c, p
      WHERE ST_Intersects(c.geom, p.g) ORDER BY c.code LIMIT 1
  )
  SELECT lon, lat, cell.code, cell.community_code, m.zone_code, m.street_code,
         (SELECT k.code FROM compounds k, p WHERE ST_Intersects(k.geom, p.g)
          ORDER BY k.code LIMIT 1)
  FROM cell JOIN communities m ON m.code = cell.community_code
$$;
CREATE FUNCTION peer.location_grid_cell(l peer.location) RETURNS peer.grid_cell
LANGUAGE sql STABLE AS $$ SELECT code, households FROM grid_cells WHERE code = l.cell_code $$;
CREATE FUNCTION peer.location_compound(l peer.location) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM compounds WHERE code = l.compound_code $$;
CREATE FUNCTION peer.location_community(l peer.location) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM communities WHERE code = l.community_code $$;
CREATE FUNCTION peer.location_zone(l peer.location) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM zones WHERE code = l.zone_code $$;
CREATE FUNCTION peer.location_street(l peer.location) RETURNS peer.place
LANGUAGE sql STABLE AS $$ SELECT code, name FROM streets WHERE code = l.street_code $$;
CREATE FUNCTION peer.location_nearest_facilities(l peer.location, kind text, n int)
RETURNS SETOF peer.facility_hit LANGUAGE sql STABLE AS $$
  SELECT f.code, f.name,
         ST_Distance(f.geom::geography, ST_SetSRID(ST_MakePoint(l.lon, l.lat), 4326)::geography)
             AS distance_m
  FROM facilities f
  WHERE location_nearest_facilities.kind IS NULL OR f.kind = location_nearest_facilities.kind
  ORDER BY distance_m, f.code LIMIT n
$$;

-- Q5: createTicket, as RedGrid files it (resolvers/ticket_create.py, db/queries/ticket_writes.py):
-- the idempotency key looked up, the cells held, the point located, the item read, the lead
-- and cooperating units routed (db/responsibility.py), the ticket inserted (ON CONFLICT on
-- the key) with its CREATED and DISPATCHED events and its units, and the ticket read back.
-- One difference: the H3 columns stay empty (this PostgreSQL has no H3 extension; RedGrid
-- computes them in Python), which spares the peer that work.
CREATE TABLE peer.created_ticket (code text PRIMARY KEY, status text, item_code text,
                                  cell_code text, unit_code text, created_at timestamptz,
                                  due_at timestamptz);
CREATE FUNCTION peer.route_unit(kind text, community text, street text, company text)
RETURNS text LANGUAGE sql STABLE AS $$
  SELECT CASE kind
    WHEN 'PROPERTY_COMPANY' THEN coalesce(company, community)
    WHEN 'COMMUNITY' THEN community
    WHEN 'STREET' THEN street
    ELSE (SELECT code FROM units WHERE community_code IS NULL AND street_code IS NULL
          AND units.kind <> 'PROPERTY_COMPANY' AND units.kind = route_unit.kind
          ORDER BY code DESC LIMIT 1) END
$$;
CREATE FUNCTION peer.create_ticket(lon float8, lat float8, item_code text, description text,
                                   channel text, idempotency_key text, caller text)
RETURNS peer.created_ticket LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
  p geometry := ST_SetSRID(ST_MakePoint(lon, lat), 4326);
  stamp timestamptz := clock_timestamp();
  loc record;
  it record;
  company text;
  lead text;
  cooperating text[] := '{}';
  unit text;
  kind text;
  made record;
  answer peer.created_ticket;
BEGIN
  SELECT t.code, t.status, t.item_code, t.cell_code, t.unit_code, t.created_at, t.due_at
    INTO answer FROM tickets t
   WHERE t.idempotency_caller = caller AND t.idempotency_key = create_ticket.idempotency_key;
  IF FOUND THEN
    RETURN answer;
  END IF;
  LOCK TABLE grid_cells IN SHARE MODE;
  SELECT cell.code AS cell_code, cell.community_code, m.zone_code, m.street_code,
         (SELECT k.code FROM compounds k WHERE ST_Intersects(k.geom, p)
          ORDER BY k.code LIMIT 1) AS compound_code
    INTO loc
    FROM (SELECT c.code, c.community_code FROM grid_cells c WHERE ST_Intersects(c.geom, p)
          ORDER BY c.code LIMIT 1) cell
    JOIN communities m ON m.code = cell.community_code;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'OUTSIDE_COVERAGE: (%, %)', lon, lat;
  END IF;
  SELECT d.code, d.lead_unit_kind, d.cooperating_unit_kinds, d.deadline_class INTO it
    FROM demand_items d WHERE d.code = create_ticket.item_code;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'UNKNOWN_ITEM_CODE: %', item_code;
  END IF;
  IF loc.compound_code IS NOT NULL THEN
    SELECT pc.company_code INTO company FROM property_contracts pc
     WHERE pc.compound_code = loc.compound_code
       AND pc.start_date <= (stamp AT TIME ZONE 'Asia/Shanghai')::date
       AND (pc.end_date IS NULL OR (stamp AT TIME ZONE 'Asia/Shanghai')::date < pc.end_date)
     ORDER BY pc.start_date DESC LIMIT 1;
  END IF;
  lead := peer.route_unit(it.lead_unit_kind, loc.community_code, loc.street_code, company);
  FOREACH kind IN ARRAY it.cooperating_unit_kinds LOOP
    unit := peer.route_unit(kind, loc.community_code, loc.street_code, company);
    IF unit IS NOT NULL AND NOT unit = ANY(cooperating) THEN
      cooperating := cooperating || unit;
    END IF;
  END LOOP;
  INSERT INTO tickets (
      id, code, item_code, channel, description, status, level, geom, cell_code,
      compound_code, community_code, zone_code, street_code, unit_code, created_at, due_at,
      updated_at, version, idempotency_caller, idempotency_key, request_hash, reporter_subject)
  SELECT n.id, 'T' || to_char(stamp AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-'
                || lpad(n.id::text, 7, '0'),
         it.code, channel, description, CASE WHEN lead IS NULL THEN 'SUBMITTED' ELSE 'DISPATCHED' END,
         'COMMUNITY', p, loc.cell_code, loc.compound_code, loc.community_code, loc.zone_code,
         loc.street_code, lead, stamp,
         stamp + CASE it.deadline_class WHEN 'EMERGENCY_2H' THEN interval '2 hours'
                                     WHEN 'UTILITY_24H' THEN interval '24 hours'
                                     WHEN 'GENERAL_7D' THEN interval '7 days'
                                     ELSE interval '15 days' END,
         stamp, CASE WHEN lead IS NULL THEN 1 ELSE 2 END, caller, create_ticket.idempotency_key,
         encode(sha256(convert_to(concat_ws('|', lon, lat, item_code, description, channel),
                                  'UTF8')), 'hex'),
         caller
    FROM (SELECT nextval(pg_get_serial_sequence('tickets', 'id')) AS id) n
  ON CONFLICT (idempotency_caller, idempotency_key) DO NOTHING
  RETURNING id, code INTO made;
  IF made IS NULL THEN  -- a concurrent request with the same key won
    SELECT t.code, t.status, t.item_code, t.cell_code, t.unit_code, t.created_at, t.due_at
      INTO answer FROM tickets t
     WHERE t.idempotency_caller = caller AND t.idempotency_key = create_ticket.idempotency_key;
    RETURN answer;
  END IF;
  INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
  VALUES (made.id, stamp, 'CREATED', caller, NULL, 'SUBMITTED', NULL);
  IF lead IS NOT NULL THEN
    INSERT INTO ticket_events (ticket_id, at, action, actor, from_status, to_status, note)
    SELECT made.id, stamp, 'DISPATCHED', 'routing', 'SUBMITTED', 'DISPATCHED', '已派单至' || name
      FROM units WHERE code = lead;
    INSERT INTO ticket_units (ticket_id, unit_code, role) VALUES (made.id, lead, 'LEAD')
      ON CONFLICT (ticket_id, unit_code) DO UPDATE SET role = EXCLUDED.role;
  END IF;
  INSERT INTO ticket_units (ticket_id, unit_code, role)
  SELECT made.id, u, 'COOPERATING' FROM unnest(cooperating) u WHERE u IS DISTINCT FROM lead
  ON CONFLICT (ticket_id, unit_code) DO UPDATE SET role = EXCLUDED.role;
  SELECT t.code, t.status, t.item_code, t.cell_code, t.unit_code, t.created_at, t.due_at
    INTO answer FROM tickets t WHERE t.id = made.id;
  RETURN answer;
END
$$;
