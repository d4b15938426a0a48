/**
 * `npm run bench`: plugd's load path against the floor (plain Node importing the same files in
 * place) and @fastify/autoload, plus the cost of plugd's resolve hook, the graph, the lifecycle,
 * hot reload and memory. Runs alternate between the contenders (and the Node versions) so drift
 * hits all alike; each cell is a median with its spread. Prints a table (ratios first) and writes
 * bench/results/<date>.json.
 *
 *   npm run bench                      the full run (100, 1,000, 2,000 and 10,000 plugins)
 *   npm run bench -- --quick           a smoke run of a minute or two (CI runs it, without thresholds)
 *   npm run bench -- --node <path>     also run the whole-process load contenders on that Node
 *                                      (repeatable; `--node24 <path>` is the same). Without it, a
 *                                      full run uses the Node 24 that scripts/node24.sh provides.
 *
 * The load contenders run as child processes of every Node given; the graph, lifecycle and reload
 * benches run on the Node that runs this script (the reload daemon opens the metadata database,
 * and better-sqlite3 is built for that Node's ABI).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { resolveGraph, type GraphNode } from '../src/core/graph.js';
import { startPlugins } from '../src/core/lifecycle.js';
import type { PluginRecord } from '../src/core/record.js';
import { generate, modulesOf, prng, SHARED_FILE, type Flavour } from './generate.js';
import { reloadBench } from './reload.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const options = parseArgs({
  options: { quick: { type: 'boolean', default: false }, node: { type: 'string', multiple: true, default: [] }, node24: { type: 'string', multiple: true, default: [] } },
}).values;
const quick = options.quick;
const SIZES = quick ? [100, 1000] : [100, 1000, 2000, 10_000];
const REPEATS = quick ? 3 : 7;
const GRAPH_SIZES = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
const RELOAD_SIZES = quick ? [100] : [100, 2000];
const SAVES = quick ? 20 : 100;
/** How many plugins import the shared sibling module saved in the reload bench. */
const SHARED_IMPORTERS = 10;

/** A Node binary the load contenders run on. */
interface NodeBin {
  path: string;
  version: string;
  major: number;
}

function nodeBin(path: string): NodeBin {
  const run = spawnSync(path, ['-p', 'process.version'], { encoding: 'utf8' });
  const version = (run.stdout ?? '').trim();
  if (run.status !== 0 || !version.startsWith('v')) throw new Error(`${path} is not a Node binary: ${run.stderr.slice(0, 200)}`);
  return { path, version, major: Number(version.slice(1).split('.')[0]) };
}

/**
 * The Node 24 that scripts/node24.sh provides, if the script exists: it prints the directory of a
 * Node 24 LTS (fetching it the first time), whose binary is bin/node.
 */
function node24FromScript(): string | undefined {
  const script = join(root, 'scripts/node24.sh');
  if (!existsSync(script)) return undefined;
  const run = spawnSync('bash', [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const dir = (run.stdout ?? '').trim().split('\n').pop() ?? '';
  const path = join(dir, 'bin/node');
  if (run.status === 0 && dir !== '' && existsSync(path)) return path;
  console.warn(`scripts/node24.sh gave no Node 24 (exit ${String(run.status)}): the load rows run on ${process.version} only`);
  return undefined;
}

/** Every Node to run the load contenders on: this one first, the others as given, one per version. */
function nodes(): NodeBin[] {
  const extra = [...options.node, ...options.node24];
  // Only the full run fetches a Node 24 by itself: --quick (CI's smoke run) stays on one Node unless told.
  if (extra.length === 0 && !quick) {
    const script = node24FromScript();
    if (script !== undefined) extra.push(script);
  }
  const all = [nodeBin(process.execPath), ...extra.map(nodeBin)];
  return all.filter((n, i) => all.findIndex((m) => m.version === n.version) === i);
}

/** A median and its spread. */
interface Stat {
  median: number;
  min: number;
  max: number;
  runs: readonly number[];
}

function stat(runs: readonly number[]): Stat {
  const sorted = [...runs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid] ?? 0 : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0, runs };
}

/** What one child process reported, and its wall time as the parent saw it (spawn to exit). */
interface ChildRun {
  wallMs: number;
  ms: number;
  maxRssKb: number;
  count: number;
}

async function child(node: NodeBin, args: readonly string[]): Promise<ChildRun> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const proc = spawn(node.path, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    proc.on('close', (code) => {
      const wallMs = performance.now() - started;
      // `plugd check --json` reports its errors on stdout.
      if (code !== 0) { fail(new Error(`${node.version} ${args.join(' ')} exited ${String(code)}: ${(err || out).slice(0, 500)}`)); return; }
      try {
        // Drivers print one JSON line; `plugd check --json` prints one (indented) document.
        const parsed = JSON.parse(out.trim().startsWith('{\n') ? out : out.trim().split('\n').pop() ?? '{}') as Partial<ChildRun> & { ok?: boolean; plugins?: unknown[] };
        // `plugd check --json` prints its report: count its plugins.
        const count = parsed.count ?? parsed.plugins?.length ?? 0;
        done({ wallMs, ms: parsed.ms ?? wallMs, maxRssKb: parsed.maxRssKb ?? 0, count });
      } catch (error) {
        fail(new Error(`${args.join(' ')} printed no JSON: ${String(error)}`));
      }
    });
  });
}

/**
 * The load contenders: the floor, the floor with plugd's module hooks installed, `plugd check
 * --json` (a whole process), plugd's load as a library call, and @fastify/autoload.
 */
type Contender = 'floor' | 'floor-hooks' | 'plugd-cli' | 'plugd-lib' | 'fastify';

const dirs = (base: string, n: number): Record<Flavour, string> => ({
  plugd: join(base, `plugd-${n}`), bare: join(base, `bare-${n}`), fastify: join(base, `fastify-${n}`),
});

function command(who: Contender, d: Record<Flavour, string>): string[] {
  switch (who) {
    case 'floor': return [join(here, 'floor.js'), d.bare];
    case 'floor-hooks': return [join(here, 'floor.js'), d.bare, '--hooks'];
    // The load timeout is raised: a large directory on a slow or busy machine must be timed, not cut off.
    case 'plugd-cli': return [join(root, 'dist/src/cli/main.js'), 'check', d.plugd, '--json', '--timeout', '600000'];
    case 'plugd-lib': return [join(here, 'inprocess.js'), d.plugd];
    case 'fastify': return [join(here, 'fastify.js'), modulesOf(d.fastify, 'fastify')];
  }
}

/** A contender's medians, or why it could not load the directory at all. */
type LoadResult = { wall: Stat; inner: Stat; rss: Stat } | { failed: string };
/** Per Node version, per contender. */
type LoadResults = Record<string, Partial<Record<Contender, LoadResult>>>;

/**
 * Loads the `n`-plugin directories `d` with every contender of `who` on every Node of `on`,
 * alternating: each round runs every pair once, starting from a different pair each time.
 */
async function loadBench(d: Record<Flavour, string>, n: number, who: readonly Contender[], on: readonly NodeBin[]): Promise<LoadResults> {
  const pairs = on.flatMap((node) => who.map((w) => ({ node, w, key: `${node.version} ${w}` })));
  const runs = new Map(pairs.map((p) => [p.key, [] as ChildRun[]]));
  const failed = new Map<string, string>();
  // Warm the page cache (and each Node's own code) once; a contender that cannot load the directory at all is reported as such.
  for (const p of pairs) await child(p.node, command(p.w, d)).catch((error: unknown) => { failed.set(p.key, firstLine(error)); });
  for (let r = 0; r < REPEATS; r++) {
    for (let k = 0; k < pairs.length; k++) {
      const p = pairs[(k + r) % pairs.length];
      if (p === undefined || failed.has(p.key)) continue;
      const run = await child(p.node, command(p.w, d)).catch((error: unknown) => { failed.set(p.key, firstLine(error)); });
      if (run === undefined) continue;
      if (run.count !== n) throw new Error(`${p.key} loaded ${run.count} of ${n} plugins`);
      runs.get(p.key)?.push(run);
    }
  }
  const out: LoadResults = {};
  for (const p of pairs) {
    const mine = runs.get(p.key) ?? [];
    (out[p.node.version] ??= {})[p.w] = failed.has(p.key) ? { failed: failed.get(p.key) ?? '' } : {
      wall: stat(mine.map((x) => x.wallMs)), inner: stat(mine.map((x) => x.ms)), rss: stat(mine.map((x) => x.maxRssKb)),
    };
  }
  return out;
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.includes('Error'))?.trim() ?? text.split('\n')[0] ?? '';
}

/** Why the first of `who` that could not load the directory failed, if one could not. */
function firstFailure(results: Partial<Record<Contender, LoadResult>>, who: readonly Contender[]): string | undefined {
  for (const w of who) {
    const result = results[w];
    if (result === undefined) return `${w}: did not run`;
    if ('failed' in result) return `${w}: ${result.failed}`;
  }
  return undefined;
}

function ok(result: LoadResult | undefined, who: string): { wall: Stat; inner: Stat; rss: Stat } {
  if (result === undefined) throw new Error(`${who} did not run`);
  if ('failed' in result) throw new Error(`${who} could not load the directory: ${result.failed}`);
  return result;
}

/** n plugins, each requiring ~5 earlier types: n nodes, ~5n edges. */
function graphNodes(n: number): GraphNode[] {
  const random = prng(7);
  return Array.from({ length: n }, (_, i) => ({
    name: `t${i}.p`, type: `t${i}`,
    requires: i === 0 ? [] : [...new Set(Array.from({ length: 5 }, () => `t${Math.floor(random() * i)}`))],
  }));
}

function graphBench(n: number): { ms: Stat; edges: number } {
  const nodes = graphNodes(n);
  const edges = nodes.reduce((sum, node) => sum + node.requires.length, 0);
  resolveGraph(nodes); // warm-up
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    const result = resolveGraph(nodes);
    runs.push(performance.now() - t);
    if (result.order.length !== n) throw new Error('graph bench: not every node ordered');
  }
  return { ms: stat(runs), edges };
}

function trivialRecords(n: number): PluginRecord[] {
  return Array.from({ length: n }, (_, i) => {
    const name = `io.bench.v1.p${i}`;
    const registration = { name, type: 'io.bench.v1', id: `p${i}`, requires: [], config: undefined, init: () => ({ i }), close: () => undefined };
    return { name, type: registration.type, id: registration.id, requires: [], file: `p${i}.js`, dir: '/', registration };
  });
}

async function lifecycleBench(n: number): Promise<{ perPluginUs: Stat; bareUs: Stat; overheadUs: number }> {
  const records = trivialRecords(n);
  const graph = resolveGraph(records);
  const scratch = await mkdtemp(join(tmpdir(), 'plugd-bench-life-'));
  const plugd: number[] = [];
  const bare: number[] = [];
  try {
    for (let r = 0; r < 6; r++) {
      let t = performance.now();
      const running = await startPlugins(records, graph, { root: scratch, state: scratch });
      await running.close();
      if (r > 0) plugd.push(((performance.now() - t) * 1000) / n);
      // The floor: awaiting the same inits and closes directly, in the same order.
      t = performance.now();
      const instances: unknown[] = [];
      for (const rec of records) instances.push(await rec.registration.init({} as never));
      for (let i = records.length - 1; i >= 0; i--) await records[i]?.registration.close?.(instances[i]);
      if (r > 0) bare.push(((performance.now() - t) * 1000) / n);
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  const perPluginUs = stat(plugd);
  const bareUs = stat(bare);
  return { perPluginUs, bareUs, overheadUs: perPluginUs.median - bareUs.median };
}

const fmt = (ms: number): string => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`);
const ratio = (a: number, b: number): string => `${(a / b).toFixed(2)}x`;
const spread = (s: Stat, f: (x: number) => string): string => `${f(s.median)} (${f(s.min)}-${f(s.max)})`;
const mb = (kb: number): string => `${(kb / 1024).toFixed(0)} MB`;

/** A target: what was measured against what it should be; `reported` ones are shown, not the target itself. */
interface Target {
  name: string;
  pass: boolean;
  reported?: boolean;
}

/** The p50 and p95 of `runs`. */
function percentiles(runs: readonly number[]): { p50: number; p95: number } {
  const sorted = [...runs].sort((a, b) => a - b);
  return { p50: stat(runs).median, p95: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? 0 };
}

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('run "npm run build" first');
  const base = join(tmpdir(), 'plugd-bench');
  await mkdir(base, { recursive: true });
  const on = nodes();
  // The targets are set on the newest Node given (the primary target, Node 24 LTS); the others are reported.
  const primary = on.reduce((a, b) => (b.major > a.major ? b : a));
  const self = on[0] ?? primary;
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), platform: process.platform,
    node: process.version, nodes: on.map((n) => n.version),
  };
  const startedAt = new Date();
  console.log(`plugd bench${quick ? ' --quick' : ''}: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; ` +
    `load on Node ${on.map((n) => n.version).join(' and ')} (targets on ${primary.version}); ${REPEATS} alternating runs each`);
  console.log(`graph, lifecycle and reload on Node ${self.version}: the daemon opens the metadata database (better-sqlite3 is built for this Node's ABI)\n`);

  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  const targets: Target[] = [];
  // A load target holds on the primary Node; the other Nodes' results are reported against it.
  const target = (node: NodeBin, name: string, pass: boolean): void => {
    targets.push(node === primary ? { name: `${name} (Node ${node.version})`, pass } : { name: `${name} (Node ${node.version})`, pass, reported: true });
  };
  // The graph, lifecycle and reload targets hold on the Node they can run on.
  const local = (name: string, pass: boolean): void => { targets.push({ name: `${name} (Node ${self.version})`, pass }); };
  for (const n of SIZES) {
    const d = dirs(base, n);
    for (const flavour of ['plugd', 'bare', 'fastify'] as const) await generate(d[flavour], n, flavour);
    const all = await loadBench(d, n, ['floor', 'floor-hooks', 'plugd-cli', 'plugd-lib', 'fastify'], on);
    results[`load-${n}`] = all;
    for (const node of on) {
      const r = all[node.version] ?? {};
      const v = node.version;
      const broken = firstFailure(r, ['floor', 'floor-hooks', 'plugd-cli', 'plugd-lib']);
      if (broken !== undefined) {
        rows.push([`load ${n}`, v, 'failed', '', broken.slice(0, 120), '']);
        if (n === 2000 || n === 10_000) target(node, `load ${n} whole process <= 1.10x floor`, false);
        continue;
      }
      const [floor, hooked, cliRun, libRun] = [ok(r.floor, 'the floor'), ok(r['floor-hooks'], 'the floor with hooks'), ok(r['plugd-cli'], 'plugd'), ok(r['plugd-lib'], 'plugd')];
      const cli = cliRun.wall.median / floor.wall.median;
      const lib = libRun.inner.median / floor.inner.median;
      const rss = libRun.rss.median / floor.rss.median;
      const fastifyRun = r.fastify ?? { failed: 'did not run' };
      const fastify = 'failed' in fastifyRun ? Infinity : fastifyRun.wall.median / cliRun.wall.median;
      const big = n === 2000 || n === 10_000;
      rows.push([`load ${n}, whole process`, v, ratio(cli, 1), big ? '<= 1.10x floor' : '', spread(cliRun.wall, fmt), spread(floor.wall, fmt)]);
      rows.push([`load ${n}, in process`, v, ratio(lib, 1), '', spread(libRun.inner, fmt), spread(floor.inner, fmt)]);
      rows.push([`floor + plugd's resolve hook ${n}, whole process`, v, ratio(hooked.wall.median / floor.wall.median, 1), '', spread(hooked.wall, fmt), spread(floor.wall, fmt)]);
      rows.push('failed' in fastifyRun
        ? [`@fastify/autoload ${n} / plugd`, v, 'fastify failed', '>= 1.3x', spread(cliRun.wall, fmt), fastifyRun.failed.slice(0, 60)]
        : [`@fastify/autoload ${n} / plugd`, v, ratio(fastify, 1), '>= 1.3x', spread(cliRun.wall, fmt), spread(fastifyRun.wall, fmt)]);
      rows.push([`peak RSS ${n}, in process`, v, ratio(rss, 1), n === 10_000 ? '<= 1.15x floor' : '', spread(libRun.rss, mb), spread(floor.rss, mb)]);
      if (big) {
        target(node, `load ${n} whole process <= 1.10x floor`, cli <= 1.1);
        if (node === primary) target(node, `load ${n}: @fastify/autoload >= 1.3x plugd`, fastify >= 1.3);
      }
      if (n === 10_000 && node === primary) target(node, 'peak RSS 10,000 <= 1.15x floor', rss <= 1.15);
    }
  }

  // Every module imports lib/shared.js: twice the resolves, and an import edge plugd's hook records for each.
  const sharedN = quick ? 1000 : 2000;
  const sharedDirs = { plugd: join(base, `plugd-shared-${sharedN}`), bare: join(base, `bare-shared-${sharedN}`), fastify: '' };
  await generate(sharedDirs.plugd, sharedN, 'plugd', 42, { shared: () => true });
  await generate(sharedDirs.bare, sharedN, 'bare', 42, { shared: () => true });
  const shared = await loadBench(sharedDirs, sharedN, ['floor', 'floor-hooks', 'plugd-cli'], on);
  results[`load-shared-${sharedN}`] = shared;
  for (const node of on) {
    const r = shared[node.version] ?? {};
    const broken = firstFailure(r, ['floor', 'floor-hooks', 'plugd-cli']);
    if (broken !== undefined) {
      rows.push([`load ${sharedN} importing ${SHARED_FILE}`, node.version, 'failed', '', broken.slice(0, 120), '']);
      continue;
    }
    const [floor, hooked, cliRun] = [ok(r.floor, 'the floor'), ok(r['floor-hooks'], 'the floor with hooks'), ok(r['plugd-cli'], 'plugd')];
    rows.push([`load ${sharedN} importing ${SHARED_FILE}, whole process`, node.version, ratio(cliRun.wall.median / floor.wall.median, 1), '', spread(cliRun.wall, fmt), spread(floor.wall, fmt)]);
    rows.push([`floor + plugd's resolve hook ${sharedN} importing ${SHARED_FILE}`, node.version, ratio(hooked.wall.median / floor.wall.median, 1), '', spread(hooked.wall, fmt), spread(floor.wall, fmt)]);
  }

  for (const n of GRAPH_SIZES) {
    const g = graphBench(n);
    results[`graph-${n}`] = g;
    rows.push([`graph ${n} nodes / ${g.edges} edges`, self.version, `${((g.ms.median * 1000) / n).toFixed(2)} us/node`, n === 10_000 ? '< 50 ms' : '', spread(g.ms, fmt), '']);
    if (n === 10_000) local('graph 10,000 nodes < 50 ms', g.ms.median < 50);
  }

  for (const n of RELOAD_SIZES) {
    // The reload directory: the same plugins, and SHARED_IMPORTERS of them (the ones just before
    // the last) import lib/shared.js. The last plugin is the leaf saved: nothing depends on it
    // but the '*' plugins.
    const reloadDir = join(base, `plugd-reload-${n}`);
    const importers = new Set(Array.from({ length: SHARED_IMPORTERS }, (_, k) => n - 2 - k));
    await generate(reloadDir, n, 'plugd', 42, { shared: (i) => importers.has(i) });
    const bare = dirs(base, n).bare;
    if (!existsSync(bare)) await generate(bare, n, 'bare');
    const name = (i: number): string => `p${String(i).padStart(5, '0')}.js`;
    const leaf = name(n - 1);
    const r = await reloadBench(join(root, 'dist/src/cli/main.js'), reloadDir, bare, {
      file: leaf, shared: { file: SHARED_FILE, importers: [...importers].map(name) }, saves: SAVES, restarts: quick ? 2 : 5,
    });
    results[`reload-${n}`] = { node: self.version, file: leaf, sharedFile: SHARED_FILE, sharedImporters: SHARED_IMPORTERS, ...r };
    const save = stat(r.saveToLiveMs);
    const leafP = percentiles(r.saveToLiveMs);
    const sharedP = percentiles(r.sharedSaveToLiveMs);
    const restart = stat(r.restartMs);
    rows.push([`reload ${n}: save ${leaf} -> live p50 / p95`, self.version, `${fmt(leafP.p50)} / ${fmt(leafP.p95)}`, '<= 40 ms / 120 ms', spread(save, fmt), `${SAVES} saves; ${r.restarted} plugins restarted each`]);
    rows.push([`reload ${n}: save ${SHARED_FILE} -> ${SHARED_IMPORTERS} importers live p50 / p95`, self.version, `${fmt(sharedP.p50)} / ${fmt(sharedP.p95)}`, '<= 40 ms / 120 ms', spread(stat(r.sharedSaveToLiveMs), fmt), `${SAVES} saves; ${r.sharedRestarted} plugins restarted each`]);
    rows.push([`reload ${n}: restart / reload`, self.version, ratio(restart.median / save.median, 1), n === 2000 ? '>= 20x' : '', spread(save, fmt), spread(restart, fmt)]);
    const heap = r.heapPerReloadBytes / r.bareHeapPerImportBytes;
    rows.push([`reload ${n}: heap per reload / bare`, self.version, ratio(heap, 1), '<= 1.2x', `${(r.heapPerReloadBytes / 1024).toFixed(1)} KB`, `${(r.bareHeapPerImportBytes / 1024).toFixed(1)} KB bare re-import + init/close`]);
    local(`reload ${n}: save -> live p50 <= 40 ms and p95 <= 120 ms`, leafP.p50 <= 40 && leafP.p95 <= 120);
    local(`reload ${n}: save ${SHARED_FILE} -> ${SHARED_IMPORTERS} plugins live p50 <= 40 ms and p95 <= 120 ms`, sharedP.p50 <= 40 && sharedP.p95 <= 120);
    if (n === 2000) local('reload 2,000: >= 20x faster than a restart', restart.median / save.median >= 20);
    local(`reload ${n}: heap per reload <= 1.2x bare re-import`, heap <= 1.2);
  }
  const life = await lifecycleBench(10_000);
  results['lifecycle-10000'] = life;
  rows.push(['init+close overhead / plugin', self.version, `${life.overheadUs.toFixed(1)} us`, '< 20 us', spread(life.perPluginUs, (x) => `${x.toFixed(1)} us`), `${life.bareUs.median.toFixed(1)} us bare`]);
  local('init+close overhead < 20 us per plugin', life.overheadUs < 20);

  const header = ['measure', 'node', 'ratio / value', 'target', 'plugd: median (min-max)', 'baseline (floor or fastify): median (min-max)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('\n' + targets.map((t) => `${t.pass ? 'met    ' : 'MISSED '} ${t.name}${t.reported === true ? ' - reported, not the target' : ''}`).join('\n'));

  const out = join(root, 'bench/results', `${startedAt.toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ startedAt, quick, machine, primary: primary.version, repeats: REPEATS, targets, results }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();
