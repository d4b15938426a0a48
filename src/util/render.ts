/**
 * Safe views of any thrown value: a readable rendering, and a property read, neither of which
 * ever throws, whatever the value is (a hostile Proxy, a throwing getter).
 */
import { inspect, types } from 'node:util';

/**
 * A readable one-line rendering of any thrown value: `Error: boom` for errors, and `'boom'`, `42`,
 * `Symbol(x)`, `{ code: 'x' }` for anything else. Never throws, and never runs the value's own
 * code (no toString, getters, custom inspectors or Proxy traps).
 */
export function renderThrown(value: unknown): string {
  try {
    if (types.isNativeError(value)) {
      const rawName = readString(value, 'name');
      const name = rawName === undefined || rawName === '' ? 'Error' : rawName;
      const message = readString(value, 'message') ?? '<unreadable message>';
      return message === '' ? name : `${name}: ${message}`;
    }
    return inspect(value, { depth: 2, breakLength: Infinity, showProxy: true, getters: false, customInspect: false, maxStringLength: 500 });
  } catch {
    return '<unrenderable value>';
  }
}

function readString(value: unknown, key: string): string | undefined {
  const v = safeGet(value, key);
  return typeof v === 'string' ? v : undefined;
}

/** Reads `value[key]` without ever throwing (hostile proxies, throwing getters). */
export function safeGet(value: unknown, key: PropertyKey): unknown {
  try {
    if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
    return Reflect.get(value, key);
  } catch {
    return undefined;
  }
}

/** True when `text` holds a control character (C0, DEL, C1): never part of a name plugd prints as it is. */
export function hasControlCharacter(text: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f-\u009f]/.test(text);
}
