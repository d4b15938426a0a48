/**
 * A survey crosses to an isolated check's worker as plain data ({@link surveyToData}) and comes
 * back whole ({@link surveyFromData}): entries, refusals, warnings, the lock and the links, with
 * plugd's errors as instances of their classes and one instance for an error shared by units.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { IntegrityError, PluginPathError } from '../../src/core/errors.js';
import { surveyDir } from '../../src/load/plan.js';
import { surveyFromData, surveyToData } from '../../src/load/survey-transfer.js';
import { strictDir } from '../support/strict-dir.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const PLUGIN = 'export const x = 1;\n';

describe('survey transfer', () => {
  test('a survey survives structured cloning, errors and links included', async () => {
    const dir = await strictDir({ 'a.js': PLUGIN, 'b.js': PLUGIN, 'lib/c.js': PLUGIN }, temps, 'plugd-survey-');
    await symlink('lib/c.js', join(dir, 'c.js'));
    await symlink('missing.js', join(dir, 'd.js'));
    // Locked without a lock file: one error refuses every unit.
    const survey = await surveyDir(dir, { permissions: true, locked: true });
    const back = surveyFromData(structuredClone(surveyToData(survey)));

    expect(back.dir).toBe(survey.dir);
    expect(back.policy).toEqual(survey.policy);
    expect(back.entries.map((e) => [e.file, e.path, e.refused?.toJSON()])).toEqual(survey.entries.map((e) => [e.file, e.path, e.refused?.toJSON()]));
    expect(back.entries.find((e) => e.file === 'd.js')?.refused).toBeInstanceOf(PluginPathError);
    expect(back.admission?.links).toEqual(survey.admission?.links);
    expect(back.admission?.lock).toEqual(survey.admission?.lock);
    const json = (errors: readonly { toJSON(): unknown }[] | undefined): unknown[] => (errors ?? []).map((e) => e.toJSON());
    expect([...back.admission?.refused ?? []].map(([u, e]) => [u, json(e)])).toEqual([...survey.admission?.refused ?? []].map(([u, e]) => [u, json(e)]));
    const lockRefusal = back.admission?.refused.get('*')?.[0];
    expect(lockRefusal).toBeInstanceOf(IntegrityError);
  });

  test('an error shared by several places stays one instance', async () => {
    const dir = await strictDir({ 'a.js': PLUGIN }, temps, 'plugd-survey-');
    const survey = await surveyDir(dir, { permissions: true });
    const shared = new PluginPathError('a.js', 'dangling', 'x');
    const data = surveyToData({ ...survey, admission: { refused: new Map([['a.js', [shared]], ['*', [shared]]]), errors: [shared], warnings: [], lock: undefined, links: undefined } });
    expect(data.errors).toHaveLength(1);
    const back = surveyFromData(data);
    const [first] = back.admission?.refused.get('a.js') ?? [];
    expect(back.admission?.refused.get('*')?.[0]).toBe(first);
    expect(back.admission?.errors[0]).toBe(first);
  });
});
