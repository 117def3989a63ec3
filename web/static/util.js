// Small helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

export const escapeHtml = (text) => String(text).replace(/[&<>"']/g,
  (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

export const number = (n) => (n == null ? '—' : Number(n).toLocaleString('zh-CN'));

export const metres = (m) => `${Math.round(m).toLocaleString('zh-CN')} 米`;

// An ISO 8601 time -> "2024-03-05 10:00" in the county's time (TIME_ZONE), whatever the
// browser's zone.
export function beijingTime(iso) {
  if (!iso) return '—';
  const shifted = new Date(new Date(iso).getTime() + offsetMs(TIME_ZONE.utcOffset));
  return shifted.toISOString().slice(0, 16).replace('T', ' ');
}

// An offset "±hh:mm" -> milliseconds.
function offsetMs(offset) {
  const [, sign, hours, minutes] = /^([+-])(\d\d):(\d\d)$/.exec(offset);
  return (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes)) * 60_000;
}

export const ROLE_LABELS = {
  RESIDENT: '居民',
  GRID_WORKER: '网格员',
  SUPERVISOR: '小区监督员',
  COMMUNITY_STAFF: '社区工作人员',
  ZONE_OFFICER: '片区干部',
  STREET_OFFICER: '街道干部',
  COUNTY_OFFICE: '县级主管部门',
  PLANNER: '规划人员',
  UNIT: '责任单位',
};

// The ticket vocabulary (statuses, the open ones, levels, channels, with their Chinese labels),
// the time zone days are counted in and the disclosure threshold come from the server's
// /map-config.json: `useVocabulary` fills these once it is loaded.
export const STATUS_LABELS = {};
export const OPEN_STATUSES = [];
export const LEVEL_LABELS = {};
export const CHANNEL_LABELS = {};
export const DISCLOSURE = { withheldUnder: null, exactCountRoles: [] };
export const TIME_ZONE = { name: null, utcOffset: null };  // IANA name, "±hh:mm"
// A status's colour on the map, by its place in the vocabulary; one the palette has no colour
// for (a status added later) is drawn grey rather than not at all.
export const STATUS_COLOURS = {};
const STATUS_PALETTE = ['#e31a1c', '#ff7f00', '#d4a017', '#33a02c', '#8c8c8c', '#6a3d9a',
  '#1f78b4', '#b15928'];
export const OTHER_STATUS_COLOUR = '#636363';

export const statusColour = (status) => STATUS_COLOURS[status] ?? OTHER_STATUS_COLOUR;

export function useVocabulary(config) {
  Object.assign(STATUS_LABELS, config.statuses);
  Object.keys(config.statuses).forEach((status, i) => {
    STATUS_COLOURS[status] = STATUS_PALETTE[i] ?? OTHER_STATUS_COLOUR;
  });
  OPEN_STATUSES.splice(0, OPEN_STATUSES.length, ...config.openStatuses);
  Object.assign(LEVEL_LABELS, config.levels);
  Object.assign(CHANNEL_LABELS, config.channels);
  DISCLOSURE.withheldUnder = config.withheldUnder;
  DISCLOSURE.exactCountRoles = config.exactCountRoles;
  Object.assign(TIME_ZONE, config.timeZone);
}

export const withheldLabel = () => `少于 ${DISCLOSURE.withheldUnder} 件（不公开）`;

export const FACILITY_KINDS = {
  STATION: { label: '驿站', color: '#c0392b' },
  CLINIC: { label: '诊疗点', color: '#1f78b4' },
  CANTEEN: { label: '幸福食堂', color: '#e67e22' },
  SERVICE_ROOM: { label: '社服用房', color: '#7b3fa0' },
};

export const DATUM_LABELS = {
  WGS84: 'WGS-84（天地图、OSM）',
  GCJ02: 'GCJ-02（高德、腾讯）',
  BD09: 'BD-09（百度）',
};

// A short message over the map, e.g. why the user was signed out.
export function notify(text, kind = 'info') {
  const box = $('message');
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => { box.hidden = true; }, 8000);
}
