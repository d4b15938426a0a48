/** `plugd check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure] [--disable <name>]...`. */
import { stat } from 'node:fs/promises';
import { checkIsolated } from '../check-isolated.js';
import { escapeControl, table, wantsColour } from './output.js';
import { UsageError, parse, timeoutOption, type Command } from './usage.js';

/** Runs `plugd check`; resolves to the exit status. */
export const checkCommand: Command = async (args, early) => {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    init: { type: 'boolean' },
    timeout: { type: 'string' },
    locked: { type: 'boolean' },
    'allow-insecure': { type: 'boolean' },
    disable: { type: 'string', multiple: true },
  });
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('usage: plugd check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure] [--disable <name>]...');
  const timeout = timeoutOption(values.timeout);
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) throw new UsageError(`plugd check: "${dir}" is not a readable directory`);

  // Plugin code runs in a worker thread (see check-isolated.ts): it cannot end this process, stop
  // its clock, or change the report.
  const { report, errors } = await checkIsolated(dir, {
    init: values.init === true, timeout, locked: values.locked === true, allowInsecure: values['allow-insecure'] === true, disable: values.disable ?? [],
  }, early?.checkWorker);
  if (values.json === true) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const colour = wantsColour(process.stdout);
    const rows = report.plugins.map((p) => [p.type, p.id, p.status, p.file]);
    let out = rows.length > 0 ? table(['TYPE', 'ID', 'STATUS', 'FILE'], rows, colour, 2) : 'no plugins registered\n';
    out += errors.length === 0
      ? `\nok: ${report.plugins.length} plugin(s), no problems\n`
      : `\n${errors.length} problem(s):\n` + errors.map((e) => `  ${e.code}  ${escapeControl(e.message)}\n`).join('');
    if (report.warnings.length > 0) out += `\n${report.warnings.length} warning(s):\n` + report.warnings.map((w) => `  ${w.code}  ${escapeControl(w.message)}\n`).join('');
    process.stdout.write(out);
  }
  return report.ok ? 0 : 1;
};
