/** `plugd check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure]`. */
import { stat } from 'node:fs/promises';
import { check } from '../check.js';
import { renderThrown } from '../core/errors.js';
import { escapeControl, table, wantsColour } from './output.js';
import { UsageError, parse, timeoutOption, type Command } from './usage.js';

/** Runs `plugd check`; resolves to the exit status. */
export const checkCommand: Command = async (args) => {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    init: { type: 'boolean' },
    timeout: { type: 'string' },
    locked: { type: 'boolean' },
    'allow-insecure': { type: 'boolean' },
  });
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('usage: plugd check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure]');
  const timeout = timeoutOption(values.timeout);
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) throw new UsageError(`plugd check: "${dir}" is not a readable directory`);

  // A plugin's stray callback must not take the CLI down: report it and go on.
  process.on('uncaughtException', (error) => { process.stderr.write(`plugd: uncaught error from a plugin: ${escapeControl(renderThrown(error))}\n`); });
  process.on('unhandledRejection', (reason) => { process.stderr.write(`plugd: unhandled rejection from a plugin: ${escapeControl(renderThrown(reason))}\n`); });
  const { report, errors } = await check(dir, { init: values.init === true, timeout, locked: values.locked === true, allowInsecure: values['allow-insecure'] === true });
  if (values.json === true) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const colour = wantsColour(process.stdout);
    const rows = report.plugins.map((p) => [p.type, p.id, p.status, p.file]);
    let out = rows.length > 0 ? table(['TYPE', 'ID', 'STATUS', 'FILE'], rows, colour, 2) : 'no plugins registered\n';
    out += errors.length === 0
      ? `\nok: ${report.plugins.length} plugin(s), no problems\n`
      : `\n${errors.length} problem(s):\n` + errors.map((e) => `  ${e.code}  ${escapeControl(e.message)}\n`).join('');
    process.stdout.write(out);
  }
  return report.ok ? 0 : 1;
};
