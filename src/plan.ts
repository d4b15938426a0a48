/**
 * What one load imports: the plugin entries of a directory (or of some of its units, for a hot
 * reload), and which of them the admission checks refused. Modules are imported from their real
 * files (see hooks.ts): nothing is copied or rewritten, so a plugin sees exactly the files, the
 * package scope and the `node_modules` that plain Node gives it.
 */
import { realpathSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { admit, refusal, type Admission, type AdmitOptions } from './admit.js';
import type { PlugdError } from './errors.js';
import { fileUrl } from './file-url.js';
import { moduleHooks, nextGeneration } from './hooks.js';
import { entriesOf, listTree, scan, type Entry } from './scan.js';

/** The entries of one load, and what keeps some of them from being imported. */
export interface LoadPlan {
  /** The plugin directory (absolute). */
  readonly dir: string;
  /** The plugin entries, sorted. */
  readonly entries: readonly Entry[];
  /** The admission checks' outcome, when any ran. */
  readonly admission: Admission | undefined;
  /** Why `entry` must not be imported (refused by the admission checks), if it must not. */
  problems(entry: Entry): PlugdError[];
}

/** The plan to load all of `dir` (absolute), with the admission checks `policy` asks for. */
export async function planDir(dir: string, policy: AdmitOptions = {}): Promise<LoadPlan> {
  if (!checks(policy)) return plan(dir, await scan(dir), undefined);
  const files = await listTree(dir);
  const admission = await admit(dir, files, policy);
  await lockModules(dir, admission);
  return plan(dir, entriesOf(dir, files), admission);
}

/** The plan to load just `units` of `dir` (top-level files or folders, by name): a hot reload. */
export async function planUnits(dir: string, units: readonly string[], policy: AdmitOptions = {}): Promise<LoadPlan> {
  const files: string[] = [];
  for (const unit of units) {
    const info = await stat(join(dir, unit)).catch(() => undefined);
    if (info?.isDirectory() === true) files.push(...(await listTree(join(dir, unit))).map((f) => `${unit}/${f}`));
    else if (info?.isFile() === true) files.push(unit);
  }
  const admission = checks(policy) ? await admit(dir, files, policy, units) : undefined;
  await lockModules(dir, admission);
  return plan(dir, entriesOf(dir, files), admission);
}

/** Tells the module hooks the digests that the modules of `dir` must have, when the load is locked. */
async function lockModules(dir: string, admission: Admission | undefined): Promise<void> {
  const lock = admission?.lock;
  if (lock !== undefined) await moduleHooks().apply({ kind: 'lock', dir: `${fileUrl(realDir(dir))}/`, files: lock.files });
}

function realDir(dir: string): string {
  try {
    return realpathSync.native(dir);
  } catch {
    return dir;
  }
}

function plan(dir: string, entries: readonly Entry[], admission: Admission | undefined): LoadPlan {
  return { dir, entries, admission, problems: (entry) => refusal(admission, entry.file) };
}

function checks(policy: AdmitOptions): boolean {
  return policy.permissions === true || policy.locked === true;
}

const loadedDirs = new Set<string>();

/**
 * Prepares a load of all of `dir`: the module hooks learn the directory (its modules' import edges
 * are kept from then on), and if an earlier load in this process imported its modules (Node's ESM
 * cache would hand back the same instances), they all get a new generation: they evaluate afresh.
 */
export async function freshLoad(dir: string): Promise<void> {
  const real = realDir(dir);
  const again = loadedDirs.has(real);
  loadedDirs.add(real);
  await moduleHooks().apply({ kind: 'dir', dir: `${fileUrl(real)}/`, generation: again ? nextGeneration() : 0 });
}
