/**
 * Where in a plugin's own file a thrown value points, for reports and CI annotations: the first
 * stack frame in that file. (An ESM syntax error's stack names no file: Node keeps its location
 * to itself, so none is reported.) Reads the value's `stack` without ever throwing or running its
 * code, and leaves a Proxy alone; a frame's generation query is not part of its file.
 */
import { fileURLToPath } from 'node:url';
import { safeStack } from './render.js';
import { realPath } from './real-path.js';

/** A position in a file, 1-based. */
export interface Location {
  readonly line: number;
  readonly column?: number;
}

/** `file:///x.js?plugd=2:3:14` or `/x.js:3:14` (a path with a colon in it is not recognized). */
const FRAME = /(file:\/\/[^\s():?]+|\/[^\s():?]+)(?:\?[^\s():]*)?:(\d+)(?::(\d+))?/g;

/** The first place in `stack` of `thrown` that lies in the file at `path` (absolute; symlinks resolved). */
export function locate(thrown: unknown, path: string): Location | undefined {
  const stack = safeStack(thrown);
  if (stack === undefined) return undefined;
  const file = realPath(path);
  for (const match of stack.matchAll(FRAME)) {
    const [, where = '', line = '', column] = match;
    if (pathOf(where) !== file) continue;
    return column === undefined ? { line: Number(line) } : { line: Number(line), column: Number(column) };
  }
  return undefined;
}

function pathOf(where: string): string | undefined {
  if (!where.startsWith('file:')) return where;
  try {
    return fileURLToPath(where);
  } catch {
    return undefined;
  }
}


/** A place in a file, its absolute path included. */
export interface Place extends Location {
  readonly path: string;
}

/** The first frame of `stack` (a stack string) in a file below `dir` (absolute, symlinks resolved), if any. */
export function firstFrameBelow(stack: string, dir: string): Place | undefined {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const match of stack.matchAll(FRAME)) {
    const [, where = '', line = '', column] = match;
    const path = pathOf(where);
    if (path?.startsWith(prefix) !== true) continue;
    return column === undefined ? { path, line: Number(line) } : { path, line: Number(line), column: Number(column) };
  }
  return undefined;
}
