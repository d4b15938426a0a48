/** Validation of container ids and labels (a sibling module of the folder plugin). */

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,75}$/;

/** Throws unless `id` is a valid container id. */
export function checkId(id: string): void {
  if (!ID.test(id)) throw new Error(`invalid container id "${id}": use letters, digits, ".", "_" and "-" (at most 76)`);
}

/** Throws unless every label key and value is a non-empty string of sane size. */
export function checkLabels(labels: Partial<Record<string, string>>): void {
  for (const [key, value] of Object.entries(labels)) {
    if (key.length === 0 || key.length > 256 || typeof value !== 'string' || value.length > 4096) {
      throw new Error(`invalid label "${key}": keys are 1-256 characters, values strings of at most 4096`);
    }
  }
}
