// The field app's service worker: the app shell from its cache when the network is away
// (refreshed in the background when it is there), the configuration from the network first,
// and Background Sync passed on to the open app, which holds the queue and the token.

const SHELL = 'redgrid-field-shell-v3';
const DATA = 'redgrid-field-data-v1';
const SHELL_FILES = [
  '/field/', '/field/app.js', '/field/queue.js', '/field/store.js', '/field/field.css',
  '/field/push.js', '/field/photos.js', '/field/items.json', '/field/manifest.webmanifest', '/field/icons/icon-192.png',
  '/field/icons/icon-512.png', '/static/session.js', '/static/api.js', '/static/util.js',
];
// Answers that change with the server's settings: fresh when online, the last one offline.
const NETWORK_FIRST = ['/field/config.json', '/map-config.json'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((cache) => cache.addAll(SHELL_FILES))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== SHELL && n !== DATA)
      .map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

async function networkFirst(request) {
  const cache = await caches.open(DATA);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const hit = await cache.match(request);
    if (hit) return hit;
    throw error;
  }
}

async function shellFirst(event) {
  const cache = await caches.open(SHELL);
  const hit = await cache.match(event.request, { ignoreSearch: event.request.mode === 'navigate' });
  const refresh = fetch(event.request).then(async (response) => {
    if (response.ok) await cache.put(event.request, response.clone());
    return response;
  });
  if (hit) {
    event.waitUntil(refresh.catch(() => null));
    return hit;
  }
  return refresh;
}

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (NETWORK_FIRST.includes(url.pathname)) {
    event.respondWith(networkFirst(event.request));
  } else if (SHELL_FILES.includes(url.pathname)) {
    event.respondWith(shellFirst(event));
  }
});

// The queue is replayed by the app (it has the caller's token): wake every open window of it.
self.addEventListener('sync', (event) => {
  event.waitUntil(self.clients.matchAll({ type: 'window' }).then((windows) => {
    for (const client of windows) client.postMessage({ type: 'flush' });
  }));
});

// Web Push: one notification per ticket and kind (a message sent again replaces its first
// showing); tapping it opens the ticket in the app, in an open window of it when there is one.
self.addEventListener('push', (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  event.waitUntil(self.registration.showNotification(message.title ?? '红网工单', {
    body: message.body ?? '',
    tag: message.ticket ? `${message.ticket}:${message.kind}` : undefined,
    icon: '/field/icons/icon-192.png',
    lang: 'zh-CN',
    data: { url: message.url ?? '/field/' },
  }));
});

// Only a page of the app is opened, whatever the message says.
function appUrl(url) {
  const target = new URL(url ?? '/field/', self.location.origin);
  return target.origin === self.location.origin && target.pathname.startsWith('/field/')
    ? target.href : new URL('/field/', self.location.origin).href;
}

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = appUrl(event.notification.data?.url);
  event.waitUntil(self.clients.matchAll({ type: 'window', includeUncontrolled: true })
    .then((windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith('/field/'));
      if (!open) return self.clients.openWindow(url);
      open.postMessage({ type: 'open', url });
      return open.focus();
    }));
});
