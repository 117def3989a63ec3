// The vector tile sources and map layers, the layer switcher and the datum of the tiles.

import { COMMITTEE_COLOURS } from './committees.js';
import { FACILITY_KINDS, OTHER_STATUS_COLOUR, STATUS_COLOURS } from './util.js';

// Vector tile layers of the server (/tiles/{layer}/{z}/{x}/{y}.mvt); their first and last
// zooms come from the server's TileJSON index (/tiles.json).
const TILE_SOURCES = ['waters', 'roads', 'streets', 'zones', 'communities', 'compounds',
  'grid_cells', 'buildings', 'facilities', 'tickets'];
// The style has no glyph service: MapLibre draws every label with these local fonts, in order
// (Chinese through localIdeographFontFamily too, see map.js), so nothing is fetched for text.
export const LABEL_FONTS = ['Noto Sans CJK SC', 'Noto Sans', 'DejaVu Sans', 'sans-serif'];

// Switcher checkbox name -> the map layers it shows or hides.
export const LAYER_GROUPS = {
  waters: ['waters-fill', 'waters-label'],
  roads: ['roads-casing', 'roads-line', 'roads-label'],
  streets: ['streets-line'],
  zones: ['zones-fill', 'zones-line'],
  communities: ['communities-fill', 'communities-line', 'communities-label'],
  gridCells: ['grid-cells-hit', 'grid-cells-line', 'grid-cells-label'],
  compounds: ['compounds-fill', 'compounds-label', 'buildings-fill'],
  committees: ['compounds-committee'],
  patrols: ['patrols-fill', 'patrols-line'],
  facilities: ['facilities-circle', 'facilities-label'],
  tickets: ['tickets-cells', 'tickets-points'],
  heat: ['heat-fill', 'heat-line'],
};

// Clickable layers, topmost first.
export const CLICKABLE = ['facilities-circle', 'tickets-points', 'tickets-cells',
  'buildings-fill', 'compounds-fill', 'heat-fill', 'grid-cells-hit', 'communities-fill', 'zones-fill'];

const EMPTY = { type: 'FeatureCollection', features: [] };

const state = { crs: 'WGS84', ticketWindow: null };

export const currentCrs = () => state.crs;

function tileUrl(name) {
  const params = new URLSearchParams();
  if (state.crs !== 'WGS84') params.set('crs', state.crs);
  if (name === 'tickets' && state.ticketWindow) {
    params.set('from', state.ticketWindow.from);
    params.set('to', state.ticketWindow.to);
  }
  const query = params.toString();
  return `${window.location.origin}/tiles/${name}/{z}/{x}/{y}.mvt${query ? `?${query}` : ''}`;
}

// `zooms`: the first and last zoom of each tile layer ({ minzoom, maxzoom }), by name; past
// its last zoom MapLibre overzooms a layer's tiles.
export function addLayers(map, basemap, zooms) {
  if (basemap) {
    map.addSource('basemap', { type: 'raster', tiles: [basemap.url], tileSize: 256,
      attribution: basemap.attribution || undefined });
    map.addLayer({ id: 'basemap', type: 'raster', source: 'basemap' });
  }
  for (const name of TILE_SOURCES) {
    // promoteId keeps the string codes as feature ids.
    map.addSource(name, { type: 'vector', tiles: [tileUrl(name)],
      minzoom: zooms[name].minzoom, maxzoom: zooms[name].maxzoom, promoteId: { [name]: 'code' } });
  }
  map.addSource('heat', { type: 'geojson', data: EMPTY });
  map.addSource('patrols', { type: 'geojson', data: EMPTY });
  map.addSource('nearby', { type: 'geojson', data: EMPTY });

  const kindColor = ['match', ['get', 'kind']];
  for (const [kind, { color }] of Object.entries(FACILITY_KINDS)) kindColor.push(kind, color);
  kindColor.push('#555555');
  const statusColor = ['match', ['get', 'status']];
  for (const [status, color] of Object.entries(STATUS_COLOURS)) statusColor.push(status, color);
  statusColor.push(OTHER_STATUS_COLOUR);
  const tiles = (id, source, type, paint, extra = {}) => map.addLayer({
    id, type, source, 'source-layer': source, paint, ...extra });

  tiles('waters-fill', 'waters', 'fill',
    { 'fill-color': '#a8cbe8', 'fill-outline-color': '#7fa9cf' });
  tiles('communities-fill', 'communities', 'fill',
    { 'fill-color': '#f2c7b8', 'fill-opacity': 0.35 });
  // Roads: a grey casing under a white line, wider by class and zoom; lanes from z14.
  const byKind = (primary, secondary, minor) => ['match', ['get', 'kind'],
    'PRIMARY', primary, 'SECONDARY', secondary, minor];
  const roadWidth = (extra) => ['interpolate', ['linear'], ['zoom'],
    11, byKind(2 + extra, 1 + extra, 0.5 + extra), 16, byKind(11 + extra, 7 + extra, 3 + extra)];
  const lanesFromZ14 = ['any', ['!=', ['get', 'kind'], 'MINOR'], ['>=', ['zoom'], 14]];
  tiles('roads-casing', 'roads', 'line', { 'line-color': '#b9b3a6', 'line-width': roadWidth(1.5) },
    { filter: lanesFromZ14, layout: { 'line-join': 'round', 'line-cap': 'round' } });
  tiles('roads-line', 'roads', 'line',
    { 'line-color': byKind('#fff3c4', '#ffffff', '#ffffff'), 'line-width': roadWidth(0) },
    { filter: lanesFromZ14, layout: { 'line-join': 'round', 'line-cap': 'round' } });
  // Nearly invisible: makes the inside of a zone clickable when zones are shown.
  tiles('zones-fill', 'zones', 'fill', { 'fill-color': '#3d5a80', 'fill-opacity': 0.05 });
  map.addLayer({ id: 'heat-fill', type: 'fill', source: 'heat',
    paint: { 'fill-color': ['get', 'fill'], 'fill-opacity': 0.72 } });
  map.addLayer({ id: 'heat-line', type: 'line', source: 'heat',
    paint: { 'line-color': '#ffffff', 'line-width': 0.6, 'line-opacity': 0.8 } });
  // Patrol coverage: each cell's colour by its visits in the week, set by patrols.js.
  map.addLayer({ id: 'patrols-fill', type: 'fill', source: 'patrols',
    paint: { 'fill-color': ['get', 'fill'], 'fill-opacity': 0.7 } });
  map.addLayer({ id: 'patrols-line', type: 'line', source: 'patrols',
    paint: { 'line-color': '#ffffff', 'line-width': 0.6, 'line-opacity': 0.8 } });
  // Invisible, but makes the inside of a grid cell clickable.
  tiles('grid-cells-hit', 'grid_cells', 'fill', { 'fill-color': '#000000', 'fill-opacity': 0 });
  tiles('grid-cells-line', 'grid_cells', 'line',
    { 'line-color': '#8a8f98', 'line-width': 0.7, 'line-dasharray': [3, 2] });
  tiles('compounds-fill', 'compounds', 'fill',
    { 'fill-color': '#d9a55b', 'fill-opacity': 0.6, 'fill-outline-color': '#9c6b24' });
  // Owners' committees: a compound's colour from its feature state (committees.js).
  tiles('compounds-committee', 'compounds', 'fill', {
    'fill-color': ['match', ['coalesce', ['feature-state', 'committee'], 'OK'],
      'NONE', COMMITTEE_COLOURS.NONE, 'BELOW', COMMITTEE_COLOURS.BELOW, COMMITTEE_COLOURS.OK],
    'fill-opacity': 0.75,
  });
  // Buildings from z15 inside their compounds, darker with more floors.
  tiles('buildings-fill', 'buildings', 'fill', {
    'fill-color': ['interpolate', ['linear'], ['get', 'floors'], 6, '#c9a27a', 26, '#7a5330'],
    'fill-outline-color': '#5c3d1e',
  }, { minzoom: 15 });
  tiles('zones-line', 'zones', 'line', { 'line-color': '#3d5a80', 'line-width': 2.4 });
  tiles('communities-line', 'communities', 'line', { 'line-color': '#b3261e', 'line-width': 1.6 });
  tiles('streets-line', 'streets', 'line',
    { 'line-color': '#1b263b', 'line-width': 3.2, 'line-dasharray': [4, 2] });
  // Below z15 the server sends one point per grid cell with the number of its tickets; from
  // z15 one point per ticket the caller may see exactly (`precise`), and one per 100 m square
  // (with its `count`) for the others.
  tiles('tickets-cells', 'tickets', 'circle', {
    'circle-color': '#b3261e',
    'circle-opacity': 0.55,
    'circle-radius': ['+', 2, ['*', 2.2, ['sqrt', ['get', 'count']]]],
    'circle-stroke-color': '#ffffff',
    'circle-stroke-width': 0.8,
  }, { filter: ['!', ['has', 'precise']] });
  tiles('tickets-points', 'tickets', 'circle', {
    'circle-color': statusColor,
    // A merged square grows with its count; zoom must stay the interpolation's outer input.
    'circle-radius': ['interpolate', ['linear'], ['zoom'],
      15, ['+', 3, ['*', 1.5, ['sqrt', ['-', ['get', 'count'], 1]]]],
      18, ['+', 7, ['*', 1.5, ['sqrt', ['-', ['get', 'count'], 1]]]]],
    'circle-stroke-color': ['case', ['get', 'precise'], '#ffffff', '#444444'],
    'circle-stroke-width': 1,
  }, { filter: ['has', 'precise'] });
  tiles('facilities-circle', 'facilities', 'circle', {
    'circle-color': kindColor,
    'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 3, 16, 8],
    'circle-stroke-color': '#ffffff',
    'circle-stroke-width': 1,
  });
  // Names drawn offline: every place and facility name is Chinese, which MapLibre draws with
  // the browser's own CJK font (localIdeographFontFamily), so no glyph is fetched.
  const label = (id, source, minzoom, size, extra = {}, paint = {}) => tiles(id, source, 'symbol', {
    'text-color': '#3b2a20', 'text-halo-color': '#ffffff', 'text-halo-width': 1.4, ...paint,
  }, { minzoom, layout: { 'text-field': ['get', 'name'], 'text-font': LABEL_FONTS,
    'text-size': size, 'text-max-width': 8, ...extra } });
  label('waters-label', 'waters', 11, 13, {}, { 'text-color': '#2f5f8a' });
  label('roads-label', 'roads', 14, 11, { 'symbol-placement': 'line', 'text-max-angle': 35,
    'symbol-spacing': 320 }, { 'text-color': '#5a5245' });
  // Grid codes from z16, where a cell is wide enough for its 15 digits.
  label('grid-cells-label', 'grid_cells', 16, 10, { 'text-field': ['get', 'code'] },
    { 'text-color': '#5f6670' });
  label('communities-label', 'communities', 0, 13);
  label('compounds-label', 'compounds', 15, 12);
  label('facilities-label', 'facilities', 16, 11,
    { 'text-offset': [0, 1.1], 'text-anchor': 'top', 'text-optional': true });
  map.addLayer({ id: 'nearby-area', type: 'fill', source: 'nearby',
    filter: ['==', ['geometry-type'], 'Polygon'],
    paint: { 'fill-color': '#1f78b4', 'fill-opacity': 0.08, 'fill-outline-color': '#1f78b4' } });
  map.addLayer({ id: 'nearby-points', type: 'circle', source: 'nearby',
    filter: ['==', ['geometry-type'], 'Point'],
    paint: { 'circle-color': '#1f78b4', 'circle-radius': 6,
      'circle-stroke-color': '#ffffff', 'circle-stroke-width': 2 } });
}

export function applyVisibility(map, box) {
  for (const id of LAYER_GROUPS[box.name] ?? []) {
    if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', box.checked ? 'visible' : 'none');
  }
}

export function isShown(map, group) {
  return map.getLayoutProperty(LAYER_GROUPS[group][0], 'visibility') !== 'none';
}

function reload(map, name) {
  map.getSource(name)?.setTiles([tileUrl(name)]);
}

// Cuts every tile source on another basemap's grid (the server shifts the features).
export function setCrs(map, crs) {
  state.crs = crs;
  for (const name of TILE_SOURCES) reload(map, name);
}

// Tickets follow the heat map's period for callers with exact counts (every ticket for the
// others, see map.js); their tiles also depend on who asks.
export function setTicketWindow(map, window) {
  state.ticketWindow = window;
  reload(map, 'tickets');
}

