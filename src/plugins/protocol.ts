// Messages between the plugin host (engine thread) and a plugin worker.

import type { MessagePort } from 'node:worker_threads';
import type { EventType, VigilEvent } from '../bus/events.ts';
import type { CheckAnswer, CheckTarget, InstanceInfo, PluginLogger } from './api.ts';
import type { ConfigIssue } from './definition.ts';

export interface WorkerInit {
  /** Absolute path of the plugin module. */
  entry: string;
  /** The plugin's config; when undefined the worker takes `pluginsSection[def.name]`. */
  config: unknown;
  pluginsSection: Record<string, unknown>;
  instances: InstanceInfo[];
  /** Changes with every (re)load of the file, so the import is fresh after an edit. */
  version: number;
  /** What the module's URL carries instead of `version` (`?v=`): a built-in's file stamp. In the
   * shared thread a module once imported stays for the thread's life (ESM has no unload), so a
   * built-in restarted with an unchanged file gets the same module back (its state lives in
   * setup, not at module level), and one whose file changed is loaded afresh. */
  moduleKey?: string;
  /** Refuse to load any file that fails plugin-security.ts (user plugins). */
  checkFiles?: boolean;
  /** The plugin bundled into one module's text (a user plugin with no cache file): imported
   * from a data: URL instead of `entry`. */
  code?: string;
}

/** A plugin process's first message (plugin-process.ts): its init, the plugin bundled into one
 * module, and the user to become before importing it. */
export interface ProcessInit {
  t: 'init';
  init: WorkerInit;
  code: string;
  runAs?: { uid: number; gid: number; user?: string };
}

export type HostMessage =
  | { t: 'ping'; n: number }
  | { t: 'event'; event: VigilEvent }
  | { t: 'stop'; timeoutMs: number }
  /** Run registered checker `checker` once; answered by 'check-result' with the same id. */
  | { t: 'check'; id: number; checker: string; target: CheckTarget; timeoutMs: number }
  /** The host gave up on check `id` (timed out, aborted): abort its signal, send no answer. */
  | { t: 'check-abort'; id: number };

export type WorkerMessage =
  | { t: 'pong'; n: number }
  | { t: 'ready'; name: string }
  /** `configIssues`: the same issues with their field paths, for the host to place them in the
   * config file. */
  | { t: 'setup-failed'; error: string; issues: string[]; configIssues?: ConfigIssue[] }
  | { t: 'adjust'; instance: string; source: string; weight: number }
  | { t: 'fault'; instance: string; source: string; active: boolean }
  | { t: 'log'; level: keyof PluginLogger; msg: string }
  /** A handler failed `attempts` times with event `seq` (of type `type`): dropped for it. */
  | { t: 'handler-error'; cause: 'threw' | 'rejected'; error: string; seq: number; type: EventType; attempts: number }
  | { t: 'handled'; seq: number }
  | { t: 'crashed'; error: string }
  /** A file the plugin loaded from outside vigil's own code (checked again while it runs). */
  | { t: 'file'; file: string }
  /** A file it would have loaded is unsafe (plugin-security.ts): nothing of it ran. */
  | { t: 'refused'; error: string }
  | { t: 'stopped' }
  /** The plugin registered checker `name` (ctx.registerChecker). */
  | { t: 'checker'; name: string }
  /** Check `id` answered (`answer`), or threw / rejected / answered nonsense (`error`). */
  | { t: 'check-result'; id: number; answer?: CheckAnswer; error?: string };

/** The shared thread of the built-in plugins (builtin-worker.ts) on its own parentPort; each
 * plugin then speaks HostMessage / WorkerMessage over the MessagePort it came with. */
export type SharedHostMessage =
  /** Load plugin `id` (the host's number for this load) and serve it over `port`. */
  | { t: 'load'; id: number; init: WorkerInit; port: MessagePort }
  /** Stop plugin `id` (onStop callbacks bounded by `timeoutMs`), then close its port. */
  | { t: 'unload'; id: number; timeoutMs: number };

export type SharedWorkerMessage =
  /** Plugin `id` is detached (answered at once: it proves the thread is not wedged; its onStop
   * callbacks may still be running). */
  | { t: 'unloaded'; id: number }
  /** Something escaped a plugin (an unhandled rejection): the thread ends, every plugin with it. */
  | { t: 'crashed'; error: string };

/** Young generation of a plugin thread (the shared built-in one and each user plugin's), in MiB.
 * V8 would let it grow to 16 MiB per semi-space, resident once touched; plugins allocate little
 * per event, and the engine's own is capped the same way (supervisor.ts). */
export const PLUGIN_YOUNG_GENERATION_MB = 3;
