/** `plugd ls [--state <dir>] [--json] [--detailed]`: asks the running daemon. */
import { join, resolve } from 'node:path';
import { resolveConfig } from '../daemon/config.js';
import { get } from '../daemon/control.js';
import type { StatusDoc } from '../daemon/daemon.js';
import { ConfigError } from '../core/errors.js';
import { escapeControl, table, wantsColour } from './output.js';
import { UsageError, parse, type Command } from './usage.js';

/** Prints the daemon's plugins; exit 1 when no daemon answers. */
export const lsCommand: Command = async (args) => {
  const { values, positionals } = parse(args, { state: { type: 'string' }, json: { type: 'boolean' }, detailed: { type: 'boolean' } });
  if (positionals.length > 0) throw new UsageError('usage: plugd ls [--state <dir>] [--json] [--detailed]');
  let state: string;
  try {
    state = values.state === undefined ? (await resolveConfig({}, process.cwd())).state : resolve(values.state);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
  const socket = join(state, 'plugd.sock');
  let doc: StatusDoc;
  try {
    doc = (await get(socket, '/v1/plugins')).body as StatusDoc;
  } catch (error) {
    process.stderr.write(`plugd ls: no daemon answers at ${socket} (${(error as Error).message}); is plugd serve running with this --state?\n`);
    return 1;
  }
  if (values.json === true) {
    process.stdout.write(JSON.stringify(doc, null, 2) + '\n');
    return 0;
  }
  const colour = wantsColour(process.stdout);
  const detailed = values.detailed === true;
  const header = detailed ? ['TYPE', 'ID', 'STATUS', 'FILE', 'GEN', 'INIT MS', 'REQUIRES', 'ERROR'] : ['TYPE', 'ID', 'STATUS', 'FILE'];
  const rows = doc.plugins.map((p) => {
    const row = [p.type, p.id, p.status, p.file];
    if (detailed) row.push(String(p.generation), p.initMs === null ? '-' : p.initMs.toFixed(1), p.requires.join(',') || '-', p.error === undefined ? '-' : `${p.error.code}: ${p.error.message}`);
    return row;
  });
  let out = table(header, rows, colour, 2);
  const broken = doc.files.filter((f) => f.error !== undefined);
  if (broken.length > 0) out += `\nfiles with errors:\n${broken.map((f) => `  ${escapeControl(f.file)}  ${f.error?.code ?? ''}  ${escapeControl(f.error?.message ?? '')}\n`).join('')}`;
  process.stdout.write(out);
  return 0;
};
