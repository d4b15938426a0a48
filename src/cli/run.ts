/**
 * The `plugd` command line, once main.ts started what it could early. Exit status: 0 fine, 1
 * problems found, 2 usage error (one line on stderr, no stack trace).
 */
import { renderThrown } from '../core/errors.js';
import { version } from '../util/version.js';
import { UsageError, type Command, type Early } from './usage.js';

// Each command loads only what it needs: `check` must not pay for the daemon's pino, SQLite and
// chokidar (measured: +10% of a 2,000-plugin check).
const commands: Record<string, () => Promise<Command>> = {
  check: async () => (await import('./check.js')).checkCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  ls: async () => (await import('./ls.js')).lsCommand,
  lock: async () => (await import('./lock.js')).lockCommand,
};

const HELP = `usage: plugd <command> [options]

commands:
  check <dir> [--json] [--init] [--timeout <ms>] [--locked] [--allow-insecure]
        [--disable <name>]...                      load a plugin directory and report its problems
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

/** Runs the command line `argv` (without node and the script), with what main.ts started `early`. */
export function run(argv: readonly string[], early: Early): void {
  const [name, ...args] = argv;
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
      command().then(async (body) => body(args, early)).then(exit, (error: unknown) => {
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
}
