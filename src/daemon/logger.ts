/**
 * The daemon's logger: pino JSON lines on stdout, pretty-printed on a TTY. Writes are synchronous
 * so that no line is lost when the process exits right after logging it.
 */
import { pino, type Logger } from 'pino';
import PinoPretty from 'pino-pretty';

/** The log levels `--log-level` accepts. */
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** A pino logger at `level` on stdout (pretty when stdout is a TTY). */
export function createLogger(level: string): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return process.stdout.isTTY
    ? pino(options, PinoPretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }))
    : pino(options, pino.destination({ dest: 1, sync: true }));
}
