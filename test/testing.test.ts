/** plugd/testing: the helpers users' own Jest suites use on their plugin directories. */
import { describe, expect, test } from '@jest/globals';
import { assertErrors, checkDir, diffErrors, plugdMatchers, type ExpectedError } from '../src/testing.js';

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
});
