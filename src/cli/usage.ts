/** Argument parsing shared by the commands: node's own parseArgs, with usage errors that exit 2. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A command: parses its arguments, does its work, resolves to the exit status. */
export type Command = (args: string[], early?: Early) => Promise<number>;

/** What the `plugd` executable started before loading the rest of plugd (see main.ts). */
export interface Early {
  /** `plugd check`'s worker thread, already booting, waiting for its request. */
  readonly checkWorker?: import('node:worker_threads').Worker;
}

/** A bad command line or unusable input: printed as one line on stderr, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** parseArgs, strict, with its errors turned into {@link UsageError}s. */
export function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O): {
  values: { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : O[K] extends { multiple: true } ? string[] : string };
  positionals: string[];
} {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true, strict: true });
    return { values, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Parses a `--timeout <ms>` value: a positive whole number of milliseconds. */
export function timeoutOption(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(ms) || ms <= 0) {
    throw new UsageError(`--timeout takes a positive whole number of milliseconds, not "${raw}"`);
  }
  return ms;
}
