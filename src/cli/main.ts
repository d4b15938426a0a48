#!/usr/bin/env node
/**
 * The `plugd` command line. Exit status: 0 fine, 1 problems found, 2 usage error (one line on
 * stderr, no stack trace).
 */
import { readFileSync } from 'node:fs';
import { renderThrown } from '../errors.js';
import { checkCommand } from './check.js';
import { UsageError, type Command } from './usage.js';

const commands: Record<string, Command> = { check: checkCommand };

const HELP = `usage: plugd <command> [options]

commands:
  check <dir> [--json] [--init] [--timeout <ms>]   load a plugin directory and report its problems

  plugd --version    print the version
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Writes `text` to stdout and exits with `code` once it is flushed (plugins may hold the loop open). */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

// A plugin's stray callback must not take the CLI down: report it and go on.
process.on('uncaughtException', (error) => { process.stderr.write(`plugd: uncaught error from a plugin: ${renderThrown(error)}\n`); });
process.on('unhandledRejection', (reason) => { process.stderr.write(`plugd: unhandled rejection from a plugin: ${renderThrown(reason)}\n`); });

const [name, ...args] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
  process.stdout.write(HELP);
  exit(name === undefined ? 2 : 0);
} else if (name === '--version' || name === '-v') {
  process.stdout.write(version() + '\n');
  exit(0);
} else {
  const command = commands[name];
  if (command === undefined) {
    process.stderr.write(`plugd: unknown command "${name}" (try plugd --help)\n`);
    exit(2);
  } else {
    command(args).then(exit, (error: unknown) => {
      if (error instanceof UsageError) {
        process.stderr.write(`plugd: ${error.message}\n`);
        exit(2);
      } else {
        // Anything else means the check could not be carried out: not "problems found".
        process.stderr.write(`plugd: ${renderThrown(error)}\n`);
        exit(2);
      }
    });
  }
}
