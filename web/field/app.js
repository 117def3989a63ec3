// The grid worker's phone app: sign in, my cells' tickets nearest first, a ticket's card with
// the moves the caller's role may make, and reporting a problem. Everything read is kept in
// IndexedDB for reading offline; everything written goes through the queue (queue.js).

import { getJson, graphql } from '/static/api.js';
import * as auth from '/static/session.js';
import {
  $, beijingTime, escapeHtml, metres, notify, ROLE_LABELS, STATUS_LABELS, statusColour,
  useVocabulary,
} from '/static/util.js';
import { drawThumbnails, Picker } from './photos.js';
import * as push from './push.js';
import * as queue from './queue.js';
import * as store from './store.js';

const RADIUS_M = 5000;
const LISTED_AT_MOST = 100;
const POSITION_TIMEOUT_MS = 8000;
const MOVE_LABELS = {
  DISPATCH: '受理派单', START: '开始处理', RESOLVE: '办结', CLOSE: '现场核验通过', REOPEN: '重新派单',
};
const TICKET_FIELDS = `code status version itemCode itemName description createdAt dueAt
  gridCell { code } compound { name } events { at action fromStatus toStatus note }`;
const NEARBY = `query ($point: PointInput!, $radius: Float!, $status: [TicketStatus!], $first: Int) {
  nearbyTickets(point: $point, radiusM: $radius, status: $status, first: $first) {
    distanceM ticket { ${TICKET_FIELDS} } } }`;
const PLACE_QUERIES = [
  [/^\d{15}$/, 'query ($code: String!) { place: gridCell(code: $code) { code geometry } }'],
  [/^\d{12}$/, 'query ($code: String!) { place: community(code: $code) { code name geometry } }'],
  [/./, 'query ($code: String!) { place: compound(code: $code) { code name geometry: center } }'],
];

const state = {
  mapConfig: null, fieldConfig: null, items: [], chosen: null, hits: [], ticket: null,
  reportPhotos: null, movePhotos: null,  // the photo pickers of the report form and the card
};

// A queued write's label, with how many photos go with it.
const withPhotos = (label, photos) => (photos.length ? `${label}（${photos.length} 张照片）` : label);

// A JSON document from the network, else the copy kept from the last time it was read.
async function kept(url, key) {
  try {
    const value = await getJson(url);
    await store.keep(key, value);
    return value;
  } catch (error) {
    const row = await store.cached(key);
    if (row) return row.value;
    throw error;
  }
}

const userKey = (name) => `${name}:${auth.session()?.sub ?? ''}`;
const offlineError = (error) => error instanceof TypeError || !navigator.onLine;

// --- Position ---------------------------------------------------------------------------

// The datum the phone's coordinates are taken in: the basemap's (a phone on a GCJ-02 map
// reports GCJ-02); the server converts to WGS-84 (geo/datum.py).
const phoneCrs = () => (state.mapConfig?.basemap?.crs === 'GCJ02' ? 'GCJ02' : 'WGS84');

function phonePosition() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lon: p.coords.longitude, lat: p.coords.latitude, crs: phoneCrs() }),
      () => resolve(null), { enableHighAccuracy: true, timeout: POSITION_TIMEOUT_MS, maximumAge: 60_000 });
  });
}

function centreOf(geometry) {
  const xs = [];
  const ys = [];
  const walk = (c) => (typeof c[0] === 'number' ? (xs.push(c[0]), ys.push(c[1])) : c.forEach(walk));
  walk(geometry.coordinates);
  return { lon: (Math.min(...xs) + Math.max(...xs)) / 2, lat: (Math.min(...ys) + Math.max(...ys)) / 2 };
}

// The centre of the caller's first cell (or compound, or community), when location is refused.
async function cellCentre() {
  const key = userKey('centre');
  try {
    const code = auth.session()?.scopes?.[0];
    if (!code) return null;
    const [, query] = PLACE_QUERIES.find(([pattern]) => pattern.test(code));
    const { place } = await graphql(query, { code });
    if (!place) return null;
    const centre = { ...centreOf(place.geometry), crs: 'WGS84', code };
    await store.keep(key, centre);
    return centre;
  } catch (error) {
    if (!offlineError(error)) throw error;
    return (await store.cached(key))?.value ?? null;
  }
}

async function whereAmI() {
  const phone = await phonePosition();
  if (phone) return { point: phone, source: '当前位置' };
  const centre = await cellCentre();
  if (!centre) return null;
  const { code, ...point } = centre;
  return { point, source: `网格中心（${code}）` };
}

// --- My cells ---------------------------------------------------------------------------

const statusBadgeHtml = (status) => `<span class="status" style="background:${escapeHtml(statusColour(status))}">${
  escapeHtml(STATUS_LABELS[status] ?? status)}</span>`;

function renderList(hits, note) {
  state.hits = hits;
  $('mine-summary').textContent = `附近待办 ${hits.length} 件（由近及远）`;
  $('mine-source').textContent = note;
  $('ticket-list').innerHTML = hits.map(({ distanceM, ticket }) => `
    <li class="ticket" data-code="${escapeHtml(ticket.code)}" tabindex="0">
      ${statusBadgeHtml(ticket.status)} <b>${escapeHtml(ticket.itemName)}</b>
      <div class="meta">${escapeHtml(ticket.code)} · ${metres(distanceM)} ·
        ${escapeHtml(ticket.compound?.name ?? ticket.gridCell.code)} · 期限 ${beijingTime(ticket.dueAt)}</div>
    </li>`).join('');
}

async function loadMine() {
  $('mine-source').textContent = '正在加载…';
  const key = userKey('tickets');
  try {
    const here = await whereAmI();
    if (!here) throw new Error('无法确定位置：请允许定位，或确认管辖编码');
    // What "my cells" lists (open tickets, resolved ones waiting for a check): the server's.
    const data = await graphql(NEARBY, { point: here.point, radius: RADIUS_M,
                                        status: state.fieldConfig.listed, first: LISTED_AT_MOST });
    await store.keep(key, { hits: data.nearbyTickets, source: here.source });
    renderList(data.nearbyTickets, `位置：${here.source}`);
  } catch (error) {
    const row = await store.cached(key);
    if (row && offlineError(error)) {
      renderList(row.value.hits, `离线数据，更新于 ${beijingTime(row.at)}（${row.value.source}）`);
      $('mine').dataset.offline = 'true';
      return;
    }
    $('mine-source').textContent = `加载失败：${error.message}`;
    return;
  }
  delete $('mine').dataset.offline;
}

// --- The ticket card ----------------------------------------------------------------------

const movesOf = (ticket) => (state.fieldConfig?.roles[auth.session()?.role]?.moves ?? [])
  .filter((m) => m.from.includes(ticket.status));

// The card of `ticket`; `photos` are those of a step being redone on it.
function openCard(ticket, photos = []) {
  state.ticket = ticket;
  $('card').hidden = false;
  for (const tab of document.querySelectorAll('.tab')) tab.hidden = true;
  $('card').dataset.code = ticket.code;
  $('card').dataset.status = ticket.status;
  $('card-body').innerHTML = `
    <h2>${escapeHtml(ticket.itemName ?? ticket.code)}</h2>
    <p>${statusBadgeHtml(ticket.status)} <span class="note">${escapeHtml(ticket.code)} · 版本 ${escapeHtml(ticket.version)}</span></p>
    ${ticket.description ? `<p>${escapeHtml(ticket.description)}</p>` : ''}
    ${ticket.dueAt ? `<p class="note">期限 ${beijingTime(ticket.dueAt)}</p>` : ''}
    <h3>流转记录</h3>
    <ol class="history">${(ticket.events ?? []).map((e) => `<li>${beijingTime(e.at)} ${
      escapeHtml(e.toStatus ? (STATUS_LABELS[e.toStatus] ?? e.toStatus) : e.action)}${
      e.note ? `：${escapeHtml(e.note)}` : ''}</li>`).join('')}</ol>`;
  const moves = movesOf(ticket);
  $('card-actions').innerHTML = moves.length ? `
    <label>说明 <textarea id="move-note" rows="2" maxlength="2000"
      placeholder="办结、核验时必填"></textarea></label>
    <fieldset id="move-photos" class="photos"></fieldset>
    ${moves.map((m) => `<button type="button" class="primary" data-to="${escapeHtml(m.to)}"
      data-operation="${escapeHtml(m.operation)}" data-needs-note="${escapeHtml(m.needsNote)}">${
      escapeHtml(MOVE_LABELS[m.operation] ?? m.operation)}</button>`).join('')}
    <p id="move-error" class="error" role="alert"></p>` : '<p class="note">您的角色在此状态下无可办理的操作。</p>';
  state.movePhotos = moves.length ? new Picker($('move-photos'), photos) : null;
}

async function makeMove(button) {
  const note = $('move-note').value.trim();
  if (button.dataset.needsNote === 'true' && !note) {
    $('move-error').textContent = '请填写说明';
    return;
  }
  const { ticket } = state;
  const photos = state.movePhotos.photos;
  await queue.add({
    kind: 'move', ticketCode: ticket.code, photos,
    label: withPhotos(`${MOVE_LABELS[button.dataset.operation]} ${ticket.code}`, photos),
    variables: { input: { code: ticket.code, to: button.dataset.to, expectedVersion: ticket.version,
                          ...(note ? { note } : {}) } },
  });
  notify(navigator.onLine ? '已提交' : '已保存，联网后自动发送');
  showTab('outbox');
}

// --- Reporting a problem ----------------------------------------------------------------

function renderItems() {
  const text = $('item-search').value.trim().toLowerCase();
  const found = state.items.filter((i) => !text || i.name.includes(text) || i.initials.startsWith(text)
    || i.initials.includes(text) || i.code.toLowerCase() === text);
  $('item-options').innerHTML = found.map((i) => `<li role="option" data-code="${escapeHtml(i.code)}"
    aria-selected="${escapeHtml(state.chosen?.code === i.code)}">${escapeHtml(i.name)}
    <span class="note">${escapeHtml(i.categoryName)}</span></li>`).join('');
}

async function report(event) {
  event.preventDefault();
  const description = $('description').value.trim();
  const channel = state.fieldConfig?.roles[auth.session()?.role]?.channel;
  $('report-error').textContent = '';
  if (!state.chosen) return void ($('report-error').textContent = '请选择问题事项');
  if (!description) return void ($('report-error').textContent = '请填写问题描述');
  if (!channel) return void ($('report-error').textContent = '您的角色不能上报问题');
  const here = await whereAmI();
  if (!here) return void ($('report-error').textContent = '无法确定位置：请允许定位');
  const photos = state.reportPhotos.photos;
  await queue.add({
    kind: 'create', label: withPhotos(`上报：${state.chosen.name}`, photos), photos,
    variables: { input: { point: here.point, itemCode: state.chosen.code, description, channel } },
  });
  $('description').value = '';
  state.reportPhotos.clear();
  state.chosen = null;
  $('item-chosen').textContent = '';
  renderItems();
  notify(navigator.onLine ? '已提交' : '已保存，联网后自动发送');
  showTab('outbox');
}

// --- The patrol log ------------------------------------------------------------------------

// A visit is recorded where and when it is made, with a time from the phone: sent later
// offline, it still counts in the week it was made.
async function patrol(event) {
  event.preventDefault();
  $('patrol-error').textContent = '';
  const here = await whereAmI();
  if (!here) return void ($('patrol-error').textContent = '无法确定位置：请允许定位');
  const findings = $('patrol-findings').value.trim();
  await queue.add({
    kind: 'patrol', label: findings ? `巡查：${findings.slice(0, 20)}` : '巡查：未发现问题',
    variables: { input: { point: here.point, at: new Date().toISOString(),
                          ...(findings ? { findings } : {}) } },
  });
  $('patrol-findings').value = '';
  notify(navigator.onLine ? '巡查已记录' : '巡查已保存，联网后自动发送');
}

// --- The outbox ---------------------------------------------------------------------------

const QUEUE_STATES = { pending: '等待发送', conflict: '冲突', failed: '未能提交' };

function renderOutbox(items) {
  const mine = items.filter((i) => i.sub === (auth.session()?.sub ?? i.sub));
  $('outbox-count').textContent = String(mine.length);
  $('outbox-summary').textContent = `${mine.length ? `共 ${mine.length} 条` : '没有待发送的记录'}${
    queue.sentCount() ? `；本次已发送 ${queue.sentCount()} 条` : ''}`;
  $('outbox-list').innerHTML = mine.map((i) => {
    const currentHtml = i.current ? `当前状态：${escapeHtml(STATUS_LABELS[i.current.status] ?? i.current.status)}`
      + `（版本 ${escapeHtml(i.current.version)}）` : '';
    return `<li class="queued" data-seq="${escapeHtml(i.seq)}" data-state="${escapeHtml(i.state)}">
      <b>${escapeHtml(i.label)}</b> <span class="note">${escapeHtml(QUEUE_STATES[i.state] ?? i.state)} · ${
      beijingTime(i.createdAt)}</span>
      ${i.error ? `<p class="error">${escapeHtml(i.error.message)}</p><p class="current">${currentHtml}</p>` : ''}
      ${i.photos?.length ? '<ol class="thumbs"></ol>' : ''}
      ${i.state === 'conflict' && i.current ? '<button type="button" data-redo>按当前状态重做</button>' : ''}
      ${i.state !== 'pending' ? '<button type="button" data-discard>放弃</button>' : ''}
    </li>`;
  }).join('');
  for (const i of mine.filter((m) => m.photos?.length)) drawQueuedPhotos(i);
  $('signin-error').textContent = !auth.session() && items.length
    ? `有 ${items.length} 条记录待发送，登录后自动发送` : '';
}

// A queued write's photos; when the server refused one, it is marked, and each photo of the
// write can be taken off and the write sent again without it.
function drawQueuedPhotos(item) {
  const refused = queue.refusedPhoto(item);
  const refusal = item.state === 'failed' && queue.PHOTO_REFUSALS.has(item.error?.code);
  const list = document.querySelector(`#outbox-list .queued[data-seq="${item.seq}"] .thumbs`);
  drawThumbnails(list, item.photos, (i) => (refusal ? `${i === refused ? '<b class="error">被拒收</b>' : ''}
    <button type="button" data-without="${escapeHtml(i)}">去掉此照片并重新发送</button>` : ''));
  if (refused !== null) list.children[refused]?.setAttribute('data-refused', 'true');
}

async function outboxClick(event) {
  const row = event.target.closest('.queued');
  if (!row) return;
  const seq = Number(row.dataset.seq);
  const item = (await queue.items()).find((i) => i.seq === seq);
  if (!item) return;
  if (event.target.matches('[data-discard]')) await queue.discard(seq);
  if (event.target.dataset.without) await queue.sendWithoutPhoto(seq, Number(event.target.dataset.without));
  if (event.target.matches('[data-redo]')) {
    const listed = state.hits.find((h) => h.ticket.code === item.ticketCode)?.ticket ?? {};
    await queue.discard(seq);
    openCard({ ...listed, ...item.current }, item.photos);
  }
}

// --- Push notifications and links to a ticket ------------------------------------------------

const TICKET = `query ($code: String!) { ticket(code: $code) { ${TICKET_FIELDS} } }`;

// Offered after sign-in where the server sends push and the browser can receive it.
async function showPush() {
  const publicKey = state.fieldConfig?.push?.publicKey;
  $('push-row').hidden = !publicKey || !push.supported() || Notification.permission === 'denied';
  if ($('push-row').hidden) return;
  try {
    const on = await push.renew();
    $('push-enable').hidden = on;
    $('push-state').textContent = on ? '通知已开启：本网格工单派单、临期、升级时提醒' : '';
  } catch (error) {
    $('push-state').textContent = `通知未能续订：${error.message}`;
  }
}

async function enablePush() {
  $('push-state').textContent = '正在开启…';
  try {
    await push.enable(state.fieldConfig.push.publicKey);
    $('push-enable').hidden = true;
    $('push-state').textContent = '通知已开启：本网格工单派单、临期、升级时提醒';
  } catch (error) {
    $('push-state').textContent = `未能开启通知：${error.message}`;
  }
}

// `#ticket=<code>` (a notification's link) opens that ticket's card.
async function openLinkedTicket() {
  const code = new URLSearchParams(window.location.hash.slice(1)).get('ticket');
  if (!code || !auth.session()) return;
  const listed = state.hits.find((h) => h.ticket.code === code)?.ticket;
  try {
    const ticket = listed ?? (await graphql(TICKET, { code })).ticket;
    if (ticket) openCard(ticket);
  } catch (error) {
    notify(`无法打开工单 ${code}：${error.message}`, 'error');
  }
}

// --- Frame --------------------------------------------------------------------------------

function showTab(name) {
  $('card').hidden = true;
  for (const button of document.querySelectorAll('#tabs button')) {
    button.setAttribute('aria-selected', String(button.dataset.tab === name));
  }
  for (const tab of document.querySelectorAll('.tab')) tab.hidden = tab.id !== name;
  if (name === 'mine') loadMine();
  if (name === 'report') {
    whereAmI().then((here) => {
      $('position').textContent = here
        ? `位置：${here.source} ${here.point.lon.toFixed(5)}, ${here.point.lat.toFixed(5)}`
        : '位置：无法获取';
    });
  }
}

function showNetwork() {
  $('network').dataset.online = String(navigator.onLine);
  $('network').textContent = navigator.onLine ? '在线' : '离线';
}

function sessionChanged(s) {
  $('signin').hidden = Boolean(s);
  $('tabs').hidden = !s;
  $('signout').hidden = !s;
  $('who').textContent = s ? `${ROLE_LABELS[s.role] ?? s.role} ${s.sub}` : '';
  if (s) {
    showTab('mine');
    queue.flush();
    showPush();
    openLinkedTicket();
  } else {
    for (const tab of document.querySelectorAll('.tab')) tab.hidden = true;
    $('card').hidden = true;
  }
  queue.items().then(renderOutbox);
}

function wire() {
  const mode = state.mapConfig.signIn.mode;
  $('dev-signin').hidden = mode !== 'dev';
  $('oidc-signin').hidden = mode !== 'oidc';
  $('oidc-signin').addEventListener('click', () => auth.startOidc(state.mapConfig.signIn));
  $('dev-signin').addEventListener('submit', async (event) => {
    event.preventDefault();
    $('signin-error').textContent = '';
    try {
      await auth.devSignIn({
        role: $('signin-role').value,
        scopes: $('signin-scopes').value.split(/[\s,，;；]+/).filter(Boolean),
        sub: $('signin-sub').value.trim(),
      });
    } catch (error) {
      $('signin-error').textContent = `登录失败：${error.message}`;
    }
  });
  // Signing out leaves no ticket on the phone; the user's queued writes stay for their return.
  $('signout').addEventListener('click', async () => {
    await push.disable().catch(() => null);
    await store.forget([userKey('tickets'), userKey('centre')]);
    auth.signOut();
  });
  $('tabs').addEventListener('click', (event) => {
    if (event.target.dataset.tab) showTab(event.target.dataset.tab);
  });
  $('refresh').addEventListener('click', () => loadMine());
  $('ticket-list').addEventListener('click', (event) => {
    const code = event.target.closest('.ticket')?.dataset.code;
    const hit = state.hits.find((h) => h.ticket.code === code);
    if (hit) openCard(hit.ticket);
  });
  $('card-back').addEventListener('click', () => showTab('mine'));
  $('card-actions').addEventListener('click', (event) => {
    if (event.target.dataset.to) makeMove(event.target);
  });
  $('item-search').addEventListener('input', renderItems);
  $('item-options').addEventListener('click', (event) => {
    const code = event.target.closest('li')?.dataset.code;
    state.chosen = state.items.find((i) => i.code === code) ?? null;
    $('item-chosen').textContent = state.chosen ? `已选：${state.chosen.name}（${state.chosen.code}）` : '';
    renderItems();
  });
  $('push-enable').addEventListener('click', enablePush);
  window.addEventListener('hashchange', openLinkedTicket);
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type !== 'open') return;
    if (window.location.href === event.data.url) openLinkedTicket();
    else window.location.assign(event.data.url);
  });
  $('report-form').addEventListener('submit', report);
  $('patrol-form').addEventListener('submit', patrol);
  $('outbox-list').addEventListener('click', outboxClick);
  $('outbox-send').addEventListener('click', () => queue.flush());
  window.addEventListener('online', showNetwork);
  window.addEventListener('offline', showNetwork);
}

async function main() {
  showNetwork();
  const registering = navigator.serviceWorker?.register('/field/sw.js', { scope: '/field/' })
    .catch((error) => notify(`离线功能不可用：${error.message}`, 'error'));
  [state.mapConfig, state.fieldConfig, state.items] = await Promise.all([
    kept('/map-config.json', 'map-config'), kept('/field/config.json', 'field-config'),
    kept('/field/items.json', 'items')]);
  useVocabulary(state.mapConfig);
  wire();
  state.reportPhotos = new Picker($('report-photos'));
  renderItems();
  queue.onChange(renderOutbox);
  auth.onChange(sessionChanged);
  if (navigator.onLine) await auth.completeOidc(state.mapConfig.signIn.mode === 'oidc' ? state.mapConfig.signIn : null);
  auth.restore();
  if (!auth.session()) sessionChanged(null);
  await queue.start();
  await registering;
  document.body.dataset.ready = 'true';
}

main().catch((error) => {
  document.body.dataset.ready = 'failed';
  notify(`加载失败：${error.message}`, 'error');
});
