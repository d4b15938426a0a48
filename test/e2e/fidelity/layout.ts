/**
 * The two places the fidelity suite loads its plugin directory from, built fresh in a temp dir:
 *
 * - outside a project: `<tmp>/plugins`, with no package.json or node_modules anywhere above it;
 * - inside a project: `<tmp>/project/plugins`, where `<tmp>/project` has a package.json (with an
 *   `imports` field), its own `src/x.js`, `node_modules/plugd` -> this repository (whose
 *   package.json exports dist/) and `node_modules/fidelity-pkg` version 1.
 *
 * Both get a copy of fixtures/fidelity/plugins plus what git cannot hold: the symlinked entries and
 * the folder plugins' own node_modules. Observations, the daemon's root and state live in
 * `<tmp>/out` and `<tmp>/daemon`, outside the plugin directory.
 */
import { appendFileSync, chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/** This repository (Jest runs from its root, as test/support/cli.ts assumes). */
export const REPO = resolve('.');
const FIXTURES = join(REPO, 'fixtures/fidelity');

export type Place = 'outside a project' | 'inside a project';

export interface Layout {
  readonly place: Place;
  readonly inProject: boolean;
  /** The temp dir holding everything (removed by `dispose`). */
  readonly tmp: string;
  /** The plugin directory (a real path: no symlink on the way). */
  readonly plugins: string;
  /** Where each run's observations file goes. */
  readonly out: string;
  /** The daemon's --root and --state. */
  readonly daemonRoot: string;
  readonly daemonState: string;
}

export function makeLayout(place: Place): Layout {
  const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'plugd-fidelity-')));
  const inProject = place === 'inside a project';
  const base = inProject ? join(tmp, 'project') : tmp;
  const plugins = join(base, 'plugins');
  cpSync(join(FIXTURES, 'plugins'), plugins, { recursive: true });
  if (inProject) {
    cpSync(join(FIXTURES, 'project'), base, { recursive: true });
    mkdirSync(join(base, 'node_modules'));
    symlinkSync(REPO, join(base, 'node_modules/plugd'), 'dir');
    writePackage(join(base, 'node_modules/fidelity-pkg'), '1.0.0');
  } else {
    const above = projectFilesAbove(tmp);
    if (above.length > 0) throw new Error(`"outside a project" needs a temp dir with no package.json or node_modules above it; found ${above.join(', ')}`);
  }
  writePackage(join(plugins, 'vendored/node_modules/fidelity-pkg'), '2.0.0');
  writeFiles(join(plugins, 'cjs/node_modules/fidelity-cjs'), {
    'package.json': JSON.stringify({ name: 'fidelity-cjs', version: '1.0.0', main: 'index.js' }),
    'index.js': "module.exports = { version: '1.0.0', filename: __filename };\n",
  });
  // Symlinked entries: one relative, one absolute target, both inside the plugin directory.
  symlinkSync('targets/real-rel.js', join(plugins, 'link-rel.js'));
  symlinkSync(join(plugins, 'targets/real-abs.js'), join(plugins, 'link-abs.js'));
  checkFixtureBytes(plugins);
  // plugd refuses plugin files and folders writable by group or others: whatever the umask or the
  // checkout's modes, make them 0644/0755.
  denyGroupWrite(base);
  const out = join(tmp, 'out');
  mkdirSync(out);
  return { place, inProject, tmp, plugins, out, daemonRoot: join(tmp, 'daemon/root'), daemonState: join(tmp, 'daemon/state') };
}

/** Removes the layout, unless PLUGD_FIDELITY_KEEP is set (to look at what a run left). */
export function dispose(layout: Layout): void {
  if (process.env.PLUGD_FIDELITY_KEEP === undefined) rmSync(layout.tmp, { recursive: true, force: true });
}

/** Appends a comment to an entry (through its symlink, if it is one): new bytes, no line moves. */
export function touch(layout: Layout, file: string): void {
  const path = join(layout.plugins, file);
  const eol = readFileSync(path, 'utf8').includes('\r\n') ? '\r\n' : '\n';
  // A leading newline: tsc's output ends in `//# sourceMappingURL=...` with no newline.
  appendFileSync(path, `${eol}// touched by the fidelity suite${eol}`);
}

/** Replaces `from` with `to` in a file of the plugin directory. */
export function edit(layout: Layout, file: string, from: string, to: string): void {
  const path = join(layout.plugins, file);
  const text = readFileSync(path, 'utf8');
  if (!text.includes(from)) throw new Error(`${file} has no "${from}" to edit`);
  writeFileSync(path, text.replace(from, to));
}

/** Replaces a file the way editors and deploy tools do: write a temp file, rename it over. */
export function replaceByRename(layout: Layout, file: string, text: string): void {
  const path = join(layout.plugins, file);
  const temp = join(dirname(path), `.${Date.now()}.tmp`);
  writeFileSync(temp, text, { mode: 0o644 });
  renameSync(temp, path);
}

/** An ESM package `fidelity-pkg` of `version` whose module reports its own evaluation (shape "vendored"). */
function writePackage(dir: string, version: string): void {
  writeFiles(dir, {
    'package.json': JSON.stringify({ name: 'fidelity-pkg', version, type: 'module', exports: './index.js' }),
    'index.js': `import { appendFileSync } from 'node:fs';
const record = (phase, o) => process.env.PLUGD_FIDELITY_OUT && appendFileSync(process.env.PLUGD_FIDELITY_OUT, JSON.stringify({ shape: 'vendored', module: 'fidelity-pkg@${version}', phase, ...o }) + '\\n');
export default { version: '${version}', url: import.meta.url };
record('top', { url: import.meta.url });
`,
  });
}

function writeFiles(dir: string, files: Readonly<Record<string, string>>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

/** package.json files and node_modules folders from `dir`'s parent up to the root. */
function projectFilesAbove(dir: string): string[] {
  const found: string[] = [];
  for (let d = dirname(dir); ; d = dirname(d)) {
    for (const name of ['package.json', 'node_modules']) if (existsSync(join(d, name))) found.push(join(d, name));
    if (dirname(d) === d) return found;
  }
}

/** The encoding shapes are about their bytes: fail loudly if a checkout changed them. */
function checkFixtureBytes(plugins: string): void {
  const bytes = (file: string): Buffer => readFileSync(join(plugins, file));
  const crlf = bytes('crlf.js').toString();
  const problems = [
    bytes('bom.js').subarray(0, 3).equals(Buffer.from([0xef, 0xbb, 0xbf])) ? '' : 'bom.js does not start with a BOM',
    crlf.includes('\r\n') && !/[^\r]\n/.test(crlf) ? '' : 'crlf.js does not have CRLF line endings only',
    bytes('shebang.js').toString().startsWith('#!') ? '' : 'shebang.js does not start with #!',
  ].filter((p) => p !== '');
  if (problems.length > 0) throw new Error(`fixtures/fidelity/plugins was altered (see its .gitattributes): ${problems.join('; ')}`);
}

function denyGroupWrite(path: string): void {
  const info = lstatSync(path);
  if (info.isSymbolicLink()) return;
  chmodSync(path, info.isDirectory() ? 0o755 : 0o644);
  if (info.isDirectory()) for (const name of readdirSync(path)) denyGroupWrite(join(path, name));
}
