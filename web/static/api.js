// Calls to the RedGrid server with the signed-in user's token. A 401 means the token ran out
// or was revoked: the user is signed out with a message and the call is made again as public.

import { authHeaders, expire, token } from './session.js';

export class ApiError extends Error {
  constructor(message, code, field) {
    super(message);
    this.code = code;
    this.field = field;
  }
}

async function send(request) {
  const response = await request();
  if (response.status !== 401 || !token()) return response;
  expire();
  return request();
}

// Every route answers errors in one envelope, GraphQL's: {errors: [{message, extensions:
// {code, field?}}]}.
export async function readJson(response) {
  const body = await response.json().catch(() => ({}));
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new ApiError(first.message, first.extensions?.code, first.extensions?.field);
  }
  if (!response.ok) throw new ApiError(`HTTP ${response.status}`, 'HTTP');
  return body;
}

export async function graphql(query, variables = {}) {
  const response = await send(() => fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  }));
  return (await readJson(response)).data;
}

export async function getJson(url, { signed = false } = {}) {
  return readJson(await send(() => fetch(url, { headers: signed ? authHeaders() : {} })));
}
