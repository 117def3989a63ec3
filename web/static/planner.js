// The planner panel 规划分析: coverage rings and uncovered compounds per kind and radius,
// suggested sites with their gains, a what-if mode where clicking the map adds a candidate,
// market-fair groups coloured on the map, an area dashboard with charts, and CSV exports.
// Shown to planners, street officers and the county office (the API's callers).

import { graphql, readJson } from './api.js';
import { circle } from './details.js';
import { currentCrs } from './layers.js';
import { authHeaders, onChange, session } from './session.js';
import {
  $, CHANNEL_LABELS, escapeHtml, metres, number,
} from './util.js';

const READERS = new Set(['PLANNER', 'STREET_OFFICER', 'COUNTY_OFFICE']);
const EMPTY = { type: 'FeatureCollection', features: [] };
const GROUP_COLOURS = ['#1b9e77', '#d95f02', '#7570b3', '#e7298a', '#66a61e', '#e6ab02',
  '#a6761d', '#1f78b4', '#b2df8a', '#fb9a99', '#cab2d6', '#ff7f00', '#6a3d9a', '#b15928'];

const Q = {
  coverage: `query ($kind: FacilityKind!, $r: Float!, $w: CoverageWeight, $crs: Crs) {
    coverage(kind: $kind, radiusM: $r, weight: $w) { total covered share
      uncovered(first: 1000) { weight distanceM compound { code name center(crs: $crs) } } }
    facilities(kind: $kind) { code name geometry(crs: $crs) } }`,
  suggest: `query ($kind: FacilityKind!, $n: Int!, $r: Float!, $w: CoverageWeight, $crs: Crs) {
    suggestSites(kind: $kind, count: $n, radiusM: $r, weight: $w) {
      sites { rank gain point(crs: $crs) compound { name } }
      coveredBefore coveredAfter shareAfter optimal gap method solveMs } }`,
  whatIf: `query ($kind: FacilityKind!, $r: Float!, $w: CoverageWeight, $add: [PointInput!]) {
    whatIf(kind: $kind, radiusM: $r, weight: $w, add: $add) {
      before { share covered } after { share covered }
      newlyCovered { weight compound { code name } } } }`,
  groups: `query ($crs: Crs) { marketGroups { number maxDistanceM venue { name }
    communities { code name geometry(crs: $crs) } } }`,
  stats: `query ($level: Level!, $from: Date!, $to: Date!) {
    areaStats(level: $level, from: $from, to: $to) { code name tickets onTimeRate
      meanHandlingHours meanRating monthOnMonth yearOnYear
      channels { key share } topItems { name tickets } months { key tickets } } }`,
};

const state = { added: [] };

const pct = (x) => (x == null ? '—' : `${(x * 100).toFixed(1)}%`);

function params() {
  return { kind: $('plan-kind').value, r: Number($('plan-radius').value), w: $('plan-weight').value,
    crs: currentCrs() };
}

const feature = (geometry, properties = {}) => ({ type: 'Feature', geometry, properties });

function show(map, source, features) {
  map.getSource(source).setData({ type: 'FeatureCollection', features });
}

async function run(box, work) {
  const out = $(box);
  out.dataset.state = 'loading';
  out.textContent = '正在计算…';
  try {
    await work(out);
    out.dataset.state = 'loaded';
  } catch (error) {
    out.dataset.state = 'error';
    out.textContent = `计算失败：${error.message}`;
  }
}

function coverage(map) {
  return run('plan-result', async (out) => {
    const p = params();
    const data = await graphql(Q.coverage, p);
    const c = data.coverage;
    show(map, 'plan-rings', data.facilities.map((f) => feature(
      circle(...f.geometry.coordinates, p.r, 48).geometry, { code: f.code })));
    show(map, 'plan-uncovered', c.uncovered.map((u) => feature(u.compound.center,
      { code: u.compound.code, weight: u.weight })));
    out.dataset.share = String(c.share);
    out.dataset.uncovered = String(c.uncovered.length);
    out.innerHTML = `<p>覆盖 ${number(c.covered)} / ${number(c.total)}（<b>${pct(c.share)}</b>），`
      + `未覆盖小区 ${c.uncovered.length} 个（红点）</p><ol class="plan-list">${c.uncovered
        .slice(0, 10).map((u) => `<li>${escapeHtml(u.compound.name)} · ${number(u.weight)}`
          + ` · 最近 ${u.distanceM == null ? '—' : metres(u.distanceM)}</li>`).join('')}</ol>`;
  });
}

function suggest(map) {
  return run('plan-result', async (out) => {
    const p = params();
    const s = (await graphql(Q.suggest, { ...p, n: Number($('plan-count').value) })).suggestSites;
    show(map, 'plan-sites', s.sites.map((x) => feature(x.point, { rank: x.rank, gain: x.gain })));
    out.dataset.sites = String(s.sites.length);
    out.innerHTML = `<p>新增后覆盖 <b>${pct(s.shareAfter)}</b>（${number(s.coveredBefore)} → `
      + `${number(s.coveredAfter)}），${s.optimal ? '已证明最优' : `与上界差 ${pct(s.gap)}`}，`
      + `${escapeHtml(s.method)}，${Math.round(s.solveMs)} 毫秒</p><ol class="plan-list">${s.sites
        .map((x) => `<li data-gain="${escapeHtml(x.gain)}">${x.compound ? escapeHtml(x.compound.name) : '候选点'}`
          + ` · 增加 ${number(x.gain)}</li>`).join('')}</ol>`;
  });
}

function whatIf(map) {
  return run('plan-result', async (out) => {
    const p = params();
    show(map, 'plan-added', state.added.map((a) => feature(
      { type: 'Point', coordinates: [a.lon, a.lat] })));
    const w = (await graphql(Q.whatIf, { ...p, add: state.added })).whatIf;
    out.dataset.newlyCovered = w.newlyCovered.map((r) => r.compound.code).join(',');
    out.innerHTML = `<p>假设新增 ${state.added.length} 处：覆盖 ${pct(w.before.share)} → `
      + `<b>${pct(w.after.share)}</b>，新覆盖小区 ${w.newlyCovered.length} 个</p>`
      + `<ol class="plan-list">${w.newlyCovered.map((r) => `<li>${escapeHtml(r.compound.name)}`
        + ` · ${number(r.weight)}</li>`).join('')}</ol>`;
  });
}

function groups(map) {
  return run('plan-result', async (out) => {
    const list = (await graphql(Q.groups, { crs: currentCrs() })).marketGroups;
    show(map, 'plan-groups', list.flatMap((g) => g.communities.map((c) => feature(c.geometry,
      { code: c.code, group: g.number,
        colour: GROUP_COLOURS[(g.number - 1) % GROUP_COLOURS.length] }))));
    out.dataset.groups = String(list.length);
    out.innerHTML = `<p>万市大集：${list.length} 组</p><ol class="plan-list">${list.map((g) => `<li>`
      + `<span class="dot" style="background:${GROUP_COLOURS[(g.number - 1) % GROUP_COLOURS.length]}">`
      + `</span>${g.communities.map((c) => escapeHtml(c.name)).join('、')} · 会场 `
      + `${escapeHtml(g.venue?.name ?? '—')}</li>`).join('')}</ol>`;
  });
}

// A horizontal bar chart as inline SVG: [label, value, text] rows, values 0..max.
function barsHtml(rows, max, cls) {
  const h = 16;
  const bodyHtml = rows.map(([label, value, text], i) => {
    const w = max > 0 ? Math.max(0, (value / max) * 150) : 0;
    return `<g class="${escapeHtml(cls)}" transform="translate(0 ${i * h})"><text x="0" y="12">`
      + `${escapeHtml(label)}</text><rect x="80" y="3" width="${w.toFixed(1)}" height="10"></rect>`
      + `<text x="${(84 + w).toFixed(1)}" y="12">${escapeHtml(text)}</text></g>`;
  }).join('');
  return `<svg class="chart" width="280" height="${rows.length * h}" role="img">${bodyHtml}</svg>`;
}

function dashboard() {
  return run('plan-dashboard', async (out) => {
    const rows = (await graphql(Q.stats, { level: $('plan-level').value,
      from: $('plan-from').value, to: $('plan-to').value })).areaStats;
    const total = rows.reduce((n, a) => n + (a.tickets ?? 0), 0);
    const months = new Map();
    const channels = new Map();
    for (const a of rows) {
      for (const m of a.months) months.set(m.key, (months.get(m.key) ?? 0) + (m.tickets ?? 0));
      for (const c of a.channels) {
        channels.set(c.key, (channels.get(c.key) ?? 0) + (c.share ?? 0) * (a.tickets ?? 0));
      }
    }
    const monthRows = [...months.entries()].sort().map(([k, v]) => [k, v, number(v)]);
    const channelRows = [...channels.entries()].sort((a, b) => b[1] - a[1])
      .map(([k, v]) => [CHANNEL_LABELS[k] ?? k, v / (total || 1), pct(v / (total || 1))]);
    const onTime = rows.filter((a) => a.onTimeRate != null).map((a) => [a.name, a.onTimeRate,
      pct(a.onTimeRate)]);
    out.dataset.months = String(monthRows.length);
    out.dataset.total = String(total);
    out.innerHTML = `<h3>工单量（按月，共 ${number(total)} 件）</h3>${barsHtml(monthRows,
      Math.max(...monthRows.map((r) => r[1]), 0), 'bar-month')}`
      + `<h3>按期办结率</h3>${barsHtml(onTime, 1, 'bar-ontime')}`
      + `<h3>渠道占比</h3>${barsHtml(channelRows, 1, 'bar-channel')}`;
  });
}

async function download(path, name) {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) await readJson(response); // throws the error envelope's message
  const url = URL.createObjectURL(await response.blob());
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function exportCsv(which) {
  const p = params();
  const q = {
    coverage: `kind=${p.kind}&radiusM=${p.r}&weight=${p.w}`,
    suggestions: `kind=${p.kind}&radiusM=${p.r}&weight=${p.w}&count=${$('plan-count').value}`,
    'area-stats': `level=${$('plan-level').value}&from=${$('plan-from').value}&to=${$('plan-to').value}`,
  }[which];
  return download(`/exports/${which}.csv?${q}`, `${which}.csv`)
    .catch((error) => { $('plan-result').textContent = `导出失败：${error.message}`; });
}

const isoDay = (d) => d.toISOString().slice(0, 10);

// The dashboard's default period: the 6 whole months ending with the last whole month of the
// data (`lastDay`, YYYY-MM-DD, from /map-config.json), so a demo seeded today opens on its own
// months. Null when the data has no day.
export function defaultPeriod(lastDay) {
  if (!lastDay) return null;
  const [year, month, day] = lastDay.split('-').map(Number);
  const whole = day === new Date(Date.UTC(year, month, 0)).getUTCDate();
  const last = whole ? month : month - 1; // 1-based; 0 is December of the year before
  return { from: isoDay(new Date(Date.UTC(year, last - 6, 1))),
    to: isoDay(new Date(Date.UTC(year, last, 0))) };
}

// In what-if mode a click on the map adds a candidate point (in the map's datum) and returns
// true; otherwise the click is left to the feature details.
export function handleClick(map, event) {
  if (!$('plan-whatif').checked || $('planner').hidden) return false;
  state.added.push({ lon: event.lngLat.lng, lat: event.lngLat.lat, crs: currentCrs() });
  whatIf(map);
  return true;
}

function addLayers(map) {
  for (const id of ['plan-rings', 'plan-uncovered', 'plan-sites', 'plan-added', 'plan-groups']) {
    map.addSource(id, { type: 'geojson', data: EMPTY });
  }
  map.addLayer({ id: 'plan-groups-fill', type: 'fill', source: 'plan-groups',
    paint: { 'fill-color': ['get', 'colour'], 'fill-opacity': 0.45 } });
  map.addLayer({ id: 'plan-rings-fill', type: 'fill', source: 'plan-rings',
    paint: { 'fill-color': '#2b8cbe', 'fill-opacity': 0.12 } });
  map.addLayer({ id: 'plan-rings-line', type: 'line', source: 'plan-rings',
    paint: { 'line-color': '#2b8cbe', 'line-width': 1 } });
  map.addLayer({ id: 'plan-uncovered-circle', type: 'circle', source: 'plan-uncovered',
    paint: { 'circle-color': '#d7301f', 'circle-radius': 5, 'circle-stroke-color': '#fff',
      'circle-stroke-width': 1 } });
  map.addLayer({ id: 'plan-sites-circle', type: 'circle', source: 'plan-sites',
    paint: { 'circle-color': '#238b45', 'circle-radius': 8, 'circle-stroke-color': '#fff',
      'circle-stroke-width': 2 } });
  map.addLayer({ id: 'plan-added-circle', type: 'circle', source: 'plan-added',
    paint: { 'circle-color': '#6a51a3', 'circle-radius': 7, 'circle-stroke-color': '#fff',
      'circle-stroke-width': 2 } });
}

function clear(map) {
  state.added = [];
  for (const id of ['plan-rings', 'plan-uncovered', 'plan-sites', 'plan-added', 'plan-groups']) {
    map.getSource(id)?.setData(EMPTY);
  }
  $('plan-result').textContent = '';
  $('plan-dashboard').textContent = '';
}

export function setup(map, config) {
  addLayers(map);
  const period = defaultPeriod(config.lastDay);
  if (period) {
    $('plan-from').value = period.from;
    $('plan-to').value = period.to;
  }
  const visible = (s) => {
    $('planner').hidden = !(s && READERS.has(s.role));
    if ($('planner').hidden) clear(map);
  };
  visible(session());
  onChange(visible);
  for (const button of document.querySelectorAll('#planner [data-preset]')) {
    button.addEventListener('click', () => { $('plan-radius').value = button.dataset.preset; });
  }
  $('plan-coverage').addEventListener('click', () => coverage(map));
  $('plan-suggest').addEventListener('click', () => suggest(map));
  $('plan-market').addEventListener('click', () => groups(map));
  $('plan-stats').addEventListener('click', () => dashboard());
  $('plan-clear').addEventListener('click', () => clear(map));
  $('plan-whatif').addEventListener('change', () => {
    state.added = [];
    map.getSource('plan-added').setData(EMPTY);
  });
  for (const button of document.querySelectorAll('#planner [data-export]')) {
    button.addEventListener('click', () => exportCsv(button.dataset.export));
  }
}
