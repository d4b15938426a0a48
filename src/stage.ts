/**
 * Where plugin modules are imported from. In place when the plugin directory can resolve
 * `'plugd'` itself (a `node_modules/plugd` above it) and was not loaded before in this process;
 * otherwise from a *stage*: a mirror of the directory inside a per-process directory whose
 * `node_modules/plugd` links to this host, removed at exit.
 *
 * Why: a module resolve hook costs a thread hop per resolve (1.3-2x the whole load here), and
 * every load needs fresh URLs to evaluate its modules again (Node's ESM cache cannot be evicted) -
 * a folder plugin's siblings included. In the stage, a module's `import { ... } from 'plugd'`
 * declarations are rewritten into a binding of the host's API object (as Vite's SSR transform
 * rewrites imports): resolving a bare specifier from each of 2,000 files and linking to it cost
 * +20-30% of the bare import time, the import edge alone +8%. Line numbers are kept. In such a
 * stage (in RAM) every `.js`/`.mjs` file is read and written, or imported inline when nothing in
 * it depends on its file (see mirror); other files, and every file of a stage inside a project
 * (on its disk), are hard links (copies across filesystems).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { admit, refusal, type Admission, type AdmitOptions } from './admit.js';
import { registerFor } from './channel.js';
import type { PlugdError } from './errors.js';
import { entriesOf, isModuleName, listTree, scan, unitOf, type Entry } from './scan.js';
import { inlineCandidate, inlineUrl, stageFile, writeParts } from './stage-file.js';
import { fileUrl } from './file-url.js';
import { packageRoot } from './version.js';

/** Where one load imports its modules from. */
export interface Placement {
  /** The plugin directory (absolute). */
  readonly dir: string;
  /** The plugin entries, sorted. */
  readonly entries: readonly Entry[];
  /** The directory the entries are imported from: the plugin directory itself, or its stage. */
  readonly base: string;
  /** The URL `entry` is imported from: its file where it is placed, or its inline (`data:`) module. */
  importUrl(entry: Entry): string;
  /** Rewrites stage paths and URLs in `text` back to the plugin directory's. */
  unstage(text: string): string;
  /** Why `entry` must not be imported (refused by the admission checks, or its bytes differ from the lock). */
  problems(entry: Entry): PlugdError[];
  /** The admission checks' outcome, when any ran. */
  readonly admission: Admission | undefined;
}

/** The global under which the host's API waits for rewritten plugin modules. */
export const API_KEY = Symbol.for('plugd.api');
const placedBefore = new Set<string>();

/**
 * Decides where the modules of `dir` (absolute) are imported from, runs the admission checks
 * `policy` asks for, and starts staging if needed. A locked load is always staged, as copies of
 * the bytes that were checked against the lock: nothing can swap a file between check and import.
 */
export async function place(dir: string, policy: AdmitOptions = {}): Promise<Placement> {
  const again = placedBefore.has(dir);
  placedBefore.add(dir);
  const checks = policy.permissions === true || policy.locked === true;
  if (!again && policy.locked !== true && resolvesPlugd(dir)) {
    const admission = checks ? await admit(dir, await listTree(dir), policy) : undefined;
    return {
      dir, entries: await scan(dir), base: dir, importUrl: (e) => fileUrl(e.path), unstage: (text) => text, admission, problems: (e) => refusal(admission, e.file),
    };
  }
  const files = await listTree(dir);
  return stageFiles(dir, files, checks ? await admit(dir, files, policy) : undefined, true);
}

/**
 * A fresh stage of just `units` of `dir` (top-level files or folders, by name): a new version of
 * them, to import while the live version keeps running.
 */
export async function stageUnits(dir: string, units: readonly string[], policy: AdmitOptions = {}): Promise<Placement> {
  const files: string[] = [];
  for (const unit of units) {
    const info = await stat(join(dir, unit)).catch(() => undefined);
    if (info?.isDirectory() === true) files.push(...(await listTree(join(dir, unit))).map((f) => `${unit}/${f}`));
    else if (info?.isFile() === true) files.push(unit);
  }
  const checks = policy.permissions === true || policy.locked === true;
  // Not inline: Node keeps each module's URL for good, and a data: URL is the module's whole source.
  return stageFiles(dir, files, checks ? await admit(dir, files, policy, units) : undefined, false);
}

/** A new load directory in the process stage holding `files` of `dir` (but refused units); with `inline`, modules that can be imported inline are. */
async function stageFiles(dir: string, files: readonly string[], admission: Admission | undefined, inline: boolean): Promise<Placement> {
  const project = nearestNodeModules(dir);
  // In a project, its own dependencies must stay resolvable: stage under its node_modules, as
  // links (new files are slow on disk). Elsewhere nothing but 'plugd' can resolve: stage in RAM.
  const [stage] = await Promise.all([processStage(project === undefined ? ramDir() : join(project, '.cache', 'plugd')), installApi()]);
  const rewrite = project === undefined;
  const base = join(stage, String(++loads));
  const admitted = files.filter((f) => refusal(admission, f).length === 0);
  const bad = new Map<string, PlugdError[]>();
  const lock = admission?.lock?.files;
  const inlined = mirror(dir, base, admitted, rewrite, lock, bad, inline && rewrite && lock === undefined);
  const pairs = [[pathToFileURL(base).href, pathToFileURL(dir).href], [base, dir]] as const;
  return {
    dir,
    entries: entriesOf(dir, files),
    base,
    importUrl: (entry) => inlined.get(entry.file) ?? fileUrl(join(base, entry.file)),
    unstage: (text) => pairs.reduce((t, [from, to]) => t.replaceAll(from, to), text),
    admission,
    problems: (entry) => [...refusal(admission, entry.file), ...(bad.get(unitOf(entry.file)) ?? [])],
  };
}

/** True when Node's own resolution finds some copy of plugd from `dir`. */
function resolvesPlugd(dir: string): boolean {
  try {
    createRequire(join(dir, 'noop.js')).resolve('plugd');
    return true;
  } catch {
    return false;
  }
}

/**
 * Stages `files` of `dir` into `base`, all of them before any import: an entry may import another
 * plugin's files, and the stage's package.json (below) must be there before Node first reads it.
 * Synchronous fs: the async API costs 3-4 thread-pool round trips per file.
 *
 * A rewriting stage also declares the module type its lexer saw, so Node skips detecting it
 * (compiling each `.js` file once more as CommonJS first: ~20% of a bare import of 2,000 files):
 * `{"type":"module"}` when every top-level `.js` file has module syntax. A folder whose `.js`
 * files are not all plainly ESM gets a `package.json` without a type (Node's detection, as in
 * place). Where the lexer sees no module syntax (a CommonJS helper, a file whose only module
 * syntax is a top-level await) detection stays. A plugin directory's own package.json is kept.
 *
 * With `inline`, top-level modules that depend on nothing but `'plugd'` are not written: the
 * returned map gives, by file, the `data:` URL to import each from instead (see inlineUrl).
 */
function mirror(dir: string, base: string, files: readonly string[], rewrite: boolean,
  lock: Readonly<Record<string, string>> | undefined, bad: Map<string, PlugdError[]>, inline: boolean): Map<string, string> {
  const byUnit = new Map<string, string[]>();
  for (const file of [...files].sort()) {
    const unit = unitOf(file);
    const list = byUnit.get(unit);
    if (list === undefined) byUnit.set(unit, [file]);
    else list.push(file);
  }
  const made = new Set<string>([base]);
  mkdirSync(base, { recursive: true });
  /** Stages `list`; true when each of its `.js` files has module syntax. */
  const stage = (list: readonly string[]): boolean => {
    let esm = true;
    for (const file of list) {
      const slash = file.lastIndexOf('/');
      const folder = slash > 0 ? join(base, file.slice(0, slash)) : base;
      if (!made.has(folder)) {
        mkdirSync(folder, { recursive: true });
        made.add(folder);
      }
      const staged = stageFile(join(dir, file), join(base, file), rewrite, lock === undefined ? undefined : { file, sha256: lock[file] ?? '' });
      if (staged.problem !== undefined) bad.set(unitOf(file), [...(bad.get(unitOf(file)) ?? []), staged.problem]);
      esm &&= staged.esm || !file.endsWith('.js');
    }
    return esm;
  };
  let typed = rewrite && !byUnit.has('package.json');
  const mixed: string[] = [];
  // Inline modules only while nothing can import a top-level file: a top-level module with
  // imports of its own might (then all are files), and so might a folder plugin's module or the
  // directory's package.json ("imports", self-reference), which are not looked into.
  const isTop = ([unit, list]: [string, string[]]): boolean => list.length === 1 && list[0] === unit;
  const folders = [...byUnit].filter((u) => !isTop(u));
  let candidates = inline && !byUnit.has('package.json') && !folders.some(([, list]) => list.some(isModule)) ? new Map<string, Buffer[]>() : undefined;
  let inlineBytes = 0;
  for (const [unit, list] of folders) if (!stage(list) && !list.includes(`${unit}/package.json`)) mixed.push(unit);
  for (const [unit] of [...byUnit].filter(isTop)) {
    if (candidates !== undefined && isModule(unit)) {
      const parts = inlineCandidate(join(dir, unit), fileUrl(join(base, unit)));
      if (parts === undefined) {
        for (const [file, written] of candidates) writeParts(join(base, file), written);
        candidates = undefined;
      } else if ((inlineBytes += parts[1]?.length ?? 0) <= INLINE_TOTAL) {
        candidates.set(unit, parts);
        continue;
      } else {
        writeParts(join(base, unit), parts); // past the load's budget: a file (import-free as well)
        continue;
      }
    }
    const esm = stage([unit]); // (before the &&=, which would skip it once typed is false)
    typed &&= esm;
  }
  if (typed) {
    writeFileSync(join(base, 'package.json'), '{"type":"module"}\n');
    for (const unit of mixed) writeFileSync(join(base, unit, 'package.json'), '{}\n');
  }
  return new Map([...candidates ?? []].map(([file, parts]) => [file, inlineUrl(parts, fileUrl(join(dir, file)))]));
}

/** A module of any kind: an entry's, or CommonJS (which could import one too). */
const isModule = (file: string): boolean => isModuleName(file) || file.endsWith('.cjs');

/** Source bytes inlined per load at most: Node keeps each inline module's URL (~2.7x its source) for good. */
const INLINE_TOTAL = 32 * 1024 * 1024;

const stageRoots = new Map<string, Promise<string>>();
let loads = 0;

/** The per-process stage directory under `under` (created once, removed when the process exits). */
async function processStage(under: string): Promise<string> {
  let root = stageRoots.get(under);
  if (root === undefined) {
    root = (async () => {
      await mkdir(under, { recursive: true });
      const made = await mkdtemp(join(under, `${STAGE_PREFIX}${process.pid}-`));
      removeAtExit(made);
      setImmediate(() => { void sweep(under); });
      await mkdir(join(made, 'node_modules'));
      await symlink(packageRoot(), join(made, 'node_modules', 'plugd'), 'dir');
      return made;
    })();
    stageRoots.set(under, root);
  }
  return root;
}

const STAGE_PREFIX = 'plugd-stage-';

/**
 * Removes `dir` when the process exits. Unlinking a stage of 2,000 files costs ~35 ms, which a
 * one-shot `plugd check` would spend after its work is done: a detached `rm` does it instead,
 * where there is one. A stage left behind anyway is swept by the next plugd process.
 */
function removeAtExit(dir: string): void {
  process.once('exit', () => {
    if (process.platform !== 'win32') {
      try {
        const rm = spawn('rm', ['-rf', dir], { detached: true, stdio: 'ignore' });
        rm.unref();
        // No pid: it never started (its 'error' event would come too late, after the exit).
        if (rm.pid !== undefined) return;
      } catch {
        // no process to spare: remove it here
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });
}

/**
 * Removes the stages of processes that are gone (killed before their exit handler ran), off the
 * load's critical path. A stage's name carries its process id.
 */
async function sweep(under: string): Promise<void> {
  const names = await readdir(under).catch(() => [] as string[]);
  await Promise.all(names.map(async (name) => {
    if (!name.startsWith(STAGE_PREFIX)) return;
    const pid = Number.parseInt(name.slice(STAGE_PREFIX.length), 10);
    if (!Number.isSafeInteger(pid) || pid === process.pid || alive(pid)) return;
    await rm(join(under, name), { recursive: true, force: true }).catch(() => undefined);
  }));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A RAM-backed directory for stages: new files on disk cost ~1 ms each on some machines, ~20 us in RAM. */
function ramDir(): string {
  for (const candidate of [process.env.XDG_RUNTIME_DIR, '/dev/shm']) {
    if (candidate === undefined || candidate === '') continue;
    try {
      accessSync(candidate, constants.W_OK);
      return candidate;
    } catch {
      // not there, or not ours to write: try the next
    }
  }
  return tmpdir();
}

/**
 * Publishes this host's API for rewritten modules: `for(url, complete)` gives the exports of `'plugd'` with
 * `register` bound to that module. The first host to load wins (any copy routes alike).
 */
async function installApi(): Promise<void> {
  const holder = globalThis as { [API_KEY]?: unknown };
  if (holder[API_KEY] !== undefined) return;
  const exports = Object.freeze({ ...await import('./index.js') });
  holder[API_KEY] = Object.freeze({
    // An object literal with a prototype: Object.create with descriptors cost ~8x as much per module.
    for: (url: string, complete?: boolean): object => Object.freeze({ __proto__: exports, register: registerFor(url, complete === true) }),
  });
}

function nearestNodeModules(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'node_modules'))) return join(d, 'node_modules');
    if (dirname(d) === d) return undefined;
  }
}
