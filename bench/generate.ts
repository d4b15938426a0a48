/**
 * Generates benchmark plugin directories: `n` realistic 1-3 KB ESM modules (a few exported
 * helpers, one registration), with a seeded random dependency DAG (about 3 requires per plugin, a
 * handful of `'*'`). The same modules come in three flavours of equal size, so the baselines
 * import the same bytes: `plugd` (`import { register } from 'plugd'`), `bare` (a global register,
 * for plain `import()`), and `fastify` (a default-exported Fastify plugin, for @fastify/autoload).
 * With `shared`, every module also imports a helper from `lib/shared.js` (a plugin directory whose
 * modules import files: plugd stages them as files instead of importing them inline).
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
  /** Every module imports a helper from `lib/shared.js`. */
  readonly shared?: boolean;
}

const SHARED = "import { scale } from './lib/shared.js';\nexport const scaled = scale(2);\n";

/** The source of one module in `flavour`. */
export function source(spec: Spec, flavour: Flavour, random: () => number, options: GenerateOptions = {}): string {
  const helpers = (options.shared === true ? SHARED : '') + body(spec, random);
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

/** Writes an `n`-plugin directory of `flavour` into `dir` (replacing it). */
export async function generate(dir: string, n: number, flavour: Flavour, seed = 42, options: GenerateOptions = {}): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  if (options.shared === true) {
    await mkdir(join(dir, 'lib'));
    await writeFile(join(dir, 'lib/shared.js'), 'export const scale = (v) => v * 2;\n');
  }
  const random = prng(seed + 1);
  const all = specs(n, seed);
  for (let i = 0; i < all.length; i += 256) {
    await Promise.all(all.slice(i, i + 256).map((spec) => writeFile(join(dir, spec.file), source(spec, flavour, random, options))));
  }
}
