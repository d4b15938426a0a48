/**
 * A {@link Survey} as structured-clone data and back: what an isolated check's parent sends to
 * its worker. plugd's errors cross as their JSON form and are revived as instances of their
 * classes; an error shared by several units (a missing lock refuses them all) stays one instance.
 */
import { reviveError, type ErrorJSON, type PlugdError } from '../core/errors.js';
import type { Admission } from './admit.js';
import type { Survey } from './plan.js';
import type { Entry } from './scan.js';

/** A survey as plain data; errors are indexes into `errors`. */
export interface SurveyData {
  readonly dir: string;
  readonly policy: Survey['policy'];
  readonly errors: readonly ErrorJSON[];
  readonly entries: readonly { readonly file: string; readonly path: string; readonly refused?: number }[];
  readonly admission?: {
    readonly refused: readonly (readonly [string, readonly number[]])[];
    readonly errors: readonly number[];
    readonly warnings: readonly number[];
    readonly lock: Admission['lock'];
    readonly links: readonly string[] | undefined;
  };
}

/** `survey` as plain data. */
export function surveyToData(survey: Survey): SurveyData {
  const table: PlugdError[] = [];
  const index = (error: PlugdError): number => {
    const at = table.indexOf(error);
    return at === -1 ? table.push(error) - 1 : at;
  };
  const entries = survey.entries.map((e) => (e.refused === undefined ? { file: e.file, path: e.path } : { file: e.file, path: e.path, refused: index(e.refused) }));
  const a = survey.admission;
  const admission = a === undefined ? undefined : {
    refused: [...a.refused].map(([unit, errors]) => [unit, errors.map(index)] as const),
    errors: a.errors.map(index),
    warnings: a.warnings.map(index),
    lock: a.lock,
    links: a.links === undefined ? undefined : [...a.links],
  };
  return { dir: survey.dir, policy: survey.policy, errors: table.map((e) => e.toJSON()), entries, ...(admission === undefined ? {} : { admission }) };
}

/** The survey that `data` describes. */
export function surveyFromData(data: SurveyData): Survey {
  const errors = data.errors.map(reviveError);
  const error = (i: number): PlugdError => {
    const found = errors[i];
    if (found === undefined) throw new Error(`survey data names error #${i}, which it does not hold`);
    return found;
  };
  const entries: Entry[] = data.entries.map((e) => (e.refused === undefined ? { file: e.file, path: e.path }
    : { file: e.file, path: e.path, refused: error(e.refused) as NonNullable<Entry['refused']> }));
  const a = data.admission;
  const admission: Admission | undefined = a === undefined ? undefined : {
    refused: new Map(a.refused.map(([unit, list]) => [unit, list.map(error)])),
    errors: a.errors.map(error),
    warnings: a.warnings.map(error),
    lock: a.lock,
    links: a.links === undefined ? undefined : new Set(a.links),
  };
  return { dir: data.dir, policy: data.policy, entries, admission };
}
