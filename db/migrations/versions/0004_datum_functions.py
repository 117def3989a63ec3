"""GCJ-02 and BD-09 datum shifts as SQL functions, so tiles and GeoJSON for Chinese basemaps
are built inside PostGIS; the same formulas as `geo/datum.py`, term for term.

`redgrid_to_datum(geom, crs)` moves every vertex of a WGS-84 geometry to 'GCJ02' or 'BD09'
('WGS84' returns it unchanged); points outside China's rectangle pass unchanged.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = r"""
CREATE FUNCTION redgrid_out_of_china(lon float8, lat float8) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT lon < 72.004 OR lon > 137.8347 OR lat < 0.8293 OR lat > 55.8271
$$;

CREATE FUNCTION redgrid_wgs84_to_gcj02(lon float8, lat float8) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    a CONSTANT float8 := 6378245.0;
    ee CONSTANT float8 := 0.00669342162296594323;
    x float8 := lon - 105.0;
    y float8 := lat - 35.0;
    shared float8;
    dlat float8;
    dlon float8;
    radlat float8;
    magic float8;
    sqrtmagic float8;
BEGIN
    IF redgrid_out_of_china(lon, lat) THEN
        RETURN ARRAY[lon, lat];
    END IF;
    shared := (20.0 * sin(6.0 * x * pi()) + 20.0 * sin(2.0 * x * pi())) * 2.0 / 3.0;
    dlat := -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x));
    dlat := dlat + shared;
    dlat := dlat + (20.0 * sin(y * pi()) + 40.0 * sin(y / 3.0 * pi())) * 2.0 / 3.0;
    dlat := dlat + (160.0 * sin(y / 12.0 * pi()) + 320.0 * sin(y * pi() / 30.0)) * 2.0 / 3.0;
    dlon := 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x));
    dlon := dlon + shared;
    dlon := dlon + (20.0 * sin(x * pi()) + 40.0 * sin(x / 3.0 * pi())) * 2.0 / 3.0;
    dlon := dlon + (150.0 * sin(x / 12.0 * pi()) + 300.0 * sin(x / 30.0 * pi())) * 2.0 / 3.0;
    radlat := lat / 180.0 * pi();
    magic := 1.0 - ee * sin(radlat) ^ 2;
    sqrtmagic := sqrt(magic);
    dlat := (dlat * 180.0) / ((a * (1.0 - ee)) / (magic * sqrtmagic) * pi());
    dlon := (dlon * 180.0) / (a / sqrtmagic * cos(radlat) * pi());
    RETURN ARRAY[lon + dlon, lat + dlat];
END
$$;

CREATE FUNCTION redgrid_gcj02_to_bd09(lon float8, lat float8) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    x_pi CONSTANT float8 := pi() * 3000.0 / 180.0;
    z float8;
    theta float8;
BEGIN
    IF redgrid_out_of_china(lon, lat) THEN
        RETURN ARRAY[lon, lat];
    END IF;
    z := sqrt(lon * lon + lat * lat) + 0.00002 * sin(lat * x_pi);
    theta := atan2(lat, lon) + 0.000003 * cos(lon * x_pi);
    RETURN ARRAY[z * cos(theta) + 0.0065, z * sin(theta) + 0.006];
END
$$;

CREATE FUNCTION redgrid_datum_xy(lon float8, lat float8, crs text) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    gcj float8[];
BEGIN
    IF crs = 'WGS84' THEN
        RETURN ARRAY[lon, lat];
    END IF;
    gcj := redgrid_wgs84_to_gcj02(lon, lat);
    IF crs = 'GCJ02' THEN
        RETURN gcj;
    ELSIF crs = 'BD09' THEN
        IF redgrid_out_of_china(lon, lat) THEN
            RETURN ARRAY[lon, lat];
        END IF;
        RETURN redgrid_gcj02_to_bd09(gcj[1], gcj[2]);
    END IF;
    RAISE EXCEPTION 'unknown datum %; use WGS84, GCJ02 or BD09', crs
        USING ERRCODE = 'invalid_parameter_value';
END
$$;

-- Every vertex moved; rings, parts and SRID kept. Lines and rings are rebuilt from their
-- dumped points in path order.
CREATE FUNCTION redgrid_datum_line(line geometry, crs text) RETURNS geometry
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT ST_SetSRID(ST_MakeLine(array_agg(
               ST_MakePoint(xy[1], xy[2]) ORDER BY n)), ST_SRID(line))
    FROM (SELECT d.path[1] AS n, redgrid_datum_xy(ST_X(d.geom), ST_Y(d.geom), crs) AS xy
          FROM ST_DumpPoints(line) d) p
$$;

CREATE FUNCTION redgrid_to_datum(geom geometry, crs text) RETURNS geometry
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    kind text := GeometryType(geom);
    xy float8[];
    holes geometry[];
BEGIN
    IF crs = 'WGS84' OR ST_IsEmpty(geom) THEN
        RETURN geom;
    END IF;
    IF kind = 'POINT' THEN
        xy := redgrid_datum_xy(ST_X(geom), ST_Y(geom), crs);
        RETURN ST_SetSRID(ST_MakePoint(xy[1], xy[2]), ST_SRID(geom));
    ELSIF kind = 'LINESTRING' THEN
        RETURN redgrid_datum_line(geom, crs);
    ELSIF kind = 'POLYGON' THEN
        SELECT coalesce(array_agg(redgrid_datum_line(ST_InteriorRingN(geom, i), crs)
                                  ORDER BY i), '{}')
        INTO holes FROM generate_series(1, ST_NumInteriorRings(geom)) i;
        RETURN ST_SetSRID(ST_MakePolygon(redgrid_datum_line(ST_ExteriorRing(geom), crs), holes),
                          ST_SRID(geom));
    ELSIF kind IN ('MULTIPOINT', 'MULTILINESTRING', 'MULTIPOLYGON', 'GEOMETRYCOLLECTION') THEN
        RETURN (SELECT CASE WHEN kind = 'GEOMETRYCOLLECTION'
                            THEN ST_SetSRID(ST_Collect(part ORDER BY n), ST_SRID(geom))
                            ELSE ST_SetSRID(ST_Multi(ST_Collect(part ORDER BY n)), ST_SRID(geom))
                       END
                FROM (SELECT d.path[1] AS n, redgrid_to_datum(d.geom, crs) AS part
                      FROM ST_Dump(geom) d) parts);
    END IF;
    RAISE EXCEPTION 'redgrid_to_datum cannot move a %', kind
        USING ERRCODE = 'invalid_parameter_value';
END
$$;
"""

DOWNGRADE = """
DROP FUNCTION IF EXISTS redgrid_to_datum(geometry, text);
DROP FUNCTION IF EXISTS redgrid_datum_line(geometry, text);
DROP FUNCTION IF EXISTS redgrid_datum_xy(float8, float8, text);
DROP FUNCTION IF EXISTS redgrid_gcj02_to_bd09(float8, float8);
DROP FUNCTION IF EXISTS redgrid_wgs84_to_gcj02(float8, float8);
DROP FUNCTION IF EXISTS redgrid_out_of_china(float8, float8);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
