/**
 * End-to-end: hot reload (`plugd serve --watch`) on a real daemon child process
 * and real files. Jest caches file text by path, so nothing here imports a plugin in the test
 * process: plugins append `init:` / `close:` lines to an events file outside the watched directory,
 * and the daemon is observed through its `reload` log lines and `GET /v1/plugins` on its socket.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { get } from '../../src/daemon/control.js';
import type { FileDoc, PluginDoc, StatusDoc } from '../../src/daemon/daemon.js';
import { plugd, tempPluginDir } from '../support/cli.js';
import { msg, serve, type DaemonProcess, type LogLine } from '../support/daemon.js';

/** How long any one wait may take: generous, for a loaded 2-core machine. */
const WAIT = 10_000;

interface Project {
  dir: string;
  plugins: string;
  state: string;
  root: string;
  sock: string;
  events: string;
}

const running: DaemonProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.child.exitCode !== null || d.child.signalCode !== null) continue;
    d.child.kill('SIGTERM');
    const timer = setTimeout(() => { d.child.kill('SIGKILL'); }, 5_000);
    await d.exited();
    clearTimeout(timer);
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function project(): Promise<Project> {
  const dir = await tempPluginDir({});
  dirs.push(dir);
  const plugins = join(dir, 'plugins');
  mkdirSync(plugins);
  const events = join(dir, 'events.log');
  writeFileSync(events, '');
  const state = join(dir, '.plugd/state');
  return { dir, plugins, state, root: join(dir, '.plugd/root'), sock: join(state, 'plugd.sock'), events };
}

/** Starts `plugd serve --watch` on the project and waits for its `ready` line. */
async function watching(p: Project): Promise<DaemonProcess> {
  const d = serve(['--watch', '--plugins', p.plugins, '--state', p.state, '--root', p.root], p.dir);
  running.push(d);
  await d.waitFor(msg('ready'), WAIT);
  return d;
}

interface Spec {
  type: string;
  id: string;
  version?: number | string;
  requires?: string[];
  /** Code at the module's top level. */
  top?: string;
  /** Code at the start of init (`ctx` is in scope). */
  init?: string;
  /** Code at the end of close (`i` is the instance; may `return` a hand-off value). */
  close?: string;
}

/**
 * A plugin module. Its init logs `init:<id>@<version>` (plus ` sees <versions>` of the instances of
 * its required types) and returns `{ version }`; its close logs `close:<id>@<version>`.
 */
function source(p: Project, s: Spec): string {
  const requires = s.requires ?? [];
  return `import { appendFileSync } from 'node:fs';
import { register } from 'plugd';
const log = (e) => appendFileSync(${JSON.stringify(p.events)}, e + '\\n');
const ID = ${JSON.stringify(s.id)};
const VERSION = ${JSON.stringify(String(s.version ?? 1))};
${s.top ?? ''}
register({
  type: ${JSON.stringify(s.type)}, id: ID, requires: ${JSON.stringify(requires)},
  init: async (ctx) => {
    ${s.init ?? ''}
    const seen = ${JSON.stringify(requires)}.map((t) => ctx.getAll(t).map((x) => x.version).join('+'));
    log('init:' + ID + '@' + VERSION + (seen.length > 0 ? ' sees ' + seen.join(',') : ''));
    return { version: VERSION };
  },
  close: async (i) => {
    log('close:' + ID + '@' + i.version);
    ${s.close ?? ''}
  },
});
`;
}

function put(p: Project, file: string, text: string): void {
  mkdirSync(join(p.plugins, file, '..'), { recursive: true });
  writeFileSync(join(p.plugins, file), text);
}

/** A folder plugin `folder` (plugin id `id`) whose init logs `lib:<LIB>`, LIB from its sibling module lib.js. */
function putFolder(p: Project, folder: string, id: string, lib: string): void {
  put(p, `${folder}/lib.js`, `export const LIB = '${lib}';\n`);
  put(p, `${folder}/index.js`, source(p, { type: A, id, top: "import { LIB } from './lib.js';", init: "log('lib:' + LIB);" }));
}

const events = (p: Project): string[] => readFileSync(p.events, 'utf8').split('\n').filter((l) => l !== '');
const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** Sleeps synchronously: a writer that pauses exactly, whatever the test process's event loop does. */
function pauseSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The daemon's `plugd ls --json` document, from its socket. */
async function ls(p: Project): Promise<StatusDoc> {
  const res = await get(p.sock, '/v1/plugins');
  expect(res.status).toBe(200);
  return res.body as StatusDoc;
}

const pluginOf = (doc: StatusDoc, name: string): PluginDoc | undefined => doc.plugins.find((x) => x.name === name);
const fileOf = (doc: StatusDoc, file: string): FileDoc | undefined => doc.files.find((x) => x.file === file);

/** Polls `fn` until it returns something other than undefined; fails after `timeoutMs`. */
async function until<T>(fn: () => Promise<T | undefined> | T | undefined, timeoutMs = WAIT, what = 'the condition'): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Polls `ls` until `test` holds on it; returns that document. */
async function lsUntil(p: Project, test: (doc: StatusDoc) => boolean, what?: string): Promise<StatusDoc> {
  let last: StatusDoc | undefined;
  try {
    return await until(async () => {
      last = await ls(p);
      return test(last) ? last : undefined;
    }, WAIT, what);
  } catch (error) {
    throw new Error(`${String(error)}; last ls: ${JSON.stringify(last)}`);
  }
}

const reloadLines = (d: DaemonProcess, file: string): LogLine[] => d.lines.filter(msg('reload', { file }));
const waitReload = (d: DaemonProcess, fields: Record<string, unknown>): Promise<LogLine> => d.waitFor(msg('reload', fields), WAIT);

/**
 * Writes (creates, then edits) a separate plugin and waits for its reload: every change saved
 * before this call has been settled and logged by then (the daemon reports units in the order they
 * become quiet, and reloads them one pass at a time).
 */
function barrier(p: Project, d: DaemonProcess): () => Promise<void> {
  let n = 0;
  return async () => {
    n++;
    put(p, 'zz-barrier.js', `import { register } from 'plugd';\n// ${n}\nregister({ type: 'io.t.barrier.v1', id: 'b', init: () => ({}) });\n`);
    await waitReload(d, { file: 'zz-barrier.js', generation: n, result: 'live' });
  };
}

const A = 'io.t.a.v1';
const B = 'io.t.b.v1';

describe('plugd serve --watch', () => {
  test('an edit goes live: generation 1 -> 2, the new code runs, its dependent is re-inited but keeps generation 1', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    const d = await watching(p);
    expect(events(p)).toEqual(['init:a@1', 'init:b@1 sees 1']);

    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2 }));
    const line = await waitReload(d, { file: 'a.js' });
    expect(line).toMatchObject({ result: 'live', plugins: [`${A}.a`], reinit: [`${B}.b`], generation: 2, level: 30 });
    expect(typeof line.ms).toBe('number');
    // The dependent was closed first and re-inited last, against the new version.
    expect(events(p)).toEqual(['init:a@1', 'init:b@1 sees 1', 'close:b@1', 'close:a@1', 'init:a@2', 'init:b@1 sees 2']);

    const doc = JSON.parse((await plugd(['ls', '--json', '--state', p.state])).stdout) as StatusDoc;
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 2, file: 'a.js' });
    expect(pluginOf(doc, `${B}.b`)).toMatchObject({ status: 'ok', generation: 1, file: 'b.js' });
    expect(fileOf(doc, 'a.js')).toEqual({ file: 'a.js', status: 'loaded', generation: 2, sha256: sha256(readFileSync(join(p.plugins, 'a.js'))) });
    expect(fileOf(doc, 'b.js')).toMatchObject({ status: 'loaded', generation: 1 });
  });

  test('a broken edit keeps the old version live and shows the error on the file; fixing it goes live', async () => {
    const p = await project();
    const v1 = source(p, { type: A, id: 'a', version: 1 });
    put(p, 'a.js', v1);
    const d = await watching(p);

    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2 }).replace('register({', 'register({{'));
    const failed = await waitReload(d, { file: 'a.js' });
    expect(failed).toMatchObject({ result: 'failed', code: 'E_PLUGIN_LOAD', generation: 1, level: 50 });
    expect(String(failed.err)).toContain('a.js');
    const doc = await ls(p);
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 1 });
    expect(pluginOf(doc, `${A}.a`)).not.toHaveProperty('error');
    expect(fileOf(doc, 'a.js')).toMatchObject({ status: 'loaded', generation: 1, sha256: sha256(v1), error: { code: 'E_PLUGIN_LOAD' } });
    expect(events(p)).toEqual(['init:a@1']); // never closed: the old version kept running

    put(p, 'a.js', source(p, { type: A, id: 'a', version: 3 }));
    expect(await waitReload(d, { file: 'a.js', result: 'live' })).toMatchObject({ generation: 2 });
    const fixed = await ls(p);
    expect(pluginOf(fixed, `${A}.a`)).toMatchObject({ status: 'ok', generation: 2 });
    expect(fileOf(fixed, 'a.js')).toMatchObject({ status: 'loaded', generation: 2 });
    expect(fileOf(fixed, 'a.js')).not.toHaveProperty('error');
    expect(events(p)).toEqual(['init:a@1', 'close:a@1', 'init:a@3']);
  });

  test('a burst of 10 saves 5 ms apart: only the last version goes live, once, with no error', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 0 }));
    const d = await watching(p);
    const settled = barrier(p, d);

    let last = '';
    for (let v = 1; v <= 10; v++) {
      if (v > 1) pauseSync(5);
      last = source(p, { type: A, id: 'a', version: v });
      writeFileSync(join(p.plugins, 'a.js'), last);
    }
    await waitReload(d, { file: 'a.js', result: 'live' });
    await settled();
    expect(reloadLines(d, 'a.js').map((l) => [l.result, l.generation])).toEqual([['live', 2]]);
    expect(events(p)).toEqual(['init:a@0', 'close:a@0', 'init:a@10']);
    const doc = await ls(p);
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 2 });
    expect(fileOf(doc, 'a.js')).toEqual({ file: 'a.js', status: 'loaded', generation: 2, sha256: sha256(last) });
    expect(d.lines.filter((l) => l.level >= 40)).toEqual([]);
  });

  test('a 1 MB file written in 64 KB chunks goes live once, whole, with no load error on the way', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    const d = await watching(p);
    const settled = barrier(p, d);

    // A truncated copy is a syntax error (an unterminated template literal) or registers nothing.
    const filler = 'plugd hot reload 1 MB '.repeat(48_000);
    const big = Buffer.from(source(p, { type: A, id: 'a', version: 2, top: `const BIG = \`${filler}\`;`, init: "log('big:' + BIG.length);" }));
    expect(big.length).toBeGreaterThan(1_000_000);
    const fd = openSync(join(p.plugins, 'a.js'), 'w');
    try {
      for (let at = 0; at < big.length; at += 65_536) {
        if (at > 0) pauseSync(2 + (at / 65_536) % 2);
        writeSync(fd, big, at, Math.min(65_536, big.length - at));
      }
    } finally {
      closeSync(fd);
    }

    expect(await waitReload(d, { file: 'a.js', result: 'live' })).toMatchObject({ generation: 2, plugins: [`${A}.a`] });
    await settled();
    expect(d.lines.filter((l) => l.code === 'E_PLUGIN_LOAD')).toEqual([]);
    expect(reloadLines(d, 'a.js').map((l) => l.result)).toEqual(['live']);
    expect(events(p)).toEqual(['init:a@1', 'close:a@1', `big:${filler.length}`, 'init:a@2']);
    expect(fileOf(await ls(p), 'a.js')).toMatchObject({ status: 'loaded', generation: 2, sha256: sha256(big) });
  });

  test('an atomic save (write a dot-file, rename it over the plugin) is one reload, never a removal', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    const d = await watching(p);
    const settled = barrier(p, d);

    const temp = join(p.plugins, '.a.js.swp');
    writeFileSync(temp, source(p, { type: A, id: 'a', version: 2 }));
    renameSync(temp, join(p.plugins, 'a.js'));
    expect(await waitReload(d, { file: 'a.js' })).toMatchObject({ result: 'live', generation: 2, reinit: [`${B}.b`] });
    await settled();
    expect(reloadLines(d, 'a.js').map((l) => l.result)).toEqual(['live']);
    expect(d.lines.filter(msg('reload', { file: '.a.js.swp' }))).toEqual([]);
    expect(events(p)).toEqual(['init:a@1', 'init:b@1 sees 1', 'close:b@1', 'close:a@1', 'init:a@2', 'init:b@1 sees 2']);
    const doc = await ls(p);
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 2 });
    expect(doc.files.map((f) => f.file)).toEqual(['a.js', 'b.js', 'zz-barrier.js']);
  });

  test('a new file: its plugin is inited, and a plugin skipped for want of its type comes up', async () => {
    const p = await project();
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    const d = await watching(p);
    const before = await ls(p);
    expect(pluginOf(before, `${B}.b`)).toMatchObject({ status: 'skipped', error: { code: 'E_DEPENDENCY' } });
    expect(events(p)).toEqual([]);

    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    expect(await waitReload(d, { file: 'a.js' })).toMatchObject({ result: 'live', generation: 1, plugins: [`${A}.a`], reinit: [`${B}.b`] });
    const doc = await lsUntil(p, (x) => pluginOf(x, `${B}.b`)?.status === 'ok', 'b ok');
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 1, file: 'a.js' });
    expect(pluginOf(doc, `${B}.b`)).not.toHaveProperty('error');
    expect(fileOf(doc, 'a.js')).toMatchObject({ status: 'loaded', generation: 1 });
    expect(events(p)).toEqual(['init:a@1', 'init:b@1 sees 1']);
  });

  test('a deleted file: its plugin is closed and gone, its dependent is skipped with E_DEPENDENCY', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    const d = await watching(p);

    unlinkSync(join(p.plugins, 'a.js'));
    expect(await waitReload(d, { file: 'a.js' })).toMatchObject({ result: 'removed', plugins: [], reinit: [`${B}.b`] });
    const doc = await lsUntil(p, (x) => pluginOf(x, `${A}.a`) === undefined, 'a gone');
    expect(pluginOf(doc, `${B}.b`)).toMatchObject({ status: 'skipped', generation: 1, error: { code: 'E_DEPENDENCY' } });
    expect(pluginOf(doc, `${B}.b`)?.error?.message).toContain(A);
    expect(doc.files.map((f) => f.file)).toEqual(['b.js']);
    expect(events(p)).toEqual(['init:a@1', 'init:b@1 sees 1', 'close:b@1', 'close:a@1']);
  });

  test('a duplicate in a later file is refused and leaves the owner alone; deleting the owner hands it the name', async () => {
    const p = await project();
    put(p, 'a-owner.js', source(p, { type: A, id: 'x', version: 'owner' }));
    const d = await watching(p);

    put(p, 'z-dup.js', source(p, { type: A, id: 'x', version: 'dup' }));
    const refused = await waitReload(d, { file: 'z-dup.js' });
    expect(refused).toMatchObject({ result: 'refused', code: 'E_DUPLICATE_PLUGIN', generation: 0 });
    const doc = await ls(p);
    expect(fileOf(doc, 'z-dup.js')).toMatchObject({ status: 'failed', sha256: null, error: { code: 'E_DUPLICATE_PLUGIN' } });
    expect(fileOf(doc, 'a-owner.js')).toMatchObject({ status: 'loaded', generation: 1 });
    expect(fileOf(doc, 'a-owner.js')).not.toHaveProperty('error');
    expect(doc.plugins).toEqual([expect.objectContaining({ name: `${A}.x`, file: 'a-owner.js', status: 'ok', generation: 1 })]);
    expect(events(p)).toEqual(['init:x@owner']);

    unlinkSync(join(p.plugins, 'a-owner.js'));
    expect(await waitReload(d, { file: 'z-dup.js', result: 'live' })).toMatchObject({ generation: 1, plugins: [`${A}.x`] });
    expect(reloadLines(d, 'a-owner.js').map((l) => l.result)).toEqual(['removed']);
    const after = await lsUntil(p, (x) => pluginOf(x, `${A}.x`)?.file === 'z-dup.js', 'z-dup owns the name');
    expect(after.plugins).toEqual([expect.objectContaining({ name: `${A}.x`, file: 'z-dup.js', status: 'ok', generation: 1 })]);
    expect(after.files).toEqual([{ file: 'z-dup.js', status: 'loaded', generation: 1, sha256: sha256(readFileSync(join(p.plugins, 'z-dup.js'))) }]);
    expect(events(p)).toEqual(['init:x@owner', 'close:x@owner', 'init:x@dup']);
  });

  test('a refused duplicate edited again is refused again; once the owner goes, its latest version takes over', async () => {
    const p = await project();
    put(p, 'a-owner.js', source(p, { type: A, id: 'x', version: 'owner' }));
    const d = await watching(p);
    put(p, 'z-dup.js', source(p, { type: A, id: 'x', version: 'dup1' }));
    await waitReload(d, { file: 'z-dup.js', result: 'refused' });

    const dup2 = source(p, { type: A, id: 'x', version: 'dup2' });
    put(p, 'z-dup.js', dup2);
    await d.waitFor(() => reloadLines(d, 'z-dup.js').length === 2, WAIT);
    expect(reloadLines(d, 'z-dup.js')[1]).toMatchObject({ result: 'refused', code: 'E_DUPLICATE_PLUGIN', generation: 0 });

    unlinkSync(join(p.plugins, 'a-owner.js'));
    expect(await waitReload(d, { file: 'z-dup.js', result: 'live' })).toMatchObject({ generation: 1 });
    const doc = await lsUntil(p, (x) => pluginOf(x, `${A}.x`)?.file === 'z-dup.js', 'z-dup owns the name');
    // What a fresh serve would run: the file as it is on disk, with no stale error.
    expect(doc.files).toEqual([{ file: 'z-dup.js', status: 'loaded', generation: 1, sha256: sha256(dup2) }]);
    expect(events(p)).toEqual(['init:x@owner', 'close:x@owner', 'init:x@dup2']);
  });

  test('a live file edited into a duplicate keeps its old version running; once the owner goes, the new version takes over', async () => {
    const p = await project();
    put(p, 'a-owner.js', source(p, { type: A, id: 'x', version: 'owner' }));
    put(p, 'b.js', source(p, { type: B, id: 'b', version: 'b1' }));
    const d = await watching(p);

    const b2 = source(p, { type: A, id: 'x', version: 'b2' });
    put(p, 'b.js', b2);
    expect(await waitReload(d, { file: 'b.js' })).toMatchObject({ result: 'failed', code: 'E_DUPLICATE_PLUGIN', generation: 1 });
    const doc = await ls(p);
    expect(pluginOf(doc, `${B}.b`)).toMatchObject({ status: 'ok', file: 'b.js', generation: 1 });
    expect(fileOf(doc, 'b.js')).toMatchObject({ status: 'loaded', generation: 1, error: { code: 'E_DUPLICATE_PLUGIN' } });
    expect(fileOf(doc, 'b.js')?.sha256).not.toBe(sha256(b2));

    unlinkSync(join(p.plugins, 'a-owner.js'));
    expect(await waitReload(d, { file: 'b.js', result: 'live' })).toMatchObject({ generation: 2, plugins: [`${A}.x`] });
    const after = await lsUntil(p, (x) => pluginOf(x, `${A}.x`)?.file === 'b.js', 'b.js owns the name');
    expect(after.plugins).toEqual([expect.objectContaining({ name: `${A}.x`, file: 'b.js', status: 'ok', generation: 2 })]);
    expect(after.files).toEqual([{ file: 'b.js', status: 'loaded', generation: 2, sha256: sha256(b2) }]);
    expect(events(p)).toEqual(['init:x@owner', 'init:b@b1', 'close:b@b1', 'close:x@owner', 'init:x@b2']);
  });

  test("state hand-off: what version 1's close returns is version 2's ctx.handoff", async () => {
    const p = await project();
    const handoff = "log('handoff:' + JSON.stringify(ctx.handoff ?? null));";
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1, init: handoff, close: 'return { from: VERSION, count: 41 };' }));
    const d = await watching(p);
    expect(events(p)).toEqual(['handoff:null', 'init:a@1']);

    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2, init: handoff }));
    await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
    expect(events(p)).toEqual(['handoff:null', 'init:a@1', 'close:a@1', 'handoff:{"from":"1","count":41}', 'init:a@2']);
  });

  test("a folder plugin: editing a sibling module (not index.js) reloads it with the sibling's new code", async () => {
    const p = await project();
    putFolder(p, 'folder', 'f', 'lib-1');
    const d = await watching(p);
    expect(events(p)).toEqual(['lib:lib-1', 'init:f@1']);

    put(p, 'folder/lib.js', "export const LIB = 'lib-2';\n");
    expect(await waitReload(d, { file: 'folder/index.js' })).toMatchObject({ result: 'live', generation: 2, plugins: [`${A}.f`] });
    expect(events(p)).toEqual(['lib:lib-1', 'init:f@1', 'close:f@1', 'lib:lib-2', 'init:f@1']);
    const doc = await ls(p);
    expect(pluginOf(doc, `${A}.f`)).toMatchObject({ status: 'ok', generation: 2, file: 'folder/index.js' });
    expect(fileOf(doc, 'folder/index.js')).toMatchObject({ status: 'loaded', generation: 2 });
  });

  test('a folder plugin created after start is watched inside: editing its sibling module reloads it', async () => {
    const p = await project();
    const d = await watching(p);
    putFolder(p, 'later', 'later', 'lib-1');
    expect(await waitReload(d, { file: 'later/index.js' })).toMatchObject({ result: 'live', generation: 1 });

    put(p, 'later/lib.js', "export const LIB = 'lib-2';\n");
    expect(await waitReload(d, { file: 'later/index.js', generation: 2 })).toMatchObject({ result: 'live' });
    expect(events(p).slice(-2)).toEqual(['lib:lib-2', 'init:later@1']);
  });

  test('a file deleted and created again is watched again: its later edits reload', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    const d = await watching(p);
    unlinkSync(join(p.plugins, 'a.js'));
    await waitReload(d, { file: 'a.js', result: 'removed' });
    // A new file again: its generations start over.
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2 }));
    await waitReload(d, { file: 'a.js', result: 'live', generation: 1 });
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 3 }));
    await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
    expect(events(p)).toEqual(['init:a@1', 'close:a@1', 'init:a@2', 'close:a@2', 'init:a@3']);
  });

  test('a folder plugin deleted and created again is watched inside again', async () => {
    const p = await project();
    putFolder(p, 'f', 'f', 'lib-1');
    const d = await watching(p);
    rmSync(join(p.plugins, 'f'), { recursive: true });
    await waitReload(d, { file: 'f/index.js', result: 'removed' });
    putFolder(p, 'f', 'f', 'lib-2');
    await waitReload(d, { file: 'f/index.js', result: 'live', generation: 1 });
    put(p, 'f/lib.js', "export const LIB = 'lib-3';\n");
    await waitReload(d, { file: 'f/index.js', result: 'live', generation: 2 });
    expect(events(p).filter((e) => e.startsWith('lib:'))).toEqual(['lib:lib-1', 'lib:lib-2', 'lib:lib-3']);
  });

  test('a file deleted and back within chokidar\'s unlink delay is still watched: its next edit reloads', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    const d = await watching(p);
    unlinkSync(join(p.plugins, 'a.js'));
    pauseSync(10);
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2 }));
    await lsUntil(p, (x) => events(p).includes('init:a@2') && pluginOf(x, `${A}.a`)?.status === 'ok', 'a@2 live');
    await new Promise((r) => setTimeout(r, 400)); // past chokidar's unlink delay and the linger
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 3 }));
    await lsUntil(p, () => events(p).includes('init:a@3'), 'a@3 live');
    expect(d.lines.filter(msg('reload', { file: 'a.js', result: 'failed' }))).toEqual([]);
  });

  test('an edit that changes what a plugin requires reorders the graph: a new cycle is reported', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    const d = await watching(p);
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 2, requires: [B] }));
    await waitReload(d, { file: 'a.js', generation: 2 });
    const doc = await lsUntil(p, (x) => pluginOf(x, `${A}.a`)?.status === 'skipped', 'a skipped');
    expect(pluginOf(doc, `${A}.a`)?.error?.code).toBe('E_DEPENDENCY');
    expect(pluginOf(doc, `${A}.a`)?.error?.message).toContain('cycle');
    expect(pluginOf(doc, `${B}.b`)).toMatchObject({ status: 'skipped', error: { code: 'E_DEPENDENCY' } });
  });

  test('SIGTERM during a reload: exit 0, everything closed, the socket removed', async () => {
    const p = await project();
    const slow = (v: number): string => source(p, { type: A, id: 'a', version: v, init: `log('init-start:a@' + VERSION); await new Promise((r) => setTimeout(r, ${v === 1 ? 0 : 500}));` });
    put(p, 'a.js', slow(1));
    put(p, 'b.js', source(p, { type: B, id: 'b', requires: [A] }));
    put(p, 'c.js', source(p, { type: 'io.t.c.v1', id: 'c' }));
    const d = await watching(p);
    expect(existsSync(p.sock)).toBe(true);

    put(p, 'a.js', slow(2));
    await until(() => (events(p).includes('init-start:a@2') ? true : undefined), WAIT, 'the new version starting');
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(existsSync(p.sock)).toBe(false);
    expect(d.lines.some(msg('stopped', { closeErrors: 0 }))).toBe(true);

    // The running reload finished (a stop lets it), then every instance was closed exactly once, in reverse init order.
    expect(events(p)).toEqual([
      'init-start:a@1', 'init:a@1', 'init:b@1 sees 1', 'init:c@1',
      'close:b@1', 'close:a@1', 'init-start:a@2', 'init:a@2', 'init:b@1 sees 2',
      'close:b@1', 'close:a@2', 'close:c@1',
    ]);
  });

  test('a broken save reverted to exactly the live bytes: no new version, no re-init, the error is gone', async () => {
    const p = await project();
    const v1 = source(p, { type: A, id: 'a', version: 1 });
    put(p, 'a.js', v1);
    const d = await watching(p);
    put(p, 'a.js', v1.replace('register({', 'register({{'));
    expect(await waitReload(d, { file: 'a.js' })).toMatchObject({ result: 'failed' });
    const settled = barrier(p, d);
    put(p, 'a.js', v1);
    await lsUntil(p, (doc) => fileOf(doc, 'a.js')?.error === undefined, 'the error to clear');
    await settled();
    expect(reloadLines(d, 'a.js').map((l) => l.result)).toEqual(['failed']);
    expect(events(p)).toEqual(['init:a@1']);
    expect(fileOf(await ls(p), 'a.js')).toEqual({ file: 'a.js', status: 'loaded', generation: 1, sha256: sha256(v1) });
  });

  test('health counts reloads and heap growth; past the heap budget the daemon warns once, suggesting a restart', async () => {
    const p = await project();
    writeFileSync(join(p.dir, 'plugd.toml'), 'version = 1\n[watch]\nheap_budget_mb = 2\n');
    // Each version keeps ~8 MB alive in its module (as the ESM cache would keep a big module).
    const version = (n: number): string => source(p, { type: A, id: 'a', version: n, top: 'const keep = new Array(1e6).fill(VERSION); globalThis.__keep = (globalThis.__keep ?? []).concat([keep]);' });
    put(p, 'a.js', version(1));
    const d = serve(['--watch'], p.dir);
    running.push(d);
    await d.waitFor(msg('ready'), WAIT);
    for (let n = 2; n <= 4; n++) {
      put(p, 'a.js', version(n));
      await waitReload(d, { file: 'a.js', result: 'live', generation: n });
    }
    const warning = await d.waitFor((l) => l.msg.includes('heap grew past its budget'), WAIT);
    expect(warning).toMatchObject({ budgetMb: 2 });
    expect(warning.msg).toContain('restart');
    const health = (await get(p.sock, '/v1/health')).body as { reloads: number; heapGrowthBytes: number };
    expect(health.reloads).toBe(3);
    expect(health.heapGrowthBytes).toBeGreaterThan(2 * 1024 * 1024);
    put(p, 'a.js', version(5));
    await waitReload(d, { file: 'a.js', result: 'live', generation: 5 });
    expect(d.lines.filter((l) => l.msg.includes('heap grew past its budget'))).toHaveLength(1);
  });

  test('a save that changes nothing (touch, identical rewrite) reloads nothing', async () => {
    const p = await project();
    const v1 = source(p, { type: A, id: 'a', version: 1 });
    put(p, 'a.js', v1);
    const d = await watching(p);
    const settled = barrier(p, d);
    await settled();

    const file = join(p.plugins, 'a.js');
    const later = new Date(Date.now() + 5_000);
    utimesSync(file, later, later);
    await settled();
    writeFileSync(file, v1);
    await settled();
    expect(reloadLines(d, 'a.js')).toEqual([]);
    expect(events(p)).toEqual(['init:a@1']);
    const doc = await ls(p);
    expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 1 });
    expect(fileOf(doc, 'a.js')).toEqual({ file: 'a.js', status: 'loaded', generation: 1, sha256: sha256(v1) });
  });

  describe('what a plugin imports is watched: the import graph the module hooks see', () => {
    /** lib/bus.js, shared by plugins: logs `bus:<version>` each time it evaluates, and hands out one token per instance. */
    const bus = (p: Project, version: number): string => `import { appendFileSync } from 'node:fs';
appendFileSync(${JSON.stringify(p.events)}, 'bus:${version}\\n');
export const bus = { version: ${version}, token: Symbol('bus') };
globalThis.__plugdTestBuses ??= new Set();
globalThis.__plugdTestBuses.add(bus.token);
`;
    /** A plugin that logs which bus version it sees, and how many bus instances exist so far. */
    const user = (p: Project, id: string, version = 1): string => source(p, {
      type: `io.t.${id}.v1`, id, version,
      top: "import { bus } from './lib/bus.js';",
      init: "log(ID + ' uses bus:' + bus.version + ' of ' + globalThis.__plugdTestBuses.size);",
    });

    test('editing a shared module reloads every plugin that imports it, and they share its one new instance', async () => {
      const p = await project();
      put(p, 'lib/bus.js', bus(p, 1));
      put(p, 'a.js', user(p, 'a'));
      put(p, 'b.js', user(p, 'b'));
      put(p, 'c.js', source(p, { type: 'io.t.c.v1', id: 'c' }));
      const d = await watching(p);
      expect(events(p).filter((e) => e.startsWith('bus:'))).toEqual(['bus:1']);

      put(p, 'lib/bus.js', bus(p, 2));
      await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
      await waitReload(d, { file: 'b.js', result: 'live', generation: 2 });
      const after = events(p).slice(events(p).indexOf('bus:2'));
      // One evaluation of the new bus, seen by both plugins; c imports nothing of it and stays.
      expect(after.filter((e) => e.startsWith('bus:'))).toEqual(['bus:2']);
      expect(after).toEqual(expect.arrayContaining(['a uses bus:2 of 2', 'b uses bus:2 of 2']));
      expect(events(p)).not.toContain('close:c@1');
      const doc = await ls(p);
      expect(pluginOf(doc, 'io.t.c.v1.c')).toMatchObject({ status: 'ok', generation: 1 });
    });

    test('editing one plugin re-evaluates it alone: the unchanged shared module keeps its instance', async () => {
      const p = await project();
      put(p, 'lib/bus.js', bus(p, 1));
      put(p, 'a.js', user(p, 'a'));
      put(p, 'b.js', user(p, 'b'));
      const d = await watching(p);

      put(p, 'a.js', user(p, 'a', 2));
      await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
      expect(events(p).filter((e) => e.startsWith('bus:'))).toEqual(['bus:1']);
      expect(events(p)).toContain('a uses bus:1 of 1');
      expect(reloadLines(d, 'b.js')).toEqual([]);
    });

    test('a top-level JSON module a plugin imports is watched: editing it reloads the plugin with the new data', async () => {
      const p = await project();
      put(p, 'settings.json', '{ "level": 1 }');
      put(p, 'a.js', source(p, { type: A, id: 'a', top: "import settings from './settings.json' with { type: 'json' };", init: "log('level:' + settings.level);" }));
      const d = await watching(p);
      expect(events(p)).toContain('level:1');

      put(p, 'settings.json', '{ "level": 2 }');
      await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
      expect(events(p)).toContain('level:2');
    });

    test('a changed file inside a folder plugin that no module imports (a data file) reloads the plugin', async () => {
      const p = await project();
      put(p, 'folder/data.txt', 'one');
      put(p, 'folder/index.js', source(p, {
        type: A, id: 'f',
        top: "import { readFileSync } from 'node:fs';",
        init: "log('data:' + readFileSync(new URL('./data.txt', import.meta.url), 'utf8'));",
      }));
      const d = await watching(p);
      expect(events(p)).toContain('data:one');

      put(p, 'folder/data.txt', 'two');
      await waitReload(d, { file: 'folder/index.js', result: 'live', generation: 2 });
      expect(events(p)).toContain('data:two');
    });
  });

  describe('a plugin file replaced by something that is not a regular file', () => {
    /** Puts `make` (a FIFO, a link) at `a.js` in one rename, as an atomic save would. */
    function replace(p: Project, make: (path: string) => void): void {
      const temp = join(p.plugins, '.a.js.tmp');
      make(temp);
      renameSync(temp, join(p.plugins, 'a.js'));
    }

    test('a FIFO, then a dangling link: the last good version stays live, the file shows E_PLUGIN_PATH; a real file goes live again', async () => {
      const p = await project();
      const v1 = source(p, { type: A, id: 'a', version: 1 });
      put(p, 'a.js', v1);
      const d = await watching(p);

      replace(p, (path) => { execFileSync('mkfifo', [path]); });
      const fifo = await waitReload(d, { file: 'a.js', result: 'failed' });
      expect(fifo).toMatchObject({ code: 'E_PLUGIN_PATH', generation: 1 });
      expect(String(fifo.err)).toContain('is a FIFO (named pipe), not a regular file');
      let doc = await ls(p);
      expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 1 });
      expect(fileOf(doc, 'a.js')).toMatchObject({ status: 'loaded', generation: 1, sha256: sha256(v1), error: { code: 'E_PLUGIN_PATH' } });

      replace(p, (path) => { symlinkSync('nowhere.js', path); });
      doc = await lsUntil(p, (x) => fileOf(x, 'a.js')?.error?.message.includes('dangling') === true, 'the dangling link to show');
      expect(pluginOf(doc, `${A}.a`)).toMatchObject({ status: 'ok', generation: 1 });
      expect(fileOf(doc, 'a.js')).toMatchObject({ status: 'loaded', generation: 1, sha256: sha256(v1), error: { code: 'E_PLUGIN_PATH' } });
      // Never closed, never removed.
      expect(events(p)).toEqual(['init:a@1']);
      expect(reloadLines(d, 'a.js').map((l) => l.result)).not.toContain('removed');

      rmSync(join(p.plugins, 'a.js'));
      put(p, 'a.js', source(p, { type: A, id: 'a', version: 2 }));
      await waitReload(d, { file: 'a.js', result: 'live', generation: 2 });
      expect(events(p)).toEqual(['init:a@1', 'close:a@1', 'init:a@2']);
      expect(fileOf(await ls(p), 'a.js')?.error).toBeUndefined();
    });

    test('a folder plugin whose index.js becomes a FIFO keeps its last good version live', async () => {
      const p = await project();
      putFolder(p, 'folder', 'f', 'one');
      const d = await watching(p);
      rmSync(join(p.plugins, 'folder/index.js'));
      execFileSync('mkfifo', [join(p.plugins, 'folder/index.js')]);
      const doc = await lsUntil(p, (x) => fileOf(x, 'folder/index.js')?.error !== undefined, 'the FIFO to show');
      expect(fileOf(doc, 'folder/index.js')).toMatchObject({ status: 'loaded', generation: 1, error: { code: 'E_PLUGIN_PATH' } });
      expect(pluginOf(doc, `${A}.f`)).toMatchObject({ status: 'ok', generation: 1 });
      expect(events(p)).toEqual(['lib:one', 'init:f@1']);
      expect(reloadLines(d, 'folder/index.js').map((l) => l.result)).not.toContain('removed');
    });
  });

  test('a file refused for its mode goes live once chmod fixes it, with the same bytes', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    chmodSync(join(p.plugins, 'a.js'), 0o666);
    const d = await watching(p);
    expect(fileOf(await ls(p), 'a.js')).toMatchObject({ status: 'failed', error: { code: 'E_PLUGIN_PERMISSIONS' } });
    expect(events(p)).toEqual([]);

    chmodSync(join(p.plugins, 'a.js'), 0o644);
    await waitReload(d, { file: 'a.js', result: 'live', generation: 1 });
    expect(fileOf(await ls(p), 'a.js')).toMatchObject({ status: 'loaded', generation: 1 });
    expect(fileOf(await ls(p), 'a.js')?.error).toBeUndefined();
    expect(events(p)).toEqual(['init:a@1']);
  });

  test('a live file made writable by others is refused (the old version stays); chmod back clears the error with no re-init', async () => {
    const p = await project();
    put(p, 'a.js', source(p, { type: A, id: 'a', version: 1 }));
    const d = await watching(p);
    chmodSync(join(p.plugins, 'a.js'), 0o666);
    await waitReload(d, { file: 'a.js', result: 'failed', code: 'E_PLUGIN_PERMISSIONS' });
    expect(fileOf(await ls(p), 'a.js')).toMatchObject({ status: 'loaded', generation: 1, error: { code: 'E_PLUGIN_PERMISSIONS' } });
    chmodSync(join(p.plugins, 'a.js'), 0o644);
    await lsUntil(p, (doc) => fileOf(doc, 'a.js')?.error === undefined, 'the error to clear');
    expect(events(p)).toEqual(['init:a@1']);
  });

  test('a file that failed is retried on touch (the same bytes): what it needed meanwhile is there now', async () => {
    const p = await project();
    // Fails while its data file is missing; creating that file outside the watched tree changes nothing plugd watches.
    const data = join(p.dir, 'data.txt');
    put(p, 'a.js', source(p, { type: A, id: 'a', top: `import { readFileSync } from 'node:fs';\nreadFileSync(${JSON.stringify(data)});` }));
    const d = await watching(p);
    expect(fileOf(await ls(p), 'a.js')).toMatchObject({ status: 'failed', error: { code: 'E_PLUGIN_LOAD' } });
    writeFileSync(data, 'here');
    const later = new Date(Date.now() + 5_000);
    utimesSync(join(p.plugins, 'a.js'), later, later);
    await waitReload(d, { file: 'a.js', result: 'live', generation: 1 });
    expect(events(p)).toEqual(['init:a@1']);
  });
});
