/**
 * What one load imports: the plugin entries of a directory (or of some of its units, for a hot
 * reload), and which of them the admission checks refused. Modules are imported from their real
 * files (see hooks.ts): nothing is copied or rewritten, so a plugin sees exactly the files, the
 * package scope and the `node_modules` that plain Node gives it.
 */
import { admit, refusal, type Admission, type AdmitOptions } from './admit.js';
import type { PlugdError } from '../core/errors.js';
import { fileUrl } from '../util/file-url.js';
import { moduleHooks, nextGeneration } from './hooks.js';
import { allowedOwners } from './integrity.js';
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { entriesOf, scan, unitOf, walkTree, type Entry } from './scan.js';
import { realPath } from '../util/real-path.js';

/** The entries of one load, and what keeps some of them from being imported. */
export interface LoadPlan {
  /** The plugin directory (absolute). */
  readonly dir: string;
  /** The plugin entries, sorted. */
  readonly entries: readonly Entry[];
  /** The admission checks' outcome, when any ran. */
  readonly admission: Admission | undefined;
  /** Why `entry` must not be imported (an ambiguous folder, or refused by the admission checks), if it must not. */
  problems(entry: Entry): PlugdError[];
  /** The real path of `entry`: Node imports a symlinked entry from its target, and stack frames name that. */
  realPath(entry: Entry): string;
}

/**
 * What a load of a whole directory finds before it imports anything: its entries and the admission
 * checks' outcome. Plain data and plugd's errors: it can be made in one thread (an isolated check's
 * parent, while its worker starts) and loaded in another (see survey-transfer.ts).
 */
export interface Survey {
  /** The plugin directory (absolute). */
  readonly dir: string;
  /** The admission checks asked for. */
  readonly policy: AdmitOptions;
  /** The plugin entries, sorted. */
  readonly entries: readonly Entry[];
  /** The admission checks' outcome, when any ran. */
  readonly admission: Admission | undefined;
}

/** Scans all of `dir` (absolute) and runs the admission checks `policy` asks for; imports nothing. */
export async function surveyDir(dir: string, policy: AdmitOptions = {}): Promise<Survey> {
  if (!checks(policy)) return { dir, policy, entries: await scan(dir), admission: undefined };
  const tree = await walkTree(dir);
  const admission = await admit(dir, tree.files, policy);
  return { dir, policy, entries: entriesOf(dir, tree), admission };
}

/** The plan to load all of `dir` (absolute), with the admission checks `policy` asks for. */
export async function planDir(dir: string, policy: AdmitOptions = {}): Promise<LoadPlan> {
  return planSurveyed(await surveyDir(dir, policy));
}

/** The plan to load what `survey` found: the module hooks learn what to check as they load it. */
export async function planSurveyed(survey: Survey): Promise<LoadPlan> {
  return prepare(survey.dir, survey.policy, survey.entries, survey.admission);
}

/** The plan to load just `units` of `dir` (top-level files or folders, by name): a hot reload. */
export async function planUnits(dir: string, units: readonly string[], policy: AdmitOptions = {}): Promise<LoadPlan> {
  const tree = await walkTree(dir, units);
  const admission = checks(policy) ? await admit(dir, tree.files, policy, units) : undefined;
  return prepare(dir, policy, entriesOf(dir, tree), admission);
}

/** The plan to load `entries` of `dir`, once the module hooks learned what to check as they load them. */
async function prepare(dir: string, policy: AdmitOptions, entries: readonly Entry[], admission: Admission | undefined): Promise<LoadPlan> {
  const realDir = realPath(dir);
  await checkModules(realDir, policy, admission);
  return {
    dir, entries, admission,
    problems: (entry) => problemsOf(admission, entry),
    realPath: realPaths(dir, realDir, admission),
  };
}

/**
 * Tells the module hooks what to check as the modules of the directory (at its real path `realDir`) load: the digests of a locked load,
 * and the owners that the packages and outside files its plugins load may have (the directory's
 * own files were checked by the admission).
 */
async function checkModules(realDir: string, policy: AdmitOptions, admission: Admission | undefined): Promise<void> {
  const hooks = moduleHooks();
  const url = `${fileUrl(realDir)}/`;
  const lock = admission?.lock;
  if (lock !== undefined) await hooks.apply({ kind: 'lock', dir: url, files: lock.files });
  const owners = policy.permissions === true && policy.allowInsecure !== true && process.platform !== 'win32' ? allowedOwners() : undefined;
  await hooks.apply({ kind: 'owners', dir: url, owners: owners ?? null });
}


/**
 * Real paths of a directory's entries with as few system calls as possible: each one costs about
 * as much as a tenth of Node's own work to import a small module (realpath(3) reads every
 * component of the path), so a load of thousands of plugins must not pay one per entry. Only a
 * symlink below the directory moves an entry: the admission checks already know each one (they
 * lstat every file); without them, a top-level entry costs one lstat, a folder plugin a realpath.
 */
function realPaths(dir: string, realDir: string, admission: Admission | undefined): (entry: Entry) => string {
  const moved = (file: string): boolean => {
    const links = admission?.links;
    if (links !== undefined) return links.has(file) || links.has(unitOf(file));
    return file.includes('/') || lstatSync(join(dir, file), { throwIfNoEntry: false })?.isSymbolicLink() !== false;
  };
  return (entry) => (moved(entry.file) ? realPath(entry.path) : join(realDir, entry.file));
}

/**
 * Why `entry` must not be imported: the admission's refusals of its unit, and what the entry itself
 * is (not a regular file, a bad name), unless the admission already said so (a dangling link).
 */
function problemsOf(admission: Admission | undefined, entry: Entry): PlugdError[] {
  const refused = refusal(admission, entry.file);
  const own = entry.refused;
  if (own === undefined || refused.some((e) => e.code === own.code && e.toJSON().file === own.file)) return refused;
  return [...refused, own];
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
  const real = realPath(dir);
  const again = loadedDirs.has(real);
  loadedDirs.add(real);
  await moduleHooks().apply({ kind: 'dir', dir: `${fileUrl(real)}/`, generation: again ? nextGeneration() : 0 });
}
