/**
 * End-to-end: what plugin code, the file system and a second daemon can do to `plugd serve`'s own
 * files and bookkeeping, with real daemons: the inventory on plugd's private connection (a plugin
 * closing `ctx.meta`, breaking a `plugd_` table, meta.db deleted), a corrupt meta.db, the control
 * socket's path (a regular file, too long, no permission), one daemon per root, a plugin calling
 * `process.exit()`, and SIGTERM while an init is in flight.
 */
import { describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { get } from '../../src/daemon/control.js';
import { BIN, tempPluginDir } from '../support/cli.js';
import { daemonsPerTest, msg, type DaemonProcess } from '../support/daemon.js';

const start = daemonsPerTest();

interface Project { dir: string; plugins: string; root: string; state: string; socket: string; args: string[] }

/** A temp project with `plugins/<file>` for each of `files`, and the serve flags that point at it. */
async function project(files: Record<string, string>): Promise<Project> {
  const dir = await tempPluginDir(Object.fromEntries(Object.entries(files).map(([f, c]) => [`plugins/${f}`, c])));
  await mkdir(join(dir, 'plugins'), { recursive: true });
  const plugins = join(dir, 'plugins');
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  return { dir, plugins, root, state, socket: join(state, 'plugd.sock'), args: ['--plugins', plugins, '--root', root, '--state', state] };
}

const plugin = (id: string, init: string, close = ''): string =>
  `import { register } from 'plugd';\nregister({ type: 'io.t.c.v1', id: '${id}', init: async (ctx) => { ${init} }, close: async () => { ${close} } });\n`;

const fine = plugin('fine', 'return {};');

/** plugd's own rows in `<root>/meta.db`, read after the daemon exited. */
function inventory(root: string): { runs: { pid: number; stopped_at: string | null }[]; plugins: { name: string; status: string }[] } {
  const db = new Database(join(root, 'meta.db'), { readonly: true });
  try {
    return {
      runs: db.prepare('SELECT pid, stopped_at FROM plugd_runs ORDER BY id').all() as { pid: number; stopped_at: string | null }[],
      plugins: db.prepare('SELECT name, status FROM plugd_plugins ORDER BY name').all() as { name: string; status: string }[],
    };
  } finally {
    db.close();
  }
}

const NOBODY = 65534;

/** True when this process may run `plugd serve` as the user nobody: root, and a build nobody can read. */
function nobodyCanServe(): boolean {
  if (process.getuid?.() !== 0) return false;
  const probe = `require(require.resolve('better-sqlite3', { paths: [${JSON.stringify(process.cwd())}] })); require('node:fs').accessSync(${JSON.stringify(BIN)})`;
  return spawnSync(process.execPath, ['-e', probe], { uid: NOBODY, gid: NOBODY, stdio: 'ignore' }).status === 0;
}

const warnings = (d: DaemonProcess): number => d.lines.filter(msg('the inventory in meta.db is incomplete: a write failed (see /v1/health)')).length;

describe('the inventory uses a connection plugins cannot reach', () => {
  test('a plugin that closes ctx.meta in init: the inventory is complete and the run is stopped', async () => {
    const p = await project({ 'closer.js': plugin('closer', 'ctx.meta.close(); return {};'), 'fine.js': fine });
    const d = start(p.args);
    await d.waitFor(msg('ready'));
    expect((await get(p.socket, '/v1/health')).body).toMatchObject({ ready: true, ok: 2, meta: { ok: true } });
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(warnings(d)).toBe(0);
    const inv = inventory(p.root);
    expect(inv.plugins).toEqual([{ name: 'io.t.c.v1.closer', status: 'ok' }, { name: 'io.t.c.v1.fine', status: 'ok' }]);
    expect(inv.runs).toHaveLength(1);
    expect(inv.runs[0]?.stopped_at).not.toBeNull();
  });

  test('a plugin that drops plugd_ tables: one warning, /v1/health reports it, the daemon goes on', async () => {
    const p = await project({
      'a-vandal.js': plugin('vandal', "ctx.meta.exec('DROP TABLE plugd_events; DROP TABLE plugd_plugins'); return {};"),
      'b-fine.js': fine, 'c-fine.js': plugin('also', 'return {};'),
    });
    const d = start(p.args);
    await d.waitFor(msg('ready'));
    const health = await get(p.socket, '/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ready: true, ok: 3, meta: { ok: false, error: expect.stringMatching(/no such table: plugd_/) as unknown } });
    expect((health.body as { meta: { failedWrites: number } }).meta.failedWrites).toBeGreaterThan(1);
    expect(warnings(d)).toBe(1);
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(warnings(d)).toBe(1);
  });

  test('meta.db deleted while the daemon runs: one warning, /v1/health reports it, the daemon goes on', async () => {
    const p = await project({ 'fine.js': fine });
    const d = start([...p.args, '--watch']);
    await d.waitFor(msg('ready'));
    await rm(join(p.root, 'meta.db'));
    const health = await get(p.socket, '/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ meta: { ok: false, error: expect.stringContaining('was deleted or replaced while the daemon runs') as unknown } });
    // More inventory writes (a reload) add no more warnings.
    await writeFile(join(p.plugins, 'more.js'), plugin('more', 'return {};'));
    await d.waitFor(msg('reload', { file: 'more.js' }));
    expect((await get(p.socket, '/v1/health')).status).toBe(200);
    expect(warnings(d)).toBe(1);
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
  });
});

describe('startup failures', () => {
  test.each([
    ['random bytes', randomBytes(16_384)],
    ['text', 'this is not a database\n'.repeat(300)],
  ])('a meta.db of %s: "not a database" with the fix; the socket is removed', async (_what, content) => {
    const p = await project({ 'fine.js': fine });
    await mkdir(p.root, { recursive: true });
    await writeFile(join(p.root, 'meta.db'), content);
    const d = start(p.args);
    expect(await d.exited()).toBe(1);
    const line = d.lines.find(msg('cannot start'));
    expect(String(line?.err)).toContain('file is not a database');
    expect(String(line?.err)).toContain('move it away');
    expect(String(line?.err)).not.toContain('directory');
    expect(existsSync(p.socket)).toBe(false);
    expect(readFileSync(join(p.root, 'meta.db'))).toEqual(Buffer.from(content)); // untouched
  });

  test('a regular file at the socket path is refused and kept', async () => {
    const p = await project({ 'fine.js': fine });
    await mkdir(p.state, { recursive: true });
    await writeFile(p.socket, 'not mine to delete');
    const d = start(p.args);
    expect(await d.exited()).toBe(1);
    expect(String(d.lines.find(msg('cannot open the control socket'))?.err)).toContain('exists and is not a socket; plugd does not delete it');
    expect(readFileSync(p.socket, 'utf8')).toBe('not mine to delete');
  });

  test('a state path too long for a Unix socket: a clear error, no socket anywhere', async () => {
    const p = await project({ 'fine.js': fine });
    const state = join(p.dir, 's'.repeat(50), 't'.repeat(50));
    const d = start(['--plugins', p.plugins, '--root', p.root, '--state', state]);
    expect(await d.exited()).toBe(1);
    expect(String(d.lines.find(msg('cannot open the control socket'))?.err)).toMatch(/plugd\.sock is \d+ bytes long, more than the \d+ a Unix socket path may have; use a shorter --state/);
    expect(await readdir(state)).toEqual([]);
  });

  // The permission bits only bind a user other than root: the daemon runs as "nobody" here, when
  // this runs as root and nobody can reach the build and its dependencies.
  (nobodyCanServe() ? test : test.skip)('a state folder this user may not write, with a stale socket in it: a permission error, not EADDRINUSE', async () => {
    const p = await project({ 'fine.js': fine });
    await chmod(p.dir, 0o755);
    await chmod(p.plugins, 0o755);
    await chmod(join(p.plugins, 'fine.js'), 0o644);
    await mkdir(p.root, { mode: 0o755 });
    await chown(p.root, NOBODY, NOBODY);
    await mkdir(p.state, { mode: 0o755 });
    const asNobody = async (): Promise<{ code: number | null; out: string }> => {
      const child = spawn(process.execPath, [BIN, 'serve', ...p.args], { uid: NOBODY, gid: NOBODY, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
      child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
      const code = await new Promise<number | null>((r) => { child.on('exit', r); });
      return { code, out };
    };
    // No socket yet: the bind is refused.
    const bare = await asNobody();
    expect(bare.code).toBe(1);
    expect(bare.out).toMatch(/cannot create the control socket .*plugd\.sock: permission denied; make its folder writable/);
    // A stale socket of root's (a process that listened and was killed): not ours to probe or remove.
    const holder = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(p.socket)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => { holder.stdout.once('data', () => { r(); }); });
    const killed = new Promise<void>((r) => { holder.once('exit', () => { r(); }); });
    holder.kill('SIGKILL');
    await killed;
    expect(statSync(p.socket).isSocket()).toBe(true);
    const { code, out } = await asNobody();
    expect(code).toBe(1);
    expect(out).not.toContain('EADDRINUSE');
    expect(out).toMatch(/cannot connect to the control socket .*plugd\.sock to see whether a daemon answers there \(EACCES\); check its permissions/);
    expect(statSync(p.socket).isSocket()).toBe(true);
  });
});

describe('one daemon per root', () => {
  test('a second daemon on the same --root (another --state) is refused, naming the root and the holder', async () => {
    const p = await project({ 'fine.js': fine });
    const first = start(p.args);
    await first.waitFor(msg('ready'));
    const otherState = join(p.dir, 'state2');
    const second = start(['--plugins', p.plugins, '--root', p.root, '--state', otherState]);
    expect(await second.exited()).toBe(1);
    const line = second.lines.find(msg('cannot lock the root'));
    expect(String(line?.err)).toBe(`another plugd daemon (pid ${String(first.child.pid)}) is running with --root ${p.root}; ` +
      'stop it, or give this one another --root (two daemons must not share one inventory)');
    expect(second.lines.some(msg('starting'))).toBe(false);
    expect(existsSync(join(otherState, 'plugd.sock'))).toBe(false);
    // The first one is untouched, and its inventory holds only its own run.
    expect((await get(p.socket, '/v1/health')).status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited()).toBe(0);
    expect(inventory(p.root).runs.map((r) => r.pid)).toEqual([first.child.pid]);
  });

  test('the root is free again once its daemon stopped, or was killed', async () => {
    const p = await project({ 'fine.js': fine });
    const first = start(p.args);
    await first.waitFor(msg('ready'));
    first.child.kill('SIGKILL'); // no cleanup at all: the kernel drops the lock
    await first.exited();
    const second = start(p.args);
    await second.waitFor(msg('ready'));
    second.child.kill('SIGTERM');
    expect(await second.exited()).toBe(0);
    const third = start(p.args);
    await third.waitFor(msg('ready'));
  });
});

describe('a plugin that calls process.exit()', () => {
  test.each([
    ['in its init', 'process.exit(3);', 'starting'],
    ['from a timer, once running', 'setTimeout(() => process.exit(3), 300); return {};', 'running'],
  ])('%s: logged with its name and phase, the run marked stopped, the socket removed', async (_when, init, phase) => {
    const p = await project({ 'a-fine.js': fine, 'b-exit.js': plugin('exiter', init) });
    const d = start(p.args);
    expect(await d.exited()).toBe(3);
    const line = d.lines.find(msg('a plugin exited the process: plugins were not closed'));
    expect(line).toMatchObject({ code: 3, phase, plugins: ['io.t.c.v1.exiter'] });
    expect(String(line?.at)).toContain('b-exit.js');
    expect(existsSync(p.socket)).toBe(false);
    const [run] = inventory(p.root).runs;
    expect(run?.stopped_at).not.toBeNull();
    // The root is free for the next daemon.
    await rm(join(p.plugins, 'b-exit.js'));
    const next = start(p.args);
    await next.waitFor(msg('ready'));
  });
});

describe('SIGTERM during startup', () => {
  test('a plugin whose init is in flight is closed once its init settles; nothing after it starts', async () => {
    const p = await project({
      'a-slow.js': plugin('slow', "ctx.log.info('init begun'); await new Promise((r) => setTimeout(r, 1000)); return {};",
        `(await import('node:fs')).writeFileSync(${JSON.stringify('MARKER')}, 'closed');`),
      'b-after.js': plugin('after', `(await import('node:fs')).writeFileSync(${JSON.stringify('AFTER')}, 'started'); return {};`),
    });
    const marker = join(p.dir, 'closed.txt');
    const after = join(p.dir, 'after.txt');
    for (const f of ['a-slow.js', 'b-after.js']) {
      const path = join(p.plugins, f);
      await writeFile(path, readFileSync(path, 'utf8').replace('"MARKER"', JSON.stringify(marker)).replace('"AFTER"', JSON.stringify(after)));
    }
    const d = start(p.args);
    await d.waitFor(msg('init begun'));
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(readFileSync(marker, 'utf8')).toBe('closed');
    expect(existsSync(after)).toBe(false);
    expect(d.lines.some(msg('ready'))).toBe(false);
    expect(d.lines.find(msg('plugin closed', { plugin: 'io.t.c.v1.slow' }))).toBeDefined();
    expect(existsSync(p.socket)).toBe(false);
    expect(inventory(p.root).runs[0]?.stopped_at).not.toBeNull();
  });
});
