/**
 * plugd: a dynamic filesystem plugin loader for Node.js, modelled on containerd's plugin system.
 *
 * A plugin module calls {@link register} at its top level; a host loads a directory of such
 * modules into a {@link Registry}, orders them by their requirements and initializes them.
 */
export { z } from './util/zod.js';
export { register } from './core/channel.js';
export type { Registration, InitContext, ConfigSchema, ValidRegistration } from './core/registration.js';
export { Registry, DEFAULT_TIMEOUT } from './load/registry.js';
export type { PluginRecord, FileReport, LoadReport, LoadOptions } from './load/registry.js';
export { scan, compareFiles } from './load/scan.js';
export type { Entry } from './load/scan.js';
export { resolveGraph } from './core/graph.js';
export type { GraphNode, GraphResult } from './core/graph.js';
export { startPlugins } from './core/lifecycle.js';
export type { StartOptions, PluginState, PluginStatus, Running } from './core/lifecycle.js';
export { check } from './check.js';
export type { CheckOptions, CheckReport, CheckPlugin, CheckStatus, CheckResult } from './check.js';
export {
  ErrorCodes, PlugdError, PluginLoadError, InvalidRegistrationError, DuplicatePluginError,
  LateRegistrationError, DependencyError, PluginInitError, PluginCloseError, ConfigError,
  NoLoadInProgressError, RegistryBusyError, LoadFailedError, SkipPluginError, isSkip, renderThrown,
  PluginPermissionsError, PluginPathError, IntegrityError,
} from './core/errors.js';
export type {
  ErrorCode, ErrorJSON, ValidationIssue, LoadFailureReason, LifecycleFailureReason, PathFailureReason, IntegrityFailureReason, UnmetType,
} from './core/errors.js';
