/**
 * Generates benchmark plugin directories: `n` realistic 1-3 KB ESM modules (a few exported
 * helpers, one registration), with a seeded random dependency DAG (about 3 requires per plugin, a
 * handful of `'*'`). The same modules come in three flavours of equal size, so the baselines
 * import the same bytes: `plugd` (`import { register } from 'plugd'`), `bare` (a global register,
 * for plain `import()`), and `fastify` (a default-exported Fastify plugin, for @fastify/autoload).
 * Every directory has a `package.json` declaring `"type": "module"`, as a real ESM package does:
 * without it Node parses each untyped `.js` file once to detect that it is ESM and then compiles
 * it again, which would inflate every contender alike and hide what the loaders themselves cost.
 * (The fastify flavour's modules sit one folder below it, in {@link modulesOf}: @fastify/autoload
 * refuses a directory that holds a `package.json` but no `index.js`.)
 * With `shared`, the chosen modules also import a helper from `lib/shared.js`: an import graph
 * inside the plugin directory, which plugd's resolve hook records so that a change to the shared
 * file reloads every module that imports it.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Which loader the generated modules are written for. */
export type Flavour = 'plugd' | 'bare' | 'fastify';

/** mulberry32: a tiny seeded PRNG, so every run generates the same directories. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One generated plugin: its file, type, id and requirements. */
export interface Spec {
  readonly file: string;
  readonly type: string;
  readonly id: string;
  readonly requires: readonly string[];
}

/**
 * The plugins of an `n`-plugin directory: a DAG with ~3 requires each (only on earlier types).
 * Every tenth plugin shares its predecessor's type, so some types have two providers.
 */
export function specs(n: number, seed = 42): Spec[] {
  const random = prng(seed);
  const typeOf = (i: number): string => `io.bench.t${i % 10 === 9 ? i - 1 : i}.v1`;
  const stars = new Set<number>();
  while (stars.size < Math.min(Math.floor(n / 10), 3 + Math.floor(n / 2000))) {
    const i = Math.floor(random() * n);
    if (i % 10 < 8) stars.add(i);
  }
  const out: Spec[] = [];
  for (let i = 0; i < n; i++) {
    let requires: string[] = [];
    if (stars.has(i)) requires = ['*'];
    else if (i >= 2) {
      const picked = new Set<string>();
      const count = Math.floor(random() * 7); // 0..6, mean 3
      for (let k = 0; k < count; k++) {
        const j = Math.floor(random() * (i - 1)); // j <= i - 2: every provider of its type is earlier
        if (!stars.has(j) && !stars.has(j + 1)) picked.add(typeOf(j));
      }
      requires = [...picked].filter((t) => t !== typeOf(i));
    }
    out.push({ file: `p${String(i).padStart(5, '0')}.js`, type: typeOf(i), id: `p${i}`, requires });
  }
  return out;
}

function body(spec: Spec, random: () => number): string {
  const helpers = 2 + Math.floor(random() * 6);
  let out = '';
  for (let k = 0; k < helpers; k++) {
    out += `/** Helper ${k} of ${spec.id}: combines a value with this plugin's constants. */\n` +
      `export function ${spec.id}_helper${k}(input, options = {}) {\n` +
      `  const factor = options.factor ?? ${k + 1};\n` +
      `  const values = [input, ${Math.floor(random() * 1000)}, ${k}].map((v) => Number(v) * factor);\n` +
      `  return { sum: values.reduce((a, b) => a + b, 0), label: \`${spec.id}-${k}-\${values.length}\` };\n}\n\n`;
  }
  return out;
}

/** What `generate` can add. */
export interface GenerateOptions {
  /** Which modules (by index) import a helper from `lib/shared.js`; none by default. */
  readonly shared?: (index: number) => boolean;
}

/** The file the `shared` modules import, relative to the plugin directory. */
export const SHARED_FILE = 'lib/shared.js';

const SHARED = "import { scale } from './lib/shared.js';\nexport const scaled = scale(2);\n";

/** The source of one module in `flavour`; `shared`: it imports a helper from {@link SHARED_FILE}. */
export function source(spec: Spec, flavour: Flavour, random: () => number, shared = false): string {
  const helpers = (shared ? SHARED : '') + body(spec, random);
  const init = `async (ctx) => ({ name: '${spec.type}.${spec.id}', started: Date.now(), ctx: typeof ctx })`;
  const requires = JSON.stringify(spec.requires).replaceAll('"', "'");
  switch (flavour) {
    case 'plugd':
      return `import { register } from 'plugd';\n\n${helpers}register({\n  type: '${spec.type}',\n  id: '${spec.id}',\n` +
        `  requires: ${requires},\n  init: ${init},\n  close: async () => {},\n});\n`;
    case 'bare':
      return `const register = globalThis.__benchRegister;\n\n${helpers}register({\n  type: '${spec.type}',\n  id: '${spec.id}',\n` +
        `  requires: ${requires},\n  init: ${init},\n  close: async () => {},\n});\n`;
    case 'fastify':
      return `${helpers}export default async function plugin(fastify) {\n  // requires: ${requires}\n` +
        `  fastify.decorate('${spec.id}', { name: '${spec.type}.${spec.id}', started: Date.now() });\n` +
        `  globalThis.__benchRegister('${spec.type}.${spec.id}');\n}\n`;
  }
}

/** The folder the modules of a `flavour` directory `dir` are in: the directory itself, but for fastify. */
export function modulesOf(dir: string, flavour: Flavour): string {
  return flavour === 'fastify' ? join(dir, 'plugins') : dir;
}

/** True when some module of an `n`-plugin directory imports the shared file. */
function anyShared(n: number, shared: (index: number) => boolean): boolean {
  for (let i = 0; i < n; i++) if (shared(i)) return true;
  return false;
}

/** Writes an `n`-plugin directory of `flavour` into `dir` (replacing it). */
export async function generate(dir: string, n: number, flavour: Flavour, seed = 42, options: GenerateOptions = {}): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ private: true, type: 'module' })}\n`);
  const into = modulesOf(dir, flavour);
  await mkdir(into, { recursive: true });
  const shared = options.shared ?? ((): boolean => false);
  if (anyShared(n, shared)) {
    await mkdir(join(into, 'lib'));
    await writeFile(join(into, SHARED_FILE), 'export const scale = (v) => v * 2;\n');
  }
  // The sources are made in order (they draw from one seeded PRNG), then written in batches.
  const random = prng(seed + 1);
  const sources = specs(n, seed).map((spec, i) => [spec.file, source(spec, flavour, random, shared(i))] as const);
  for (let i = 0; i < sources.length; i += 256) {
    await Promise.all(sources.slice(i, i + 256).map(([file, text]) => writeFile(join(into, file), text)));
  }
}
