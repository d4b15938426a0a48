/** The resolve and load rules of plugd's module hooks, as pure data (the hooks themselves run them in Node's loader). */
import { describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { generationIn, LoaderState, withoutGeneration } from '../../src/load/loader-state.js';

const PLUGD = 'file:///host/dist/src/index.js';
const DIR = 'file:///plugins/';

/** A state that knows the plugin directory DIR, and a `next` that resolves relative specifiers against their parent. */
function setup(): { state: LoaderState; resolve: (specifier: string, parent?: string) => string } {
  const state = new LoaderState(PLUGD);
  state.apply({ kind: 'dir', dir: DIR, generation: 0 });
  const resolve = (specifier: string, parent = `${DIR}a.js`): string =>
    state.resolve(specifier, parent, () => ({ url: new URL(specifier, parent).href })).url;
  return { state, resolve };
}

describe('the generation query', () => {
  const cases: [string, string, number][] = [
    ['file:///p/a.js', 'file:///p/a.js', 0],
    ['file:///p/a.js?plugd=3', 'file:///p/a.js', 3],
    ['file:///p/a.js?x=1&plugd=3', 'file:///p/a.js?x=1', 3],
    ['file:///p/a.js?plugd=3&x=1', 'file:///p/a.js?x=1', 3],
    ['file:///p/a.js?x=1', 'file:///p/a.js?x=1', 0],
  ];
  test.each(cases)('%s: without it %s, generation %d', (url, plain, generation) => {
    expect(withoutGeneration(url)).toBe(plain);
    expect(generationIn(url)).toBe(generation);
  });
});

describe('resolve', () => {
  test("'plugd' resolves to the host's module from any importer, without asking Node", () => {
    const { state } = setup();
    for (const parent of [`${DIR}a.js`, 'file:///elsewhere/x.js', undefined]) {
      expect(state.resolve('plugd', parent, () => { throw new Error('asked Node'); })).toEqual({ url: PLUGD, format: 'module', shortCircuit: true });
    }
  });

  test('a module that never had to evaluate again resolves exactly as Node resolves it', () => {
    const { resolve } = setup();
    expect(resolve('./lib/bus.js')).toBe(`${DIR}lib/bus.js`);
    expect(resolve('file:///elsewhere/x.js')).toBe('file:///elsewhere/x.js');
  });

  test('changed files get their generation; every other module keeps its URL', () => {
    const { state, resolve } = setup();
    state.apply({ kind: 'files', files: [`${DIR}lib/bus.js`], generation: 4 });
    expect(resolve('./lib/bus.js')).toBe(`${DIR}lib/bus.js?plugd=4`);
    expect(resolve('./lib/other.js')).toBe(`${DIR}lib/other.js`);
    // From a reloaded importer as well: the parent's query does not change what its imports resolve to.
    expect(resolve('./lib/other.js', `${DIR}a.js?plugd=4`)).toBe(`${DIR}lib/other.js`);
  });

  test('a new generation for the directory makes all its modules evaluate again, but not its node_modules', () => {
    const { state, resolve } = setup();
    state.apply({ kind: 'dir', dir: DIR, generation: 7 });
    expect(resolve('./lib/bus.js')).toBe(`${DIR}lib/bus.js?plugd=7`);
    expect(resolve('./folder/node_modules/ms/index.js')).toBe(`${DIR}folder/node_modules/ms/index.js`);
    expect(resolve('file:///elsewhere/x.js')).toBe('file:///elsewhere/x.js');
    expect(state.versioned(`${DIR}a.js`)).toBe(`${DIR}a.js?plugd=7`);
  });

  test('an import that carries a stale generation gets the current one', () => {
    const { state, resolve } = setup();
    state.apply({ kind: 'files', files: [`${DIR}b.js`], generation: 2 });
    expect(resolve(`${DIR}b.js?plugd=1`)).toBe(`${DIR}b.js?plugd=2`);
  });
});

describe('the import graph', () => {
  test('importersOf walks from changed files to every plugin module that imports them, transitively', () => {
    const { state, resolve } = setup();
    resolve('./lib/bus.js', `${DIR}a.js`);
    resolve('../lib/bus.js', `${DIR}b/index.js`);
    resolve('./helper.js', `${DIR}b/index.js`);
    resolve('./log.js', `${DIR}lib/bus.js`);
    resolve('./d.js', `${DIR}c.js`);
    expect([...state.importersOf([`${DIR}lib/log.js`])].sort())
      .toEqual([`${DIR}a.js`, `${DIR}b/index.js`, `${DIR}lib/bus.js`, `${DIR}lib/log.js`]);
    expect([...state.importersOf([`${DIR}b/helper.js`])].sort()).toEqual([`${DIR}b/helper.js`, `${DIR}b/index.js`]);
  });

  test('a new version of an importer starts its edges afresh: an import it dropped no longer reloads it', () => {
    const { state, resolve } = setup();
    resolve('./lib/old.js', `${DIR}a.js`);
    resolve('./lib/new.js', `${DIR}a.js?plugd=2`);
    expect(state.importsOf(`${DIR}a.js`)).toEqual([`${DIR}lib/new.js`]);
    expect(state.importersOf([`${DIR}lib/old.js`])).toEqual(new Set([`${DIR}lib/old.js`]));
  });

  test('imports of code outside any plugin module, and of packages, are not kept', () => {
    const { state, resolve } = setup();
    resolve('./x.js', 'file:///host/dist/src/cli/main.js');
    resolve('./node_modules/ms/index.js', `${DIR}a.js`);
    expect(state.importsOf('file:///host/dist/src/cli/main.js')).toEqual([]);
    expect(state.importsOf(`${DIR}a.js`)).toEqual([]);
  });
});

describe('the lock (the load step)', () => {
  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

  test('passes the bytes the lock lists, refuses others with both digests, and unlisted files', () => {
    const state = new LoaderState(PLUGD);
    expect(state.locked).toBe(false);
    state.apply({ kind: 'lock', dir: DIR, files: { 'a.js': sha('A'), 'lib/b.js': sha('B') } });
    expect(state.locked).toBe(true);
    expect(state.lockRefusal(`${DIR}a.js?plugd=2`, 'A')).toBeUndefined();
    expect(state.lockRefusal(`${DIR}lib/b.js`, Buffer.from('B'))).toBeUndefined();
    expect(state.lockRefusal(`${DIR}a.js`, 'changed')).toEqual({ code: 'E_INTEGRITY', file: 'a.js', reason: 'mismatch', expected: sha('A'), actual: sha('changed') });
    expect(state.lockRefusal(`${DIR}new.js`, 'N')).toEqual({ code: 'E_INTEGRITY', file: 'new.js', reason: 'unlisted', actual: sha('N') });
    // A folder plugin's own packages are locked too; outside the directory, and its own top-level
    // node_modules, are not the lock's to judge.
    expect(state.lockRefusal(`${DIR}f/node_modules/ms/index.js`, 'M')).toMatchObject({ file: 'f/node_modules/ms/index.js', reason: 'unlisted' });
    expect(state.lockRefusal('file:///elsewhere/x.js', 'X')).toBeUndefined();
    expect(state.lockRefusal(`${DIR}node_modules/ms/index.js`, 'M')).toBeUndefined();
    state.apply({ kind: 'lock', dir: DIR, files: null });
    expect(state.lockRefusal(`${DIR}a.js`, 'changed')).toBeUndefined();
  });
});

describe('the permissions of what plugins load beyond their directory (resolve)', () => {
  test('a package a plugin imports, writable by others, is refused as it resolves; unchecked loads are not judged', async () => {
    const root = await mkdtemp(join(tmpdir(), 'plugd-state-'));
    const pkg = join(root, 'pkg.js');
    await writeFile(pkg, 'export {};\n');
    await chmod(pkg, 0o666);
    const pkgUrl = pathToFileURL(pkg).href;
    const owners = [process.getuid?.() ?? 0, 0];

    const { state } = setup();
    state.apply({ kind: 'owners', dir: DIR, owners });
    // Imported by a module of the directory: judged as it resolves.
    expect(() => state.resolve(pkgUrl, `${DIR}a.js`, () => ({ url: pkgUrl }))).toThrow(expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: pkg }));
    expect(state.permissionRefusal(pkgUrl)).toMatchObject({ code: 'E_PLUGIN_PERMISSIONS', file: pkg, mode: 0o666, owner: process.getuid?.() ?? 0, expectedOwner: owners });
    expect((state.permissionRefusal(pkgUrl)?.writable ?? 0) & 0o002).toBe(0o002);
    // Once the directory's check is lifted (--allow-insecure), it loads.
    state.apply({ kind: 'owners', dir: DIR, owners: null });
    expect(state.permissionRefusal(pkgUrl)).toBeUndefined();

    // Imported only by the host, never by a plugin: not judged.
    const other = setup().state;
    other.apply({ kind: 'owners', dir: DIR, owners });
    other.resolve(pkgUrl, 'file:///host/dist/src/index.js', () => ({ url: pkgUrl }));
    expect(other.permissionRefusal(pkgUrl)).toBeUndefined();
  });
});

describe('the path rule (resolve)', () => {
  test('a file asked for inside a checked directory that resolves outside it is refused; packages and unchecked loads are not', () => {
    const { state } = setup();
    const outside = 'file:///elsewhere/x.js';
    const resolveTo = (specifier: string, parent: string, url: string): string => state.resolve(specifier, parent, () => ({ url })).url;
    // Unchecked (--allow-insecure, or no checks): Node's answer stands.
    expect(resolveTo('./link/x.js', `${DIR}a.js`, outside)).toBe(outside);
    state.apply({ kind: 'owners', dir: DIR, owners: [0] });
    expect(() => resolveTo('./link/x.js', `${DIR}a.js`, outside))
      .toThrow(expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'link/x.js', reason: 'outside', target: '/elsewhere/x.js' }));
    expect(() => resolveTo(`${DIR}b.js`, 'file:///host/dist/src/evaluate.js', outside)).toThrow(expect.objectContaining({ file: 'b.js' }));
    // A package, and a file asked for outside the directory, may live anywhere.
    expect(resolveTo('some-pkg', `${DIR}a.js`, outside)).toBe(outside);
    expect(resolveTo('../elsewhere/x.js', `${DIR}a.js`, outside)).toBe(outside);
    expect(resolveTo('./lib/x.js', `${DIR}a.js`, `${DIR}lib/x.js`)).toBe(`${DIR}lib/x.js`);
  });
});
