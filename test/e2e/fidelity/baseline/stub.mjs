// What 'plugd' is in the baseline: plugd's own API (so `import * as plugd` sees the same export
// names), with a `register` that only records the registration for driver.mjs to init.
export * from '../../../../dist/src/index.js';

const registrations = (globalThis[Symbol.for('plugd.fidelity.registrations')] ??= []);

export function register(registration) {
  registrations.push(registration);
}
