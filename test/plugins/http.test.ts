/**
 * The example HTTP API plugin (plugins/http.ts), running under a real `plugd serve` with the other
 * example plugins, spoken to over real HTTP: paths, methods, bodies and their limits.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { msg } from '../support/daemon.js';
import { jsonRequest, send, startExampleApi, type ExampleApi } from '../support/api.js';

/** The body limit documented in plugins/http.ts and the README. */
const MAX_BODY_BYTES = 1024 * 1024;

let api: ExampleApi;
beforeAll(async () => { api = await startExampleApi(); });
afterAll(async () => { await api.stop(); });

const call = (method: string, path: string, body?: unknown) => send(api.url, jsonRequest(method, path, body));

describe('paths', () => {
  test('a path segment that is not valid percent-encoding gets 400 with a JSON error', async () => {
    const res = await call('GET', '/v1/containers/%E0%A4%A');
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.stringContaining('%E0%A4%A') });
  });

  test('a percent-encoded id is decoded', async () => {
    await call('POST', '/v1/containers', { id: 'caf.e' });
    expect(await call('GET', '/v1/containers/caf%2Ee')).toMatchObject({ status: 200, json: { id: 'caf.e' } });
  });

  test.each([['/'], ['/v1'], ['/v1/containers/x/y'], ['/v2/containers'], ['//v1/containers']])('an unknown path %s gets 404', async (path) => {
    const res = await call('GET', path);
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ error: expect.any(String) });
  });

  test.each([
    ['PUT', '/v1/containers', 'POST, GET, HEAD'],
    ['DELETE', '/v1/containers', 'POST, GET, HEAD'],
    ['POST', '/v1/containers/web', 'GET, HEAD, DELETE'],
    ['GET', '/v1/containers/web/labels', 'PATCH'],
  ])('a wrong method (%s %s) gets 405 with Allow: %s', async (method, path, allow) => {
    const res = await call(method, path);
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe(allow);
    expect(res.json).toEqual({ error: expect.stringContaining(allow) });
  });

  test('HEAD answers as GET does, without a body', async () => {
    const res = await call('HEAD', '/v1/containers');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.text).toBe('');
  });
});

describe('bodies', () => {
  test('a character split across two body chunks is stored whole', async () => {
    // "é" is 0xC3 0xA9 in UTF-8: the first chunk ends after 0xC3.
    const body = Buffer.from(JSON.stringify({ id: 'split', labels: { name: 'café' } }));
    const cut = body.indexOf(0xc3) + 1;
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', chunks: [body.subarray(0, cut), body.subarray(cut)], pauseMs: 50 });
    expect(res).toMatchObject({ status: 201, json: { labels: { name: 'café' } } });
    expect((await call('GET', '/v1/containers/split')).json).toMatchObject({ labels: { name: 'café' } });
  });

  test('a body that is not valid UTF-8 gets 400', async () => {
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', chunks: [Buffer.from('{"id":"x\xff"}', 'latin1')] });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.stringContaining('UTF-8') });
  });

  test('a body that is not JSON gets 400', async () => {
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', chunks: ['{"id":'] });
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.stringContaining('JSON') });
  });

  test.each([['text/plain'], ['application/x-www-form-urlencoded']])('a body of content-type %s gets 415', async (type) => {
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', headers: { 'content-type': type }, chunks: ['{"id":"typed"}'] });
    expect(res.status).toBe(415);
    expect(res.json).toEqual({ error: expect.stringContaining('application/json') });
    expect((await call('GET', '/v1/containers/typed')).status).toBe(404);
  });

  test('application/json with a charset is JSON', async () => {
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', headers: { 'content-type': 'Application/JSON; charset=utf-8' }, chunks: ['{"id":"charset"}'] });
    expect(res.status).toBe(201);
  });

  test('a chunked body one byte over the limit gets 413, and the server goes on', async () => {
    const chunk = ' '.repeat(64 * 1024);
    const chunks = [...Array<string>(MAX_BODY_BYTES / chunk.length).fill(chunk), ' '];
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', chunks });
    expect(res.status).toBe(413);
    expect(res.headers.connection).toBe('close');
    expect(res.json).toEqual({ error: expect.stringContaining(String(MAX_BODY_BYTES)) });
    expect((await call('GET', '/v1/containers')).status).toBe(200);
  });

  test('a body of exactly the limit is read', async () => {
    const json = JSON.stringify({ id: 'big' });
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', chunks: [json + ' '.repeat(MAX_BODY_BYTES - json.length)] });
    expect(res.status).toBe(201);
  });

  test('a declared content-length over the limit gets 413 at once, before any body is sent', async () => {
    // Nothing of the 500 MB is ever written: the answer must come from the headers alone.
    const res = await send(api.url, { method: 'POST', path: '/v1/containers', headers: { 'content-length': 500 * 1024 * 1024 }, chunks: [] });
    expect(res.status).toBe(413);
    expect((await call('GET', '/v1/containers')).status).toBe(200);
  });
});

describe('failures', () => {
  test('an unexpected failure is answered 500 without its details, which go to the daemon log', async () => {
    // Another connection holds the write lock of the metadata database: the store's write fails
    // once the busy timeout runs out.
    const db = new Database(join(api.dir, '.plugd/root/meta.db'));
    db.exec('BEGIN EXCLUSIVE');
    try {
      const res = await call('POST', '/v1/containers', { id: 'locked' });
      expect(res).toMatchObject({ status: 500, json: { error: 'internal error: see the daemon log' } });
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    const line = await api.daemon.waitFor(msg('request failed'));
    expect(line).toMatchObject({ method: 'POST', url: '/v1/containers', err: { message: expect.stringContaining('locked') } });
  });
});
