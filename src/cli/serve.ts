/**
 * `plugd serve [--plugins <dir>] [--config <file>] [--root <dir>] [--state <dir>] [--watch]
 * [--timeout <ms>] [--log-level <level>] [--locked] [--allow-insecure]`: the daemon, its control
 * socket, and its signals.
 */
import { mkdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError, renderThrown } from '../core/errors.js';
import { resolveConfig, type DaemonConfig } from '../daemon/config.js';
import { listen, SocketInUseError } from '../daemon/control.js';
import { Daemon } from '../daemon/daemon.js';
import { createLogger, LEVELS } from '../daemon/logger.js';
import { version } from '../util/version.js';
import { UsageError, parse, timeoutOption, type Command } from './usage.js';

/** Runs the daemon until a signal; resolves to the exit status only when startup fails. */
export const serveCommand: Command = async (args) => {
  const { values, positionals } = parse(args, {
    plugins: { type: 'string' },
    config: { type: 'string' },
    root: { type: 'string' },
    state: { type: 'string' },
    timeout: { type: 'string' },
    'log-level': { type: 'string' },
    watch: { type: 'boolean' },
    locked: { type: 'boolean' },
    'allow-insecure': { type: 'boolean' },
  });
  if (positionals.length > 0) throw new UsageError(`plugd serve takes no arguments (got "${positionals.join(' ')}"); use --plugins <dir>`);
  const level = values['log-level'] ?? 'info';
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LEVELS.join(', ')}, not "${level}"`);
  const config = await configOrExit({
    plugins: values.plugins, config: values.config, root: values.root, state: values.state, timeout: timeoutOption(values.timeout),
    ...(values['allow-insecure'] === true ? { allowInsecure: true } : {}),
  });
  if (typeof config === 'number') return config;

  const log = createLogger(level);
  const daemon = new Daemon(config, log, version(), { watch: values.watch === true, locked: values.locked === true });
  const socket = join(config.state, 'plugd.sock');
  let server: Server | undefined;
  const shutdown = async (code: number): Promise<never> => {
    await daemon.stop();
    await new Promise((resolve) => { if (server === undefined) resolve(undefined); else server.close(resolve); });
    await unlink(socket).catch(() => undefined);
    return process.exit(code);
  };
  handleSignals(log, daemon, shutdown);
  try {
    await mkdir(config.state, { recursive: true });
    server = await listen(socket, { plugins: () => daemon.status(), health: () => daemon.health() });
  } catch (error) {
    log.fatal({ err: error instanceof SocketInUseError ? error.message : renderThrown(error) }, 'cannot open the control socket');
    return 1;
  }
  let result: Awaited<ReturnType<Daemon['start']>>;
  try {
    result = await daemon.start();
  } catch (error) {
    // A bug of plugd's own (a plugin's failure is reported, never thrown): still close whatever
    // started, and the socket, rather than leave them behind.
    log.fatal({ err: renderThrown(error) }, 'startup failed');
    return shutdown(1);
  }
  if (!result.ok) return shutdown(1);
  return new Promise<number>(() => undefined); // runs until a signal
};

/** The resolved config, or exit status 2 after printing why it is invalid (one line). */
async function configOrExit(flags: Parameters<typeof resolveConfig>[0]): Promise<DaemonConfig | number> {
  try {
    return await resolveConfig(flags, process.cwd());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`plugd serve: ${error.message}\n`);
    return 2;
  }
}

/**
 * SIGINT/SIGTERM close everything and exit 0; a second signal exits at once (1). A plugin's stray
 * callback must not take the daemon down: it is logged against the plugin it came from.
 */
function handleSignals(log: Logger, daemon: Daemon, shutdown: (code: number) => Promise<never>): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    void shutdown(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', (error) => { log.error({ plugins: daemon.blame(error), err: renderThrown(error) }, 'uncaught error in a plugin'); });
  process.on('unhandledRejection', (reason) => { log.error({ plugins: daemon.blame(reason), err: renderThrown(reason) }, 'unhandled rejection in a plugin'); });
}
