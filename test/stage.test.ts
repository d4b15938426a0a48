/**
 * Staging: the `'plugd'` import rewrite, and the lock's guarantee that the bytes checked are the
 * bytes imported, even when the file is swapped right after the check.
 */
import { describe, expect, test } from '@jest/globals';
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { channel } from '../src/channel.js';
import type { LateRegistrationError } from '../src/errors.js';
import { evaluate } from '../src/evaluate.js';
import { writeLock } from '../src/integrity.js';
import { place, type Placement } from '../src/stage.js';
import { rewriteModule } from '../src/stage-file.js';
import { tempPluginDir } from './support/cli.js';

const URL_OF = 'file:///stage/a.js';
const BOUND = `globalThis[Symbol.for('plugd.api')].for("${URL_OF}", true)`;

// A directory is staged when it was loaded before (under Jest, 'plugd' resolves from anywhere).
const staged = async (dir: string): Promise<Placement> => { await place(dir); return place(dir); };

/** The text a staged entry is imported as: its inline (data:) module without the sourceURL line, or its staged file. */
async function stagedText(placement: Placement, file: string): Promise<string> {
  const url = placement.importUrl({ file, path: `${placement.dir}/${file}` });
  if (!url.startsWith('data:')) return readFile(`${placement.base}/${file}`, 'utf8');
  const text = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64').toString('utf8');
  return text.slice(0, text.lastIndexOf('\n//# sourceURL='));
}

describe('the import rewrite', () => {
  test.each([
    ["import { register } from 'plugd';", `const { register } = ${BOUND};`],
    ['import { register, z as zod } from "plugd";', `const { register, z: zod } = ${BOUND};`],
    ["import * as plugd from 'plugd';", `const plugd = ${BOUND};`],
  ])('%s', (statement, binding) => {
    const rewrite = rewriteModule;
    const out = rewrite(`// a plugin\n${statement}\nregister({});\n`, URL_OF).text;
    expect(out).toBeDefined();
    // Declared ahead of everything (imports are hoisted), the import blanked in place: same lines.
    expect(out?.startsWith(`${binding} // a plugin\n`)).toBe(true);
    expect(out?.split('\n')).toHaveLength(4);
    expect(out?.split('\n')[1]?.trim()).toBe(';');
  });

  test.each([
    ["import plugd from 'plugd';"],
    ["export { register } from 'plugd';"],
    ["const p = await import('plugd');"],
    ["import { register } from 'plugd-other';"],
    ["const s = \"import { register } from 'plugd'\";"],
  ])('leaves %s to Node', (source) => {
    expect(rewriteModule(source, URL_OF).text).toBeUndefined();
  });

  test('keeps a hashbang first', () => {
    const out = rewriteModule("#!/usr/bin/env node\nimport { register } from 'plugd';\n", URL_OF).text;
    expect(out?.startsWith(`#!/usr/bin/env node\nconst { register } = ${BOUND};`)).toBe(true);
  });
});

describe('module types in the stage', () => {
  const plugin = (id: string): string => `import { register } from 'plugd';\nregister({ type: 'io.types.v1', id: '${id}', init: () => ({}) });\n`;
  const typeOf = async (file: string): Promise<string> => readFile(file, 'utf8').catch(() => 'none');

  test('declares ESM where the lexer saw it, and leaves CommonJS to Node\'s detection', async () => {
    const dir = await tempPluginDir({
      'a.js': plugin('a'),
      'folder/index.js': "import helper from './helper.js';\nimport { register } from 'plugd';\nregister({ type: 'io.types.v1', id: helper.id, init: () => ({}) });\n",
      'folder/helper.js': "module.exports = { id: 'from-cjs' };\n",
      'esm/index.js': plugin('esm'),
    });
    const placement = await staged(dir);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(outcomes.flatMap((o) => o.registrations.map((r) => r.name)).sort()).toEqual(['io.types.v1.a', 'io.types.v1.esm', 'io.types.v1.from-cjs']);
    expect(await typeOf(`${placement.base}/package.json`)).toBe('{"type":"module"}\n');
    expect(await typeOf(`${placement.base}/folder/package.json`)).toBe('{}\n');
    expect(await typeOf(`${placement.base}/esm/package.json`)).toBe('none');
  });

  test('a top-level file without module syntax leaves the whole stage to detection', async () => {
    const dir = await tempPluginDir({ 'a.js': plugin('a'), 'b.js': 'globalThis.plugdTypesTest = typeof module;\n' });
    const placement = await staged(dir);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(await typeOf(`${placement.base}/package.json`)).toBe('none');
    // Evaluated as CommonJS, as it would be in place.
    expect((globalThis as { plugdTypesTest?: string }).plugdTypesTest).toBe('object');
  });

  test.each([
    ['opens with the import (the fast path, no lexing)', "import {\n  register,\n  z as zod,\n} from 'plugd';\n"],
    ['opens with the import and no semicolon', "import { register, z as zod } from 'plugd'\n"],
    ['opens with a comment (lexed)', "// a comment\nimport { register, z as zod } from 'plugd';\n"],
  ])('a module that %s keeps its line numbers', async (_, head) => {
    const source = `${head}register({ type: 'io.lines.v1', id: 'a', init: () => ({}) });\nvoid zod;\n`;
    const dir = await tempPluginDir({ 'a.js': source });
    const placement = await staged(dir);
    const [outcome] = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcome?.errors).toEqual([]);
    expect(outcome?.registrations.map((r) => r.name)).toEqual(['io.lines.v1.a']);
    const text = await stagedText(placement, 'a.js');
    expect(text.split('\n')).toHaveLength(source.split('\n').length);
    expect(text).toContain(`const { register, z: zod } = globalThis[Symbol.for('plugd.api')].for(${JSON.stringify(pathToFileURL(`${placement.base}/a.js`).href)}, true);`);
    expect(text).not.toContain('from \'plugd\'');
    expect(text.split('\n').findIndex((l) => l.startsWith('register('))).toBe(source.split('\n').findIndex((l) => l.startsWith('register(')));
  });

  test('file names a URL must escape still bind register() to their module', async () => {
    const dir = await tempPluginDir({ 'a b.js': plugin('space'), 'é#1.js': plugin('escaped'), 'folder %/index.js': plugin('folder') });
    const placement = await staged(dir);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(outcomes.flatMap((o) => o.registrations.map((r) => r.name)).sort()).toEqual(['io.types.v1.escaped', 'io.types.v1.folder', 'io.types.v1.space']);
  });

  test('a plugin directory\'s own package.json is mirrored, not overridden', async () => {
    const dir = await tempPluginDir({ 'a.js': plugin('a'), 'package.json': '{"name":"mine"}\n' });
    const placement = await staged(dir);
    await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(await typeOf(`${placement.base}/package.json`)).toBe('{"name":"mine"}\n');
  });
});

describe('rewritten modules and the channel', () => {
  const reg = (id: string, via = 'register'): string => `${via}({ type: 'io.bound.v1', id: '${id}', init: () => ({}) });`;

  test('a late registration is still reported late; a fully rewritten module leaves no channel entry behind', async () => {
    const dir = await tempPluginDir({
      'a.js': `import { register } from 'plugd';\n${reg('a')}\nsetTimeout(() => { ${reg('a-late')} }, 0);\n`,
      // Two imports of 'plugd': the fast path leaves it to the lexer, which rewrites both.
      'b.js': `import { register } from 'plugd';\nimport * as again from 'plugd';\n${reg('b')}\nsetTimeout(() => { ${reg('b-late', 'again.register')} }, 0);\n`,
    });
    const placement = await staged(dir);
    const before = channel().entries.size;
    const late: LateRegistrationError[] = [];
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: (e) => late.push(e) });
    await new Promise((r) => setTimeout(r, 20));
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(outcomes.flatMap((o) => o.registrations.map((r) => r.name))).toEqual(['io.bound.v1.a', 'io.bound.v1.b']);
    expect(late.map((e) => `${e.file} ${e.plugin}`).sort()).toEqual(['a.js io.bound.v1.a-late', 'b.js io.bound.v1.b-late']);
    expect(channel().entries.size).toBe(before);
    const text = await readFile(`${placement.base}/b.js`, 'utf8');
    expect(text.split('\n')).toHaveLength(5);
    expect(text).not.toContain("from 'plugd'");
  });

  test('a module that also reaches plugd another way keeps its channel entry (its calls are found by their stack)', async () => {
    const dir = await tempPluginDir({ 'c.js': `import { register } from 'plugd';\n${reg('c')}\nexport const later = () => import('plugd');\n` });
    const placement = await staged(dir);
    const before = channel().entries.size;
    const [outcome] = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcome?.errors).toEqual([]);
    expect(channel().entries.size).toBe(before + 1);
  });

  test.each([
    ['a lone carriage return in the import', "import {\rregister\r} from 'plugd';\rregister({ type: 'io.cr.v1', id: 'a', init: () => ({}) });\r"],
    ['import attributes after an import without a semicolon', "import { register } from 'plugd'\nwith { type: 'js' };\n"],
  ])('the fast path leaves %s to the lexer or to Node, with every line kept', async (_, source) => {
    const dir = await tempPluginDir({ 'a.js': source });
    const placement = await staged(dir);
    const text = await stagedText(placement, 'a.js');
    expect(text.split(/\r\n?|\n/)).toHaveLength(source.split(/\r\n?|\n/).length);
    // Import attributes: the declaration stays whole (Node resolves it); no 'with' statement is made.
    if (source.includes('with {')) expect(text).toBe(source);
  });
});

describe('inline modules', () => {
  const plugin = (id: string, more = ''): string => `import { register } from 'plugd';\nregister({ type: 'io.inline.v1', id: '${id}', init: () => ({}) });\n${more}`;

  test('modules that import nothing but plugd are imported inline, and name their own files in stack traces', async () => {
    const dir = await tempPluginDir({ 'a.js': plugin('a'), 'b.js': plugin('b', "throw new Error('boom');\n") });
    const placement = await staged(dir);
    expect(placement.entries.map((e) => placement.importUrl(e).slice(0, 5))).toEqual(['data:', 'data:']);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes[0]?.registrations.map((r) => r.name)).toEqual(['io.inline.v1.a']);
    expect(outcomes[1]?.errors.map((e) => e.toJSON())).toEqual([expect.objectContaining({ code: 'E_PLUGIN_LOAD', file: 'b.js', reason: 'throw' })]);
    // (The file named in stack traces is checked end to end, in test/cli/serve.test.ts: Jest's module VM ignores sourceURL.)
  });

  test('a module importing Node builtins is inline too (they resolve the same from anywhere); prose about them is no import', async () => {
    const dir = await tempPluginDir({
      'a.js': plugin('a', "import { format } from 'node:util';\nimport path from 'path';\n// the name comes from the format below, imported from util\nexport const name = format('%s', path.sep);\n"),
      'b.js': plugin('b', "export * from 'node:os';\n"),
    });
    const placement = await staged(dir);
    expect(placement.entries.map((e) => placement.importUrl(e).slice(0, 5))).toEqual(['data:', 'data:']);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
    expect(outcomes.flatMap((o) => o.registrations.map((r) => r.name))).toEqual(['io.inline.v1.a', 'io.inline.v1.b']);
  });

  test('every load evaluates its inline modules afresh (a data: URL Node saw before would be its cached module)', async () => {
    const dir = await tempPluginDir({ 'a.js': plugin('a') });
    for (let i = 0; i < 3; i++) {
      const placement = await staged(dir);
      const [outcome] = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
      expect(placement.importUrl(placement.entries[0] ?? { file: '', path: '' }).startsWith('data:')).toBe(true);
      expect(outcome?.registrations.map((r) => r.name)).toEqual(['io.inline.v1.a']);
    }
  });

  test.each([
    ['a source map file', plugin('a', '//# sourceMappingURL=a.js.map\n')],
    ['code after the import on its line (columns would shift)', "import { register } from 'plugd'; register({ type: 'io.inline.v1', id: 'a', init: () => ({}) });\n"],
    ['a re-export with a comment before its specifier', plugin('a', "export { x } from /* here */ './x.js';\n")],
    ['an import of a package', plugin('a', "import 'some-package';\n")],
    ['a dynamic import of a builtin', plugin('a', "export const load = () => import('node:fs');\n")],
    ['import.meta', plugin('a', 'export const here = import.meta.url;\n')],
  ])('a module with %s is a file', async (_, source) => {
    const dir = await tempPluginDir({ 'a.js': source, 'x.js': 'export const x = 1;\n' });
    const placement = await staged(dir);
    expect(placement.importUrl(placement.entries[0] ?? { file: '', path: '' }).startsWith('file:')).toBe(true);
  });

  test.each([
    ['an entry imports another', { 'a.js': plugin('a'), 'b.js': plugin('b', "import './a.js';\n") }],
    ['a folder plugin has modules (which might reach up)', { 'a.js': plugin('a'), 'f/index.js': plugin('f', "export { x } from '../x.js';\n"), 'x.js': 'export const x = 1;\n' }],
    ['the directory has a package.json ("imports", self-reference)', { 'a.js': plugin('a'), 'package.json': '{"imports":{"#a":"./a.js"}}\n' }],
  ])('nothing is inline when %s: every module is a file', async (_, files) => {
    const dir = await tempPluginDir(files);
    const placement = await staged(dir);
    expect(placement.entries.filter((e) => placement.importUrl(e).startsWith('data:'))).toEqual([]);
    const outcomes = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcomes.flatMap((o) => o.errors)).toEqual([]);
  });
});

describe('a locked load', () => {
  test('imports the bytes it checked, even when the file is swapped between the check and the import', async () => {
    const dir = await tempPluginDir({ 'a.js': "import { register } from 'plugd';\nregister({ type: 'io.lock.v1', id: 'checked', init: () => ({}) });\n" });
    await writeLock(dir);
    const placement = await place(dir, { locked: true });
    // The swap: after the lock check, before the import.
    await writeFile(`${dir}/a.js`, "import { register } from 'plugd';\nregister({ type: 'io.lock.v1', id: 'swapped', init: () => ({}) });\n");
    const [outcome] = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcome?.errors).toEqual([]);
    expect(outcome?.registrations.map((r) => r.name)).toEqual(['io.lock.v1.checked']);
  });

  test('refuses a file whose bytes differ from the lock, naming both hashes', async () => {
    const dir = await tempPluginDir({ 'a.js': "import { register } from 'plugd';\nregister({ type: 'io.lock.v1', id: 'a', init: () => ({}) });\n" });
    const { lock } = await writeLock(dir);
    await writeFile(`${dir}/a.js`, '// changed\n');
    const placement = await place(dir, { locked: true });
    const [outcome] = await evaluate(placement, placement.entries, { timeout: 5000, onLate: () => undefined });
    expect(outcome?.registrations).toEqual([]);
    expect(outcome?.errors.map((e) => e.toJSON())).toEqual([expect.objectContaining({ code: 'E_INTEGRITY', file: 'a.js', reason: 'mismatch', expected: lock.files['a.js'] })]);
  });
});
