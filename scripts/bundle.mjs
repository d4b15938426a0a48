/**
 * Part of `npm run build`, after tsc: bundles plugd's entry points (the library, plugd/testing,
 * the CLI, the check worker, the module hooks' thread modules) over the compiled tree, with the
 * code they share split into chunks, so that every entry sees one copy of plugd's state (the
 * registration table, the module hooks).
 *
 * Why: every plugin imports 'plugd', and for every top-level import() Node walks the whole module
 * graph reachable from it - already-evaluated modules and imported builtins included. Compiled
 * file by file, plugd's public entry reaches ~25 of its own modules and ~10 builtins: that walk,
 * paid by each of thousands of plugins, was about half of a load's excess over plain Node's
 * floor. Bundled, with builtins taken through process.getBuiltinModule instead of import
 * statements, the entry's graph is a handful of modules. What `import * as plugd` shows does not
 * change. npm packages stay external (and are loaded lazily where the library needs them).
 * The compiled files stay beside the bundle (types, the benchmarks' direct imports).
 */
import { build } from 'esbuild';
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * Node builtins as values from process.getBuiltinModule: no import statement, no graph node. Each
 * builtin becomes a small ES module that exports just the names plugd's sources import from it
 * (an esbuild CommonJS shim would copy every property of every builtin at startup, ~7 ms).
 */
const builtinsAsValues = {
  name: 'builtins-as-values',
  setup(b) {
    const used = importedBuiltinNames('src');
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => {
      const names = [...(used.get(args.path) ?? [])].filter((n) => n !== 'default');
      return {
        contents: `const m = process.getBuiltinModule(${JSON.stringify(args.path)});\n`
          + (names.length > 0 ? `export const { ${names.join(', ')} } = m;\n` : '')
          + 'export default m;\n',
        loader: 'js',
      };
    });
  },
};

/** For each builtin (`node:fs`), the names that the TypeScript files below `dir` take from it. */
function importedBuiltinNames(dir) {
  const used = new Map();
  const add = (mod, name) => used.set(mod, (used.get(mod) ?? new Set()).add(name));
  for (const file of readdirSync(dir, { recursive: true }).filter((f) => f.endsWith('.ts'))) {
    const source = readFileSync(resolve(dir, file), 'utf8');
    for (const [, list, mod] of source.matchAll(/^import\s*\{([^}]*)\}\s*from\s*'(node:[^']+)'/gm)) {
      for (const item of list.split(',').map((s) => s.trim()).filter((s) => s !== '' && !s.startsWith('type '))) add(mod, item.split(/\s+as\s+/)[0]);
    }
    for (const [, mod] of source.matchAll(/^import\s+\w+\s+from\s*'(node:[^']+)'/gm)) add(mod, 'default');
  }
  return used;
}

/**
 * The library's modules (util, core, load, check): every entry point imports all of them (a
 * virtual module added to each), so that they are reached by the same set of entries and land in
 * one shared chunk. Otherwise the bundler splits them by which entries use what, into a dozen
 * chunks, and the public entry's graph is a dozen modules again. The daemon and the CLI stay out
 * of it: only the CLI reaches them.
 */
const LIBRARY = [
  ...['util', 'core', 'load'].flatMap((dir) => readdirSync(`src/${dir}`).filter((f) => f.endsWith('.ts')).map((f) => `src/${dir}/${f}`)),
  'src/check.ts', 'src/check-isolated.ts', 'src/check-watchdog.ts',
].map((f) => resolve(f));
const ENTRIES = ['src/index.ts', 'src/testing.ts', 'src/check-worker.ts', 'src/cli/main.ts', 'src/load/hooks-thread.ts', 'src/load/lock-thread.ts'];
// The entries and the CLI's commands (imported lazily: each lazy import is a split point too).
const entryPaths = new Set([...ENTRIES, ...readdirSync('src/cli').filter((f) => f.endsWith('.ts')).map((f) => `src/cli/${f}`)].map((f) => resolve(f)));

// The executable's first module imports no library code: it starts what takes long to start before
// the library loads (see src/cli/main.ts).
const EARLY_MAIN = resolve('src/cli/main.ts');

const oneLibraryChunk = {
  name: 'one-library-chunk',
  setup(b) {
    b.onResolve({ filter: /^plugd:library$/ }, () => ({ path: 'library', namespace: 'plugd' }));
    b.onLoad({ filter: /.*/, namespace: 'plugd' }, () => ({
      contents: LIBRARY.map((f) => `import ${JSON.stringify(f)};`).join('\n'), loader: 'js', resolveDir: process.cwd(),
    }));
    b.onLoad({ filter: /\.ts$/ }, (args) => (entryPaths.has(args.path) && args.path !== EARLY_MAIN
      ? { contents: `import 'plugd:library';\n${readFileSync(args.path, 'utf8').replace(/^#!.*\n/, '')}`, loader: 'ts' }
      : undefined));
  },
};

rmSync('dist/src/chunks', { recursive: true, force: true });
await build({
  entryPoints: ENTRIES,
  outdir: 'dist/src',
  outbase: 'src',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  plugins: [builtinsAsValues, oneLibraryChunk],
  logLevel: 'warning',
  // A name the builtin shims lack (e.g. from a namespace import, which they do not follow) fails the build.
  logOverride: { 'import-is-undefined': 'error' },
  banner: { js: '' },
});
// The CLI is run as a program: its shebang line, which the added import displaced, goes first again.
const main = 'dist/src/cli/main.js';
writeFileSync(main, `#!/usr/bin/env node\n${readFileSync(main, 'utf8').replace(/^#!.*\n/m, '')}`);
