/**
 * Part of `npm run build`: bundles fast-glob and its ~25 modules into one file,
 * dist/vendor/fast-glob.cjs. Every plugd process that scans loads it: one file loads in ~12 ms,
 * the package tree in ~32 ms (resolving and reading each module), on a CLI run of ~190 ms.
 * src/scan.ts falls back to node_modules/fast-glob when the bundle is absent (tests on sources).
 */
import { build } from 'esbuild';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const { version } = JSON.parse(readFileSync(require.resolve('fast-glob/package.json'), 'utf8'));

const result = await build({
  stdin: { contents: "module.exports = require('fast-glob');", resolveDir: process.cwd(), loader: 'js' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/vendor/fast-glob.cjs',
  legalComments: 'inline',
  banner: { js: `/* fast-glob ${version} and its dependencies, bundled by plugd's build: licenses in fast-glob.LICENSES.txt */` },
  metafile: true,
  logLevel: 'warning',
});

// Each bundled package's license text, next to the bundle (most carry none in their code).
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (match !== null) packages.add(match[1]);
}
const notices = [...packages].sort().map((dir) => {
  const { name, version: v, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = readdirSync(dir).find((f) => /^(license|licence|copying)/i.test(f));
  const text = file === undefined ? `(no license file; package.json says ${license})` : readFileSync(join(dir, file), 'utf8').trim();
  return `${name}@${v} (${license})\n\n${text}\n`;
});
const out = join(dirname('dist/vendor/fast-glob.cjs'), 'fast-glob.LICENSES.txt');
if (!existsSync(dirname(out))) throw new Error(`no ${dirname(out)}: the bundle was not written`);
writeFileSync(out, notices.join('\n' + '-'.repeat(72) + '\n\n'));
