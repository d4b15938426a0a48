/**
 * The example containers service (plugins/containers/), running under a real `plugd serve` with
 * the other example plugins, through its HTTP routes: body validation and label filters.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { jsonRequest, send, startExampleApi, type ExampleApi } from '../../support/api.js';

let api: ExampleApi;
beforeAll(async () => { api = await startExampleApi(); });
afterAll(async () => { await api.stop(); });

const call = (method: string, path: string, body?: unknown) => send(api.url, jsonRequest(method, path, body));
/** A POST whose JSON text is written as is (`{"__proto__": ...}` cannot come from JSON.stringify). */
const postRaw = (path: string, text: string) => send(api.url, { method: 'POST', path, chunks: [text] });
const ids = (json: unknown): string[] => (json as { id: string }[]).map((c) => c.id);

describe('validation: 400 with the issues', () => {
  test.each([
    ['a label value that is not a string', { id: 'v1', labels: { env: 1 } }, ['labels', 'env']],
    ['labels that are not an object', { id: 'v2', labels: ['env'] }, ['labels']],
    ['an id that is not a string', { id: 7 }, ['id']],
    ['no id', { labels: {} }, ['id']],
    ['an invalid id', { id: 'bad id!' }, ['id']],
    ['an unknown field', { id: 'v3', lables: {} }, []],
    ['an empty label key', { id: 'v4', labels: { '': 'x' } }, ['labels']],
  ])('POST with %s', async (_, body, path) => {
    const res = await call('POST', '/v1/containers', body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.any(String), issues: expect.arrayContaining([expect.objectContaining({ path: expect.arrayContaining(path) })]) });
  });

  test('POST with no body', async () => {
    expect((await call('POST', '/v1/containers')).status).toBe(400);
  });

  test('a label key "__proto__" is refused, not silently dropped', async () => {
    const res = await postRaw('/v1/containers', '{"id":"proto","labels":{"__proto__":"x"}}');
    expect(res).toMatchObject({ status: 400, json: { error: expect.stringContaining('__proto__') } });
    expect((await call('GET', '/v1/containers/proto')).status).toBe(404);
  });

  test.each([
    ['a label value that is not a string', { tier: 1 }],
    ['labels that are not an object', 'front'],
    ['no body', undefined],
  ])('PATCH labels with %s', async (_, body) => {
    await call('POST', '/v1/containers', { id: 'patched' });
    const res = await call('PATCH', '/v1/containers/patched/labels', body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ error: expect.any(String), issues: expect.any(Array) });
  });

  test('PATCH labels of a missing container gets 404', async () => {
    expect((await call('PATCH', '/v1/containers/missing/labels', { tier: 'front' })).status).toBe(404);
  });
});

describe('label filters use the labels a container has, never inherited properties', () => {
  beforeAll(async () => {
    await call('POST', '/v1/containers', { id: 'f-plain', labels: { env: 'dev' } });
    await call('POST', '/v1/containers', { id: 'f-ctor', labels: { constructor: 'x' } });
    await call('POST', '/v1/containers', { id: 'f-tostring', labels: { toString: 'y', env: 'a=b' } });
  });

  test.each([
    ['__proto__=x', []],
    ['constructor=x', ['f-ctor']],
    ['toString=y', ['f-tostring']],
    ['hasOwnProperty=', []],
    ['env=dev', ['f-plain']],
    ['env=a=b', ['f-tostring']],
  ])('?label=%s', async (filter, expected) => {
    const res = await call('GET', `/v1/containers?label=${encodeURIComponent(filter)}`);
    expect(res.status).toBe(200);
    expect(ids(res.json).filter((id) => id.startsWith('f-'))).toEqual(expected);
  });

  test('a filter without "=" gets 400', async () => {
    const res = await call('GET', '/v1/containers?label=env');
    expect(res).toMatchObject({ status: 400, json: { error: expect.stringContaining('key=value') } });
  });

  test('two filters must both match', async () => {
    const res = await call('GET', '/v1/containers?label=env=dev&label=constructor=x');
    expect(ids(res.json)).toEqual([]);
  });
});

describe('the README', () => {
  test('its curl session works as written', () => {
    const readme = readFileSync('README.md', 'utf8');
    const script = /^json=.*?^curl -s -X DELETE .*?$/ms.exec(readme)?.[0] ?? '';
    expect(script).toContain('curl');
    const run = spawnSync('bash', ['-e', '-c', script.replaceAll('localhost:8080', new URL(api.url).host)], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n').map((line) => JSON.parse(line) as unknown)).toEqual([
      expect.objectContaining({ id: 'web', labels: { env: 'dev' } }),
      expect.objectContaining({ id: 'web', labels: { env: 'dev', tier: 'front' } }),
      expect.arrayContaining([expect.objectContaining({ id: 'web' })]),
      { deleted: 'web' },
    ]);
  });
});
