/**
 * A module resolve hook, registered with `module.register()` only when a plugin directory cannot
 * resolve `'plugd'` on its own (no `node_modules/plugd` above it). It maps the bare specifiers
 * `plugd` and `plugd/testing` to the host's own files, so the plugin shares the host's instance.
 * Hooks run on a separate thread and cost a hop per resolve, hence "only when needed".
 */
interface HookData {
  readonly urls: Readonly<Record<string, string>>;
}

interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
}

let urls: Readonly<Record<string, string>> = {};

/** Receives the host's URLs for the mapped specifiers. */
export function initialize(data: HookData): void {
  urls = data.urls;
}

/** Maps `plugd` and `plugd/testing`; everything else goes to Node's own resolution. */
export function resolve(
  specifier: string,
  context: unknown,
  nextResolve: (specifier: string, context: unknown) => ResolveResult | Promise<ResolveResult>,
): ResolveResult | Promise<ResolveResult> {
  const url = urls[specifier];
  return url === undefined ? nextResolve(specifier, context) : { url, shortCircuit: true };
}
