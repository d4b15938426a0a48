/**
 * Staging one file (stage.ts decides where and when): a module importing `'plugd'` gets that import
 * rewritten into a binding of the host's API; anything else is linked, or copied across
 * filesystems. Synchronous: thousands of async calls would queue ahead of the imports' own reads.
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, linkSync, openSync, readFileSync, readSync, writeFileSync, writevSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import { IntegrityError } from './errors.js';
import { fileUrl } from './file-url.js';
import { isModuleName } from './scan.js';

/**
 * What a rewritten `'plugd'` import of the module at `url` binds: the host's API, with `register`
 * bound to the module. The URL is written in, not read from `import.meta.url`: an `import.meta`
 * object (with its `resolve` closure and paths) would stay on the heap with every module version.
 * `complete` says that every `'plugd'` import of the module was rewritten: nothing in it can reach
 * the stack-attributing `register()`, so its load may forget it once settled (see channel.ts).
 */
const apiFor = (url: string, complete: boolean): string =>
  `globalThis[Symbol.for('plugd.api')].for(${JSON.stringify(url)}${complete ? ', true' : ''})`;

/** Blanks `text` where it stands, keeping every line break (and so every line number). */
const blank = (text: string): string => text.replace(/[^\r\n\u2028\u2029]/g, ' ');

/** How a file was staged. */
export interface Staged {
  /** Why it must not be imported (its bytes differ from the lock). */
  readonly problem?: IntegrityError;
  /** True when the lexer saw module syntax in it (false: unknown). */
  readonly esm: boolean;
}

const UNKNOWN: Staged = { esm: false };
const ESM: Staged = { esm: true };

/** A buffer reused for every file read (staging is synchronous): no allocation per file. */
let scratch = Buffer.allocUnsafe(1 << 16);

const SCRATCH_KEPT = 1 << 20;

/** The bytes of the file at `path`, in the scratch buffer: valid until the next read. */
function readWhole(path: string): Buffer {
  // A large file grew the buffer for itself: the next file gets an ordinary one back.
  if (scratch.length > SCRATCH_KEPT) scratch = Buffer.allocUnsafe(1 << 16);
  const fd = openSync(path, 'r');
  try {
    for (let n = 0; ;) {
      if (n === scratch.length) scratch = Buffer.concat([scratch, Buffer.allocUnsafe(scratch.length)]);
      const got = readSync(fd, scratch, n, scratch.length - n, null);
      if (got === 0) return scratch.subarray(0, n);
      n += got;
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * A compiled plugin's usual first statement, at the very start of the file: `import { register }
 * from 'plugd';` (without a semicolon: ending its line, and not continued by import attributes).
 */
const LEADING = /^import[ \t\r\n]*\{([^}]*)\}[ \t\r\n]*from[ \t\r\n]*(['"])plugd\2(?:[ \t]*;|(?=[ \t]*\r?\n)(?![ \t\r\n]*(?:with|assert)\b))/;
/** Another mention of `'plugd'` as a specifier: the whole module goes to the lexer. */
const SPECIFIERS = ["'plugd'", '"plugd"', '`plugd`'];

/**
 * The fast path of the rewrite, for a module that opens with a named import of `'plugd'`: that
 * statement cannot be in a comment or a string, and makes the file a module, so no lexing is
 * needed. Works on bytes (the statement is ASCII): no decoding and encoding of the file.
 */
function rewriteLeading(bytes: Buffer, url: string): [Buffer, Buffer] | undefined {
  const match = LEADING.exec(bytes.toString('latin1', 0, Math.min(bytes.length, 512)));
  if (match === null) return undefined;
  const end = match[0].length;
  if (SPECIFIERS.some((s) => bytes.includes(s, end))) return undefined;
  const binding = namedBinding(match[1] ?? '', apiFor(url, true));
  if (binding === undefined) return undefined;
  return [Buffer.from(`${binding} ${blank(match[0])}`), bytes.subarray(end)];
}

/** Writes `parts` one after the other as the file `path`, in one system call where it can. */
export function writeParts(path: string, parts: readonly Buffer[]): void {
  const fd = openSync(path, 'w');
  try {
    const written = writevSync(fd, parts);
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (written < total) writeFileSync(fd, Buffer.concat(parts).subarray(written));
  } finally {
    closeSync(fd);
  }
}

/** Modules larger than this are never inlined: Node keeps a module's URL for good. */
const INLINE_MAX = 64 * 1024;
/**
 * What might be a module dependency besides the leading `'plugd'` import: the word `import` (a
 * static or dynamic import, `import.meta`) or `from` (a re-export, even with a comment before its
 * specifier) anywhere but as a property (`Array.from`). A module with either is lexed.
 */
const DEPENDS = /\bimport\b|(?<![\w$.])from(?![\w$])/;
/** A source map that is not inline: its relative URL could not resolve against a data: URL. */
const SOURCE_MAP_FILE = /[#@]\s*sourceMappingURL=(?!data:)/;
/** The rest of the leading import's line holds nothing: columns on line 1 stay those of the file. */
const LINE_ENDS = /^[ \t]*(?:\r?\n|$)/;

/**
 * The rewritten bytes of the module `from` (to be staged at `url`), when it may be imported
 * inline instead: it opens with its `'plugd'` import on a line of its own (the fast path), its
 * other dependencies are Node builtins (static imports or re-exports of `node:fs` and the like,
 * which resolve the same from anywhere) - no other import, no dynamic import, no `import.meta` -
 * and it has no source map file, so nothing in it is relative to its file; and it is not large.
 * Copies, not views of the scratch buffer.
 */
export function inlineCandidate(from: string, url: string): Buffer[] | undefined {
  try {
    const bytes = readWhole(from);
    if (bytes.length > INLINE_MAX) return undefined;
    const parts = rewriteLeading(bytes, url);
    if (parts === undefined) return undefined;
    const rest = parts[1].toString('latin1');
    if (!LINE_ENDS.test(rest) || SOURCE_MAP_FILE.test(rest)) return undefined;
    if (DEPENDS.test(rest) && !onlyBuiltins(parts[1].toString('utf8'))) return undefined;
    return [parts[0], Buffer.from(parts[1])];
  } catch {
    return undefined; // unreadable: staged as a file, whose import then says why
  }
}

/** True when every import and re-export of `source` is a static one of a Node builtin (lexed). */
function onlyBuiltins(source: string): boolean {
  try {
    const [imports] = lex().parse(source);
    return imports.every((imp) => imp.d === -1 && imp.a === -1 && imp.n !== undefined && isBuiltin(imp.n) && !ATTRIBUTES.test(source.slice(imp.se, imp.se + 64)));
  } catch {
    return false; // a syntax error: a file, whose import then reports it
  }
}

/**
 * A `data:` URL of `parts`, imported without touching the disk: no file to write, and for Node
 * none to read, no realpath, no package scope to look up (~0.5x the time of importing files).
 * `sourceURL` names the plugin's own file in stack traces. Each load's URLs are its own: the
 * binding in `parts` names the load's stage (an identical URL would give Node's cached module).
 */
export function inlineUrl(parts: readonly Buffer[], sourceUrl: string): string {
  return `data:text/javascript;base64,${Buffer.concat([...parts, Buffer.from(`\n//# sourceURL=${sourceUrl}\n`)]).toString('base64')}`;
}

/**
 * Stages the file `from` as `to`: with `rewrite`, a module importing 'plugd' rewritten; anything
 * else linked (copied across filesystems). Under a lock (`expect`), the bytes read are hashed and
 * only those bytes are written - never a link, which would let the file change after the check.
 */
export function stageFile(from: string, to: string, rewrite: boolean, expect?: { file: string; sha256: string }): Staged {
  const js = isModuleName(from);
  const url = js && rewrite ? fileUrl(to) : '';
  try {
    if (expect !== undefined) {
      const bytes = readFileSync(from);
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== expect.sha256) return { problem: new IntegrityError(expect.file, 'mismatch', { expected: expect.sha256, actual }), esm: false };
      const out = rewrite && js ? rewriteModule(bytes.toString('utf8'), url) : undefined;
      writeFileSync(to, out?.text ?? bytes);
      return out ?? UNKNOWN;
    }
    if (rewrite && js) {
      const bytes = readWhole(from);
      const leading = rewriteLeading(bytes, url);
      if (leading !== undefined) {
        writeParts(to, leading);
        return ESM;
      }
      const out = rewriteModule(bytes.toString('utf8'), url);
      writeFileSync(to, out.text ?? bytes);
      return out;
    }
    link(from, to);
  } catch {
    // The file vanished or cannot be read: its import fails and says so, naming the file.
  }
  return UNKNOWN;
}

function link(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
}

/** A module's source with its `'plugd'` imports rewritten (`text`, unset when there is nothing to rewrite), and whether it has module syntax. */
export type Rewriter = (source: string, url: string) => { readonly text?: string; readonly esm: boolean };

type Lexer = typeof import('es-module-lexer');
let lexer: Lexer | undefined;

/**
 * Rewrites a module that the fast path could not: es-module-lexer, loaded on first need (most
 * compiled plugins open with their `'plugd'` import and never need it).
 */
export const rewriteModule: Rewriter = (source, url) => rewriteImports(source, url, lex().parse);

/** es-module-lexer, loaded (synchronously) on first need. */
function lex(): Lexer {
  if (lexer === undefined) {
    const loaded = createRequire(import.meta.url)('es-module-lexer') as Lexer;
    loaded.initSync();
    lexer = loaded;
  }
  return lexer;
}
const NAMED = /^import\s*\{([^}]*)\}\s*from\s*(['"])plugd\2$/;
/** What follows a declaration that has import attributes. */
const ATTRIBUTES = /^\s*(?:with|assert)\s*\{/;
const NAMESPACE = /^import\s*\*\s*as\s+([A-Za-z_$][\w$]*)\s*from\s*(['"])plugd\2$/;
const BINDING = /^([A-Za-z_$][\w$]*)(?:\s+as\s+([A-Za-z_$][\w$]*))?$/;

/** `const { a, b: c } = <api>;` for the import list `a, b as c`; `undefined` for a list it cannot read. */
function namedBinding(list: string, api: string): string | undefined {
  const pairs = list.split(',').map((p) => p.trim()).filter((p) => p !== '').map((p) => BINDING.exec(p));
  if (pairs.some((m) => m === null)) return undefined;
  return `const { ${pairs.map((m) => (m?.[2] === undefined ? m?.[1] : `${m[1] ?? ''}: ${m[2]}`)).join(', ')} } = ${api};`;
}

/**
 * `source` with its `import { a, b as c } from 'plugd'` and `import * as p from 'plugd'`
 * declarations turned into `const` bindings of the host's API, declared ahead of everything
 * (imports are hoisted); no `text` when there is nothing to rewrite. Other forms (default
 * imports, re-exports, dynamic `import('plugd')`) are left to Node's resolution.
 */
function rewriteImports(source: string, url: string, parse: Lexer['parse']): ReturnType<Rewriter> {
  let imports: readonly { n?: string | undefined; d: number; ss: number; se: number; a: number }[];
  let esm: boolean;
  try {
    [imports, , , esm] = parse(source);
  } catch {
    return { esm: false }; // a syntax error: let Node report it
  }
  if (!source.includes('plugd')) return { esm };
  // Which declarations become bindings (the API expression comes once all are known).
  const found: { ss: number; se: number; bind: (api: string) => string | undefined }[] = [];
  let others = 0;
  for (const imp of imports) {
    // A dynamic import of a computed specifier (n unset) might be 'plugd' too.
    if (imp.n !== 'plugd' && !(imp.n === undefined && imp.d > -1)) continue;
    // With import attributes (`with { ... }`) the declaration is left as it is. (The lexer misses
    // them on the next line of a declaration without a semicolon.)
    const attributes = imp.a > -1 || ATTRIBUTES.test(source.slice(imp.se, imp.se + 64));
    const statement = imp.d === -1 && !attributes ? source.slice(imp.ss, imp.se) : '';
    const named = NAMED.exec(statement);
    const namespace = NAMESPACE.exec(statement);
    const list = named?.[1];
    const name = namespace?.[1];
    if (list !== undefined && namedBinding(list, '') !== undefined) found.push({ ss: imp.ss, se: imp.se, bind: (api) => namedBinding(list, api) });
    else if (name !== undefined) found.push({ ss: imp.ss, se: imp.se, bind: (api) => `const ${name} = ${api};` });
    else others++;
  }
  if (found.length === 0) return { esm };
  const at = source.startsWith('#!') ? source.indexOf('\n') + 1 : 0;
  if (at === 0 && source.startsWith('#!')) return { esm };
  const api = apiFor(url, others === 0);
  let out = source;
  for (const f of found) out = out.slice(0, f.ss) + blank(source.slice(f.ss, f.se)) + out.slice(f.se);
  return { text: out.slice(0, at) + found.map((f) => f.bind(api)).join(' ') + ' ' + out.slice(at), esm };
}

