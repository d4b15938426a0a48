/**
 * Safe views of any thrown value: a readable rendering, and property reads, none of which ever
 * throws or runs the value's own code, whatever the value is (a hostile Proxy, a throwing getter).
 * Only data properties are read, through their descriptors (which never run a getter), and a Proxy
 * is never looked into (so no trap runs at all).
 */
import { inspect, types } from 'node:util';

/** How many prototypes {@link safeGet} walks up before it gives up (real class chains are short). */
const MAX_PROTO_DEPTH = 32;

/**
 * A readable one-line rendering of any thrown value: `Error: boom` for errors, `[Proxy]` for a
 * Proxy, and `'boom'`, `42`, `Symbol(x)`, `{ code: 'x' }` for anything else. Never throws, and
 * never runs the value's own code (no toString, getters, custom inspectors or Proxy traps).
 */
export function renderThrown(value: unknown): string {
  try {
    if (types.isProxy(value)) return '[Proxy]';
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

/**
 * Reads the data property `key` of `value`, its own or one of its prototypes' (as an Error's
 * `name` lives on its class's prototype), without ever throwing or running its code: an accessor
 * (getter) reads as `undefined`, and so does anything on or behind a Proxy.
 */
export function safeGet(value: unknown, key: PropertyKey): unknown {
  try {
    let at: unknown = value;
    for (let depth = 0; depth < MAX_PROTO_DEPTH && isObject(at) && !types.isProxy(at); depth++) {
      const found = Object.getOwnPropertyDescriptor(at, key);
      if (found !== undefined) return 'value' in found ? found.value : undefined;
      at = Object.getPrototypeOf(at);
    }
    return undefined;
  } catch {
    // A module namespace's binding still in its temporal dead zone throws on inspection.
    return undefined;
  }
}

/**
 * Reads the own data property `key` of `value` (never an inherited one, never a getter, never
 * through a Proxy); `undefined` when there is none. Never throws.
 */
export function ownData(value: unknown, key: PropertyKey): unknown {
  try {
    if (!isObject(value) || types.isProxy(value)) return undefined;
    const found = Object.getOwnPropertyDescriptor(value, key);
    return found !== undefined && 'value' in found ? found.value : undefined;
  } catch {
    return undefined;
  }
}

/** C0 controls, DEL and C1 controls: what a terminal may act on rather than print. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/g;

/** True when `text` holds a control character (C0, DEL, C1): never part of a name plugd prints as it is. */
export function hasControlCharacter(text: string): boolean {
  CONTROL_CHARACTERS.lastIndex = 0;
  return CONTROL_CHARACTERS.test(text);
}

/**
 * V8's own `stack` accessor of this realm's errors (Node 21+ makes `stack` an own accessor; Node 20 a
 * data property): the one getter {@link safeStack} may call, as it is V8's code, not the value's.
 */
const NATIVE_STACK_GET = (Object.getOwnPropertyDescriptor(new Error(), 'stack') as { get?: unknown } | undefined)?.get;

/**
 * The `stack` string of `value`, read without running any of its code: its own data property, or
 * V8's own accessor. V8 formats an error's stack on first read, reading its `name` and `message`:
 * so an Error one of whose is a getter (or lies behind a Proxy) has no readable stack.
 */
export function safeStack(value: unknown): string | undefined {
  try {
    if (!isObject(value) || types.isProxy(value)) return undefined;
    if (types.isNativeError(value) && (!plainData(value, 'name') || !plainData(value, 'message'))) return undefined;
    const found = Object.getOwnPropertyDescriptor(value, 'stack') as { value?: unknown; get?: unknown } | undefined;
    if (found === undefined) return undefined;
    const stack = 'value' in found ? found.value
      : typeof found.get === 'function' && found.get === NATIVE_STACK_GET ? Reflect.apply(found.get, value, []) as unknown : undefined;
    return typeof stack === 'string' ? stack : undefined;
  } catch {
    return undefined;
  }
}

/** True when reading `value[key]` would meet no getter and no Proxy: a data property, or none at all. */
function plainData(value: object, key: PropertyKey): boolean {
  let at: unknown = value;
  for (let depth = 0; depth < MAX_PROTO_DEPTH; depth++) {
    if (!isObject(at)) return true;
    if (types.isProxy(at)) return false;
    const found = Object.getOwnPropertyDescriptor(at, key);
    if (found !== undefined) return 'value' in found;
    at = Object.getPrototypeOf(at);
  }
  return false;
}

function isObject(value: unknown): value is object {
  return (typeof value === 'object' || typeof value === 'function') && value !== null;
}
