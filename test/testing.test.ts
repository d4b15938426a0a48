/**
 * plugd/testing: the helpers users' own Jest suites use on their plugin directories, imported as
 * users import them (the build's `plugd/testing`).
 */
import { describe, expect, test } from '@jest/globals';
import { rm } from 'node:fs/promises';
import { tempPluginDir } from './support/cli.js';
import { assertErrors, checkDir, diffErrors, plugdMatchers, type ExpectedError } from 'plugd/testing';

expect.extend(plugdMatchers);

declare module 'expect' {
  interface Matchers<R> {
    toLoadCleanly(): R;
    toHaveLoadErrors(expected: readonly ExpectedError[]): R;
  }
}

describe('plugd/testing', () => {
  test('the README example: a duplicate registration, with matchers', async () => {
    const result = await checkDir('fixtures/duplicate');
    expect(result).toHaveLoadErrors([
      { code: 'E_DUPLICATE_PLUGIN', file: 'b.js', plugin: 'io.test.dup.v1.shared', firstFile: 'a.js' },
    ]);
    expect(result).not.toLoadCleanly();
    expect(result.report.plugins.map((p) => p.name)).toEqual(['io.test.dup.v1.shared', 'io.test.dup.v1.bystander']);
  });

  test('a clean directory loads cleanly, and its plugins can be inited', async () => {
    const result = await checkDir('fixtures/good', { init: true });
    expect(result).toLoadCleanly();
    expect(result.report.plugins.map((p) => p.status)).toEqual(['ok']);
  });

  test('a mismatch says which error differs and how', async () => {
    const result = await checkDir('fixtures/duplicate');
    const diff = diffErrors(result, [{ code: 'E_DUPLICATE_PLUGIN', file: 'c.js' }, { code: 'E_PLUGIN_LOAD' }]);
    expect(diff).toContain('error #1 differs: file: expected "c.js", got "b.js"');
    expect(diff).toContain('missing error #2');
    expect(() => { assertErrors(result, []); }).toThrow(/unexpected error #1: E_DUPLICATE_PLUGIN/);
    expect(plugdMatchers.toLoadCleanly(result).pass).toBe(false);
    expect(plugdMatchers.toHaveLoadErrors(result, [{ code: 'E_DUPLICATE_PLUGIN' }]).pass).toBe(true);
  });

  test("the check runs under Node's own module loader, whatever runs the test", async () => {
    const result = await checkDir('fixtures/node-loader', { init: true });
    expect(result).toLoadCleanly();
    expect(result.report.plugins.map((p) => p.name)).toEqual(['io.test.loader.v1.resolve', 'io.test.loader.v1.json']);
  });

  test('its errors are instances of their classes, equal to the report', async () => {
    const result = await checkDir('fixtures/duplicate');
    const [error] = result.errors;
    expect(error).toBeInstanceOf(Error);
    expect(error?.constructor.name).toBe('DuplicatePluginError');
    expect(error).toMatchObject({ name: 'DuplicatePluginError', code: 'E_DUPLICATE_PLUGIN', file: 'b.js', firstFile: 'a.js' });
    expect(result.errors.map((e) => e.toJSON())).toEqual(result.report.errors);
  });

  test('a plugin that exits its process fails its file (reason exit), not the check or the test run', async () => {
    const dir = await tempPluginDir({ 'a.js': "import { register } from 'plugd';\nprocess.exit(0);\n", 'b.js': "import { register } from 'plugd';\nregister({ type: 'b', id: 'b', init() {} });\n" });
    try {
      const result = await checkDir(dir);
      expect(result.report.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_LOAD', file: 'a.js', reason: 'exit', line: 2 })]);
      expect(result.report.plugins.map((p) => p.name)).toEqual(['b.b']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreadable directory rejects with its code, as plugd check exits 2 for it', async () => {
    await expect(checkDir('fixtures/no-such-dir')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
