/**
 * `npm run bench`: plugd's load path against the physical floor (bare `import()`) and
 * @fastify/autoload, plus the graph, the lifecycle and memory. Runs alternate between the
 * contenders (A/B/C, repeated) so drift hits all alike; each cell is a median with its spread.
 * Prints a table (ratios first) and writes bench/results/<date>.json.
 *
 *   npm run bench               the full run (100, 1,000, 2,000 and 10,000 plugins)
 *   npm run bench -- --quick    a smoke run in under a minute (CI runs it, without thresholds)
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, totalmem, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveGraph, type GraphNode } from '../src/graph.js';
import { startPlugins } from '../src/lifecycle.js';
import type { PluginRecord } from '../src/registry.js';
import { generate, prng, type Flavour } from './generate.js';
import { reloadBench } from './reload.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const quick = process.argv.includes('--quick');
const SIZES = quick ? [100, 1000] : [100, 1000, 2000, 10_000];
const REPEATS = quick ? 3 : 7;
const GRAPH_SIZES = quick ? [1000, 10_000] : [1000, 10_000, 100_000];
const RELOAD_SIZES = quick ? [100] : [100, 2000];
const SAVES = quick ? 20 : 100;

/** A median and its spread. */
interface Stat {
  median: number;
  min: number;
  max: number;
  runs: number[];
}

function stat(runs: number[]): Stat {
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

async function child(args: readonly string[]): Promise<ChildRun> {
  const started = performance.now();
  return new Promise((done, fail) => {
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    proc.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    proc.on('close', (code) => {
      const wallMs = performance.now() - started;
      if (code !== 0) { fail(new Error(`${args.join(' ')} exited ${String(code)}: ${err.slice(0, 500)}`)); return; }
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

type Contender = 'floor' | 'plugd-cli' | 'plugd-lib' | 'fastify';

const dirs = (base: string, n: number): Record<Flavour, string> => ({
  plugd: join(base, `plugd-${n}`), bare: join(base, `bare-${n}`), fastify: join(base, `fastify-${n}`),
});

function command(who: Contender, d: Record<Flavour, string>): string[] {
  switch (who) {
    case 'floor': return [join(here, 'floor.js'), d.bare];
    case 'plugd-cli': return [join(root, 'dist/src/cli/main.js'), 'check', d.plugd, '--json'];
    case 'plugd-lib': return [join(here, 'inprocess.js'), d.plugd];
    case 'fastify': return [join(here, 'fastify.js'), d.fastify];
  }
}

/** A contender's medians, or why it could not load the directory at all. */
type LoadResult = { wall: Stat; inner: Stat; rss: Stat } | { failed: string };

async function loadBench(base: string, n: number): Promise<Record<Contender, LoadResult>> {
  const d = dirs(base, n);
  for (const flavour of ['plugd', 'bare', 'fastify'] as const) await generate(d[flavour], n, flavour);
  const who: Contender[] = ['floor', 'plugd-cli', 'plugd-lib', 'fastify'];
  const runs = Object.fromEntries(who.map((w) => [w, [] as ChildRun[]])) as Record<Contender, ChildRun[]>;
  const failed = new Map<Contender, string>();
  // Warm the page cache once; a contender that cannot load the directory at all is reported as such.
  for (const w of who) await child(command(w, d)).catch((error: unknown) => { failed.set(w, firstLine(error)); });
  for (let r = 0; r < REPEATS; r++) {
    // Alternate, rotating the starting contender so none always runs first.
    for (let k = 0; k < who.length; k++) {
      const w = who[(k + r) % who.length] ?? 'floor';
      if (failed.has(w)) continue;
      const run = await child(command(w, d)).catch((error: unknown) => { failed.set(w, firstLine(error)); });
      if (run === undefined) continue;
      if (run.count !== n) throw new Error(`${w} loaded ${run.count} of ${n} plugins`);
      runs[w].push(run);
    }
  }
  return Object.fromEntries(who.map((w) => [w, failed.has(w) ? { failed: failed.get(w) ?? '' } : {
    wall: stat(runs[w].map((x) => x.wallMs)),
    inner: stat(runs[w].map((x) => x.ms)),
    rss: stat(runs[w].map((x) => x.maxRssKb)),
  }])) as Record<Contender, LoadResult>;
}

/**
 * The whole-process load of `n` modules that each import a shared helper file (so plugd stages
 * them as files, not inline) against the floor on the same modules; alternating, like loadBench.
 */
async function sharedBench(base: string, n: number): Promise<{ floor: Stat; plugd: Stat }> {
  const plugdDir = join(base, `plugd-shared-${n}`);
  const bareDir = join(base, `bare-shared-${n}`);
  await generate(plugdDir, n, 'plugd', 42, { shared: true });
  await generate(bareDir, n, 'bare', 42, { shared: true });
  const commands = { floor: [join(here, 'floor.js'), bareDir], plugd: [join(root, 'dist/src/cli/main.js'), 'check', plugdDir, '--json'] };
  const runs = { floor: [] as number[], plugd: [] as number[] };
  for (const args of Object.values(commands)) await child(args); // warm the page cache
  for (let r = 0; r < REPEATS; r++) {
    for (const who of r % 2 === 0 ? (['floor', 'plugd'] as const) : (['plugd', 'floor'] as const)) {
      const run = await child(commands[who]);
      if (run.count !== n) throw new Error(`${who} loaded ${run.count} of ${n} plugins (shared helper)`);
      runs[who].push(run.wallMs);
    }
  }
  return { floor: stat(runs.floor), plugd: stat(runs.plugd) };
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.includes('Error'))?.trim() ?? text.split('\n')[0] ?? '';
}

function ok(result: LoadResult): { wall: Stat; inner: Stat; rss: Stat } {
  if ('failed' in result) throw new Error(`plugd could not load the directory: ${result.failed}`);
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

async function main(): Promise<void> {
  if (!existsSync(join(root, 'dist/src/cli/main.js'))) throw new Error('run "npm run build" first');
  const base = join(tmpdir(), 'plugd-bench');
  await mkdir(base, { recursive: true });
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGb: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform };
  const startedAt = new Date();
  console.log(`plugd bench${quick ? ' --quick' : ''}: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}; ${REPEATS} alternating runs each\n`);

  const rows: string[][] = [];
  const results: Record<string, unknown> = {};
  const targets: { name: string; pass: boolean }[] = [];
  for (const n of SIZES) {
    const r = await loadBench(base, n);
    results[`load-${n}`] = r;
    const [floor, cliRun, libRun] = [ok(r.floor), ok(r['plugd-cli']), ok(r['plugd-lib'])];
    const cli = cliRun.wall.median / floor.wall.median;
    const lib = libRun.inner.median / floor.inner.median;
    const rss = libRun.rss.median / floor.rss.median;
    const fastify = 'failed' in r.fastify ? Infinity : r.fastify.wall.median / cliRun.wall.median;
    rows.push([`load ${n}, whole process`, ratio(cli, 1), '<= 1.10x floor', spread(cliRun.wall, fmt), spread(floor.wall, fmt)]);
    rows.push([`load ${n}, in process`, ratio(lib, 1), '', spread(libRun.inner, fmt), spread(floor.inner, fmt)]);
    rows.push('failed' in r.fastify
      ? [`@fastify/autoload ${n} / plugd`, 'fastify failed', '>= 1.3x', spread(cliRun.wall, fmt), r.fastify.failed.slice(0, 60)]
      : [`@fastify/autoload ${n} / plugd`, ratio(fastify, 1), '>= 1.3x', spread(cliRun.wall, fmt), spread(r.fastify.wall, fmt)]);
    rows.push([`peak RSS ${n}, in process`, ratio(rss, 1), n === 10_000 ? '<= 1.15x floor' : '', spread(libRun.rss, mb), spread(floor.rss, mb)]);
    if (n === 2000 || n === 10_000) {
      targets.push({ name: `load ${n} whole process <= 1.10x floor`, pass: cli <= 1.1 });
      targets.push({ name: `load ${n}: @fastify/autoload >= 1.3x plugd`, pass: fastify >= 1.3 });
    }
    if (n === 10_000) targets.push({ name: 'peak RSS 10,000 <= 1.15x floor', pass: rss <= 1.15 });
  }
  const sharedN = quick ? 1000 : 2000;
  const shared = await sharedBench(base, sharedN);
  results[`load-shared-${sharedN}`] = shared;
  rows.push([`load ${sharedN} importing a shared file, whole process`, ratio(shared.plugd.median / shared.floor.median, 1), '', spread(shared.plugd, fmt), spread(shared.floor, fmt)]);
  for (const n of GRAPH_SIZES) {
    const g = graphBench(n);
    results[`graph-${n}`] = g;
    rows.push([`graph ${n} nodes / ${g.edges} edges`, `${((g.ms.median * 1000) / n).toFixed(2)} us/node`, n === 10_000 ? '< 50 ms' : '', spread(g.ms, fmt), '']);
    if (n === 10_000) targets.push({ name: 'graph 10,000 nodes < 50 ms', pass: g.ms.median < 50 });
  }
  for (const n of RELOAD_SIZES) {
    const d = dirs(base, n);
    if (!SIZES.includes(n)) for (const flavour of ['plugd', 'bare'] as const) await generate(d[flavour], n, flavour);
    // A leaf plugin (nothing depends on it but the '*' plugins): the save-to-live case of the target.
    const leaf = `p${String(n - 1).padStart(5, '0')}.js`;
    const r = await reloadBench(join(root, 'dist/src/cli/main.js'), d.plugd, d.bare, SAVES, quick ? 2 : 5, leaf);
    results[`reload-${n}`] = { file: leaf, ...r };
    const save = stat(r.saveToLiveMs);
    const sorted = [...r.saveToLiveMs].sort((a, b) => a - b);
    const p95 = sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? 0;
    const restart = stat(r.restartMs);
    rows.push([`reload ${n}: save -> live p50 / p95`, `${fmt(save.median)} / ${fmt(p95)}`, '<= 40 ms / 120 ms', spread(save, fmt), `${SAVES} saves of ${leaf}`]);
    rows.push([`reload ${n}: restart / reload`, ratio(restart.median / save.median, 1), n === 2000 ? '>= 20x' : '', spread(save, fmt), spread(restart, fmt)]);
    const heap = r.heapPerReloadBytes / r.bareHeapPerImportBytes;
    rows.push([`reload ${n}: heap per reload / bare`, ratio(heap, 1), '<= 1.2x', `${(r.heapPerReloadBytes / 1024).toFixed(1)} KB`, `${(r.bareHeapPerImportBytes / 1024).toFixed(1)} KB bare re-import + init/close`]);
    targets.push({ name: `reload ${n}: save -> live p50 <= 40 ms and p95 <= 120 ms`, pass: save.median <= 40 && p95 <= 120 });
    if (n === 2000) targets.push({ name: 'reload 2,000: >= 20x faster than a restart', pass: restart.median / save.median >= 20 });
    targets.push({ name: `reload ${n}: heap per reload <= 1.2x bare re-import`, pass: heap <= 1.2 });
  }
  const life = await lifecycleBench(10_000);
  results['lifecycle-10000'] = life;
  rows.push(['init+close overhead / plugin', `${life.overheadUs.toFixed(1)} us`, '< 20 us', spread(life.perPluginUs, (x) => `${x.toFixed(1)} us`), `${life.bareUs.median.toFixed(1)} us bare`]);
  targets.push({ name: 'init+close overhead < 20 us per plugin', pass: life.overheadUs < 20 });

  const header = ['measure', 'ratio / value', 'target', 'plugd: median (min-max)', 'baseline (floor or fastify): median (min-max)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
  console.log('\n' + targets.map((t) => `${t.pass ? 'met    ' : 'MISSED '} ${t.name}`).join('\n'));

  const out = join(root, 'bench/results', `${startedAt.toISOString().slice(0, 10)}${quick ? '-quick' : ''}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, JSON.stringify({ startedAt, quick, machine, repeats: REPEATS, targets, results }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();
