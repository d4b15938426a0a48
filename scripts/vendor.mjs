/**
 * Part of `npm run build`: bundles fast-glob and its ~25 modules into one file,
 * dist/vendor/fast-glob.cjs. Every plugd process that scans loads it: one file loads in ~12 ms,
 * the package tree in ~32 ms (resolving and reading each module), on a CLI run of ~190 ms.
 * src/scan.ts falls back to node_modules/fast-glob when the bundle is absent (tests on sources).
 */
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { version } = JSON.parse(readFileSync(require.resolve('fast-glob/package.json'), 'utf8'));

await build({
  stdin: { contents: "module.exports = require('fast-glob');", resolveDir: process.cwd(), loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/vendor/fast-glob.cjs',
  legalComments: 'inline',
  banner: { js: `/* fast-glob ${version} and its dependencies, bundled by plugd's build; MIT licensed, see each package. */` },
  logLevel: 'warning',
});
