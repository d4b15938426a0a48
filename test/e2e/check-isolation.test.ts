/**
 * `plugd check` runs plugin code in a worker thread that the CLI supervises: whatever a plugin
 * does - loop forever, exit, throw from a timer, print, or replace JSON.stringify - the check
 * returns in bounded time, exits 1, and reports the file that did it, with every other file still
 * reported. (The CI gate must not be passable by the code it checks.)
 */
import { describe, expect, test } from '@jest/globals';
import { plugd, tempPluginDir } from '../support/cli.js';
import type { CheckReport } from '../../src/check.js';

const OK = (id: string): string => `import { register } from 'plugd';\nregister({ type: 'ok', id: '${id}', init() { return '${id}'; } });\n`;

/** Runs `plugd check <dir> --json ...args` on `files` and returns the exit code, report and stderr. */
async function checkFiles(files: Readonly<Record<string, string>>, args: readonly string[] = []): Promise<{ code: number | null; report: CheckReport; stderr: string }> {
  const dir = await tempPluginDir({ 'a.js': OK('a'), 'z.js': OK('z'), ...files });
  const run = await plugd(['check', dir, '--json', '--timeout', '1000', ...args], { timeoutMs: 15_000 });
  return { code: run.code, report: JSON.parse(run.stdout) as CheckReport, stderr: run.stderr };
}

/** The names of the plugins in `report` with their statuses. */
function statuses(report: CheckReport): Record<string, string> {
  return Object.fromEntries(report.plugins.map((p) => [p.name, p.status]));
}

describe('plugd check contains what plugin code does', () => {
  test('a top-level busy loop is a timeout on its file and line; the other files are reported', async () => {
    const { code, report } = await checkFiles({ 'm.js': "import { register } from 'plugd';\nregister({ type: 'm', id: 'm', init() {} });\nfor (;;) {}\n" });
    expect(code).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_LOAD', file: 'm.js', reason: 'timeout', line: 3 })]);
    expect(statuses(report)).toEqual({ 'ok.a': 'ok', 'ok.z': 'ok' });
  }, 20_000);

  test('an init that loops is an E_PLUGIN_INIT timeout; the other plugins start and close', async () => {
    const looping = "import { register } from 'plugd';\nregister({ type: 'm', id: 'm', init() {\n  for (;;) {}\n} });\n";
    const { code, report } = await checkFiles({ 'm.js': looping }, ['--init']);
    expect(code).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_INIT', plugin: 'm.m', file: 'm.js', reason: 'timeout', line: 3 })]);
    expect(statuses(report)).toEqual({ 'ok.a': 'ok', 'm.m': 'failed', 'ok.z': 'ok' });
  }, 20_000);

  test.each([0, 1])('process.exit(%i) at the top level fails its file (reason exit), not the check', async (exitCode) => {
    const { code, report } = await checkFiles({ 'm.js': `import { register } from 'plugd';\nregister({ type: 'm', id: 'm', init() {} });\nprocess.exit(${exitCode});\n` });
    expect(code).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_LOAD', file: 'm.js', reason: 'exit', line: 3 })]);
    expect(statuses(report)).toEqual({ 'ok.a': 'ok', 'ok.z': 'ok' });
  }, 20_000);

  test('process.exit() in an init fails that plugin (reason exit)', async () => {
    const { code, report } = await checkFiles({ 'm.js': "import { register } from 'plugd';\nregister({ type: 'm', id: 'm', init() { process.exit(0); } });\n" }, ['--init']);
    expect(code).toBe(1);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_INIT', plugin: 'm.m', reason: 'exit', line: 2 })]);
    expect(statuses(report)).toEqual({ 'ok.a': 'ok', 'm.m': 'failed', 'ok.z': 'ok' });
  }, 20_000);

  test.each([
    ['a throw from a timer', "setTimeout(() => { throw new Error('late'); }, 0);"],
    ['a rejection nobody handles', "Promise.reject(new Error('late'));"],
  ])('%s during the load is an error on its file', async (_, line) => {
    const { code, report } = await checkFiles({ 'm.js': `import { register } from 'plugd';\n${line}\nregister({ type: 'm', id: 'm', init() {} });\n` });
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_LOAD', file: 'm.js', reason: 'throw', line: 2 })]);
  }, 20_000);

  test('a plugin that prints and replaces JSON.stringify cannot change the --json document', async () => {
    const forger = [
      "import { register } from 'plugd';",
      "JSON.stringify = () => '{\"ok\":true,\"plugins\":[],\"errors\":[],\"warnings\":[]}';",
      "process.stdout.write('{\"ok\":true}\\n');",
      "console.log('hello');",
      "register({ type: 'm', id: 'm', init() { throw new Error('broken'); } });",
    ].join('\n');
    const { code, report, stderr } = await checkFiles({ 'm.js': forger }, ['--init']);
    expect(code).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_INIT', plugin: 'm.m', reason: 'throw' })]);
    expect(stderr).toContain('hello');
  }, 20_000);

  test.each([
    ['process.abort()', 'process.abort();'],
    ['a SIGKILL of its own process', "process.kill(process.pid, 'SIGKILL');"],
  ])('%s ends the check with a non-zero status', async (_, line) => {
    const dir = await tempPluginDir({ 'a.js': OK('a'), 'm.js': `import 'plugd';\n${line}\n` });
    const run = await plugd(['check', dir, '--json'], { timeoutMs: 15_000 });
    expect(run.code === null || run.code !== 0).toBe(true);
  }, 20_000);
});
