/**
 * The plugin shapes of the fidelity suite, as data: which entries each has, which of its modules
 * import which (to know what a reload must evaluate again), and what the sibling reload edits.
 * The files themselves are in fixtures/fidelity/ (plugins/, and project/ for the inside-a-project
 * mode); layout.ts generates what git cannot hold (symlinks, node_modules).
 *
 * Every module of a shape appends JSON lines `{ shape, module, phase, ...observed }` to the file
 * named by $PLUGD_FIDELITY_OUT: `module` is its path relative to the plugin directory (fixed in the
 * file, so a staged or renamed copy still says which module it is), `phase` is `top` (evaluation)
 * or `init`.
 */

/** One plugin entry of a shape, and the module it is (a symlinked entry is its target). */
export interface Unit {
  /** The entry, relative to the plugin directory: what plugd reports as the plugin's `file`. */
  readonly entry: string;
  /** The module file it loads: `entry`, or a symlink's target. */
  readonly module: string;
}

/** A change the sibling reload makes to one file of a shape. */
export interface Edit {
  readonly file: string;
  readonly from: string;
  readonly to: string;
}

export interface Shape {
  /** Its name: the `shape` of its records, and the `<name>` of its plugin type `io.fidelity.<name>.v1`. */
  readonly name: string;
  /** What it covers, for the test titles. */
  readonly covers: string;
  readonly units: readonly Unit[];
  /** module -> the modules of the plugin directory it imports (those that can change). */
  readonly imports?: Readonly<Record<string, readonly string[]>>;
  /** The sibling reload's edit; shapes without one must not evaluate anything in that reload. */
  readonly edit?: Edit;
  /** Only in the inside-a-project layout (it imports the project's own files). */
  readonly inProjectOnly?: boolean;
}

const unit = (entry: string, module = entry): Unit => ({ entry, module });
/** The usual sibling edit: `REV = 1` becomes `REV = 2`, on the same line (no line moves). */
const rev = (file: string): Edit => ({ file, from: 'export const REV = 1;', to: 'export const REV = 2;' });

export const SHAPES: readonly Shape[] = [
  {
    name: 'esm', covers: 'hand-written ESM: import.meta.url/dirname/filename/resolve, raw call sites',
    units: [unit('esm.js')], imports: { 'esm.js': ['lib/esm-helper.js'] }, edit: rev('lib/esm-helper.js'),
  },
  {
    name: 'tsc', covers: 'tsc nodenext output with .js.map: source-mapped stack frames',
    units: [unit('tsc/index.js')],
    imports: {
      'tsc/index.js': ['tsc/constants.js', 'tsc/record.js', 'tsc/service.js'],
      'tsc/service.js': ['tsc/record.js', 'tsc/util.js'],
      'tsc/util.js': ['tsc/record.js'],
      'tsc/constants.js': ['tsc/record.js'],
    },
    edit: rev('tsc/util.js'),
  },
  { name: 'bundle', covers: 'esbuild single-file bundle with a source map', units: [unit('bundle.js')] },
  { name: 'bom', covers: 'a file starting with a byte order mark', units: [unit('bom.js')] },
  { name: 'crlf', covers: 'a file with CRLF line endings', units: [unit('crlf.js')] },
  { name: 'shebang', covers: 'a file starting with #!', units: [unit('shebang.js')] },
  { name: 'namespace', covers: "import * as plugd from 'plugd'", units: [unit('namespace.js')] },
  {
    name: 'reexport', covers: 'export * from / export { x } from',
    units: [unit('reexport/index.js')],
    imports: { 'reexport/index.js': ['reexport/api.js', 'reexport/y.js'], 'reexport/api.js': ['reexport/lib.js', 'reexport/y.js'] },
    edit: rev('reexport/y.js'),
  },
  { name: 'files', covers: './data.json, ./assets/, a .env dotfile read at init', units: [unit('files.js')] },
  { name: 'cjs', covers: 'createRequire of a sibling .cjs and of a package', units: [unit('cjs/index.js')] },
  {
    name: 'json', covers: "a JSON import with { type: 'json' }",
    units: [unit('json.js')], imports: { 'json.js': ['lib/config.json'] },
    edit: { file: 'lib/config.json', from: '"rev": 1', to: '"rev": 2' },
  },
  { name: 'worker', covers: 'a Worker from a sibling file, and a .wasm beside it', units: [unit('worker/index.js')] },
  { name: 'tla', covers: 'top-level await reading a sibling file', units: [unit('tla.js')] },
  { name: 'vendored', covers: "a folder plugin's own node_modules (v2) over the project's (v1)", units: [unit('vendored/index.js')] },
  { name: 'project', covers: "#imports and the project's own ../src/x.js", units: [unit('project.js')], inProjectOnly: true },
  {
    name: 'bus', covers: 'two plugins sharing ./lib/bus.js',
    units: [unit('bus-a.js'), unit('bus-b.js')], imports: { 'bus-a.js': ['lib/bus.js'], 'bus-b.js': ['lib/bus.js'] },
    edit: rev('lib/bus.js'),
  },
  {
    name: 'symlink', covers: 'symlinked entries (relative and absolute targets)',
    units: [unit('link-abs.js', 'targets/real-abs.js'), unit('link-rel.js', 'targets/real-rel.js')],
    imports: { 'targets/real-abs.js': ['targets/shared.js'], 'targets/real-rel.js': ['targets/shared.js'] },
    edit: rev('targets/shared.js'),
  },
  { name: 'state', covers: 'a file written beside the plugin at init', units: [unit('state.js')] },
  { name: 'rename', covers: 'a sibling asset replaced by rename before the reload', units: [unit('rename.js')] },
  { name: 'throws', covers: 'the file:line plugd reports for an init that throws', units: [unit('throws.js')] },
];

/** The shapes of a layout. */
export function shapesFor(inProject: boolean): Shape[] {
  return SHAPES.filter((s) => inProject || s.inProjectOnly !== true);
}

/**
 * The modules of `shape` that must evaluate again when `changed` files changed: those files and,
 * transitively, the modules that import them (up to the entries). Packages and unchanged modules
 * keep their instance.
 */
export function reevaluated(shape: Shape, changed: readonly string[]): Set<string> {
  const again = new Set(changed);
  for (let grew = true; grew;) {
    grew = false;
    for (const [module, imported] of Object.entries(shape.imports ?? {})) {
      if (!again.has(module) && imported.some((m) => again.has(m))) {
        again.add(module);
        grew = true;
      }
    }
  }
  return again;
}

/** The shape whose plugin is `name` (`io.fidelity.<shape>.v1.<id>`). */
export function shapeOfPlugin(name: string): string | undefined {
  return /^io\.fidelity\.([^.]+)\.v1\./.exec(name)?.[1];
}

/** The shape that owns `file` (an entry, or a file of a folder plugin), if any. */
export function shapeOfFile(shapes: readonly Shape[], file: string): string | undefined {
  return shapes.find((s) => s.units.some((u) => u.entry === file || (u.entry.includes('/') && file.startsWith(u.entry.slice(0, u.entry.indexOf('/') + 1)))))?.name;
}
