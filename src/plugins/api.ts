// The plugin API: what a plugin module exports and what its setup() receives. Built-in plugins
// (plugins/*) and users' own (the plugins_dir) are written against exactly this.
//
//   import { definePlugin } from 'vigil/plugin';
//   import { z } from 'zod';
//
//   export default definePlugin({
//     apiVersion: 1,
//     name: 'hello',
//     configSchema: z.object({ greeting: z.string().default('hello') }),
//     setup(ctx) {
//       ctx.on('instance.transition', (e) => ctx.log.info(`${ctx.config.greeting}: ${e.instance} is ${e.to}`));
//     },
//   });
//
// Plugins run in a worker thread, never on the engine's event loop (DESIGN.md rule 2). The only
// way back into the engine is a priority adjustment or a fault flag for a named instance.

import type { z } from 'zod';
import type { EventOf, EventType, VigilEvent } from '../bus/events.ts';
import type { Family, VrrpVersion } from '../vrrp/types.ts';

/** What a plugin knows of each configured instance. */
export interface InstanceInfo {
  name: string;
  vrid: number;
  interface: string;
  family: Family;
  version: VrrpVersion;
  /** Configured (base) priority; 255 = address owner, never adjusted. */
  priority: number;
  /** The virtual addresses, as configured (with prefix if given). */
  virtualAddresses: string[];
  /** The sync group it belongs to, if any. */
  group?: string;
  /** Its state when this plugin started. A plugin that acts on being Master (a cloud mover)
   * reads it: a plugin restarted while its instance is Master sees no transition to master. */
  state?: 'initialize' | 'backup' | 'master' | 'fault';
}

export interface PluginLogger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** An event handler. Handlers for events of one instance (or group) run one at a time, in the
 * order the events happened: a later transition's handler starts only after the earlier one's
 * promise settles. Handlers of different instances run concurrently. */
export type Handler<E> = (event: E) => void | Promise<void>;

export interface RunOptions {
  /** Run through /bin/sh -c (only when the command is explicitly a shell line). */
  shell?: boolean;
  /** Run as this user (name or uid); its primary group unless `group` is given. */
  user?: string;
  group?: string;
  /** Its process group is killed (SIGTERM, then SIGKILL after 1 s) when it runs longer.
   * Default 30 000 ms. */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
  /** Written to the command's standard input. */
  input?: string;
  /** Aborting kills the command (its whole process group). */
  signal?: AbortSignal;
}

export interface RunResult {
  command: string;
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  /** It could not be started at all (not found, not executable, unknown user). */
  failedToStart: boolean;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** exit code 0, not timed out */
  ok: boolean;
}

/** What a plugin checker is asked to check: one real server of one virtual server, as the
 * `plugin_check` block of that real server resolved it (connect_ip / connect_port, else the real
 * server's own address and port). */
export interface CheckTarget {
  host: string;
  port: number;
  /** `bindto` / `bind_port`: the source address and port to connect from, when configured. */
  bindto?: string;
  bindPort?: number;
  /** keepalived's names, as in the realserver.* events: `[192.0.2.100]:tcp:80`. */
  virtualServer: string;
  realServer: string;
  /** The block's own options (`params`, keepalived.conf `param KEY VALUE`), as written: the
   * checker validates them (a zod schema is the easy way). */
  params: Record<string, unknown>;
}

export interface CheckOptions {
  /** Aborted when the attempt's time is up, the balancer gives up on it, or the plugin stops:
   * pass it to sockets and fetch so nothing outlives the attempt. */
  signal: AbortSignal;
  /** The attempt's budget (connect_timeout). The host fails the attempt after this long
   * whatever the checker does; a later answer is dropped. */
  timeoutMs: number;
}

/** One attempt's verdict. `weight` (with `up`): the real server's weight in the pool now, as
 * misc_dynamic sets it (0..2147483647); absent: its configured weight. `reason` (with down): why,
 * in a few words, for the log, the realserver.down event and notify scripts. */
export interface CheckAnswer {
  up: boolean;
  weight?: number;
  reason?: string;
}

/** A checker: resolves (or returns) its verdict. Throwing or rejecting fails the attempt with
 * the error's message; it does not restart the plugin. */
export type Checker = (target: CheckTarget, opts: CheckOptions) => CheckAnswer | Promise<CheckAnswer>;

export interface PluginContext<C> {
  /** The plugin's name (its module's `name`). */
  readonly name: string;
  /** Its config, validated by its configSchema (defaults applied). */
  readonly config: C;
  readonly log: PluginLogger;
  /** Every configured instance, as of this plugin's start (a reload restarts plugins whose
   * config changed and refreshes this for all). */
  readonly instances: readonly InstanceInfo[];
  /** Subscribe to one event type, or '*' for all. */
  on<T extends EventType>(type: T, handler: Handler<EventOf<T>>): void;
  on(type: '*', handler: Handler<VigilEvent>): void;
  /** This plugin's priority adjustment for `instance` from `source` (e.g. a vrrp_script name):
   * the engine adds all adjustments to the base priority and keeps the result in 1..254.
   * Setting 0 removes it. */
  adjustPriority(instance: string, source: string, weight: number): void;
  /** Hold (or release) the instance in FAULT on behalf of `source`. */
  setFault(instance: string, source: string, active: boolean): void;
  /** Run a command without a shell (argv[0] is the program) unless `shell` is set. Never
   * throws for the command's own failure: look at the result. */
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** HTTP(S) requests: the platform's fetch. */
  readonly fetch: typeof fetch;
  /** Aborted when the plugin is stopped (reload, shutdown, restart). */
  readonly signal: AbortSignal;
  /** Called when the plugin stops; may return a promise (bounded by the host). */
  onStop(fn: () => void | Promise<void>): void;
  /** Offers a checker that real servers use by name (`plugin_check: [{ checker: NAME }]`).
   * Register in setup(): a restarted or reloaded plugin registers again. A name is one plugin's;
   * a second plugin registering it is refused (an error in the log). Throws for a name that is
   * not a word (letters, digits, `_ . -`) or that this plugin registered already. */
  registerChecker(name: string, check: Checker): void;
}

/** The plugin API this vigil implements: a plugin declares the one it was written for
 * (`apiVersion`), and one written for another is refused at load with that said. It changes only
 * when something a plugin relies on is removed or changes meaning; additions keep it. */
export const PLUGIN_API_VERSION = 1;

/** The API versions this daemon loads. */
export const SUPPORTED_PLUGIN_API_VERSIONS: readonly number[] = [PLUGIN_API_VERSION];

/** What `ctx.config` is for a plugin with schema `S`: the validated config (defaults applied),
 * or, without a schema, the plugin's config section as written (`unknown`: undefined when the
 * config has none), for the plugin to check itself. */
export type ConfigOf<S> = S extends z.ZodType ? z.infer<S> : unknown;

export interface PluginDefinition<S extends z.ZodType | undefined = z.ZodType | undefined> {
  /** The plugin API it was written for: `1` (PLUGIN_API_VERSION). */
  apiVersion: typeof PLUGIN_API_VERSION;
  /** Its name: its config section (`plugins.NAME`), its log prefix, its events' `plugin`. */
  name: string;
  /** Validates `plugins.NAME` (an absent section is validated as `{}`, so defaults apply).
   * Optional: without one, ctx.config is the section as written. */
  configSchema?: S;
  setup(ctx: PluginContext<ConfigOf<S>>): void | Promise<void>;
}

/** Identity at run time; it gives `setup` its types from the schema. */
export function definePlugin<S extends z.ZodType | undefined = undefined>(def: PluginDefinition<S>): PluginDefinition<S> {
  return def;
}

// Every event type and its payload, for handlers' annotations (docs/events.md lists them).
export type * from '../bus/events.ts';
export { EVENT_SCHEMA_VERSION, EVENT_TYPES } from '../bus/events.ts';
