import { expect, test } from '@jest/globals';
import { Registry } from '../src/registry.js';

test('smoke', async () => {
  const r = new Registry();
  const report = await r.load('fixtures/good');
  expect(report.errors).toEqual([]);
  expect(r.plugins().map((p) => p.name)).toEqual(['io.plugd.store.v1.memory']);
});
