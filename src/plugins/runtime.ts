// One plugin, live: its validated config, its context, and the dispatch of events to its
// handlers. The worker thread (worker.ts) runs this with a port to the host; tests run it
// in-process with a recording port (test/lib/plugin-harness.ts). Either way the plugin sees
// the same context.
//
// Ordering: events are queued per ordering key (an instance, a group), so a plugin sees one
// instance's events strictly in order, each after the previous one's handlers settled; keys are
// independent, so a slow notify script on VI_1 does not hold VI_2 back.

import type { z } from 'zod';
import { EVENT_TYPES, orderingKey, type EventType, type VigilEvent } from '../bus/events.ts';
import type { CheckAnswer, Checker, CheckTarget, Handler, InstanceInfo, PluginContext, PluginDefinition, PluginLogger, RunOptions } from './api.ts';
import { checkDefinition, issueText, validateConfig, type ConfigIssue } from './definition.ts';
import { runCommand } from './run.ts';

/** What the runtime tells its host. */
export interface HostPort {
  adjust(instance: string, source: string, weight: number): void;
  fault(instance: string, source: string, active: boolean): void;
  log(level: keyof PluginLogger, msg: string): void;
  /** A handler threw or rejected on both of its attempts (it is retried once): the event is
   * dropped for that handler, the plugin goes on. `handled` follows as usual. */
  handlerError(cause: 'threw' | 'rejected', error: string, seq: number, type: EventType, attempts: number): void;
  /** Every handler of event `seq` has settled. */
  handled(seq: number): void;
  /** The plugin registered a checker. Optional: a port without it (the in-process test
   * harness) keeps registrations local, where runCheck still finds them. */
  checker?(name: string): void;
}

/** A checker's name: one word, as keepalived.conf's `checker NAME` writes it. */
const CHECKER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** The largest weight a real server takes (keepalived: 0..2147483647). */
const MAX_WEIGHT = 2_147_483_647;

/** Why `a` is not a CheckAnswer, or undefined when it is one. Checked on both sides: here so a
 * plugin learns of it in its own words, in the host because a plugin's thread is not trusted. */
export function checkAnswerProblem(a: unknown): string | undefined {
  if (typeof a !== 'object' || a === null) return `answered ${a === null ? 'null' : typeof a}, not { up: boolean }`;
  const { up, weight, reason } = a as Record<string, unknown>;
  if (typeof up !== 'boolean') return `answered up = ${typeof up}, not a boolean`;
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT)) return `answered weight ${String(weight)}, not an integer 0..${MAX_WEIGHT}`;
  if (reason !== undefined && typeof reason !== 'string') return `answered reason = ${typeof reason}, not a string`;
  return undefined;
}

/** How one check ended, for the host: a verdict, or why there is none. */
export type CheckOutcome = { answer: CheckAnswer } | { error: string };

export class PluginConfigError extends Error {
  /** Each issue as `path: message`. */
  readonly issues: string[];
  constructor(
    plugin: string,
    readonly configIssues: ConfigIssue[],
  ) {
    const issues = configIssues.map((i) => issueText(i));
    super(`plugin ${plugin}: invalid config: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

/** How many times a handler is called with one event before it is given up on. */
export const HANDLER_ATTEMPTS = 2;

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
  private readonly checkers = new Map<string, Checker>();
  /** Checks in flight, by the host's id: aborting one is how the host gives up on it. */
  private readonly checks = new Map<number, AbortController>();

  private constructor(
    readonly def: PluginDefinition,
    private readonly port: HostPort,
  ) {}

  /** Validates the config and runs setup(); throws PluginConfigError or setup's error. `def` is
   * checked again (checkDefinition) when it did not come through run-plugin.ts. */
  static async start(def: PluginDefinition, rawConfig: unknown, instances: readonly InstanceInfo[], port: HostPort): Promise<PluginRuntime> {
    checkDefinition({ default: def });
    const checked = validateConfig(def, rawConfig);
    if (!checked.ok) throw new PluginConfigError(def.name, checked.issues);
    const rt = new PluginRuntime(def, port);
    await def.setup(rt.context(checked.config, instances));
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
        // a misspelt name would otherwise subscribe to nothing, silently, for ever
        if (type !== '*' && !EVENT_TYPES.includes(type)) throw new Error(`ctx.on: unknown event type ${JSON.stringify(type)}; the event types are ${EVENT_TYPES.join(', ')} (or '*' for all)`);
        if (typeof fn !== 'function') throw new Error(`ctx.on(${JSON.stringify(type)}): the handler is not a function`);
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
      registerChecker: (name, check) => {
        if (typeof name !== 'string' || !CHECKER_NAME.test(name)) throw new Error(`registerChecker: '${String(name)}' is not a checker name (a word of letters, digits, _ . -)`);
        if (typeof check !== 'function') throw new Error(`registerChecker: checker ${name} is not a function`);
        if (this.checkers.has(name)) throw new Error(`registerChecker: checker ${name} is registered already`);
        this.checkers.set(name, check);
        port.checker?.(name);
      },
    };
  }

  /** The checkers this plugin registered, by name. */
  checkerNames(): string[] {
    return [...this.checkers.keys()];
  }

  /** Runs checker `name` once. Never rejects. Resolves undefined when the host aborted the check
   * (abortCheck): it no longer waits for an answer. The checker's signal is aborted at
   * `timeoutMs` too, so a checker that honours it ends even if the host's abort is late. */
  async runCheck(id: number, name: string, target: CheckTarget, timeoutMs: number): Promise<CheckOutcome | undefined> {
    const check = this.checkers.get(name);
    if (!check) return { error: `plugin ${this.def.name} has no checker ${name}` };
    const ac = new AbortController();
    this.checks.set(id, ac);
    const timer = setTimeout(() => ac.abort(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
    const onStop = () => ac.abort(new Error('plugin stopping'));
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    try {
      const answer: unknown = await check(target, { signal: ac.signal, timeoutMs });
      if (ac.signal.aborted && !this.checks.has(id)) return undefined;
      const problem = checkAnswerProblem(answer);
      if (problem) return { error: `checker ${name} ${problem}` };
      // only the fields of an answer cross to the host: anything else on the object might not
      // even be cloneable
      const a = answer as CheckAnswer;
      return { answer: { up: a.up, ...(a.weight !== undefined ? { weight: a.weight } : {}), ...(a.reason !== undefined ? { reason: a.reason } : {}) } };
    } catch (e) {
      if (!this.checks.has(id)) return undefined;
      return { error: checkErrorText(e) || `checker ${name} threw` };
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
      this.checks.delete(id);
    }
  }

  /** The host gave up on check `id`: its signal aborts, and its answer will not be sent. */
  abortCheck(id: number): void {
    const ac = this.checks.get(id);
    if (!ac) return;
    this.checks.delete(id);
    ac.abort(new Error('check abandoned by the host'));
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
        // a handler that fails is called again with the same event, once: a passing hiccup (a
        // peer that was busy) costs nothing. Failing twice, the event is dropped for it and
        // reported; the plugin and its state stay (no restart for a bad event).
        for (let attempt = 1; attempt <= HANDLER_ATTEMPTS; attempt++) {
          if (this.abort.signal.aborted) break;
          const failure = await callHandler(h.fn, event);
          if (!failure) break;
          if (attempt < HANDLER_ATTEMPTS) this.port.log('warn', `handler for ${event.type} (event ${event.seq}) ${failure.cause}: ${failure.error}; retrying it once`);
          else this.port.handlerError(failure.cause, failure.error, event.seq, event.type, attempt);
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

/** Calls one handler and waits for it; how it failed, or undefined when it did not. */
async function callHandler(fn: Handler<VigilEvent>, event: VigilEvent): Promise<{ cause: 'threw' | 'rejected'; error: string } | undefined> {
  let result: void | Promise<void>;
  try {
    result = fn(event);
  } catch (e) {
    return { cause: 'threw', error: errorText(e) };
  }
  try {
    await result;
  } catch (e) {
    return { cause: 'rejected', error: errorText(e) };
  }
  return undefined;
}

/** A failed check's reason: the error's message, in one line. A zod error (a checker that
 * parses its params with a schema, the usual way) is put as `invalid params: path: message`
 * rather than its JSON; recognised by shape, as a bundled plugin may carry its own zod. */
function checkErrorText(e: unknown): string {
  if (e instanceof Error && e.name === 'ZodError' && Array.isArray((e as { issues?: unknown }).issues)) {
    return `invalid params: ${formatIssues(e as z.ZodError).join('; ')}`;
  }
  return (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ');
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.stack?.split('\n').slice(0, 3).join(' | ') ?? e.message;
  return String(e);
}
