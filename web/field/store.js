// What the app keeps on the phone, in IndexedDB: answers for reading offline (`cache`) and the
// writes waiting for the network (`queue`, in the order they were made). Both outlive the
// page, the browser and a restart of the phone.

const DB_NAME = 'redgrid-field';
const VERSION = 1;
let opening = null;

function open() {
  opening ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, VERSION);
    request.onupgradeneeded = () => {
      const db = request.result;
      db.createObjectStore('cache', { keyPath: 'key' });
      db.createObjectStore('queue', { keyPath: 'seq', autoIncrement: true });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opening;
}

// Runs `work(store)` in one transaction; resolves with what its last request returned once the
// transaction has committed (so a write is on disk before the caller goes on).
async function inStore(name, mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(name, mode);
    let result;
    const request = work(tx.objectStore(name));
    if (request) request.onsuccess = () => { result = request.result; };
    tx.oncomplete = () => resolve(result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export async function cached(key) {
  const row = await inStore('cache', 'readonly', (s) => s.get(key));
  return row ?? null;
}

// Drops what was kept under `keys` (a user's tickets when they sign out of a shared phone).
export const forget = (keys) => inStore('cache', 'readwrite', (s) => {
  for (const key of keys) s.delete(key);
});

export const keep = (key, value) => inStore('cache', 'readwrite',
  (s) => s.put({ key, value, at: new Date().toISOString() }));

// A write for the queue: {sub, kind, key, variables, label, ticketCode?}; returns its seq.
export const enqueue = (item) => inStore('queue', 'readwrite',
  (s) => s.add({ ...item, state: 'pending', createdAt: new Date().toISOString() }));

export const queued = () => inStore('queue', 'readonly', (s) => s.getAll());

export const update = (item) => inStore('queue', 'readwrite', (s) => s.put(item));

export const remove = (seq) => inStore('queue', 'readwrite', (s) => s.delete(seq));
