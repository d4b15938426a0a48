/**
 * Helpers for users' own test suites (Jest or any runner with `expect.extend`): load a fixture
 * directory the way `plugd check` does, in an isolated registry, and assert on its problems.
 *
 * ```ts
 * import { expect, test } from '@jest/globals';
 * import { checkDir, plugdMatchers } from 'plugd/testing';
 * expect.extend(plugdMatchers);
 *
 * test('a duplicate name is refused', async () => {
 *   const result = await checkDir('fixtures/duplicate');
 *   expect(result).toHaveLoadErrors([{ code: 'E_DUPLICATE_PLUGIN', file: 'b.js', firstFile: 'a.js' }]);
 * });
 * ```
 */
import { isDeepStrictEqual } from 'node:util';
import type { CheckOptions, CheckResult } from './check.js';
import { checkIsolated } from './check-isolated.js';
import type { ErrorJSON } from './core/errors.js';

export type { CheckResult, CheckReport, CheckPlugin } from './check.js';

/**
 * Loads `dir` into a fresh registry (and with `init`, starts and stops its plugins), as
 * `plugd check` does; never throws for plugin problems. The check runs in a worker thread, so
 * Node's own module loader imports the plugins whatever runs the test (Jest's VM, Vitest,
 * `node:test`): no module mapping or experimental flag is needed. The errors are rebuilt from the
 * report: instances of plugd's error classes, without the raw `thrown` values.
 */
export async function checkDir(dir: string, options: CheckOptions = {}): Promise<CheckResult> {
  return checkIsolated(dir, { timeout: 2_000, ...options });
}

/** What an expected error may say: any subset of the fields of the JSON form. */
export type ExpectedError = Partial<ErrorJSON>;

/**
 * Compares the problems of `result` with `expected`, in order: same count, and each expected
 * entry's fields equal to the actual one's. Returns `undefined` when they match, else a description.
 */
export function diffErrors(result: CheckResult, expected: readonly ExpectedError[]): string | undefined {
  const actual = result.report.errors;
  const lines: string[] = [];
  const count = Math.max(actual.length, expected.length);
  for (let i = 0; i < count; i++) {
    const want = expected[i];
    const got = actual[i] as Partial<Record<string, unknown>> | undefined;
    if (want === undefined) lines.push(`  unexpected error #${i + 1}: ${describe(got)}`);
    else if (got === undefined) lines.push(`  missing error #${i + 1}: expected ${JSON.stringify(want)}`);
    else {
      const wrong = Object.entries(want).filter(([key, value]) => !isDeepStrictEqual(got[key], value));
      if (wrong.length > 0) {
        lines.push(`  error #${i + 1} differs: ${wrong.map(([k, v]) => `${k}: expected ${JSON.stringify(v)}, got ${JSON.stringify(got[k])}`).join('; ')}` +
          `\n    (actual: ${describe(got)})`);
      }
    }
  }
  return lines.length === 0 ? undefined : `plugin directory problems differ from the expected ones:\n${lines.join('\n')}`;
}

/** Throws an Error describing the difference unless `result` has exactly the `expected` problems. */
export function assertErrors(result: CheckResult, expected: readonly ExpectedError[]): void {
  const diff = diffErrors(result, expected);
  if (diff !== undefined) throw new Error(diff);
}

function describe(error: Partial<Record<string, unknown>> | undefined): string {
  if (error === undefined) return 'none';
  return `${String(error.code)} ${String(error.message)}`;
}

/** The result of a custom matcher, as `expect.extend` wants it. */
export interface MatcherResult {
  pass: boolean;
  message: () => string;
}

/** Custom matchers for `expect.extend`: `toLoadCleanly()` and `toHaveLoadErrors(expected)`. */
export const plugdMatchers = {
  /** Passes when the checked directory has no problem at all. */
  toLoadCleanly(received: CheckResult): MatcherResult {
    const diff = diffErrors(received, []);
    return { pass: diff === undefined, message: () => diff ?? 'expected the plugin directory to have problems, but it loaded cleanly' };
  },
  /** Passes when the checked directory has exactly the `expected` problems, in order. */
  toHaveLoadErrors(received: CheckResult, expected: readonly ExpectedError[]): MatcherResult {
    const diff = diffErrors(received, expected);
    return { pass: diff === undefined, message: () => diff ?? 'expected the problems to differ, but they matched' };
  },
};
