// Push notifications on the phone: after sign-in the app offers "开启通知"; with the user's
// permission it subscribes the browser with the server's VAPID public key (/field/config.json)
// and hands the subscription to the server (subscribePush), renewing it on every start so the
// server keeps the current token's cells. Signing out removes it.

import { graphql } from '/static/api.js';

const SUBSCRIBE = `mutation ($endpoint: String!, $p256dh: String!, $auth: String!) {
  subscribePush(endpoint: $endpoint, p256dh: $p256dh, auth: $auth) {
    subscription { endpoint } errors { code message } } }`;
const UNSUBSCRIBE = `mutation ($endpoint: String!) {
  unsubscribePush(endpoint: $endpoint) { removed errors { code message } } }`;

export const supported = () => 'serviceWorker' in navigator && 'PushManager' in window
  && 'Notification' in window;

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, '+').replace(/_/g, '/'));
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

// The app's service worker registration; never waits for one that failed to register.
async function registered() {
  const registration = await navigator.serviceWorker.getRegistration('/field/');
  if (!registration) throw new Error('离线功能未启用，无法接收通知');
  return registration;
}

async function current() {
  const registration = await navigator.serviceWorker.getRegistration('/field/');
  return registration ? registration.pushManager.getSubscription() : null;
}

async function register(subscription) {
  const { endpoint, keys } = subscription.toJSON();
  const { subscribePush } = await graphql(SUBSCRIBE, { endpoint, p256dh: keys.p256dh, auth: keys.auth });
  if (subscribePush.errors.length) throw new Error(subscribePush.errors[0].message);
}

// Asks for permission, subscribes with `publicKey` and registers the subscription. A
// subscription made with another key (the server's key was replaced) is made anew.
export async function enable(publicKey) {
  if (await Notification.requestPermission() !== 'granted') throw new Error('未获得通知权限');
  const registration = await registered();
  const options = { userVisibleOnly: true, applicationServerKey: keyBytes(publicKey) };
  let subscription = await registration.pushManager.getSubscription();
  try {
    subscription ??= await registration.pushManager.subscribe(options);
    await register(subscription);
  } catch (error) {
    if (!subscription) throw error;
    await subscription.unsubscribe();
    await register(await registration.pushManager.subscribe(options));
  }
}

// Whether this phone is subscribed; renews the subscription with the server when it is.
export async function renew() {
  if (!supported() || Notification.permission !== 'granted') return false;
  const subscription = await current();
  if (!subscription) return false;
  await register(subscription);
  return true;
}

// Before signing out: the server forgets the subscription, the browser drops it.
export async function disable() {
  if (!supported()) return;
  const subscription = await current();
  if (!subscription) return;
  await graphql(UNSUBSCRIBE, { endpoint: subscription.endpoint }).catch(() => null);
  await subscription.unsubscribe();
}
