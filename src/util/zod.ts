/**
 * zod, loaded on first use. Importing zod costs more than the rest of plugd, and
 * most loads never need it: registrations are validated by a fast check first, and only plugins
 * with a config schema touch `z`. So `z` is a proxy that loads zod's CommonJS build when first
 * used, and behaves as zod's `z` from then on.
 */
import { createRequire } from 'node:module';
import type * as Zod from 'zod';

let loaded: typeof Zod | undefined;

/** zod itself, loaded the first time it is needed. */
export function zod(): typeof Zod {
  return (loaded ??= createRequire(import.meta.url)('zod') as typeof Zod);
}

const real = (): object => zod().z;

/** zod's `z` (the schema builder plugins use for their `config`), loaded on first use. */
export const z: typeof Zod.z = new Proxy({}, {
  get: (_, key) => Reflect.get(real(), key) as unknown,
  has: (_, key) => Reflect.has(real(), key),
  ownKeys: () => Reflect.ownKeys(real()),
  getOwnPropertyDescriptor: (_, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
    // The proxy's empty target holds none of these: they must be reported configurable.
    return descriptor === undefined ? undefined : { ...descriptor, configurable: true };
  },
}) as typeof Zod.z;
