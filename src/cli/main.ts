#!/usr/bin/env node
/**
 * The `plugd` command line. Exit status: 0 fine, 1 problems found, 2 usage error (one line on
 * stderr, no stack trace).
 */
import { renderThrown } from '../errors.js';
import { version } from '../version.js';
import { checkCommand } from './check.js';
import { lockCommand } from './lock.js';
import { lsCommand } from './ls.js';
import { serveCommand } from './serve.js';
import { UsageError, type Command } from './usage.js';

const commands: Record<string, Command> = { check: checkCommand, serve: serveCommand, ls: lsCommand, lock: lockCommand };

const HELP = `usage: plugd <command> [options]

commands:
  check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure]
                                                   load a plugin directory and report its problems
  serve [--plugins <dir>] [--config <file>] [--root <dir>] [--state <dir>] [--watch]
        [--locked] [--allow-insecure] [--timeout <ms>] [--log-level <level>]
                                                   run the daemon (config: ./plugd.toml if present)
  ls [--state <dir>] [--json] [--detailed]         list the plugins of the running daemon
  lock <dir>                                       write <dir>/plugd.lock (sha256 of every plugin file)

  plugd --version    print the version
`;

/** Writes `text` to stdout and exits with `code` once it is flushed (plugins may hold the loop open). */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

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
