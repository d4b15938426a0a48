/** Validation of container ids, labels and request bodies (a sibling module of the folder plugin). */
import { z } from 'plugd';
import type { ZodType } from 'zod';

/** A container id: letters, digits, ".", "_" and "-", starting with a letter or digit, at most 76. */
export const Id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/, 'use letters, digits, ".", "_" and "-" (at most 76), starting with a letter or digit');

/**
 * Labels: keys of 1-256 characters, string values of at most 4096. The key `__proto__` is refused
 * up front: zod (like any plain object) cannot hold it as a key, and would drop it without a word.
 */
export const Labels = z
  .custom((value) => typeof value !== 'object' || value === null || !Object.hasOwn(value, '__proto__'), 'the label key "__proto__" is reserved')
  .pipe(z.record(z.string().min(1).max(256), z.string().max(4096)));

/** The body of `POST /v1/containers`; an unknown field (a typo) is an error, not ignored. */
export const NewContainer = z.strictObject({ id: Id, labels: Labels.optional() });

/**
 * `schema`'s output for `value`, or throws an Error with `status` 400 and zod's `issues`, which the
 * HTTP API sends back.
 */
export function parse<T>(schema: ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const where = (path: PropertyKey[]): string => (path.length === 0 ? what : path.map(String).join('.'));
  const message = `invalid ${what}: ${result.error.issues.map((i) => `${where(i.path)}: ${i.message}`).join('; ')}`;
  throw Object.assign(new Error(message), { status: 400, issues: result.error.issues });
}
