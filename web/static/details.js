// Clicking the map: the clicked feature's details from GraphQL, and the open tickets near the
// clicked point (附近待办工单) for signed-in staff.

import { ApiError, graphql } from './api.js';
import { currentCrs } from './layers.js';
import { session } from './session.js';
import {
  $, FACILITY_KINDS, LEVEL_LABELS, OPEN_STATUSES, ROLE_LABELS, STATUS_LABELS, beijingTime,
  escapeHtml, metres, number, withheldLabel,
} from './util.js';

const NEARBY_RADIUS_M = 500;
const PARENTS = 'community { code name zone { name } street { name } }';

// One record by its code for each card: never a whole list to pick one from.
const QUERIES = {
  community: `query ($code: String!) { community(code: $code) {
    code name households population zone { name } street { name } } }`,
  compound: `query ($code: String!) { compound(code: $code) {
    code name households population ${PARENTS} } }`,
  gridCell: `query ($code: String!) { gridCell(code: $code) {
    code households ${PARENTS} } }`,
  building: `query ($code: String!) { building(code: $code) {
    code floors households head { name } gridCell { code } compound { name ${PARENTS} } } }`,
  facility: `query ($code: String!) { facility(code: $code) {
    code name kind subtype ${PARENTS} } }`,
  zone: `query ($code: String!) { zone(code: $code) {
    code name secretaryName street { name } communities { code } } }`,
  ticket: `query ($code: String!) { ticket(code: $code) {
    code status level itemCode createdAt dueAt gridCell { code } compound { name }
    community { name } responsibleUnit { name } cooperatingUnits { name } } }`,
  nearby: `query ($point: PointInput!, $radius: Float!, $status: [TicketStatus!], $crs: Crs!) {
    nearbyTickets(point: $point, radiusM: $radius, status: $status, first: 50) {
      distanceM ticket { code status itemCode dueAt geometry(crs: $crs)
        compound { name } community { name } } } }`,
};

const HOTSPOT_LABELS = {
  HOT_99: '热点（99%）', HOT_95: '热点（95%）', HOT_90: '热点（90%）', NOT_SIGNIFICANT: '不显著',
  COLD_90: '冷点（90%）', COLD_95: '冷点（95%）', COLD_99: '冷点（99%）',
};

let catalogue = { items: {} };
let popup = null;
let lastHits = [];
// What the page does for this module: set by `setup`.
let page = { openPanel: () => {}, signIn: () => {} };

const itemName = (code) => (catalogue.items[code] ? `${catalogue.items[code].name}（${code}）` : code);
const signed = (n) => (n == null ? '—' : n > 0 ? `+${n}` : String(n));
const parents = (c) => [['所属社区', c.name], ['片区', c.zone?.name], ['街道', c.street?.name]];

async function one(field, code) {
  const row = (await graphql(QUERIES[field], { code }))[field];
  if (!row) throw new ApiError(`${code} 未找到`, 'NOT_FOUND');
  return row;
}

// Each card loader returns [title, [[label, value], ...]] for one clicked feature.
const CARDS = {
  'communities-fill': async (p) => {
    const c = await one('community', p.code);
    return [c.name, [['编码', c.code], ['户数', number(c.households)],
      ['人口', number(c.population)], ['片区', c.zone.name], ['街道', c.street.name]]];
  },
  'compounds-fill': async (p) => {
    const c = await one('compound', p.code);
    return [c.name, [['编码', c.code], ['户数', number(c.households)],
      ['人口', number(c.population)], ...parents(c.community)]];
  },
  'buildings-fill': async (p) => {
    const b = await one('building', p.code);
    return ['楼栋', [['编码', b.code], ['楼层', b.floors], ['户数', number(b.households)],
      ['楼栋长', b.head?.name ?? (session() ? null : '登录后可见')], ['小区', b.compound.name],
      ['网格', b.gridCell.code], ...parents(b.compound.community)]];
  },
  'grid-cells-hit': async (p) => {
    const c = await one('gridCell', p.code);
    return ['网格', [['编码', c.code], ['户数', number(c.households)], ...parents(c.community)]];
  },
  'facilities-circle': async (p) => {
    const f = await one('facility', p.code);
    return [f.name, [['类型', FACILITY_KINDS[f.kind]?.label ?? f.kind], ['细类', f.subtype],
      ['编码', f.code], ...parents(f.community)]];
  },
  'zones-fill': async (p) => {
    const z = await one('zone', p.code);
    return [z.name, [['编码', z.code], ['片区书记', z.secretaryName], ['街道', z.street.name],
      ['社区数', z.communities.length]]];
  },
  'tickets-cells': async (p) => ['网格工单', [['网格', p.cell_code], ['工单数', number(p.count)],
    ['说明', '放大到 15 级以上可见单个工单']]],
  'tickets-points': async (p) => {
    if (!p.precise) {
      return ['工单', [['位置', '100 米方格'], ['工单数', number(p.count)],
        ['说明', session() ? '不在您的管辖范围内，仅显示方格内的工单数' : '登录后可查看详情']]];
    }
    const t = (await graphql(QUERIES.ticket, { code: p.code })).ticket;
    return ['工单', [['编码', t.code], ['状态', STATUS_LABELS[t.status] ?? t.status],
      ['事项', itemName(t.itemCode)], ['层级', LEVEL_LABELS[t.level] ?? t.level],
      ['受理时间', beijingTime(t.createdAt)], ['办理时限', beijingTime(t.dueAt)],
      ['牵头单位', t.responsibleUnit?.name],
      ['配合单位', t.cooperatingUnits.map((u) => u.name).join('、')], ['小区', t.compound?.name],
      ['社区', t.community.name], ['网格', t.gridCell.code]]];
  },
  'heat-fill': async (p) => ['民情气象', [['单元', p.id],
    ['工单数', p.withheld ? withheldLabel() : number(p.count)],
    ['较上期', signed(p.changeFromPrevious)], ['较去年同期', signed(p.changeFromLastYear)],
    ['冷热点', HOTSPOT_LABELS[p.hotspot] ?? '—']]],
};

function cardHtml(title, rows) {
  const cellsHtml = rows.filter(([, value]) => value != null && value !== '')
    .map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
    .join('');
  return `<h2>${escapeHtml(title)}</h2><dl>${cellsHtml}</dl>`;
}

function nearbyActionHtml() {
  const s = session();
  if (!s) {
    return '<p class="signin-prompt">登录后可查看附近待办工单 '
      + '<button type="button" data-action="signin">登录</button></p>';
  }
  if (s.role === 'PLANNER') return '<p class="signin-prompt">规划人员仅可查看汇总数据</p>';
  return `<button type="button" class="nearby-button" data-action="nearby">附近待办工单（${NEARBY_RADIUS_M} 米内）</button>`;
}

async function fillCard(box, loader, properties) {
  try {
    const [title, rows] = await loader(properties);
    box.innerHTML = cardHtml(title, rows);
    box.dataset.state = 'loaded';
  } catch (error) {
    box.innerHTML = `<p class="error">详情加载失败：${escapeHtml(error.message)}</p>`;
    box.dataset.state = 'error';
  }
}

// The card of one feature of a clickable layer, as its popup shows it.
export async function cardOf(layer, properties) {
  return cardHtml(...await CARDS[layer](properties));
}

export function openDetails(map, event, clickable) {
  const layers = clickable.filter((id) => map.getLayer(id)
    && map.getLayoutProperty(id, 'visibility') !== 'none');
  const [top] = map.queryRenderedFeatures(event.point, { layers });
  const root = document.createElement('div');
  const card = document.createElement('div');
  card.className = 'card';
  const action = document.createElement('div');
  action.className = 'nearby-action';
  action.innerHTML = nearbyActionHtml();
  root.append(card, action);
  const point = { lon: event.lngLat.lng, lat: event.lngLat.lat, crs: currentCrs() };
  action.addEventListener('click', (e) => {
    const what = e.target.closest('button')?.dataset.action;
    if (what === 'signin') page.signIn();
    if (what === 'nearby') showNearby(map, point);
  });
  if (top) {
    card.dataset.state = 'loading';
    card.dataset.layer = top.layer.id;
    card.innerHTML = '<p>正在查询…</p>';
    fillCard(card, CARDS[top.layer.id], top.properties);
  } else {
    card.dataset.state = 'loaded';
    card.innerHTML = cardHtml('所选位置', [['经度', point.lon.toFixed(6)],
      ['纬度', point.lat.toFixed(6)], ['坐标系', point.crs]]);
  }
  popup?.remove();
  popup = new maplibregl.Popup({ className: 'redgrid-popup', maxWidth: '280px' })
    .setLngLat(event.lngLat).setDOMContent(root).addTo(map);
}

// A polygon of `radius` metres around a point, in the map's degrees, from the WGS-84
// ellipsoid's radii of curvature at the point (within 0.1% of the geodesic radius up to a few
// kilometres, in whichever datum the map is drawn).
export function circle(lon, lat, radius, steps = 64) {
  const a = 6378137;
  const e2 = 0.00669437999014;
  const phi = (lat * Math.PI) / 180;
  const w = 1 - e2 * Math.sin(phi) ** 2;
  const meridian = (a * (1 - e2)) / w ** 1.5; // metres per radian of latitude
  const normal = a / Math.sqrt(w); // the prime vertical: per radian of longitude × cos(lat)
  const dLat = ((radius / meridian) * 180) / Math.PI;
  const dLon = ((radius / (normal * Math.cos(phi))) * 180) / Math.PI;
  const ring = Array.from({ length: steps + 1 }, (_, i) => {
    const a = (2 * Math.PI * i) / steps;
    return [lon + dLon * Math.cos(a), lat + dLat * Math.sin(a)];
  });
  return { type: 'Feature', geometry: { type: 'Polygon', coordinates: [ring] }, properties: {} };
}

export function clearNearby(map) {
  map.getSource('nearby')?.setData({ type: 'FeatureCollection', features: [] });
  $('nearby').hidden = true;
  $('nearby-list').innerHTML = '';
  lastHits = [];
}

async function showNearby(map, point) {
  const section = $('nearby');
  const list = $('nearby-list');
  const summary = $('nearby-summary');
  section.hidden = false;
  section.dataset.state = 'loading';
  list.innerHTML = '';
  summary.textContent = '正在查询…';
  page.openPanel();
  section.scrollIntoView({ block: 'nearest' });
  let hits;
  try {
    hits = (await graphql(QUERIES.nearby, { point, radius: NEARBY_RADIUS_M, status: OPEN_STATUSES,
      crs: point.crs })).nearbyTickets;
  } catch (error) {
    summary.textContent = error.code === 'FORBIDDEN'
      ? '您的角色无权查看工单位置' : `查询失败：${error.message}`;
    section.dataset.state = 'error';
    return;
  }
  const who = ROLE_LABELS[session()?.role] ?? '';
  const statusLabelHtml = (t) => escapeHtml(STATUS_LABELS[t.status] ?? t.status);
  summary.textContent = `${NEARBY_RADIUS_M} 米内共 ${hits.length} 件待办工单（${who}可见范围，按距离排序）`;
  list.innerHTML = hits.map(({ distanceM, ticket: t }) => `
    <li data-distance="${Number(distanceM)}" data-code="${escapeHtml(t.code)}">
      <span class="distance">${metres(distanceM)}</span>
      <span class="what">${escapeHtml(itemName(t.itemCode))}</span>
      <span class="meta">${escapeHtml(t.code)} · ${statusLabelHtml(t)}
        · 时限 ${beijingTime(t.dueAt)}${t.compound ? ` · ${escapeHtml(t.compound.name)}` : ''}</span>
    </li>`).join('');
  const features = [circle(point.lon, point.lat, NEARBY_RADIUS_M), ...hits.map(({ ticket: t }) => (
    { type: 'Feature', geometry: t.geometry, properties: { code: t.code } }))];
  lastHits = hits;
  map.getSource('nearby').setData({ type: 'FeatureCollection', features });
  section.dataset.state = 'loaded';
}

// `actions`: how to open the side panel and how to start signing in.
export function setup(map, config, actions) {
  catalogue = config;
  page = actions;
  $('nearby-list').addEventListener('click', (event) => {
    const code = event.target.closest('li')?.dataset.code;
    const hit = lastHits.find(({ ticket }) => ticket.code === code);
    if (hit) map.flyTo({ center: hit.ticket.geometry.coordinates, zoom: Math.max(map.getZoom(), 16) });
  });
}

export const closePopup = () => { popup?.remove(); popup = null; };
