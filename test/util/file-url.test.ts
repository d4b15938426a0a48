/** fileUrl gives exactly what pathToFileURL gives, for plain names (built from the folder's URL) and for names a URL must escape. */
import { expect, test } from '@jest/globals';
import { pathToFileURL } from 'node:url';
import { fileUrl } from '../../src/util/file-url.js';

test.each([
  '/dev/shm/plugd-stage-1-abc/1/p00001.js',
  '/dev/shm/plugd-stage-1-abc/1/p00002.js',
  '/tmp/with space/a.js',
  '/tmp/x/a b.js',
  '/tmp/x/é.js',
  '/tmp/x/100%.js',
  '/tmp/x/a#b?.js',
  '/a.js',
  '/tmp/folder %/index.mjs',
  '/a/b/..',
  '/a/b/.',
  '/a//x.js',
  '/a/./b/x.js',
  '/a/b/../x.js',
  '/a/b/',
])('%s', (path) => {
  expect(fileUrl(path)).toBe(pathToFileURL(path).href);
});
