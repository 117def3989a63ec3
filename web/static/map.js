'use strict';

const MAP_QUERY = `{
  communities { code name households population geometry zone { name } street { name } }
  compounds { code name households population geometry community { name } }
  gridCells { code households geometry community { name } }
  facilities { code name kind geometry community { name } }
}`;

const FACILITY_KINDS = {
  STATION: { label: '驿站', color: '#c0392b' },
  CLINIC: { label: '诊疗点', color: '#1f78b4' },
  CANTEEN: { label: '幸福食堂', color: '#e67e22' },
  SERVICE_ROOM: { label: '社服用房', color: '#7b3fa0' },
};

// Switcher checkbox name -> the map layers it shows or hides.
const LAYER_GROUPS = {
  communities: ['communities-fill', 'communities-line'],
  gridCells: ['grid-cells-hit', 'grid-cells-line'],
  compounds: ['compounds-fill'],
  facilities: ['facilities-circle'],
};

// Clickable layers; queryRenderedFeatures returns the topmost first.
const CLICKABLE = ['facilities-circle', 'compounds-fill', 'grid-cells-hit', 'communities-fill'];

const status = document.getElementById('status');
const switcher = document.getElementById('layers');

const map = new maplibregl.Map({
  container: 'map',
  style: {
    version: 8,
    sources: {},
    layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#f4f1ea' } }],
  },
  center: [118.657, 34.918],
  zoom: 12,
  // Keeps the frame readable (toDataURL) after drawing, for the browser test.
  canvasContextAttributes: { preserveDrawingBuffer: true },
});
window.redgridMap = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');

async function fetchMapData() {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: MAP_QUERY }),
  });
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const body = await response.json();
  if (body.errors?.length) throw new Error(body.errors[0].message);
  return body.data;
}

// Flattens nested GraphQL objects ({community: {name}} -> communityName): feature
// properties must be scalars.
function toCollection(rows) {
  const features = rows.map(({ geometry, ...fields }) => {
    const properties = {};
    for (const [key, value] of Object.entries(fields)) {
      if (value && typeof value === 'object') {
        properties[`${key}Name`] = value.name;
      } else if (value !== null) {
        properties[key] = value;
      }
    }
    return { type: 'Feature', id: fields.code, geometry, properties };
  });
  return { type: 'FeatureCollection', features };
}

function boundsOf(rows) {
  const bounds = new maplibregl.LngLatBounds();
  const extend = (coords) => {
    if (typeof coords[0] === 'number') bounds.extend(coords);
    else coords.forEach(extend);
  };
  rows.forEach((row) => extend(row.geometry.coordinates));
  return bounds;
}

function addLayers(data) {
  // promoteId keeps the string codes as feature ids (GeoJSON ids must otherwise be numbers).
  for (const name of Object.keys(LAYER_GROUPS)) {
    map.addSource(name, { type: 'geojson', data: toCollection(data[name]), promoteId: 'code' });
  }
  const kindColor = ['match', ['get', 'kind']];
  for (const [kind, { color }] of Object.entries(FACILITY_KINDS)) kindColor.push(kind, color);
  kindColor.push('#555555');

  map.addLayer({ id: 'communities-fill', type: 'fill', source: 'communities',
    paint: { 'fill-color': '#f2c7b8', 'fill-opacity': 0.35 } });
  // Invisible, but makes the inside of a grid cell clickable.
  map.addLayer({ id: 'grid-cells-hit', type: 'fill', source: 'gridCells',
    paint: { 'fill-color': '#000000', 'fill-opacity': 0 } });
  map.addLayer({ id: 'grid-cells-line', type: 'line', source: 'gridCells',
    paint: { 'line-color': '#8a8f98', 'line-width': 0.7, 'line-dasharray': [3, 2] } });
  map.addLayer({ id: 'compounds-fill', type: 'fill', source: 'compounds',
    paint: { 'fill-color': '#d9a55b', 'fill-opacity': 0.6, 'fill-outline-color': '#9c6b24' } });
  map.addLayer({ id: 'communities-line', type: 'line', source: 'communities',
    paint: { 'line-color': '#b3261e', 'line-width': 1.6 } });
  map.addLayer({ id: 'facilities-circle', type: 'circle', source: 'facilities',
    paint: {
      'circle-color': kindColor,
      'circle-radius': ['interpolate', ['linear'], ['zoom'], 11, 3, 16, 8],
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 1,
    } });

  for (const box of switcher.elements) applyVisibility(box);
}

function applyVisibility(box) {
  for (const id of LAYER_GROUPS[box.name]) {
    if (map.getLayer(id)) map.setLayoutProperty(id, 'visibility', box.checked ? 'visible' : 'none');
  }
}

const escapeHtml = (text) => String(text).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

const number = (n) => n.toLocaleString('zh-CN');

// Each renderer returns [title, [[label, value], ...]] for one clicked feature.
const CARDS = {
  'facilities-circle': (p) => [p.name, [
    ['类型', FACILITY_KINDS[p.kind]?.label ?? p.kind], ['编码', p.code], ['社区', p.communityName]]],
  'compounds-fill': (p) => [p.name, [
    ['编码', p.code], ['户数', number(p.households)], ['人口', number(p.population)],
    ['社区', p.communityName]]],
  'grid-cells-hit': (p) => ['网格', [
    ['编码', p.code], ['户数', number(p.households)], ['社区', p.communityName]]],
  'communities-fill': (p) => [p.name, [
    ['编码', p.code], ['户数', number(p.households)], ['人口', number(p.population)],
    ['片区', p.zoneName], ['街道', p.streetName]]],
};

function popupHtml(feature) {
  const [title, rows] = CARDS[feature.layer.id](feature.properties);
  const cells = rows.filter(([, value]) => value != null)
    .map(([label, value]) => `<dt>${label}</dt><dd>${escapeHtml(value)}</dd>`).join('');
  return `<h2>${escapeHtml(title)}</h2><dl>${cells}</dl>`;
}

map.on('click', (event) => {
  const layers = CLICKABLE.filter((id) => map.getLayer(id));
  const [top] = map.queryRenderedFeatures(event.point, { layers });
  if (!top) return;
  new maplibregl.Popup({ className: 'redgrid-popup', maxWidth: '260px' })
    .setLngLat(event.lngLat)
    .setHTML(popupHtml(top))
    .addTo(map);
});
map.on('mouseenter', CLICKABLE, () => { map.getCanvas().style.cursor = 'pointer'; });
map.on('mouseleave', CLICKABLE, () => { map.getCanvas().style.cursor = ''; });

switcher.addEventListener('change', (event) => applyVisibility(event.target));

document.getElementById('legend').innerHTML = Object.values(FACILITY_KINDS)
  .map(({ label, color }) => `<li><span class="dot" style="background:${color}"></span>${label}</li>`)
  .join('');

// Phones start with the panel folded so the map gets the screen.
if (window.matchMedia('(max-width: 600px)').matches) {
  document.getElementById('panel').open = false;
}

Promise.all([fetchMapData(), map.once('load')])
  .then(([data]) => {
    addLayers(data);
    map.fitBounds(boundsOf(data.communities), { padding: 20, duration: 0 });
    status.textContent = `${data.communities.length} 个社区 · ${data.compounds.length} 个小区 · `
      + `${data.gridCells.length} 个网格 · ${data.facilities.length} 处设施`;
    map.once('idle', () => { window.redgridReady = true; });
  })
  .catch((error) => {
    status.textContent = `地图数据加载失败：${error.message}`;
    status.classList.add('error');
  });
