/**
 * End-to-end: a plugin that blocks `plugd serve`'s event loop (a busy loop in its init, or in a
 * hot-reloaded module's top level) leaves a daemon deaf to its socket and to SIGTERM. The
 * watchdog thread ends it within the timeout plus a few seconds, after one fatal log line that
 * names the plugin file and line, and removes the control socket, so that a supervisor restarts it.
 */
import { describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPluginDir } from '../support/cli.js';
import { daemonsPerTest, msg, type DaemonProcess } from '../support/daemon.js';

const start = daemonsPerTest();

const BLOCKED = 'a plugin blocked the event loop: the daemon cannot answer or close anything; exiting so a supervisor restarts it';
const OK = "import { register } from 'plugd';\nregister({ type: 'ok', id: 'ok', init() { return 1; } });\n";

/** A plugin dir with `files` and the daemon's state next to it; the daemon started on it with a 500 ms timeout. */
async function daemon(files: Readonly<Record<string, string>>, args: readonly string[] = []): Promise<{ d: DaemonProcess; dir: string; socket: string }> {
  const base = await tempPluginDir({});
  const plugins = await tempPluginDir(files);
  const d = start(['--plugins', plugins, '--state', join(base, 'state'), '--root', join(base, 'root'), '--timeout', '500', ...args]);
  return { d, dir: plugins, socket: join(base, 'state', 'plugd.sock') };
}

describe('plugd serve: the watchdog', () => {
  test('an init that loops forever: one fatal line naming the plugin, file and line; the socket is removed; the process ends', async () => {
    const looping = "import { register } from 'plugd';\nregister({ type: 'm', id: 'loop', init() {\n  for (;;) {}\n} });\n";
    const { d, socket } = await daemon({ 'a.js': OK, 'm.js': looping });
    const line = await d.waitFor(msg(BLOCKED), 15_000);
    expect(line).toMatchObject({ level: 60, file: 'm.js', line: 3, plugins: ['m.loop'] });
    await d.exited();
    expect(d.child.signalCode).toBe('SIGKILL');
    expect(existsSync(socket)).toBe(false);
  }, 20_000);

  test('a hot-reloaded save that loops at its top level is caught too', async () => {
    const { d, dir } = await daemon({ 'a.js': OK }, ['--watch']);
    await d.waitFor(msg('ready'));
    await writeFile(join(dir, 'a.js'), `${OK}let spins = 0;\nwhile (true) spins++;\n`);
    const line = await d.waitFor(msg(BLOCKED), 15_000);
    expect(line).toMatchObject({ file: 'a.js', line: 4, plugins: ['ok.ok'] });
    await d.exited();
    expect(d.child.signalCode).toBe('SIGKILL');
  }, 20_000);

  test('a daemon that is busy but not blocked is left alone', async () => {
    const slow = "import { register } from 'plugd';\nregister({ type: 's', id: 's', async init() { await new Promise((r) => setTimeout(r, 3000)); } });\n";
    const { d } = await daemon({ 's.js': slow });
    // The init times out (500 ms) and fails; the loop kept turning, so the watchdog never fires.
    await d.waitFor(msg('ready'), 10_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(d.lines.some(msg(BLOCKED))).toBe(false);
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
  }, 20_000);
});
