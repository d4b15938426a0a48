/**
 * SHA-256, with `node:crypto` loaded on first use: it takes ~10 ms to load, which every CLI start
 * and every plugin process would pay, while only locks and digests need it.
 */
import type { Hash } from 'node:crypto';

let crypto: typeof import('node:crypto') | undefined;

/** A new SHA-256 hash to feed piece by piece. */
export function sha256Hash(): Hash {
  crypto ??= process.getBuiltinModule('node:crypto');
  return crypto.createHash('sha256');
}

/** The SHA-256 of `bytes`, in lowercase hex. */
export function sha256(bytes: string | NodeJS.ArrayBufferView): string {
  return sha256Hash().update(bytes).digest('hex');
}
