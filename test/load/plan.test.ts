/**
 * The load plan's real paths ({@link planDir}, {@link planUnits}): every entry maps to the file
 * Node imports it from - its symlink's target, or its own path below the directory's real path -
 * with the admission checks' knowledge of links or, without them, one lstat per entry.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdir, realpath, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { planDir, planUnits, type LoadPlan } from '../../src/load/plan.js';
import { strictDir } from '../support/strict-dir.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const PLUGIN = 'export const x = 1;\n';

/**
 * A plugin directory reached through a symlink (`<tmp>/via -> <tmp>/real`), holding a plain file,
 * a folder plugin, a link to a sibling file in a folder, and a linked folder plugin.
 */
async function linkedDir(): Promise<{ via: string; real: string }> {
  const base = await strictDir({ 'real/a.js': PLUGIN, 'real/folder/index.js': PLUGIN, 'real/lib/b.js': PLUGIN, 'real/other/index.js': PLUGIN }, temps, 'plugd-plan-');
  const real = join(base, 'real');
  await symlink('lib/b.js', join(real, 'b.js'));
  await symlink('other', join(real, 'linked'));
  const via = join(base, 'via');
  await symlink(real, via);
  return { via, real: await realpath(real) };
}

/** Each entry's file and its real path, relative to `real` where it lies there. */
function realPaths(plan: LoadPlan, real: string): Record<string, string> {
  return Object.fromEntries(plan.entries.map((e) => [e.file, plan.realPath(e).replace(`${real}/`, '')]));
}

const EXPECTED = {
  'a.js': 'a.js',
  'b.js': 'lib/b.js',
  'folder/index.js': 'folder/index.js',
  'linked/index.js': 'other/index.js',
  'other/index.js': 'other/index.js',
};

describe('LoadPlan.realPath', () => {
  test.each([
    ['with the admission checks', { permissions: true }],
    ['without them', {}],
  ])('names the file Node imports each entry from, %s', async (_, policy) => {
    const { via, real } = await linkedDir();
    const plan = await planDir(via, policy);
    expect(realPaths(plan, real)).toEqual(EXPECTED);
  });

  test('a reload of some units knows their links too', async () => {
    const { via, real } = await linkedDir();
    const plan = await planUnits(via, ['b.js', 'a.js'], { permissions: true });
    expect(realPaths(plan, real)).toEqual({ 'a.js': 'a.js', 'b.js': 'lib/b.js' });
  });

  test('an entry that is gone keeps its path (its import says so)', async () => {
    const { via } = await linkedDir();
    const plan = await planDir(via);
    const gone = { file: 'gone.js', path: join(via, 'gone.js') };
    expect(plan.realPath(gone)).toBe(gone.path);
  });

  test('a folder plugin reached through a link inside the folder tree still resolves', async () => {
    const { via, real } = await linkedDir();
    await mkdir(join(real, 'deep'));
    await symlink('../folder/index.js', join(real, 'deep', 'index.js'));
    const plan = await planDir(via, { permissions: true });
    expect(realPaths(plan, real)['deep/index.js']).toBe('folder/index.js');
  });
});
