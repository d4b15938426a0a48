/**
 * End-to-end: plugins are imported in place, by Node's own loader, from real child processes.
 * Each plugin appends what it observes to an events file outside its directory.
 */
import { describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { plugd, tempPluginDir } from '../support/cli.js';

/** A module that appends `<label> <its import.meta.url>` to `events` when it evaluates. */
const observer = (events: string, label: string, more = ''): string =>
  `import { appendFileSync } from 'node:fs';\n${more}\nappendFileSync(${JSON.stringify(events)}, ${JSON.stringify(label)} + ' ' + import.meta.url + '\\n');\n`;

const plugin = (events: string, id: string, imports = "import './sibling.js';"): string => observer(events, id,
  `import { register } from 'plugd';\n${imports}\nregister({ type: 'io.inplace.v1', id: ${JSON.stringify(id)}, init: () => ({}) });`);

async function lines(events: string): Promise<string[]> {
  return (await readFile(events, 'utf8')).split('\n').filter((l) => l !== '');
}

/** Runs an ES module given as text with Node, from the repository (so it can import the build). */
async function node(source: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source], { env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('close', (code) => { done({ code, stdout, stderr }); });
  });
}

describe('in-place loading', () => {
  test('a first load imports every module from its real file: plain file URLs, no copy anywhere', async () => {
    const base = await tempPluginDir({});
    const events = join(base, 'events.log');
    const dir = await tempPluginDir({});
    await mkdir(join(dir, 'folder'));
    await writeFile(join(dir, 'a.js'), plugin(events, 'a'));
    await writeFile(join(dir, 'sibling.js'), observer(events, 'sibling'));
    await writeFile(join(dir, 'folder/index.js'), plugin(events, 'f', "import './lib.js';"));
    await writeFile(join(dir, 'folder/lib.js'), observer(events, 'lib'));
    const run = await plugd(['check', dir, '--json', '--init']);
    expect(run.code).toBe(0);
    const url = (file: string): string => pathToFileURL(join(dir, file)).href;
    expect((await lines(events)).sort()).toEqual([`a ${url('a.js')}`, `f ${url('folder/index.js')}`, `lib ${url('folder/lib.js')}`, `sibling ${url('sibling.js')}`].sort());
  });

  test('a symlinked entry is imported from its target, as node does, and its siblings resolve there', async () => {
    const outside = await tempPluginDir({});
    const events = join(outside, 'events.log');
    await mkdir(join(outside, 'impl'));
    await writeFile(join(outside, 'impl/real.js'), plugin(events, 'absolute'));
    await writeFile(join(outside, 'impl/sibling.js'), observer(events, 'abs-sibling'));
    const dir = await tempPluginDir({});
    await mkdir(join(dir, 'impl'));
    await writeFile(join(dir, 'impl/inner.js'), plugin(events, 'relative'));
    await writeFile(join(dir, 'impl/sibling.js'), observer(events, 'rel-sibling'));
    await symlink('impl/inner.js', join(dir, 'rel.js'));
    await symlink(join(outside, 'impl/real.js'), join(dir, 'abs.js'));
    const run = await plugd(['check', dir, '--json', '--allow-insecure']);
    const doc = JSON.parse(run.stdout) as { plugins: { name: string; file: string }[] };
    expect(doc.plugins.map((p) => [p.name, p.file])).toEqual([['io.inplace.v1.absolute', 'abs.js'], ['io.inplace.v1.relative', 'rel.js']]);
    expect((await lines(events)).sort()).toEqual([
      `abs-sibling ${pathToFileURL(join(outside, 'impl/sibling.js')).href}`,
      `absolute ${pathToFileURL(join(outside, 'impl/real.js')).href}`,
      `rel-sibling ${pathToFileURL(join(dir, 'impl/sibling.js')).href}`,
      `relative ${pathToFileURL(join(dir, 'impl/inner.js')).href}`,
    ].sort());
  });

  test('a second Registry.load of the same directory evaluates its modules afresh, siblings included', async () => {
    const base = await tempPluginDir({});
    const events = join(base, 'events.log');
    const dir = await tempPluginDir({});
    await writeFile(join(dir, 'a.js'), plugin(events, 'a'));
    await writeFile(join(dir, 'sibling.js'), observer(events, 'sibling'));
    const index = pathToFileURL(resolve('dist/src/index.js')).href;
    const run = await node(`import { Registry } from ${JSON.stringify(index)};
for (let i = 0; i < 2; i++) {
  const report = await new Registry().load(${JSON.stringify(dir)});
  if (!report.ok || report.plugins.length !== 1) throw new Error(JSON.stringify(report.errors));
}`);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const seen = await lines(events);
    expect(seen).toHaveLength(4);
    const [first, second] = [seen.slice(0, 2).sort(), seen.slice(2).sort()];
    expect(first).toEqual([`a ${pathToFileURL(join(dir, 'a.js')).href}`, `sibling ${pathToFileURL(join(dir, 'sibling.js')).href}`]);
    expect(second).toEqual([expect.stringMatching(/^a file:.*\/a\.js\?plugd=\d+$/), expect.stringMatching(/^sibling file:.*\/sibling\.js\?plugd=\d+$/)]);
  });
});
