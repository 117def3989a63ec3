// The heat map 民情气象图: tickets per cell over a month or a window of months, by category,
// coloured by count or by hot/cold-spot class, with its legend. A window of several months, a
// category and grid cells are for callers with exact counts (planners, the county office).

import { getJson } from './api.js';
import { onChange as onSessionChange, session } from './session.js';
import {
  $, DISCLOSURE, TIME_ZONE, escapeHtml, number, withheldLabel,
} from './util.js';

const COUNT_COLOURS = ['#ffffb2', '#fecc5c', '#fd8d3c', '#f03b20', '#bd0026'];
const ZERO_COLOUR = '#f7f4ee';
const WITHHELD_COLOUR = '#bdbdbd';
const HOTSPOTS = [
  ['HOT_99', '#b2182b', '热点（99% 置信）'],
  ['HOT_95', '#ef8a62', '热点（95%）'],
  ['HOT_90', '#fddbc7', '热点（90%）'],
  ['NOT_SIGNIFICANT', '#f2f2f2', '不显著'],
  ['COLD_90', '#d1e5f0', '冷点（90%）'],
  ['COLD_95', '#67a9cf', '冷点（95%）'],
  ['COLD_99', '#2166ac', '冷点（99% 置信）'],
];
const HOTSPOT_COLOURS = Object.fromEntries(HOTSPOTS.map(([k, c]) => [k, c]));

const controls = {
  month: $('heat-month'),
  window: $('heat-window'),
  category: $('heat-category'),
  resolution: $('heat-resolution'),
  colour: $('heat-colour'),
};

let months = [];
let latest = 0;
// Whether the resolution was picked by hand; until then it follows the caller's default.
let resolutionPicked = false;

const monthStart = (month) => `${month}-01T00:00:00${TIME_ZONE.utcOffset}`;

function addMonths(month, n) {
  const [y, m] = month.split('-').map(Number);
  const index = y * 12 + (m - 1) + n;
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

// The chosen period: the first month, how many months, and its [from, to) bounds.
export function period() {
  const size = Number(controls.window.value);
  controls.month.max = String(months.length - size);
  const first = months[Math.min(Number(controls.month.value), months.length - size)];
  const last = addMonths(first, size - 1);
  const after = addMonths(first, size);
  // Tile filters take whole days with `to` included: the last day of the last month.
  const [year, month] = after.split('-').map(Number);
  const lastDay = new Date(Date.UTC(year, month - 1, 0)).toISOString().slice(0, 10);
  return { first, last, from: monthStart(first), to: monthStart(after),
    fromDay: `${first}-01`, toDay: lastDay };
}

// Callers without exact counts (the public, residents, staff) see one month, every category
// and H3_8 hexagons only: the server refuses them more, lest two answers differ by a single
// report (ticket tiles count every ticket per grid cell for them, and an H3_8 hexagon's month
// minus its H3_9 children's would give a withheld child's count). Callers with exact counts
// start on grid cells, the server's default for them.
const PUBLIC_RESOLUTION = 'H3_8';

function useCaller(current) {
  const exact = DISCLOSURE.exactCountRoles.includes(current?.role ?? 'PUBLIC');
  if (!exact) {
    controls.window.value = '1';
    controls.category.value = '';
    controls.resolution.value = PUBLIC_RESOLUTION;
  } else if (!resolutionPicked) {
    controls.resolution.value = 'GRID_CELL';
  }
  controls.window.disabled = !exact;
  controls.category.disabled = !exact;
  controls.category.closest('label').hidden = !exact;
  for (const option of controls.resolution.options) {
    const offered = exact || option.value === PUBLIC_RESOLUTION;
    option.disabled = !offered;
    option.hidden = !offered;
  }
}

export function setup(config) {
  months = config.months;
  controls.month.min = '0';
  controls.month.value = String(months.length - 1);
  controls.category.innerHTML = '<option value="">全部类别</option>' + config.categories
    .map((c) => `<option value="${escapeHtml(c.code)}">${escapeHtml(c.code)} ${escapeHtml(c.name)}</option>`)
    .join('');
  controls.resolution.addEventListener('change', () => { resolutionPicked = true; });
  // Registered before the page's own listener, which redraws the heat map.
  onSessionChange(useCaller);
  useCaller(session());
  showPeriod();
}

function showPeriod() {
  const p = period();
  $('heat-period').textContent = p.first === p.last ? p.first : `${p.first} 至 ${p.last}`;
}

// Class breaks from the data: quantiles of the non-zero counts, so a month and a year both
// spread over the five colours.
function breaksOf(counts) {
  const sorted = counts.filter((c) => c > 0).sort((a, b) => a - b);
  if (!sorted.length) return [];
  const breaks = [];
  for (const q of [0.2, 0.4, 0.6, 0.8]) {
    const value = sorted[Math.floor(q * (sorted.length - 1))];
    if (value > (breaks.at(-1) ?? 0)) breaks.push(value);
  }
  return breaks;
}

function countColour(count, breaks) {
  let i = 0;
  while (i < breaks.length && count > breaks[i]) i++;
  return COUNT_COLOURS[Math.min(i, COUNT_COLOURS.length - 1)];
}

function colourFeatures(collection, mode) {
  const counts = collection.features.map((f) => f.properties.count ?? 0);
  const breaks = breaksOf(counts);
  for (const { properties: p } of collection.features) {
    if (mode === 'hotspot') p.fill = HOTSPOT_COLOURS[p.hotspot] ?? WITHHELD_COLOUR;
    else if (p.withheld) p.fill = WITHHELD_COLOUR;
    else p.fill = p.count > 0 ? countColour(p.count, breaks) : ZERO_COLOUR;
  }
  return breaks;
}

function legendHtml(collection, mode, breaks) {
  const rows = [];
  if (mode === 'hotspot') {
    for (const [, colour, label] of HOTSPOTS) rows.push([colour, label]);
    rows.push([WITHHELD_COLOUR, '样本不足，不作判断']);
  } else {
    // Where zeros are withheld (public counts), no cell is drawn as 0: no such class.
    if (collection.exact) rows.push([ZERO_COLOUR, '0 件']);
    const positive = collection.features.map((f) => f.properties.count ?? 0).filter((c) => c > 0);
    let low = Math.min(...positive);
    breaks.forEach((b, i) => {
      rows.push([COUNT_COLOURS[i], low === b ? `${b} 件` : `${low}–${b} 件`]);
      low = b + 1;
    });
    if (breaks.length) rows.push([COUNT_COLOURS[breaks.length], `${low} 件以上`]);
    if (collection.features.some((f) => f.properties.withheld)) {
      rows.push([WITHHELD_COLOUR, withheldLabel()]);
    }
  }
  const total = collection.features.reduce((sum, f) => sum + (f.properties.count ?? 0), 0);
  const note = collection.exact ? ''
    : `（公开数据：少于 ${DISCLOSURE.withheldUnder} 件的单元不显示数量）`;
  return `<p class="heat-total">合计 ${number(total)} 件工单${escapeHtml(note)}</p><ul>${rows
    .map(([c, l]) => `<li><span class="swatch" style="background:${escapeHtml(c)}"></span>${escapeHtml(l)}</li>`)
    .join('')}</ul>`;
}

// Fetches the cells for the chosen period and filters and draws them; the newest call wins.
export async function refresh(map, { bbox, crs }) {
  showPeriod();
  const p = period();
  const call = ++latest;
  const params = new URLSearchParams({ bbox: bbox.join(','), from: p.from, to: p.to,
    resolution: controls.resolution.value, crs });
  if (controls.category.value) params.set('categoryCode', controls.category.value);
  const box = $('heat-controls');
  box.dataset.loading = 'true';
  const collection = await getJson(`/heatmap.geojson?${params}`, { signed: true });
  if (call !== latest) return;
  const mode = controls.colour.value;
  const breaks = colourFeatures(collection, mode);
  map.getSource('heat').setData(collection);
  $('heat-legend').innerHTML = legendHtml(collection, mode, breaks);
  map.once('idle', () => {
    if (call !== latest) return;
    box.dataset.loaded = [p.first, p.last, controls.category.value || 'ALL',
      controls.resolution.value, mode, crs].join('|');
    delete box.dataset.loading;
  });
  map.triggerRepaint();
}

export function onChange(listener) {
  for (const control of Object.values(controls)) {
    control.addEventListener(control.type === 'range' ? 'input' : 'change', listener);
  }
}
