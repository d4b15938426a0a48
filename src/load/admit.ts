/**
 * Which plugins of a directory may be imported at all: the permission and
 * path checks, and with `locked` the lock file's list. A refused unit (a top-level file or a
 * folder plugin) is still reported, with its errors, but never imported. Hash mismatches are
 * found later, on the very bytes that are evaluated (the module hooks' load step, loader-state.ts).
 */
import { IntegrityError, type PlugdError } from '../core/errors.js';
import { LOCK_FILE, checkPermissions, readLock, type Lock } from './integrity.js';
import { unitOf } from './scan.js';

/** What the admission checks may do. */
export interface AdmitOptions {
  /** Check permissions and paths (on for serve and check). */
  readonly permissions?: boolean;
  /** Refuse files missing from `<dir>/plugd.lock` or differing from it. */
  readonly locked?: boolean;
  /** Turn permission refusals and symlinks leaving the directory into warnings. */
  readonly allowInsecure?: boolean;
}

/** The outcome of the admission checks. */
export interface Admission {
  /** Refused units, by unit name (`a.js`, `folder`), with why; `'*'` refuses every unit. */
  readonly refused: ReadonlyMap<string, PlugdError[]>;
  /** Problems about files that are not there to refuse (a locked file that is gone). */
  readonly errors: readonly PlugdError[];
  /** What was let through under `allowInsecure`. */
  readonly warnings: readonly PlugdError[];
  /** The lock, with `locked`: the sha256 every module file of the directory must have. */
  readonly lock: Lock | undefined;
  /** With `permissions`: the checked paths (relative, POSIX) that are symlinks. */
  readonly links: ReadonlySet<string> | undefined;
}

/** Runs the admission checks over `files` (a listTree of `dir`, or of just its top-level `units`). */
export async function admit(dir: string, files: readonly string[], options: AdmitOptions, units?: readonly string[]): Promise<Admission> {
  const refused = new Map<string, PlugdError[]>();
  const errors: PlugdError[] = [];
  const warnings: PlugdError[] = [];
  const refuse = (file: string, error: PlugdError): void => {
    const unit = file === '.' || file === LOCK_FILE ? '*' : unitOf(file);
    refused.set(unit, [...(refused.get(unit) ?? []), error]);
  };
  const links = options.permissions === true ? new Set<string>() : undefined;
  if (links !== undefined) {
    for (const finding of await checkPermissions(dir, files, units === undefined ? { links } : { units, links })) {
      if (finding.insecureOk && options.allowInsecure === true) warnings.push(finding.error);
      else refuse(finding.error.file, finding.error);
    }
  }
  let lock: Lock | undefined;
  if (options.locked === true) {
    try {
      lock = await readLock(dir);
      const present = new Set(files);
      for (const file of files) {
        if (file !== LOCK_FILE && lock.files[file] === undefined) refuse(file, new IntegrityError(file, 'unlisted', { actual: `not in ${LOCK_FILE}` }));
      }
      for (const [file, expected] of Object.entries(lock.files)) {
        // (A reload lists only its own units: the others' files are not missing.)
        if (!present.has(file) && (units === undefined || units.includes(unitOf(file)))) errors.push(new IntegrityError(file, 'missing', { expected }));
      }
    } catch (error) {
      refuse(LOCK_FILE, error as PlugdError);
    }
  }
  return { refused, errors, warnings, lock, links };
}

/** The errors that keep the unit of `file` from being imported, if any. */
export function refusal(admission: Admission | undefined, file: string): PlugdError[] {
  if (admission === undefined) return [];
  return [...(admission.refused.get('*') ?? []), ...(admission.refused.get(unitOf(file)) ?? [])];
}
