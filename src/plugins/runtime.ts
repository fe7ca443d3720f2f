// One plugin, live: its validated config, its context, and the dispatch of events to its
// handlers. The worker thread (worker.ts) runs this with a port to the host; tests run it
// in-process with a recording port (test/lib/plugin-harness.ts). Either way the plugin sees
// the same context.
//
// Ordering: events are queued per ordering key (an instance, a group), so a plugin sees one
// instance's events strictly in order, each after the previous one's handlers settled; keys are
// independent, so a slow notify script on VI_1 does not hold VI_2 back.

import type { z } from 'zod';
import { orderingKey, type EventType, type VigilEvent } from '../bus/events.ts';
import type { Handler, InstanceInfo, PluginContext, PluginDefinition, PluginLogger, RunOptions } from './api.ts';
import { runCommand } from './run.ts';

/** What the runtime tells its host. */
export interface HostPort {
  adjust(instance: string, source: string, weight: number): void;
  fault(instance: string, source: string, active: boolean): void;
  log(level: keyof PluginLogger, msg: string): void;
  /** A handler threw or rejected; the event counts as handled. */
  handlerError(cause: 'threw' | 'rejected', error: string, seq: number): void;
  /** Every handler of event `seq` has settled. */
  handled(seq: number): void;
}

export class PluginConfigError extends Error {
  constructor(
    plugin: string,
    readonly issues: string[],
  ) {
    super(`plugin ${plugin}: invalid config: ${issues.join('; ')}`);
  }
}

/** Formats zod issues as `path: message`. */
export function formatIssues(error: z.ZodError, prefix = ''): string[] {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${i.message}`);
}

export class PluginRuntime {
  private readonly handlers: Array<{ type: EventType | '*'; fn: Handler<VigilEvent> }> = [];
  private readonly queues = new Map<string, Promise<void>>();
  private readonly stopFns: Array<() => void | Promise<void>> = [];
  private readonly abort = new AbortController();
  private pending = 0;
  private idleWaiters: Array<() => void> = [];

  private constructor(
    readonly def: PluginDefinition,
    private readonly port: HostPort,
  ) {}

  /** Validates the config and runs setup(); throws PluginConfigError or setup's error. */
  static async start(def: PluginDefinition, rawConfig: unknown, instances: readonly InstanceInfo[], port: HostPort): Promise<PluginRuntime> {
    if (!def || typeof def.name !== 'string' || typeof def.setup !== 'function' || !def.configSchema || typeof def.configSchema.safeParse !== 'function') {
      throw new Error('not a plugin: the module must default-export definePlugin({ name, configSchema, setup })');
    }
    const parsed = def.configSchema.safeParse(rawConfig ?? {});
    if (!parsed.success) throw new PluginConfigError(def.name, formatIssues(parsed.error));
    const rt = new PluginRuntime(def, port);
    await def.setup(rt.context(parsed.data, instances));
    return rt;
  }

  private context(config: unknown, instances: readonly InstanceInfo[]): PluginContext<unknown> {
    const port = this.port;
    const log: PluginLogger = {
      debug: (m) => port.log('debug', m),
      info: (m) => port.log('info', m),
      warn: (m) => port.log('warn', m),
      error: (m) => port.log('error', m),
    };
    return {
      name: this.def.name,
      config,
      log,
      instances,
      on: (type: EventType | '*', fn: Handler<never>) => {
        this.handlers.push({ type, fn: fn as Handler<VigilEvent> });
      },
      adjustPriority: (instance, source, weight) => port.adjust(instance, source, Math.round(weight)),
      setFault: (instance, source, active) => port.fault(instance, source, active),
      // a stopping plugin's commands are killed with it, unless the caller passed its own signal
      run: (argv: readonly string[], opts?: RunOptions) => runCommand(argv, { signal: this.abort.signal, ...opts }),
      fetch: (input, init) => fetch(input, { signal: this.abort.signal, ...init }),
      signal: this.abort.signal,
      onStop: (fn) => {
        this.stopFns.push(fn);
      },
    };
  }

  /** Queues an event behind the earlier events of its key. */
  deliver(event: VigilEvent): void {
    const matching = this.handlers.filter((h) => h.type === '*' || h.type === event.type);
    if (matching.length === 0) {
      this.port.handled(event.seq);
      return;
    }
    const key = orderingKey(event);
    this.pending++;
    const prev = this.queues.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      for (const h of matching) {
        if (this.abort.signal.aborted) break;
        let result: void | Promise<void>;
        try {
          result = h.fn(event);
        } catch (e) {
          this.port.handlerError('threw', errorText(e), event.seq);
          continue;
        }
        try {
          await result;
        } catch (e) {
          this.port.handlerError('rejected', errorText(e), event.seq);
        }
      }
      this.port.handled(event.seq);
      if (this.queues.get(key) === next) this.queues.delete(key);
      if (--this.pending === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
    this.queues.set(key, next);
  }

  /** Resolves when every delivered event has been handled. */
  idle(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Aborts the signal and runs the onStop callbacks (each bounded by `timeoutMs`). */
  async stop(timeoutMs = 5000): Promise<void> {
    this.abort.abort();
    for (const fn of this.stopFns.reverse()) {
      try {
        await Promise.race([Promise.resolve().then(fn), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      } catch (e) {
        this.port.log('warn', `onStop: ${errorText(e)}`);
      }
    }
  }
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack?.split('\n').slice(0, 3).join(' | ') ?? e.message;
  return String(e);
}
