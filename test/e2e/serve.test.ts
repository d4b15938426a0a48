/**
 * End-to-end: `plugd serve` and `plugd ls` as real child processes on temp directories, with the
 * real control socket, the real SQLite file and real signals.
 */
import { describe, expect, test } from '@jest/globals';
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { get } from '../../src/daemon/control.js';
import { BIN, plugd, tempPluginDir } from '../support/cli.js';
import { daemonsPerTest, msg } from '../support/daemon.js';

const start = daemonsPerTest();

/**
 * A plugin that appends `event:name` lines to `<dir>/../events.log` on init and close, so a test
 * can read the order in which the daemon called them.
 */
const recorder = (type: string, id: string, extra = '', initBody = ''): string => `
import { appendFileSync } from 'node:fs';
import { register } from 'plugd';
const log = (e) => appendFileSync(process.env.PLUGD_TEST_EVENTS ?? '/dev/null', e + '\\n');
register({ type: '${type}', id: '${id}', ${extra}
  init: async (ctx) => { ${initBody} log('init:' + ctx.name); return { name: ctx.name }; },
  close: async (i) => { log('close:' + i.name); },
});
`;

async function project(files: Record<string, string>, config?: string): Promise<{ dir: string; plugins: string; state: string; root: string; events: string }> {
  const dir = await tempPluginDir(Object.fromEntries(Object.entries(files).map(([f, c]) => [`plugins/${f}`, c])));
  if (config !== undefined) await writeFile(join(dir, 'plugd.toml'), config);
  const events = join(dir, 'events.log');
  await writeFile(events, '');
  process.env.PLUGD_TEST_EVENTS = events;
  return { dir, plugins: join(dir, 'plugins'), state: join(dir, '.plugd/state'), root: join(dir, '.plugd/root'), events };
}

const events = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

describe('plugd serve', () => {
  test('logs one line per plugin and file, then ready; ls shows the status document; SIGTERM closes in reverse', async () => {
    const p = await project({
      'a-store.js': recorder('io.t.store.v1', 'mem'),
      'b-api.js': recorder('io.t.api.v1', 'http', "requires: ['io.t.store.v1'],"),
      'c-broken.js': "throw new Error('broken at load');\n",
      'd-fails.js': "import { register } from 'plugd';\nregister({ type: 'io.t.bad.v1', id: 'x', init: () => { throw new Error('no'); } });\n",
      'e-skip.js': "import { register, SkipPluginError } from 'plugd';\nregister({ type: 'io.t.skip.v1', id: 'x', init: () => { throw new SkipPluginError('not on this host'); } });\n",
    });
    const d = start([], p.dir);
    const ready = await d.waitFor(msg('ready'));
    expect(ready).toMatchObject({ ok: 2, failed: 1, skipped: 1, disabled: 0, filesFailed: 1 });
    expect(typeof ready.ms).toBe('number');
    expect(await d.waitFor(msg('plugin loaded', { plugin: 'io.t.store.v1.mem' }))).toMatchObject({ file: 'a-store.js' });
    expect(typeof (await d.waitFor(msg('plugin loaded', { plugin: 'io.t.api.v1.http' }))).ms).toBe('number');
    expect(await d.waitFor(msg('plugin file failed to load', { file: 'c-broken.js' }))).toMatchObject({ code: 'E_PLUGIN_LOAD' });
    expect(await d.waitFor(msg('plugin failed', { plugin: 'io.t.bad.v1.x' }))).toMatchObject({ code: 'E_PLUGIN_INIT', file: 'd-fails.js' });
    expect(await d.waitFor(msg('plugin skipped', { plugin: 'io.t.skip.v1.x' }))).toMatchObject({ reason: 'not on this host' });
    // The ready line comes after every plugin line.
    expect(d.lines.findIndex(msg('ready'))).toBeGreaterThan(d.lines.findIndex(msg('plugin failed')));

    const sock = join(p.state, 'plugd.sock');
    expect(statSync(sock).mode & 0o777).toBe(0o600);
    const health = await get(sock, '/v1/health');
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ ready: true, ok: 2 });

    const ls = await plugd(['ls', '--json'], { cwd: p.dir });
    expect(ls.code).toBe(0);
    const doc = JSON.parse(ls.stdout) as { plugins: Record<string, unknown>[]; files: Record<string, unknown>[] };
    expect(doc.plugins.map((x) => [x.name, x.status])).toEqual([
      ['io.t.store.v1.mem', 'ok'], ['io.t.api.v1.http', 'ok'], ['io.t.bad.v1.x', 'failed'], ['io.t.skip.v1.x', 'skipped'],
    ]);
    expect(doc.plugins[1]).toMatchObject({ type: 'io.t.api.v1', id: 'http', file: 'b-api.js', requires: ['io.t.store.v1'], generation: 1 });
    expect(typeof doc.plugins[1]?.initMs).toBe('number');
    expect(doc.plugins[1]).not.toHaveProperty('error');
    expect(doc.plugins[2]?.error).toMatchObject({ code: 'E_PLUGIN_INIT' });
    expect(doc.plugins[3]?.error).toEqual({ code: 'E_SKIP_PLUGIN', message: 'not on this host' });
    const sha = createHash('sha256').update(readFileSync(join(p.plugins, 'a-store.js'))).digest('hex');
    expect(doc.files).toContainEqual({ file: 'a-store.js', status: 'loaded', generation: 1, sha256: sha });
    expect(doc.files.find((f) => f.file === 'c-broken.js')).toMatchObject({ status: 'failed', error: { code: 'E_PLUGIN_LOAD' } });

    const table = await plugd(['ls', '--state', p.state]);
    expect(table.stdout).toMatch(/^TYPE\s+ID\s+STATUS\s+FILE\n/);
    expect(table.stdout).toMatch(/io\.t\.api\.v1\s+http\s+ok\s+b-api\.js/);
    const detailed = await plugd(['ls', '--state', p.state, '--detailed']);
    expect(detailed.stdout).toMatch(/REQUIRES/);
    expect(detailed.stdout).toContain('E_PLUGIN_INIT');

    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(events(p.events)).toEqual(['init:io.t.store.v1.mem', 'init:io.t.api.v1.http', 'close:io.t.api.v1.http', 'close:io.t.store.v1.mem']);
    expect(existsSync(sock)).toBe(false);
    expect((await plugd(['ls', '--state', p.state])).code).toBe(1);
  });

  test('health is 503 {"ready": false} while plugins are starting', async () => {
    const p = await project({ 'slow.js': recorder('io.t.slow.v1', 'x', '', 'await new Promise((r) => setTimeout(r, 1500));') });
    const d = start(['--plugins', p.plugins, '--state', p.state, '--root', p.root]);
    const sock = join(p.state, 'plugd.sock');
    await d.waitFor(msg('starting'));
    const during = await get(sock, '/v1/health');
    expect(during).toEqual({ status: 503, body: expect.objectContaining({ ready: false }) as unknown });
    await d.waitFor(msg('ready'));
    expect((await get(sock, '/v1/health')).status).toBe(200);
  });

  test('a required plugin that fails: exit 1 after closing what started, socket removed', async () => {
    const p = await project({
      'a.js': recorder('io.t.a.v1', 'ok'),
      'b.js': "import { register } from 'plugd';\nregister({ type: 'io.t.b.v1', id: 'needed', init: () => { throw 'down'; } });\n",
    }, 'version = 1\nrequired_plugins = ["io.t.b.v1.needed"]\n');
    const d = start([], p.dir);
    expect(await d.exited()).toBe(1);
    expect(d.lines.find(msg('required plugin(s) did not start: shutting down'))).toMatchObject({ required: ['io.t.b.v1.needed'] });
    expect(d.lines.some(msg('ready'))).toBe(false);
    expect(events(p.events)).toEqual(['init:io.t.a.v1.ok', 'close:io.t.a.v1.ok']);
    expect(existsSync(join(p.state, 'plugd.sock'))).toBe(false);
  });

  test('a skip whose message getter throws is a skip: the others start, the daemon stays up and closes cleanly', async () => {
    const p = await project({
      'a.js': recorder('io.t.a.v1', 'started'),
      'b.js': `import { register } from 'plugd';
register({ type: 'io.t.b.v1', id: 'hostile', init: () => {
  const skip = Object.assign(new Error(), { code: 'E_SKIP_PLUGIN' });
  Object.defineProperty(skip, 'message', { get() { throw new Error('do not read my message'); } });
  throw skip;
} });
`,
      'c.js': recorder('io.t.c.v1', 'after'),
      'd.js': "throw new Error('\\u001b[2Jall clear');\n",
      // (A control character in a file's name refuses the file: E_PLUGIN_PATH, its name escaped.)
      [`e${String.fromCharCode(27)}[2J.js`]: recorder('io.t.e.v1', 'never'),
    });
    const d = start(['--plugins', p.plugins, '--state', p.state, '--root', p.root]);
    const ready = await d.waitFor(msg('ready'));
    expect(ready).toMatchObject({ ok: 2, skipped: 1, failed: 0 });
    expect(d.lines.find(msg('plugin skipped', { plugin: 'io.t.b.v1.hostile' }))).toMatchObject({ reason: 'Error: <unreadable message>' });
    const sock = join(p.state, 'plugd.sock');
    expect((await get(sock, '/v1/health')).status).toBe(200);
    // ls's human output escapes what a plugin supplied (its file name, its message).
    const ls = await plugd(['ls', '--state', p.state]);
    expect(ls.stdout).not.toContain(String.fromCharCode(27));
    expect(ls.stdout).toContain('d.js  E_PLUGIN_LOAD');
    expect(ls.stdout).toContain('e\\x1b[2J.js  E_PLUGIN_PATH');
    expect(ls.stdout).toContain('Error: \\x1b[2Jall clear');
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
    expect(events(p.events)).toEqual(['init:io.t.a.v1.started', 'init:io.t.c.v1.after', 'close:io.t.c.v1.after', 'close:io.t.a.v1.started']);
    expect(existsSync(sock)).toBe(false);
  });

  test('disabled plugins are never initialized; their dependents are skipped', async () => {
    const p = await project({
      'a.js': recorder('io.t.a.v1', 'off'),
      'b.js': recorder('io.t.b.v1', 'dependent', "requires: ['io.t.a.v1'],"),
      'c.js': recorder('io.t.c.v1', 'on'),
    }, 'version = 1\ndisabled_plugins = ["io.t.a.v1.off"]\n');
    const d = start([], p.dir);
    await d.waitFor(msg('ready'));
    const doc = JSON.parse((await plugd(['ls', '--json'], { cwd: p.dir })).stdout) as { plugins: { name: string; status: string; error?: { code: string; message: string } }[] };
    expect(doc.plugins.map((x) => [x.name, x.status])).toEqual([['io.t.a.v1.off', 'disabled'], ['io.t.c.v1.on', 'ok'], ['io.t.b.v1.dependent', 'skipped']]);
    expect(doc.plugins[2]?.error?.code).toBe('E_DEPENDENCY');
    expect(doc.plugins[2]?.error?.message).toContain('io.t.a.v1.off');
    expect(events(p.events)).toEqual(['init:io.t.c.v1.on']);
  });

  test('an invalid config file: exit 2 before anything loads, every problem with its key path', async () => {
    const p = await project({ 'a.js': recorder('io.t.a.v1', 'x') }, 'version = 2\nplugins_dir = "x"\n[timeouts]\nload = -5\n');
    const d = start([], p.dir);
    expect(await d.exited()).toBe(2);
    expect(d.lines).toEqual([]);
    const err = d.stderr();
    expect(err).toContain('plugd.toml');
    expect(err).toContain('version');
    expect(err).toContain('plugins_dir');
    expect(err).toContain('timeouts.load');
    expect(events(p.events)).toEqual([]);
  });

  test('a second daemon on the same state directory is refused; a stale socket is cleaned up', async () => {
    const p = await project({ 'a.js': recorder('io.t.a.v1', 'x') });
    // A socket file left by a daemon that died: a process that listened on it was killed.
    const sock = join(p.state, 'plugd.sock');
    await mkdir(p.state, { recursive: true });
    const dead = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(sock)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => { dead.stdout.once('data', () => { r(); }); });
    const killed = new Promise<void>((r) => { dead.once('exit', () => { r(); }); });
    dead.kill('SIGKILL');
    await killed;
    expect(statSync(sock).isSocket()).toBe(true);
    const first = start([], p.dir);
    await first.waitFor(msg('ready'));
    // The same state (and root): refused by the root's lock, naming the first daemon.
    const second = start([], p.dir);
    expect(await second.exited()).toBe(1);
    expect(JSON.stringify(second.lines)).toContain(`another plugd daemon (pid ${String(first.child.pid)}) is running`);
    // The same state, another root: refused by the live socket.
    const third = start(['--root', join(p.dir, 'other-root')], p.dir);
    expect(await third.exited()).toBe(1);
    expect(JSON.stringify(third.lines)).toContain('another plugd daemon is running on');
    expect((await get(sock, '/v1/health')).status).toBe(200); // the first one is untouched
  });

  test('the inventory and history survive a restart', async () => {
    const p = await project({ 'a.js': recorder('io.t.a.v1', 'x') });
    for (let run = 0; run < 2; run++) {
      const d = start([], p.dir);
      await d.waitFor(msg('ready'));
      d.child.kill('SIGINT');
      expect(await d.exited()).toBe(0);
    }
    const db = new Database(join(p.root, 'meta.db'), { readonly: true });
    try {
      const runs = db.prepare('SELECT * FROM plugd_runs ORDER BY id').all() as { stopped_at: string | null }[];
      expect(runs).toHaveLength(2);
      for (const r of runs) expect(r.stopped_at).not.toBeNull();
      const kinds = (db.prepare('SELECT kind FROM plugd_events ORDER BY id').all() as { kind: string }[]).map((e) => e.kind);
      expect(kinds.filter((k) => k === 'start')).toHaveLength(2);
      expect(kinds.filter((k) => k === 'close')).toHaveLength(2);
      const plugins = db.prepare('SELECT name, status, generation FROM plugd_plugins').all();
      expect(plugins).toEqual([{ name: 'io.t.a.v1.x', status: 'ok', generation: 1 }]);
    } finally {
      db.close();
    }
  });

  // thrower.js imports nothing but plugd, so it is imported inline (a data: URL): finding it on the
  // stack also shows that the inline module names its own file there (its sourceURL).
  test('an uncaught error from a plugin after init is logged with its name; the daemon goes on', async () => {
    const p = await project({
      'thrower.js': "import { register } from 'plugd';\nregister({ type: 'io.t.t.v1', id: 'thrower', init: () => { setTimeout(() => { throw new Error('later'); }, 50); return {}; } });\n",
    });
    const d = start([], p.dir);
    await d.waitFor(msg('ready'));
    const line = await d.waitFor(msg('uncaught error in a plugin'));
    expect(line.plugins).toEqual(['io.t.t.v1.thrower']);
    expect(String(line.err)).toContain('later');
    expect((await get(join(p.state, 'plugd.sock'), '/v1/health')).status).toBe(200);
  });

  test('blame finds an inline module in a directory whose path a URL must escape', async () => {
    const p = await project({});
    const plugins = join(p.dir, 'my plugins #1');
    await mkdir(plugins);
    await writeFile(join(plugins, 'thrower.js'), "import { register } from 'plugd';\nregister({ type: 'io.t.t.v1', id: 'thrower', init: () => { setTimeout(() => { throw new Error('later'); }, 50); return {}; } });\n");
    const d = start(['--plugins', plugins], p.dir);
    await d.waitFor(msg('ready'));
    const line = await d.waitFor(msg('uncaught error in a plugin'));
    expect(line.plugins).toEqual(['io.t.t.v1.thrower']);
  });

  test('a second signal exits at once, without waiting for a slow close', async () => {
    const p = await project({ 'slow.js': recorder('io.t.slow.v1', 'x').replace("close: async (i) => {", "close: async (i) => { await new Promise((r) => setTimeout(r, 20000));") });
    const d = start([], p.dir);
    await d.waitFor(msg('ready'));
    d.child.kill('SIGTERM');
    await d.waitFor(msg('stopping'));
    const t = performance.now();
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(1);
    expect(performance.now() - t).toBeLessThan(5000);
    expect(d.lines.some(msg('second signal: exiting at once'))).toBe(true);
    // Even so, the socket is removed and the run is recorded as stopped.
    expect(existsSync(join(p.state, 'plugd.sock'))).toBe(false);
    const db = new Database(join(p.root, 'meta.db'), { readonly: true });
    try {
      expect(db.prepare('SELECT stopped_at FROM plugd_runs').get()).toEqual({ stopped_at: expect.any(String) as unknown });
    } finally {
      db.close();
    }
  });

  test('on a TTY the logs are pretty-printed, not JSON lines', async () => {
    const p = await project({ 'a.js': recorder('io.t.a.v1', 'x') });
    // script(1) gives the daemon a real pseudo-terminal; timeout(1) stops it with SIGINT.
    const run = spawnSync('script', ['-qec', `timeout -s INT 3 ${process.execPath} ${BIN} serve --plugins ${p.plugins} --state ${p.state} --root ${p.root}`, '/dev/null'],
      { encoding: 'utf8', env: { ...process.env } });
    const lines = run.stdout.split(/\r?\n/).filter((l) => l.includes('plugin loaded') || l.includes('ready'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line.trimStart().startsWith('{')).toBe(false);
    expect(run.stdout).toContain('io.t.a.v1.x');
  });

  test('usage errors exit 2', async () => {
    expect((await plugd(['serve', '--log-level', 'loud'])).code).toBe(2);
    expect((await plugd(['serve', 'extra'])).code).toBe(2);
    expect((await plugd(['serve', '--config', '/no/such/plugd.toml'])).code).toBe(2);
  });
});

describe('the example plugins (npm start)', () => {
  test('create, label, list and delete a container through the HTTP API', async () => {
    const p = await project({}, `version = 1\nplugin_dir = "${resolve('dist/plugins')}"\n[plugins."io.plugd.api.v1.http"]\nport = 0\n`);
    const d = start([], p.dir);
    await d.waitFor(msg('ready'));
    const url = String((await d.waitFor(msg('HTTP API listening'))).url);
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
      const res = await fetch(url + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
      return { status: res.status, json: await res.json() };
    };
    expect(await call('POST', '/v1/containers', { id: 'web', labels: { env: 'dev' } })).toMatchObject({ status: 201, json: { id: 'web', labels: { env: 'dev' } } });
    expect((await call('POST', '/v1/containers', { id: 'web' })).status).toBe(409);
    expect((await call('POST', '/v1/containers', { id: 'bad id!' })).status).toBe(400);
    expect(await call('PATCH', '/v1/containers/web/labels', { tier: 'front' })).toMatchObject({ status: 200, json: { labels: { env: 'dev', tier: 'front' } } });
    await call('POST', '/v1/containers', { id: 'db', labels: { env: 'prod' } });
    expect((await call('GET', '/v1/containers?label=env=dev')).json).toEqual([expect.objectContaining({ id: 'web' })]);
    expect(await call('DELETE', '/v1/containers/web')).toEqual({ status: 200, json: { deleted: 'web' } });
    expect((await call('GET', '/v1/containers/web')).status).toBe(404);
    const ls = JSON.parse((await plugd(['ls', '--json'], { cwd: p.dir })).stdout) as { plugins: { name: string; status: string }[] };
    expect(ls.plugins.map((x) => [x.name, x.status])).toEqual([
      ['io.plugd.store.v1.sqlite', 'ok'], ['io.plugd.service.v1.containers', 'ok'], ['io.plugd.example.v1.greeter', 'ok'], ['io.plugd.api.v1.http', 'ok'],
    ]);
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
  });
});
