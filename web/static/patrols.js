// Patrol coverage 巡查覆盖: each grid cell coloured by its patrol visits in the chosen week, a
// cell nobody walked in red; from the GraphQL layer PATROL_COVERAGE, for staff and planners
// (as patrolCoverage), over the cells of their scope.

import { graphql } from './api.js';
import { readsStaffLayers } from './session.js';
import { $, TIME_ZONE, escapeHtml, number } from './util.js';

const QUERY = `query ($week: Date, $crs: Crs) {
  layer(name: PATROL_COVERAGE, weekOf: $week, crs: $crs) }`;
const WEEKS = 8;
// Visits in the week, least first: [at least, colour, label].
export const PATROL_CLASSES = [
  [0, '#d7301f', '0 次（未巡查）'],
  [1, '#c7e9c0', '1 次'],
  [2, '#74c476', '2–3 次'],
  [4, '#238b45', '4 次及以上'],
];
const EMPTY = { type: 'FeatureCollection', features: [] };
// Only the latest request draws: an earlier week's answer arriving late is dropped.
let latest = 0;

const day = (d) => d.toISOString().slice(0, 10);
const shortDay = (iso) => `${Number(iso.slice(5, 7))}月${Number(iso.slice(8, 10))}日`;

function classOf(visits) {
  return PATROL_CLASSES.filter(([least]) => visits >= least).pop();
}

// Today in Beijing time, or the last day of the data when it ends before this month (a demo
// seeded as of another day): the week picker's "this week".
function referenceDay(months) {
  const today = new Intl.DateTimeFormat('en-CA', { timeZone: TIME_ZONE.name }).format(new Date());
  const last = months[months.length - 1];
  if (!last || today.slice(0, 7) <= last) return today;
  const [year, month] = last.split('-').map(Number);
  return day(new Date(Date.UTC(year, month, 0)));
}

// Fills the week picker: this week, last week, then the Mondays of the weeks before.
export function setup(config) {
  const ref = new Date(`${referenceDay(config.months ?? [])}T00:00:00Z`);
  const monday = new Date(ref.getTime() - ((ref.getUTCDay() + 6) % 7) * 86_400_000);
  const optionsHtml = [];
  for (let n = 0; n < WEEKS; n++) {
    const start = day(new Date(monday.getTime() - n * 7 * 86_400_000));
    const name = n === 0 ? '本周' : n === 1 ? '上周' : `${n} 周前`;
    optionsHtml.push(`<option value="${escapeHtml(start)}">${escapeHtml(name)}（${shortDay(start)}起）</option>`);
  }
  $('patrol-week').innerHTML = optionsHtml.join('');
}

function legend(box, features, weekStart) {
  const counts = PATROL_CLASSES.map(() => 0);
  for (const f of features) counts[PATROL_CLASSES.indexOf(classOf(f.properties.visits))]++;
  const itemsHtml = PATROL_CLASSES.map(([, colour, label], i) => `<li><span class="dot" `
    + `style="background:${escapeHtml(colour)}"></span>${escapeHtml(label)}：${number(counts[i])} 个网格</li>`).join('');
  const walked = features.length - counts[0];
  box.innerHTML = `<p>${escapeHtml(shortDay(weekStart))}起一周：${number(walked)} / ${number(features.length)} `
    + `个网格有巡查</p><ul>${itemsHtml}</ul>`;
}

// Called when the layer is switched on, the week or the datum changes, or who is signed in.
export async function refresh(map, crs) {
  const asked = ++latest;
  const box = $('patrol-result');
  const source = map.getSource('patrols');
  source.setData(EMPTY);
  if (!readsStaffLayers(box)) return;
  const week = $('patrol-week').value;
  try {
    const layer = (await graphql(QUERY, { week, crs })).layer;
    if (asked !== latest) return;
    for (const f of layer.features) {
      const [, fill] = classOf(f.properties.visits);
      f.properties.fill = fill;
    }
    source.setData(layer);
    legend(box, layer.features, layer.features[0]?.properties.week_start ?? week);
    box.dataset.state = 'loaded';
    box.dataset.week = week;
  } catch (error) {
    if (asked !== latest) return;
    box.innerHTML = `<p class="error">${escapeHtml(error.message)}</p>`;
    box.dataset.state = 'error';
  }
}
