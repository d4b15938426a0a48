/**
 * `plugd serve [--plugins <dir>] [--config <file>] [--root <dir>] [--state <dir>] [--watch]
 * [--timeout <ms>] [--log-level <level>] [--locked] [--allow-insecure]`: the daemon, its control
 * socket, and its signals.
 */
import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ConfigError, renderThrown } from '../core/errors.js';
import { resolveConfig, type DaemonConfig } from '../daemon/config.js';
import { listen, SocketInUseError, SocketPathError } from '../daemon/control.js';
import { lockRoot, RootInUseError, type RootLock } from '../daemon/root-lock.js';
import { Daemon } from '../daemon/daemon.js';
import type { PluginRecord } from '../core/record.js';
import { startWatchdog } from '../daemon/watchdog.js';
import { realPath } from '../util/real-path.js';
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
  let lock: RootLock;
  try {
    lock = lockRoot(config.root);
  } catch (error) {
    log.fatal({ root: config.root, err: errorText(error) }, 'cannot lock the root');
    return 1;
  }
  const socket = join(config.state, 'plugd.sock');
  const watchdog = watchOverMainThread(config, socket);
  const daemon = new Daemon(config, log, version(), { watch: values.watch === true, locked: values.locked === true, onRecords: watchdog });
  return run(config, log, daemon, lock, socket);
};

/**
 * Opens the control socket and starts the daemon, then runs until a signal. Every way out - a
 * signal, a failed startup, a required plugin down, a plugin's `process.exit()` - removes the
 * socket this run created, records the stop in the inventory and releases the root.
 */
async function run(config: DaemonConfig, log: Logger, daemon: Daemon, lock: RootLock, socket: string): Promise<number> {
  let server: Server | undefined;
  let exiting: Promise<never> | undefined;
  const guard = guardExit(log, daemon, () => (server === undefined ? undefined : socket));
  const shutdown = async (code: number): Promise<never> => {
    exiting ??= (async () => {
      await daemon.stop();
      await new Promise((resolve) => { if (server === undefined) resolve(undefined); else server.close(resolve); });
      server = undefined; // server.close() removed the socket
      lock.release();
      guard.allow();
      return process.exit(code);
    })();
    return exiting;
  };
  handleSignals(log, daemon, shutdown, guard);
  try {
    await mkdir(config.state, { recursive: true });
    server = await listen(socket, { plugins: () => daemon.status(), health: () => daemon.health() });
  } catch (error) {
    log.fatal({ err: errorText(error) }, 'cannot open the control socket');
    return shutdown(1);
  }
  try {
    const result = await daemon.start();
    if (!result.ok) return await shutdown(1);
  } catch (error) {
    log.fatal({ err: errorText(error) }, 'cannot start');
    return shutdown(1);
  }
  return new Promise<number>(() => undefined); // runs until a signal
}

/** How long past its longest timeout the daemon's thread may stay blocked before the watchdog ends it. */
const WATCHDOG_SLACK_MS = 2_000;

/**
 * Starts the watchdog thread (see daemon/watchdog.ts): a plugin that blocks the event loop (a busy
 * loop in its top level, init or a callback) leaves a daemon deaf to signals and to its socket;
 * past the longest timeout plus a margin, the watchdog logs the plugin file and line and kills
 * the process, so that a supervisor restarts it. Returns what tells it the plugins of each file.
 */
function watchOverMainThread(config: DaemonConfig, socket: string): (records: readonly PluginRecord[]) => void {
  const watchdog = startWatchdog({
    limitMs: Math.max(config.timeouts.load, config.timeouts.init) + WATCHDOG_SLACK_MS,
    pluginDir: realPath(config.pluginDir),
    socket,
  });
  return (records) => {
    const byFile: Record<string, string[]> = {};
    for (const r of records) (byFile[r.file] ??= []).push(r.name);
    watchdog?.plugins(byFile);
  };
}

/** The message of a startup refusal (ours say what to do), or the rendering of anything else. */
function errorText(error: unknown): string {
  return error instanceof SocketInUseError || error instanceof SocketPathError || error instanceof RootInUseError
    ? error.message
    : renderThrown(error);
}

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
function handleSignals(log: Logger, daemon: Daemon, shutdown: (code: number) => Promise<never>, guard: ExitGuard): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (++signals > 1) {
      log.warn({ signal }, 'second signal: exiting at once');
      guard.allow();
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

/** Tells the exit guard that the exit to come is plugd's own. */
interface ExitGuard {
  allow(): void;
}

/**
 * Watches for an exit that is not plugd's own: a plugin calling `process.exit()` ends the process
 * without the daemon's shutdown. `process.exit` is wrapped to catch its caller's stack (who to
 * blame), and the `exit` handler, which can only do synchronous work, logs the plugin and the
 * phase, records the stop in the inventory with plugd's own connection, and removes the socket.
 */
function guardExit(log: Logger, daemon: Daemon, socket: () => string | undefined): ExitGuard {
  let allowed = false;
  let caller: string | undefined;
  const exit = process.exit.bind(process);
  process.exit = (code?: number | string | null): never => {
    if (!allowed) caller ??= new Error('process.exit()').stack ?? '';
    return exit(code);
  };
  process.on('exit', (code) => {
    if (!allowed && daemon.phase !== 'idle') {
      const plugins = daemon.blame({ stack: caller ?? '' });
      const at = callerFrame(caller);
      log.fatal({ code, phase: daemon.phase, plugins, ...(at === undefined ? {} : { at }) },
        'a plugin exited the process: plugins were not closed');
      daemon.exited(`process.exit(${code}) ${plugins.length > 0 ? `by ${plugins.join(', ')}` : 'outside plugd'} while ${daemon.phase}`);
    }
    daemon.exited(`exited (${code}) before the plugins were closed`); // e.g. a second signal
    const path = socket();
    if (path !== undefined) rmSync(path, { force: true });
  });
  return { allow: () => { allowed = true; } };
}

/** The frame of `stack` that called `process.exit` (its first frame is plugd's wrapper). */
function callerFrame(stack: string | undefined): string | undefined {
  return stack?.split('\n').slice(2).find((line) => line.trim().startsWith('at '))?.trim().slice(3);
}
