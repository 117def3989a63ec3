// The map page: vector tile layers, the heat map, feature details, nearby tickets, sign-in.

import { getJson, graphql } from './api.js';
import * as committees from './committees.js';
import * as details from './details.js';
import * as heat from './heat.js';
import * as patrols from './patrols.js';
import {
  CLICKABLE, addLayers, applyVisibility, currentCrs, isShown, setCrs,
  setTicketWindow,
} from './layers.js';

// Chinese labels are drawn with the browser's CJK font: nothing is fetched for them.
const CJK_FONTS = "'Noto Sans CJK SC', 'Source Han Sans SC', 'WenQuanYi Micro Hei', sans-serif";
import * as planner from './planner.js';
import * as auth from './session.js';
import {
  $, DATUM_LABELS, DISCLOSURE, FACILITY_KINDS, ROLE_LABELS, STATUS_LABELS, escapeHtml,
  statusColour,
  notify, useVocabulary,
} from './util.js';

const COUNTS_QUERY = '{ communities { code } compounds { code } gridCells { code } facilities { code } }';
const SUGGESTED_SCOPES = {
  GRID_WORKER: '371329001001001', SUPERVISOR: '371329001001C01', COMMUNITY_STAFF: '371329001001',
  ZONE_OFFICER: 'Z1', STREET_OFFICER: '371329001', UNIT: 'PC01',
};

const status = $('status');
const switcher = $('layers');
const phone = window.matchMedia('(max-width: 600px)');
const countyBounds = new Map();

function bounds(crs) {
  if (!countyBounds.has(crs)) {
    const query = crs === 'WGS84' ? '' : `?crs=${crs}`;
    countyBounds.set(crs, getJson(`/tiles/communities.json${query}`).then((doc) => doc.bounds));
  }
  return countyBounds.get(crs);
}

function createMap(config, [west, south, east, north]) {
  const map = new maplibregl.Map({
    container: 'map',
    style: {
      version: 8,
      // No glyph service: every label (Chinese names, grid codes, road names) is drawn with
      // the browser's fonts (layers.js LABEL_FONTS), so the map needs nothing from outside.
      sources: {},
      layers: [{ id: 'bg', type: 'background', paint: { 'background-color': '#f4f1ea' } }],
    },
    localIdeographFontFamily: CJK_FONTS,
    // Fitted before any tile is asked for, so none is fetched for a view at once left.
    bounds: [[west, south], [east, north]],
    // On a wide screen the panel covers the left: keep the county beside it.
    fitBoundsOptions: { padding: phone.matches ? 20 : { top: 20, bottom: 20, right: 20, left: 300 } },
    // The token goes with every tile request: ticket tiles depend on who asks.
    transformRequest: (url) => {
      const token = auth.token();
      if (token && url.startsWith(`${window.location.origin}/tiles/`)) {
        return { url, headers: { Authorization: `Bearer ${token}` } };
      }
      return { url };
    },
    attributionControl: config.basemap?.attribution ? {} : false,
    // Keeps the frame readable (toDataURL) after drawing, for the browser test.
    canvasContextAttributes: { preserveDrawingBuffer: true },
  });
  // The whole county is in view at the start, on a phone too: compounds and grid cells
  // appear from their first tiled zoom (`zooms`), one step in.
  window.redgridMap = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), 'bottom-right');
  map.addControl(new maplibregl.ScaleControl({ unit: 'metric' }), 'bottom-left');
  // The loading indicator: on while tiles or data are on their way, off once the map is idle.
  const loading = $('loading');
  map.on('dataloading', () => { loading.hidden = false; });
  map.on('idle', () => { loading.hidden = true; });
  map.on('error', (event) => {
    if (event.error?.status === 401) auth.expire();
    else status.dataset.tileError = event.error?.message ?? 'error';
  });
  return map;
}

function setPanel(open) {
  $('panel').hidden = !open;
  $('panel-toggle').setAttribute('aria-expanded', String(open));
}

const legendItemHtml = (color, label) => `<li><span class="dot" style="background:${escapeHtml(color)}">`
  + `</span>${escapeHtml(label)}</li>`;

function setupPanel() {
  setPanel(!phone.matches);
  $('panel-toggle').addEventListener('click', () => setPanel($('panel').hidden));
  $('legend').innerHTML = Object.values(FACILITY_KINDS)
    .map(({ label, color }) => legendItemHtml(color, label)).join('');
}

// Once the vocabulary has come with the page's configuration.
function showTicketLegend() {
  $('ticket-legend').innerHTML = Object.entries(STATUS_LABELS)
    .map(([s, label]) => legendItemHtml(statusColour(s), label)).join('');
}

// Returns how to start signing in, for the details popup's 登录 button.
function setupAccount(config, map) {
  const mode = config.signIn.mode;
  const dialog = $('signin-dialog');
  const role = $('signin-role');
  $('signin-button').hidden = mode === 'none';
  if (mode === 'dev') {
    role.innerHTML = config.signIn.roles
      .map((r) => `<option value="${escapeHtml(r)}">${escapeHtml(ROLE_LABELS[r] ?? r)}（${escapeHtml(r)}）</option>`)
      .join('');
    role.value = 'COUNTY_OFFICE';
    role.addEventListener('change', () => { $('signin-scopes').value = SUGGESTED_SCOPES[role.value] ?? ''; });
  }
  const signIn = () => {
    if (mode === 'oidc') auth.startOidc(config.signIn);
    else if (mode === 'dev') {
      $('signin-error').textContent = '';
      dialog.showModal();
    }
  };
  $('signin-button').addEventListener('click', signIn);
  $('signin-cancel').addEventListener('click', () => dialog.close());
  $('signout-button').addEventListener('click', () => {
    auth.signOut();
    notify('已退出登录');
  });
  $('dev-signin').addEventListener('submit', async (event) => {
    event.preventDefault();
    const scopes = $('signin-scopes').value.split(/[\s,，;；]+/).filter(Boolean);
    try {
      await auth.devSignIn({ role: role.value, scopes, sub: $('signin-sub').value.trim() });
      dialog.close();
    } catch (error) {
      $('signin-error').textContent = `登录失败：${error.message}`;
    }
  });
  const show = (s) => {
    $('who').textContent = s ? `${ROLE_LABELS[s.role] ?? s.role} · ${s.sub}` : '';
    $('who').title = s ? `管辖：${s.scopes.join('、') || '全县'}` : '';
    $('signin-button').hidden = Boolean(s) || mode === 'none';
    $('signout-button').hidden = !s;
    document.body.dataset.signedIn = s ? s.role : '';
  };
  show(auth.session());
  auth.onChange((s) => {
    show(s);
    details.closePopup();
    details.clearNearby(map);
    setTicketWindow(map, ticketWindow());
    if (isShown(map, 'heat')) refreshHeat(map);
    if (isShown(map, 'committees')) committees.refresh(map);
    if (isShown(map, 'patrols')) patrols.refresh(map, currentCrs());
  });
  return signIn;
}

// Ticket tiles count the heat map's months for callers with exact counts, and every ticket for
// the others: the server refuses them a period, lest all time minus one month single out a
// report (they count by month on the heat map's hexagons).
function ticketWindow() {
  if (!DISCLOSURE.exactCountRoles.includes(auth.session()?.role ?? 'PUBLIC')) return null;
  const p = heat.period();
  return { from: p.fromDay, to: p.toDay };
}

async function refreshHeat(map) {
  setTicketWindow(map, ticketWindow());
  if (!isShown(map, 'heat')) return;
  try {
    await heat.refresh(map, { bbox: await bounds('WGS84'), crs: currentCrs() });
  } catch (error) {
    $('heat-legend').innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
  }
}

function setupDatum(config, map) {
  const select = $('datum');
  const basemapCrs = config.basemap?.crs;
  select.innerHTML = Object.entries(DATUM_LABELS)
    .map(([crs, label]) => `<option value="${escapeHtml(crs)}">${escapeHtml(label)}</option>`)
    .join('');
  select.value = basemapCrs ?? 'WGS84';
  const note = () => {
    $('datum-note').textContent = !basemapCrs ? '未配置底图：所选坐标系用于对齐外部底图。'
      : select.value === basemapCrs ? `与底图（${basemapCrs}）一致。`
        : `注意：底图为 ${basemapCrs}，图层将与底图错位。`;
  };
  note();
  select.addEventListener('change', async () => {
    const [before, after] = await Promise.all([bounds(currentCrs()), bounds(select.value)]);
    // The datum shift is nearly constant across a county: move the view by it.
    const centre = map.getCenter();
    setCrs(map, select.value);
    details.closePopup();
    details.clearNearby(map);
    map.jumpTo({ center: [centre.lng + (after[0] - before[0]), centre.lat + (after[1] - before[1])] });
    note();
    if (isShown(map, 'heat')) refreshHeat(map);
    if (isShown(map, 'patrols')) patrols.refresh(map, currentCrs());
  });
  // Before the sources exist: they start on the chosen datum.
  setCrs(map, select.value);
}

// A layer's legend shows only while the layer is on.
const LEGENDS = { facilities: 'legend', tickets: 'ticket-legend', heat: 'heat-legend',
  committees: 'committee-legend', patrols: 'patrol-legend' };

function showLegend(box) {
  if (LEGENDS[box.name]) $(LEGENDS[box.name]).hidden = !box.checked;
}

async function showCounts() {
  const data = await graphql(COUNTS_QUERY);
  status.textContent = `${data.communities.length} 个社区 · ${data.compounds.length} 个小区 · `
    + `${data.gridCells.length} 个网格 · ${data.facilities.length} 处设施`;
}

async function main() {
  setupPanel();
  const config = await getJson('/map-config.json');
  useVocabulary(config);
  showTicketLegend();
  await auth.completeOidc(config.signIn.mode === 'oidc' ? config.signIn : null);
  auth.restore();
  const datum = config.basemap?.crs ?? 'WGS84';
  // Each tile layer's first and last zoom, from the server's TileJSON index.
  const zooms = Object.fromEntries((await getJson('/tiles.json')).layers
    .map(({ name, minzoom, maxzoom }) => [name, { minzoom, maxzoom }]));
  const map = createMap(config, await bounds(datum));
  heat.setup(config);
  patrols.setup(config);
  const actions = { openPanel: () => setPanel(true), signIn: () => {} };
  details.setup(map, config, actions);
  setupDatum(config, map);
  setTicketWindow(map, ticketWindow());
  await map.once('load');
  addLayers(map, config.basemap, zooms);
  planner.setup(map, config);
  actions.signIn = setupAccount(config, map);
  for (const box of switcher.elements) {
    applyVisibility(map, box);
    showLegend(box);
  }
  switcher.addEventListener('change', (event) => {
    applyVisibility(map, event.target);
    showLegend(event.target);
    if (event.target.name === 'heat' && event.target.checked) refreshHeat(map);
    if (event.target.name === 'committees' && event.target.checked) committees.refresh(map);
    if (event.target.name === 'patrols' && event.target.checked) patrols.refresh(map, currentCrs());
  });
  $('patrol-week').addEventListener('change', () => patrols.refresh(map, currentCrs()));
  heat.onChange(() => refreshHeat(map));
  map.on('click', (event) => {
    if (!planner.handleClick(map, event)) details.openDetails(map, event, CLICKABLE);
  });
  map.on('mouseenter', CLICKABLE, () => { map.getCanvas().style.cursor = 'pointer'; });
  map.on('mouseleave', CLICKABLE, () => { map.getCanvas().style.cursor = ''; });
  await showCounts();
  map.once('idle', () => { window.redgridReady = true; });
}

main().catch((error) => {
  status.textContent = `地图数据加载失败：${error.message}`;
  status.classList.add('error');
});
