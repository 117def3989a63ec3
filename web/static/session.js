// Who is signed in: the bearer token kept in sessionStorage (gone when the tab closes), the
// development sign-in and the county identity provider's authorization-code flow with PKCE.

import { readJson } from './api.js';
import { notify } from './util.js';

const KEY = 'redgrid.session';
const PKCE_KEY = 'redgrid.pkce';
const listeners = new Set();
let current = load();
let expiryTimer = null;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY)) ?? null;
  } catch {
    return null;
  }
}

// The token's claims, for showing who is signed in; the server is what verifies them.
function claimsOf(token) {
  const part = token.split('.')[1] ?? '';
  const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
  const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

export const session = () => current;
export const token = () => current?.token ?? null;
export const onChange = (listener) => listeners.add(listener);

export function authHeaders() {
  return current ? { Authorization: `Bearer ${current.token}` } : {};
}

function set(next) {
  current = next;
  clearTimeout(expiryTimer);
  if (next) {
    sessionStorage.setItem(KEY, JSON.stringify(next));
    // setTimeout overflows past ~24.8 days; tokens live hours.
    const left = Math.min(next.expiresAt - Date.now(), 2 ** 31 - 1);
    expiryTimer = setTimeout(() => expire(), left);
  } else {
    sessionStorage.removeItem(KEY);
  }
  for (const listener of listeners) listener(next);
}

function signedIn(accessToken, via, expiresAtMs) {
  const claims = claimsOf(accessToken);
  set({
    token: accessToken,
    via,
    role: claims.redgrid_role ?? 'PUBLIC',
    scopes: claims.redgrid_scopes ?? [],
    sub: claims.sub ?? '',
    expiresAt: expiresAtMs ?? (claims.exp ? claims.exp * 1000 : Date.now() + 3600 * 1000),
  });
}

export function signOut() {
  set(null);
}

// A token the server refused (401) or whose time is up.
export function expire(text = '登录已过期，请重新登录') {
  if (!current) return;
  set(null);
  notify(text, 'error');
}

// Restores the stored session unless its token has run out meanwhile.
export function restore() {
  if (current && current.expiresAt <= Date.now()) {
    expire();
  } else if (current) {
    set(current);
  }
}

export async function devSignIn({ role, scopes, sub }) {
  const response = await fetch('/auth/dev-token', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ role, scopes, sub: sub || undefined }),
  });
  const body = await readJson(response);
  signedIn(body.token, 'dev', Date.parse(body.expiresAt));
}

const base64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

const randomText = (size) => base64url(crypto.getRandomValues(new Uint8Array(size)));

const redirectUri = () => window.location.origin + window.location.pathname;

// Sends the browser to the identity provider; it comes back to this page with ?code&state.
export async function startOidc(oidc) {
  const verifier = randomText(32);
  const state = randomText(16);
  const challenge = base64url(await crypto.subtle.digest('SHA-256',
    new TextEncoder().encode(verifier)));
  sessionStorage.setItem(PKCE_KEY, JSON.stringify({ verifier, state, redirectUri: redirectUri() }));
  const url = new URL(oidc.authorizeUrl);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: oidc.clientId,
    redirect_uri: redirectUri(),
    scope: oidc.scope,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  window.location.assign(url.toString());
}

// On the way back from the identity provider: trades the code (and the verifier only this tab
// knows) for a token at the token endpoint.
export async function completeOidc(oidc) {
  const params = new URLSearchParams(window.location.search);
  if (!params.has('code') && !params.has('error')) return;
  const pending = JSON.parse(sessionStorage.getItem(PKCE_KEY) ?? 'null');
  sessionStorage.removeItem(PKCE_KEY);
  window.history.replaceState(null, '', window.location.pathname);
  if (params.has('error')) {
    notify(`登录失败：${params.get('error_description') ?? params.get('error')}`, 'error');
    return;
  }
  if (!oidc || !pending || pending.state !== params.get('state')) {
    notify('登录失败：登录请求已失效，请重试', 'error');
    return;
  }
  const response = await fetch(oidc.tokenUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: pending.redirectUri,
      client_id: oidc.clientId,
      code_verifier: pending.verifier,
    }),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok || !body.access_token) {
    notify(`登录失败：${body.error_description ?? body.error ?? response.status}`, 'error');
    return;
  }
  const expiresAt = body.expires_in ? Date.now() + body.expires_in * 1000 : undefined;
  signedIn(body.access_token, 'oidc', expiresAt);
}

// The roles that read the staff layers (owners' committees, patrol coverage): community,
// zone, street and county staff, and planners.
const STAFF_READERS = new Set(['COMMUNITY_STAFF', 'ZONE_OFFICER', 'STREET_OFFICER',
  'COUNTY_OFFICE', 'PLANNER']);

// Whether the signed-in user reads the staff layers: then `box` says it is loading; else it
// asks them to sign in.
export function readsStaffLayers(box) {
  const s = session();
  if (s && STAFF_READERS.has(s.role)) {
    box.dataset.state = 'loading';
    return true;
  }
  box.innerHTML = '<p class="signin-prompt">登录后可查看（社区、片区、街道、县级工作人员和规划人员）</p>';
  box.dataset.state = 'signin';
  return false;
}
