/** What the plugin model knows of an accepted plugin, whatever loaded it. */
import type { ValidRegistration } from './registration.js';

/** A plugin the registry accepted. */
export interface PluginRecord {
  /** `${type}.${id}`. */
  readonly name: string;
  /** What kind of thing it provides. */
  readonly type: string;
  /** Which one it is. */
  readonly id: string;
  /** The types it needs first (`['*']`: after all others). */
  readonly requires: readonly string[];
  /** The file that registered it, relative to its plugin directory. */
  readonly file: string;
  /** The plugin directory it was loaded from (absolute). */
  readonly dir: string;
  /** The validated registration. */
  readonly registration: ValidRegistration;
}
