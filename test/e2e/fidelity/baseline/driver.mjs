/**
 * The fidelity suite's baseline: plain Node loading plugin entries, no plugd in between.
 *
 *   node --import ./register.mjs driver.mjs <plugin dir> <entry>...
 *
 * Imports each entry (a path relative to the plugin dir) in the order given, then calls the init of
 * every registration the stub recorded, in registration order, with a minimal ctx, then close in
 * reverse. The plugins append their own observations to $PLUGD_FIDELITY_OUT; this driver appends
 * what went wrong there too: `{ phase: 'error', file, code, message }` for an entry that failed to
 * import, and `{ phase: 'report', plugin, frame }` (the top stack frame) for an init that threw.
 */
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dir, ...entries] = process.argv.slice(2);
const registrations = (globalThis[Symbol.for('plugd.fidelity.registrations')] ??= []);
const out = process.env.PLUGD_FIDELITY_OUT;
const write = (record) => appendFileSync(out, JSON.stringify(record) + '\n');
const topFrame = (error) => String(error?.stack ?? '').split('\n').find((line) => /^\s+at /.test(line)) ?? null;

for (const file of entries) {
  try {
    await import(pathToFileURL(join(dir, file)).href);
  } catch (error) {
    write({ phase: 'error', file, code: error?.code ?? error?.name ?? 'throw', message: String(error?.message ?? error) });
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'plugd-fidelity-ctx-'));
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {}, child() { return quiet; } };
const running = [];
for (const r of registrations) {
  const name = `${r.type}.${r.id}`;
  const ctx = {
    name, type: r.type, id: r.id, config: {}, root: join(scratch, 'root', name), state: join(scratch, 'state', name),
    log: quiet, signal: new AbortController().signal, handoff: undefined, meta: undefined,
    get: () => { throw new Error('the baseline provides no dependencies'); },
    getAll: () => [],
  };
  try {
    running.push([r, await r.init(ctx)]);
  } catch (error) {
    write({ phase: 'report', plugin: name, frame: topFrame(error) });
  }
}
for (const [r, instance] of running.reverse()) await r.close?.(instance);
rmSync(scratch, { recursive: true, force: true });
process.exit(0);
