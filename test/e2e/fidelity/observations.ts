/**
 * Observations: what the plugin modules recorded, plus what the loader reported about them (load
 * errors, the top frame of a failing init, reload results), all as records `{ shape, phase, ... }`
 * so that one comparison covers both. Also the normalization: the generation query `?plugd=<n>` a
 * reload puts on re-evaluated modules' URLs is the one difference allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shapeOfFile, shapeOfPlugin, type Shape } from './shapes.js';
import type { LogLine } from './processes.js';

/** One observation. `module` names the module file that recorded it, when a module did. */
export type Observation = Record<string, unknown> & { shape: string; phase: string; module?: string };

/** The shape name of records that no shape owns. */
export const NO_SHAPE = '?';

/** The JSON lines of an observations file (an unparsable line becomes a `garbled` record). */
export function readLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { phase: 'garbled', text: line };
    }
  });
}

/**
 * Gives every record its shape: a plugin module's own records carry it; the baseline driver's
 * (`error` for an import, `report` with the raw top `frame` of an init that threw) are attributed
 * by file or plugin name, and the frame becomes `at` (see {@link locate}).
 */
export function attribute(raw: readonly Record<string, unknown>[], shapes: readonly Shape[], dir: string): Observation[] {
  return raw.map((r): Observation => {
    if (typeof r.shape === 'string') return r as Observation;
    if (r.phase === 'report') {
      const { frame, ...rest } = r;
      return { ...rest, shape: shapeOf(shapes, r), phase: 'report', at: typeof frame === 'string' ? locate(frame, dir) : null };
    }
    return { ...r, shape: shapeOf(shapes, r), phase: String(r.phase) };
  });
}

/** The `plugd check --json` document's errors as records (an init failure becomes a `report`). */
export function fromCheck(stdout: string, shapes: readonly Shape[], dir: string): { records: Observation[]; problems: string[] } {
  let doc: { errors?: Record<string, unknown>[] };
  try {
    doc = JSON.parse(stdout) as typeof doc;
  } catch {
    return { records: [], problems: [`plugd check printed no JSON document: ${stdout.slice(0, 500)}`] };
  }
  const records = (doc.errors ?? []).map((e): Observation => e.code === 'E_PLUGIN_INIT'
    ? { shape: shapeOf(shapes, e), phase: 'report', plugin: e.plugin, at: reportedAt(e, dir) }
    : { shape: shapeOf(shapes, e), phase: 'error', file: e.file, code: e.code, message: e.message });
  return { records, problems: [] };
}

/**
 * The daemon's log lines as records: each `reload` line (which entry, with what result), an init
 * failure (`plugin failed`, E_PLUGIN_INIT) as a `report`, and any other error (warnings are not
 * about fidelity, as `check`'s `warnings` are not).
 */
export function fromLog(lines: readonly LogLine[], shapes: readonly Shape[], dir: string): Observation[] {
  const records: Observation[] = [];
  for (const line of lines) {
    if (line.msg === 'reload') {
      const failed = line.result !== 'live' ? { code: line.code, err: line.err } : {};
      records.push({ shape: shapeOf(shapes, line), phase: 'reload', entry: line.file, result: line.result, ...failed });
    } else if (line.msg === 'plugin failed' && line.code === 'E_PLUGIN_INIT') {
      records.push({ shape: shapeOf(shapes, line), phase: 'report', plugin: line.plugin, at: reportedAt(line, dir) });
    } else if (line.level >= 50) {
      records.push({ shape: shapeOf(shapes, line), phase: 'error', log: line.msg, file: line.file, code: line.code, message: line.err });
    }
  }
  return records;
}

/**
 * Where a report says an error was thrown, as `<file>:<line>` relative to the plugin directory:
 * its `line` field (with `file`) when it has one, else the first stack location found in it.
 */
function reportedAt(fields: Record<string, unknown>, dir: string): string | null {
  if (typeof fields.line === 'number' && typeof fields.file === 'string') return `${fields.file}:${fields.line}`;
  return locate(JSON.stringify(fields), dir);
}

/**
 * The first `path:line:column` (or `file://` URL) in `text`, as `<path relative to dir>:<line>`
 * without any query; a location outside `dir` (a staged copy, say) is kept absolute, to show it.
 */
export function locate(text: string, dir: string): string | null {
  const found: string[] = [];
  for (const m of text.matchAll(/(file:\/\/)?(\/[^\s():"'?]+)(?:\?[^\s():"']*)?:(\d+):(\d+)/g)) {
    const path = m[1] === undefined ? m[2]! : fileURLToPath(`file://${m[2]!}`);
    found.push(path.startsWith(`${dir}/`) ? `${path.slice(dir.length + 1)}:${m[3]!}` : `${path}:${m[3]!}`);
  }
  return found.find((f) => !f.startsWith('/')) ?? found[0] ?? null;
}

function shapeOf(shapes: readonly Shape[], r: Record<string, unknown>): string {
  const byPlugin = typeof r.plugin === 'string' ? shapeOfPlugin(r.plugin) : undefined;
  const byFile = typeof r.file === 'string' ? shapeOfFile(shapes, r.file) : undefined;
  return byPlugin ?? byFile ?? NO_SHAPE;
}

/**
 * What is compared: the records without their `$`-fields (values that identify an instance within
 * one process, e.g. how many times a module evaluated there), and without the generation query on
 * the URLs of the module files in `again` (absolute paths: the modules a reload evaluated again).
 * A query anywhere else stays, and shows in the comparison.
 */
export function normalize(value: unknown, again: ReadonlySet<string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/(file:\/\/[^\s?"'()]+)\?plugd=\d+/g, (whole, url: string) => (again.has(fileURLToPath(url)) ? url : whole));
  }
  if (Array.isArray(value)) return value.map((v) => normalize(v, again));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).filter(([k]) => !k.startsWith('$')).map(([k, v]) => [k, normalize(v, again)]));
  }
  return value;
}

/** Records normalized (see {@link normalize}) and sorted: the order modules evaluate in is not an observation. */
export function comparable(records: readonly Observation[], again: ReadonlySet<string> = new Set()): unknown[] {
  // Through JSON: a field that is undefined is no field (as Jest's toEqual sees it).
  // Keys sorted first: the order records come in must not depend on the order of their fields.
  return records.map((r) => JSON.stringify(sortedKeys(normalize(r, again)))).sort().map((text) => JSON.parse(text) as unknown);
}

/** `value` with the keys of every object in it in sorted order. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, sortedKeys(v)]));
}

/** A first load has no generation query anywhere. */
export function queriesOnFirstLoad(records: readonly Observation[]): string[] {
  return records.flatMap((r) => strings(r).filter((s) => /[?&]plugd=\d+/.test(s))
    .map((s) => `${r.module ?? r.shape} (${r.phase}) has a generation query on a first load: ${s}`));
}

/** After a reload, every module that evaluated again names its own URL with a generation query. */
export function queriesMissingAfterReload(records: readonly Observation[], again: ReadonlySet<string>): string[] {
  return records.filter((r) => r.phase === 'top' && typeof r.module === 'string' && again.has(r.module))
    .filter((r) => typeof r.url !== 'string' || !/[?&]plugd=\d+$/.test(r.url))
    .map((r) => `${String(r.module)} evaluated again without a generation query on its own URL: ${String(r.url)}`);
}

function strings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(strings);
  if (typeof value === 'object' && value !== null) return Object.values(value).flatMap(strings);
  return [];
}
