// The writes made on the phone (reports, moves, patrol visits), replayed in order when the network returns. Each carries an
// idempotency key made when it was queued: `createTicket` and `recordPatrolVisit` give the
// same ticket or visit for the same key, and a move sent again after a lost answer gets the ticket back, so a replay never
// writes twice. A conflict is kept and shown with the ticket's current state, never dropped.
// A write's photos ({blob, name, type}) are kept with it and go out with it as one GraphQL
// multipart request; a photo the server refuses is shown, and the worker may send the write
// again without it.

import { authHeaders, expire, session } from '/static/session.js';
import * as store from './store.js';

export const CREATE = `mutation ($input: CreateTicketInput!, $key: String, $photos: [Upload!]) {
  createTicket(input: $input, idempotencyKey: $key, photos: $photos) {
    ticket { code status version itemName } errors { code field message } } }`;
export const MOVE = `mutation ($input: TransitionTicketInput!, $photos: [Upload!]) {
  transitionTicket(input: $input, photos: $photos) {
    ticket { code status version } errors { code field message } } }`;
export const PATROL = `mutation ($input: PatrolVisitInput!, $key: String) {
  recordPatrolVisit(input: $input, idempotencyKey: $key) {
    visit { at cellCode } errors { code field message } } }`;
export const CURRENT = `query ($code: String!) { ticket(code: $code) { code status version
  events { at action fromStatus toStatus note } } }`;

// Answers that mean "the ticket is not where the phone thought": shown, with a way to redo.
const CONFLICTS = new Set(['CONFLICT', 'INVALID_TRANSITION']);
// Answers that refuse a write's photos (resolvers/photos.py, web/guard.py): nothing was
// written, and the write may go again without the photo named in the error's field.
export const PHOTO_REFUSALS = new Set(['UNSUPPORTED_MEDIA_TYPE', 'PHOTO_TOO_LARGE',
  'PHOTO_TOO_MANY_PIXELS', 'NOT_AN_IMAGE', 'TOO_MANY_PHOTOS', 'PAYLOAD_TOO_LARGE']);
// The photo store was away: nothing was written; the write waits like one made offline.
const STORE_AWAY = 'MEDIA_STORE_UNAVAILABLE';
const LOCK = 'redgrid-field-queue';
const listeners = new Set();
let sent = 0;  // writes the server has taken since the app was opened

export const sentCount = () => sent;

export const onChange = (listener) => listeners.add(listener);

async function changed() {
  const items = await store.queued();
  for (const listener of listeners) listener(items);
  return items;
}

// A network failure, a server that is away or a token that ran out: try again later.
class Later extends Error {}

// The request's body: JSON, or with photos a multipart form (jaydenseric's GraphQL multipart
// request specification: `operations`, `map`, then the files). Its bearer token is what lets
// the server take a multipart request (CSRF protection, web/app.py).
function request(query, variables, photos) {
  if (!photos.length) {
    return { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query, variables }) };
  }
  const form = new FormData();
  form.append('operations', JSON.stringify({ query, variables: { ...variables, photos: photos.map(() => null) } }));
  form.append('map', JSON.stringify(Object.fromEntries(photos.map((_, i) => [String(i), [`variables.photos.${i}`]]))));
  photos.forEach((photo, i) => form.append(String(i), photo.blob, photo.name));
  return { headers: {}, body: form };  // the browser writes the multipart content type
}

async function post(query, variables, photos = []) {
  let response;
  try {
    const { headers, body } = request(query, variables, photos);
    response = await fetch('/graphql', { method: 'POST', headers: { ...headers, ...authHeaders() }, body });
  } catch {
    throw new Later('offline');
  }
  if (response.status === 401) {
    expire();
    throw new Later('signed out');
  }
  if (response.status === 429 || response.status >= 500) throw new Later(`HTTP ${response.status}`);
  const body = await response.json().catch(() => ({}));
  const [top] = body.errors ?? [];
  if (top) {
    if (top.extensions?.retryable || top.extensions?.code === 'UNAVAILABLE') throw new Later(top.message);
    return { errors: [{ code: top.extensions?.code ?? 'ERROR', message: top.message }] };
  }
  return Object.values(body.data ?? {})[0] ?? { errors: [{ code: 'ERROR', message: '无应答' }] };
}

export async function add(item) {
  await store.enqueue({ ...item, sub: session()?.sub ?? null, key: crypto.randomUUID() });
  await changed();
  // Background Sync wakes the service worker when the network returns, where it exists.
  const registration = await navigator.serviceWorker?.ready.catch(() => null);
  await registration?.sync?.register(LOCK).catch(() => {});
  flush();
}

async function send(item) {
  const photos = item.photos ?? [];
  const payload = item.kind === 'move'
    ? await post(MOVE, item.variables, photos)
    : await post(item.kind === 'patrol' ? PATROL : CREATE, { input: item.variables.input, key: item.key }, photos);
  if (!payload.errors?.length) {
    await store.remove(item.seq);
    sent += 1;
    return true;
  }
  const [error] = payload.errors;
  if (error.code === STORE_AWAY) throw new Later(error.message);
  const next = { ...item, state: CONFLICTS.has(error.code) ? 'conflict' : 'failed', error };
  if (next.state === 'conflict' && item.ticketCode) {
    const now = await post(CURRENT, { code: item.ticketCode });
    next.current = now?.code ? now : null;
  }
  await store.update(next);
  return false;
}

// Sends what is pending for the signed-in caller, oldest first. A ticket whose earlier write
// met a conflict keeps its later writes back until the worker has dealt with it.
async function drain() {
  const who = session()?.sub;
  if (!who || !navigator.onLine) return;
  const held = new Set();
  for (const item of await store.queued()) {
    if (item.sub !== who) continue;
    if (item.state !== 'pending') {
      if (item.ticketCode) held.add(item.ticketCode);
      continue;
    }
    if (item.ticketCode && held.has(item.ticketCode)) continue;
    let sent;
    try {
      sent = await send(item);
    } catch (error) {
      if (error instanceof Later) return;
      throw error;
    }
    if (!sent && item.ticketCode) held.add(item.ticketCode);
  }
}

let running = null;

// One replay at a time, across every tab of the app (a Web Lock), so nothing goes out twice.
export function flush() {
  running ??= (async () => {
    try {
      if (navigator.locks) await navigator.locks.request(LOCK, drain);
      else await drain();
    } finally {
      running = null;
      await changed();
    }
  })();
  return running;
}

// The worker gives up a write that met a conflict or an error (it stays until they do).
export async function discard(seq) {
  await store.remove(seq);
  await changed();
}

export const items = () => store.queued();

// The index of the photo a refusal names (its field is `photos.<i>`), else null.
export function refusedPhoto(item) {
  if (item.state !== 'failed' || !PHOTO_REFUSALS.has(item.error?.code)) return null;
  const index = /^photos\.(\d+)$/.exec(item.error.field ?? '')?.[1];
  return index === undefined ? null : Number(index);
}

// The worker takes photo `index` off a write that was refused and sends it again, with the
// same idempotency key (a refused write stored nothing).
export async function sendWithoutPhoto(seq, index) {
  const item = (await store.queued()).find((i) => i.seq === seq);
  if (!item) return;
  const next = { ...item, photos: (item.photos ?? []).filter((_, i) => i !== index), state: 'pending' };
  delete next.error;
  delete next.current;
  await store.update(next);
  await changed();
  flush();
}

const RETRY_MS = 30_000;

// Replays on the network's return, on focus, when the service worker's sync fires and on a
// timer.
export function start() {
  window.addEventListener('online', () => flush());
  window.addEventListener('focus', () => flush());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') flush();
  });
  navigator.serviceWorker?.addEventListener('message', (event) => {
    if (event.data?.type === 'flush') flush();
  });
  setInterval(() => flush(), RETRY_MS);
  return changed();
}
