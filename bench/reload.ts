/**
 * Hot-reload benchmarks (used by run.ts): latency from a save to the new version being live, over
 * `saves` saves of one plugin file and of one shared sibling module that several plugins import,
 * against a full restart of the daemon on the same directory (the `node --watch` way); and heap
 * growth per reload against bare re-imports of the same module.
 *
 * The daemon runs on the Node that runs the bench (`process.execPath`): it opens the metadata
 * database, and better-sqlite3's native module is built for one Node ABI.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { get } from '../src/daemon/control.js';

/** What the reload benchmark measured. */
export interface ReloadResult {
  /** Save of the plugin file -> its new version live, per measured save. */
  saveToLiveMs: number[];
  /** Save of the shared module -> every plugin that imports it live again, per measured save. */
  sharedSaveToLiveMs: number[];
  /** The plugins a save of the plugin file started again (its own and its dependents'), in the last save. */
  restarted: number;
  /** The plugins a save of the shared module started again, in the last save. */
  sharedRestarted: number;
  restartMs: number[];
  heapPerReloadBytes: number;
  bareHeapPerImportBytes: number;
}

/** What to save, and how often. */
export interface ReloadPlan {
  /** A plugin file (relative): each save must make its new version live. */
  readonly file: string;
  /** A shared module (relative) and the plugin files that import it: each save must make them all live again. */
  readonly shared: { readonly file: string; readonly importers: readonly string[] };
  /** Measured saves of each file (after warm-up saves). */
  readonly saves: number;
  /** Full restarts of the daemon timed. */
  readonly restarts: number;
}

type Line = Record<string, unknown>;

/** A daemon child whose log lines can be awaited. */
function daemon(bin: string, args: string[]): { wait: (test: (l: Line) => boolean) => Promise<Line>; lines: Line[]; kill: () => Promise<void> } {
  const child = spawn(process.execPath, ['--expose-gc', bin, 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const waiters: { test: (l: Line) => boolean; resolve: (l: Line) => void }[] = [];
  const lines: Line[] = [];
  createInterface({ input: child.stdout }).on('line', (text) => {
    let line: Line;
    try { line = JSON.parse(text) as Line; } catch { return; }
    if (line.msg === 'reload') lines.push(line);
    for (const w of [...waiters]) if (w.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(line); }
  });
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve(); }); });
  return {
    wait: (test) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error('timed out waiting for the daemon')); }, 120_000);
      waiters.push({ test, resolve: (l) => { clearTimeout(timer); resolve(l); } });
    }),
    lines,
    kill: async () => { child.kill('SIGKILL'); await exited; },
  };
}

/** The generation in a `reload` log line of `file` that went live, or undefined. */
function liveGeneration(line: Line, file: string): number | undefined {
  return line.msg === 'reload' && line.file === file && line.result === 'live' && typeof line.generation === 'number' ? line.generation : undefined;
}

/** The plugins a reload pass started again, from its `reload` lines: each line names its own plugins and the others re-inited. */
function restartedBy(lines: readonly Line[]): number {
  const names = new Set<unknown>();
  for (const line of lines) for (const key of ['plugins', 'reinit'] as const) for (const name of (line[key] as unknown[] | undefined) ?? []) names.add(name);
  return names.size;
}

/**
 * Measures hot reload on a copy of `source` (a generated plugd directory); `bare` is the same
 * modules' bare flavour, for the heap baseline.
 */
export async function reloadBench(bin: string, source: string, bare: string, plan: ReloadPlan): Promise<ReloadResult> {
  const work = await mkdtemp(join(tmpdir(), 'plugd-bench-reload-'));
  const dir = join(work, 'plugins');
  await cp(source, dir, { recursive: true });
  const common = ['--plugins', dir, '--root', join(work, 'root'), '--state', join(work, 'state')];
  const result: ReloadResult = {
    saveToLiveMs: [], sharedSaveToLiveMs: [], restarted: 0, sharedRestarted: 0, restartMs: [], heapPerReloadBytes: 0, bareHeapPerImportBytes: 0,
  };
  try {
    const d = daemon(bin, [...common, '--watch']);
    await d.wait((l) => l.msg === 'ready');
    const sock = join(work, 'state', 'plugd.sock');
    // The generation each plugin file is live at, from the daemon's own lines: a save is live
    // once every file it must reload has logged a newer live generation.
    const generation = new Map<string, number>();
    /** Saves `file` (appending a comment) and resolves with the ms until every one of `live` is live again, and the lines of that pass. */
    const saver = async (file: string, live: readonly string[]): Promise<(i: number) => Promise<{ ms: number; lines: Line[] }>> => {
      const path = join(dir, file);
      const original = await readFile(path, 'utf8');
      return async (i) => {
        const from = d.lines.length;
        const waits = live.map(async (f) => {
          const line = await d.wait((l) => (liveGeneration(l, f) ?? 0) > (generation.get(f) ?? 0));
          generation.set(f, liveGeneration(line, f) ?? 0);
        });
        const t = performance.now();
        await writeFile(path, `${original}// save ${i}\n`);
        await Promise.all(waits);
        return { ms: performance.now() - t, lines: d.lines.slice(from) };
      };
    };
    // Which plugin is saved matters: every plugin that depends on it (transitively) is re-inited too.
    const leaf = await saver(plan.file, [plan.file]);
    const shared = await saver(plan.shared.file, plan.shared.importers);
    // Warm up, as the bare baseline does. The first reloads also compile and optimize plugd's own
    // reload path, and V8 keeps that code on the heap: a one-time cost, not growth per reload, so
    // the heap is measured only after many warm-up reloads.
    const WARM = 50;
    let i = 0;
    for (; i < WARM; i++) await leaf(i);
    const before = ((await get(sock, '/v1/health')).body as { heapUsedBytes: number }).heapUsedBytes;
    for (const end = i + plan.saves; i < end; i++) {
      const save = await leaf(i);
      result.saveToLiveMs.push(save.ms);
      result.restarted = restartedBy(save.lines);
    }
    const after = ((await get(sock, '/v1/health')).body as { heapUsedBytes: number }).heapUsedBytes;
    result.heapPerReloadBytes = (after - before) / plan.saves;
    for (let w = 0; w < 10; w++, i++) await shared(i);
    for (const end = i + plan.saves; i < end; i++) {
      const save = await shared(i);
      result.sharedSaveToLiveMs.push(save.ms);
      result.sharedRestarted = restartedBy(save.lines);
    }
    await d.kill();
    for (let r = 0; r < plan.restarts; r++) {
      const t = performance.now();
      const again = daemon(bin, common);
      await again.wait((l) => l.msg === 'ready');
      result.restartMs.push(performance.now() - t);
      await again.kill();
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  result.bareHeapPerImportBytes = bareHeap(bare, plan.saves, plan.file);
  return result;
}

/**
 * Heap growth per re-import of the same module with plain `import(url?v=N)` (after forced GCs),
 * running its plugin's init and close as any loader must: their code is compiled when first run,
 * and stays with each module version.
 */
function bareHeap(bareDir: string, imports: number, file: string): number {
  const url = JSON.stringify(pathToFileURL(join(bareDir, file)).href);
  const script = `
    let cycle;
    globalThis.__benchRegister = (r) => { cycle = (async () => { const instance = await r.init({}); await r.close?.(instance); })(); };
    const collect = () => { for (let i = 0; i < 3; i++) globalThis.gc(); return process.memoryUsage().heapUsed; };
    const reimport = async (query) => { await import(${url} + query); await cycle; cycle = undefined; };
    await reimport('?warm');
    const before = collect();
    for (let i = 0; i < ${imports}; i++) await reimport('?v=' + i);
    console.log((collect() - before) / ${imports});`;
  const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(run.stdout.trim());
}
