// The plugin host: plugins run in worker threads, so no plugin can delay an advert (DESIGN.md
// rule 2). Every user plugin has a thread (or, with plugin_user, a process) of its own, so one
// plugin's trouble is not another's. The built-ins share one thread (builtin-thread.ts: a thread
// is a V8 isolate, ~7.5 MiB at least, and they are our own code): each still has a port and a
// slot of its own, and is contained as below, except that whatever takes the thread down (it
// spins, an uncaught error, the heap limit) restarts every built-in.
//
// - Events reach each worker in bus order. Every event stays "unacked" until the worker says
//   all its handlers settled; nothing is dropped for a slow plugin, it only queues.
// - Containment: a heartbeat ping every `heartbeatMs`; no answer within `unresponsiveMs` (the
//   plugin spins or blocks its thread), a handler that has not settled within
//   `handlerTimeoutMs` (it hangs), or a worker that exits (uncaught error, out of memory):
//   the worker is terminated, `plugin.failed` is published,
//   and it is started again after a back-off that doubles up to `maxBackoffMs` and resets once
//   the plugin has run cleanly for a minute. Events unacked by a dead worker are delivered again
//   to its successor, except one that was already tried twice (a poison event is dropped and
//   logged rather than killing every successor). A handler that throws or rejects is no
//   reason to restart: the worker retries it once, then drops the event for it and says so
//   ('handler-error': logged, plugin.handler_failed), and the plugin keeps its state.
// - A plugin whose config is invalid is reported once and waits for a reload or an edit.
// - A user plugin whose files are unsafe (plugin-security.ts: its module, anything it loads
//   from outside vigil, a directory above them, changeable by a user other than root) is
//   refused: none of its code runs, it is reported once and waits for a reload or an edit.
//   The files of a running user plugin are checked again every `fileCheckMs`; one that turns
//   unsafe stops the plugin the same way.
// - Checkers (ctx.registerChecker): the balancer runs one attempt with runChecker(), which asks
//   the plugin that registered the name and answers a ProbeResult whatever happens: the host
//   keeps the attempt's time itself (a late answer is dropped, the plugin's signal aborted), and
//   a plugin that is down, restarting or stopped fails the attempt instead of being waited for.
//   A name belongs to one plugin until it is removed, or restarts without registering it again.

import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { BuiltinThread } from './builtin-thread.ts';
import type { EventBus } from '../bus/bus.ts';
import type { VigilEvent } from '../bus/events.ts';
import type { Logger } from '../daemon/log.ts';
import type { PluginCheck, ProbeResult } from '../lvs/checks.ts';
import type { InstanceInfo } from './api.ts';
import { PluginCompiler, type UserBundle } from './compile.ts';
import { distUrl, FROM_SOURCE } from '../install-paths.ts';
import { nameMismatch } from './inventory.ts';
import { PluginProcess, type PluginRunner, type RunAs } from './plugin-process.ts';
import { lookupUser } from './run.ts';
import { describeUnsafe, pluginFileProblem, pluginFilesProblems } from './plugin-security.ts';
import { PLUGIN_YOUNG_GENERATION_MB, type HostMessage, type WorkerInit, type WorkerMessage } from './protocol.ts';
import { checkAnswerProblem } from './runtime.ts';

/** Heartbeats and timeouts are measured on the monotonic clock: a step of the wall clock (NTP,
 * an operator's `date -s`) must neither kill every plugin (forward) nor blind the hang
 * detection for as long as the step (backward). */
const monoMs = (): number => performance.now();

/** A file's identity as far as its content goes (mtime, ctime, size); undefined if unreadable. */
function fileStamp(file: string): string | undefined {
  const st = statSync(file, { throwIfNoEntry: false, bigint: true });
  return st ? `${st.mtimeNs}-${st.ctimeNs}-${st.size}` : undefined;
}

/** Running from the sources (tests, through tsx): plugins load through tsx in their worker. */
const SOURCE_WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);
/** The build's worker runtime: users' bundled plugins run in it, in a thread or in a process of
 * their own. */
const WORKER_RUNTIME = distUrl('plugin-worker.mjs');
/** The built-ins' shared thread (dist/plugins/NAME/index.mjs load in it); from the sources, the
 * tsx entry in shared mode. */
const BUILTIN_RUNTIME = FROM_SOURCE ? { entry: SOURCE_WORKER_ENTRY, workerData: { shared: true } } : { entry: distUrl('builtin-worker.mjs') };

export interface PluginSpec {
  /** Unique name: a built-in's folder name, or a user plugin's file name without extension. */
  id: string;
  /** Absolute path of the module. */
  entry: string;
  /** A built-in's config derived from the daemon's config; undefined for user plugins (they
   * read `plugins.<name>`). */
  config: unknown;
  origin: 'builtin' | 'user';
  /** Refuse the plugin when a file it loads is unsafe (plugin-security.ts). User plugins, unless
   * global_defs.allow_unsafe_plugins. */
  checkFiles?: boolean;
  /** Run it in a process of its own as this user (global_defs.plugin_user), not as root in a
   * worker thread. */
  runAs?: { user: string; group?: string };
  /** A user plugin's config section in the config file: `plugins.<id>.<path>` as
   * `file:line:col` (loader.ts sectionPlaces), so an invalid config is reported at its place. */
  where?: (path: ReadonlyArray<string | number>) => string;
}

/** A config issue as a worker reports it: a field path in the plugin's section and zod's
 * message (older workers sent `path: message` lines). */
type ReportedIssue = string | { path: ReadonlyArray<string | number>; message: string };

/** A user plugin's invalid config, one line: each issue at its place in the config file when
 * the spec knows the places, `file:line:col: plugins.ID.field: message`. */
export function configIssuesText(spec: Pick<PluginSpec, 'id' | 'where'>, issues: readonly ReportedIssue[]): string {
  const lines = issues.map((i) => {
    if (typeof i === 'string') return `plugins.${spec.id}.${i}`;
    const field = ['plugins', spec.id, ...i.path.map(String)].join('.');
    return spec.where ? `${spec.where(i.path)}: ${field}: ${i.message}` : `${field}: ${i.message}`;
  });
  return `invalid config: ${lines.join('; ')}`;
}

export interface HostOptions {
  bus: EventBus;
  log: Logger;
  /** A plugin set (weight != 0) or removed (weight 0) its adjustment for an instance. */
  onAdjust(plugin: string, instance: string, source: string, weight: number): void;
  onFault(plugin: string, instance: string, source: string, active: boolean): void;
  /** A plugin was removed: forget every adjustment and fault it had set. */
  onRemoved(plugin: string): void;
  heartbeatMs?: number;
  unresponsiveMs?: number;
  handlerTimeoutMs?: number;
  setupTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Heap limit of each worker; a leaking plugin is restarted, not the daemon. */
  maxHeapMb?: number;
  /** The instances' current states, given to each plugin as it starts. */
  currentStates?: () => Record<string, string>;
  /** How often the files of running user plugins are checked again (plugin-security.ts). */
  fileCheckMs?: number;
}

/** `waiting-for-fix`: its config is invalid; `refused`: its files are unsafe. Both wait for a
 * reload or an edit of the plugin. */
type SlotState = 'starting' | 'running' | 'backoff' | 'waiting-for-fix' | 'refused' | 'stopped';

interface Unacked {
  event: VigilEvent;
  sentAt: number;
  attempts: number;
}

export interface PluginStatus {
  id: string;
  name: string | undefined;
  origin: 'builtin' | 'user';
  state: SlotState;
  /** The user it runs as, in a process of its own (global_defs.plugin_user); absent: root, in a
   * worker thread of the engine. */
  user?: string;
  /** The worker thread it runs in (threadId), while it has one: every built-in shows the same. */
  thread?: number;
  restarts: number;
  failures: number;
  handlerErrors: number;
  eventsDelivered: number;
  queued: number;
  lastError: string | undefined;
}

/** A checker attempt waiting for its plugin's answer. */
interface PendingCheck {
  id: number;
  slot: Slot;
  checker: string;
  /** Milliseconds since the attempt started. */
  ms: () => number;
  resolve: (r: ProbeResult) => void;
  timer: NodeJS.Timeout | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

class Slot {
  worker: PluginRunner | undefined;
  state: SlotState = 'starting';
  name: string | undefined;
  restarts = 0;
  failures = 0;
  handlerErrors = 0;
  eventsDelivered = 0;
  backoffMs: number;
  startedAt = 0;
  lastPong = 0;
  pingN = 0;
  version = 0;
  lastError: string | undefined;
  /** Events waiting for a running worker, in order. */
  queue: Array<{ event: VigilEvent; attempts: number }> = [];
  unacked = new Map<number, Unacked>();
  restartTimer: NodeJS.Timeout | undefined;
  readyWaiters: Array<() => void> = [];
  stoppedWaiter: (() => void) | undefined;
  everReady = false;
  /** The files it loaded from outside vigil (its module among them), as its worker reported. */
  files = new Set<string>();
  /** The checkers its current worker registered (whether or not the name was free). */
  checkers = new Set<string>();

  constructor(
    public spec: PluginSpec,
    initialBackoffMs: number,
  ) {
    this.backoffMs = initialBackoffMs;
  }
}

export class PluginHost {
  private readonly slots = new Map<string, Slot>();
  private instances: InstanceInfo[] = [];
  private pluginsSection: Record<string, unknown> = {};
  private readonly tick: NodeJS.Timeout;
  private readonly fileTick: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly o: Required<Omit<HostOptions, 'bus' | 'log' | 'onAdjust' | 'onFault' | 'onRemoved' | 'currentStates' | 'fileCheckMs'>>;
  private readonly compiler = new PluginCompiler();
  /** The one thread every built-in runs in (started with the first of them). */
  private readonly builtins: BuiltinThread;
  private stopping = false;
  /** When check() last ran (monotonic ms). */
  private lastCheck = 0;
  /** Which plugin a checker name belongs to. It stays while that plugin is down or restarting
   * (its attempts fail as "not running" rather than "unknown"). */
  private readonly checkerOwner = new Map<string, Slot>();
  /** Unknown checker names already logged: once per name, not at every attempt. */
  private readonly unknownLogged = new Set<string>();
  private readonly checks = new Map<number, PendingCheck>();
  private checkSeq = 0;

  constructor(private readonly opts: HostOptions) {
    this.o = {
      heartbeatMs: opts.heartbeatMs ?? 500,
      unresponsiveMs: opts.unresponsiveMs ?? 3000,
      handlerTimeoutMs: opts.handlerTimeoutMs ?? 120_000,
      setupTimeoutMs: opts.setupTimeoutMs ?? 15_000,
      initialBackoffMs: opts.initialBackoffMs ?? 1000,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      maxHeapMb: opts.maxHeapMb ?? 256,
    };
    this.builtins = new BuiltinThread({ ...BUILTIN_RUNTIME, maxHeapMb: this.o.maxHeapMb });
    this.unsubscribe = opts.bus.subscribe((e) => this.dispatch(e));
    this.tick = setInterval(() => this.check(), this.o.heartbeatMs);
    this.tick.unref();
    this.fileTick = setInterval(() => this.checkFiles(), opts.fileCheckMs ?? 2000);
    this.fileTick.unref();
  }

  /** Starts (or, on reload, reconciles to) this set of plugins. */
  apply(specs: PluginSpec[], instances: InstanceInfo[], pluginsSection: Record<string, unknown>): { started: string[]; restarted: string[]; removed: string[] } {
    const instancesChanged = JSON.stringify(instances) !== JSON.stringify(this.instances);
    const sectionChanged = JSON.stringify(pluginsSection) !== JSON.stringify(this.pluginsSection);
    this.instances = instances;
    this.pluginsSection = pluginsSection;
    const result = { started: [] as string[], restarted: [] as string[], removed: [] as string[] };
    const wanted = new Map(specs.map((s) => [s.id, s]));
    for (const [id, slot] of this.slots) {
      if (wanted.has(id)) continue;
      void this.retire(slot);
      this.slots.delete(id);
      this.opts.onRemoved(id);
      this.releaseCheckers(slot, () => true);
      result.removed.push(id);
    }
    for (const spec of specs) {
      const slot = this.slots.get(spec.id);
      if (!slot) {
        const s = new Slot(spec, this.o.initialBackoffMs);
        this.slots.set(spec.id, s);
        this.spawn(s);
        result.started.push(spec.id);
        continue;
      }
      // A built-in derives all it needs into its own config: it restarts only when that changed,
      // so a reload does not reset a tracker's rise/fall counts. A user plugin may read the
      // instances and the plugins section: it restarts when they change.
      const changed =
        JSON.stringify(slot.spec) !== JSON.stringify(spec) ||
        (spec.origin === 'user' && (instancesChanged || sectionChanged)) ||
        slot.state === 'waiting-for-fix' ||
        slot.state === 'refused';
      if (!changed) continue;
      slot.spec = spec;
      this.restartNow(slot);
      result.restarted.push(spec.id);
    }
    return result;
  }

  /** A plugin's file changed on disk: load it afresh. */
  reloadFile(id: string): boolean {
    const slot = this.slots.get(id);
    if (!slot) return false;
    this.opts.log.info(`plugin ${id}: file changed, reloading`);
    this.restartNow(slot);
    return true;
  }

  /** Resolves once every plugin has finished its first setup (or failed it), at most `ms`. */
  async ready(ms = 5000): Promise<void> {
    const waits = [...this.slots.values()].filter((s) => s.state === 'starting').map((s) => new Promise<void>((r) => s.readyWaiters.push(r)));
    await Promise.race([Promise.all(waits), new Promise((r) => setTimeout(r, ms).unref())]);
  }

  /** Resolves when every plugin has handled every event delivered so far (or `ms` passed). */
  async drain(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      const busy = [...this.slots.values()].some((s) => (s.state === 'running' || s.state === 'starting') && (s.queue.length > 0 || s.unacked.size > 0));
      if (!busy) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  status(): PluginStatus[] {
    return [...this.slots.values()].map((s) => ({
      id: s.spec.id,
      name: s.name,
      origin: s.spec.origin,
      state: s.state,
      ...(s.spec.runAs ? { user: s.spec.runAs.group ? `${s.spec.runAs.user}:${s.spec.runAs.group}` : s.spec.runAs.user } : {}),
      ...(s.worker?.threadId !== undefined ? { thread: s.worker.threadId } : {}),
      restarts: s.restarts,
      failures: s.failures,
      handlerErrors: s.handlerErrors,
      eventsDelivered: s.eventsDelivered,
      queued: s.queue.length + s.unacked.size,
      lastError: s.lastError,
    }));
  }

  /** Lets every plugin handle what is queued (bounded), then stops them all. */
  async stop(drainMs = 5000): Promise<void> {
    await this.drain(drainMs);
    this.stopping = true;
    this.unsubscribe();
    clearInterval(this.tick);
    clearInterval(this.fileTick);
    await Promise.all([...this.slots.values()].map((s) => this.retire(s)));
    for (const c of [...this.checks.values()]) this.settleCheck(c, { ok: false, error: `plugin ${c.slot.spec.id} not running`, ms: c.ms() }, false);
    this.slots.clear();
    this.checkerOwner.clear();
    this.compiler.close();
    await this.builtins.close();
  }

  /** The checker names plugins registered (whether their plugin runs right now or not). */
  registeredCheckers(): string[] {
    return [...this.checkerOwner.keys()].sort();
  }

  /** One attempt of a plugin checker for the balancer. Never rejects: every way it can go wrong
   * is a failed attempt with its reason. It ends by check.timeoutMs whatever the plugin does. */
  runChecker(check: PluginCheck, ctx: { virtualServer: string; realServer: string }, signal?: AbortSignal): Promise<ProbeResult> {
    const started = monoMs();
    const ms = () => Math.round(monoMs() - started);
    const slot = this.checkerOwner.get(check.checker);
    if (!slot) {
      // at start (or after a reload) the plugin that registers it may still be in its setup:
      // that attempt fails, but the name is not called unknown in the log yet
      const starting = [...this.slots.values()].some((s) => s.state === 'starting' && !s.everReady);
      if (!starting && !this.unknownLogged.has(check.checker)) {
        this.unknownLogged.add(check.checker);
        this.opts.log.error(`no plugin registers checker ${check.checker} (real server ${ctx.realServer} of ${ctx.virtualServer}): its checks fail until one does`);
      }
      return Promise.resolve({ ok: false, error: `no plugin registers checker ${check.checker}`, ms: 0 });
    }
    if (slot.state !== 'running' || !slot.worker) return Promise.resolve({ ok: false, error: `plugin ${slot.spec.id} not running`, ms: 0 });
    if (signal?.aborted) return Promise.resolve({ ok: false, error: 'aborted', ms: 0 });
    return new Promise<ProbeResult>((resolve) => {
      const id = ++this.checkSeq;
      const pending: PendingCheck = { id, slot, checker: check.checker, ms, resolve, timer: undefined, signal, onAbort: undefined };
      pending.timer = setTimeout(() => this.settleCheck(pending, { ok: false, error: `no answer within ${check.timeoutMs} ms`, ms: ms() }, true), check.timeoutMs);
      pending.timer.unref();
      pending.onAbort = () => this.settleCheck(pending, { ok: false, error: 'aborted', ms: ms() }, true);
      signal?.addEventListener('abort', pending.onAbort, { once: true });
      this.checks.set(id, pending);
      const target = {
        host: check.host,
        port: check.port,
        ...(check.bindto !== undefined ? { bindto: check.bindto } : {}),
        ...(check.bindPort !== undefined ? { bindPort: check.bindPort } : {}),
        virtualServer: ctx.virtualServer,
        realServer: ctx.realServer,
        params: check.params,
      };
      this.post(slot, { t: 'check', id, checker: check.checker, target, timeoutMs: check.timeoutMs });
    });
  }

  // --- internals ----------------------------------------------------------------------------

  /** Ends a pending check once; `tellWorker`: the worker is still there and should abort it. */
  private settleCheck(c: PendingCheck, result: ProbeResult, tellWorker: boolean): void {
    if (!this.checks.delete(c.id)) return;
    clearTimeout(c.timer);
    if (c.onAbort) c.signal?.removeEventListener('abort', c.onAbort);
    if (tellWorker && c.slot.worker) this.post(c.slot, { t: 'check-abort', id: c.id });
    c.resolve(result);
  }

  /** A worker answered check `id` (after a timeout or abort: nobody waits, it is dropped). */
  private checkAnswered(slot: Slot, m: Extract<WorkerMessage, { t: 'check-result' }>): void {
    const c = this.checks.get(m.id);
    if (!c || c.slot !== slot) return;
    if (m.error !== undefined || !m.answer) return this.settleCheck(c, { ok: false, error: m.error ?? 'no answer', ms: c.ms() }, false);
    const problem = checkAnswerProblem(m.answer);
    if (problem) return this.settleCheck(c, { ok: false, error: `checker ${c.checker} ${problem}`, ms: c.ms() }, false);
    const a = m.answer;
    const result: ProbeResult = a.up ? { ok: true, ms: c.ms(), ...(a.weight !== undefined ? { weight: a.weight } : {}) } : { ok: false, error: a.reason || 'down', ms: c.ms() };
    this.settleCheck(c, result, false);
  }

  /** A plugin registered checker `name`: it is that plugin's, unless another has it. */
  private claimChecker(slot: Slot, name: string): void {
    slot.checkers.add(name);
    const owner = this.checkerOwner.get(name);
    if (owner === slot) return;
    if (owner) {
      this.opts.log.error(`plugin ${slot.spec.id}: checker ${name} is registered by plugin ${owner.spec.id} already; this registration is ignored`);
      return;
    }
    this.checkerOwner.set(name, slot);
    this.unknownLogged.delete(name);
  }

  /** Gives up the names of `slot` that `drop` selects; another running plugin that registered
   * one of them (and was refused) takes it over. */
  private releaseCheckers(slot: Slot, drop: (name: string) => boolean): void {
    for (const [name, owner] of [...this.checkerOwner]) {
      if (owner !== slot || !drop(name)) continue;
      this.checkerOwner.delete(name);
      const heir = [...this.slots.values()].find((s) => s !== slot && s.state === 'running' && s.checkers.has(name));
      if (heir) {
        this.checkerOwner.set(name, heir);
        this.opts.log.info(`plugin ${heir.spec.id}: checker ${name} is its own now (plugin ${slot.spec.id} gave it up)`);
      }
    }
  }

  /** Checks waiting on a worker that is going away fail now rather than at their timeout. */
  private failChecks(slot: Slot): void {
    for (const c of [...this.checks.values()]) if (c.slot === slot) this.settleCheck(c, { ok: false, error: `plugin ${slot.spec.id} not running`, ms: c.ms() }, false);
  }

  private dispatch(event: VigilEvent): void {
    for (const slot of this.slots.values()) {
      if (slot.state === 'stopped' || slot.state === 'waiting-for-fix' || slot.state === 'refused') continue;
      if (slot.state === 'running') this.send(slot, event, 0);
      else slot.queue.push({ event, attempts: 0 });
    }
  }

  private send(slot: Slot, event: VigilEvent, attempts: number): void {
    slot.unacked.set(event.seq, { event, sentAt: monoMs(), attempts: attempts + 1 });
    slot.eventsDelivered++;
    this.post(slot, { t: 'event', event });
  }

  private post(slot: Slot, m: HostMessage): void {
    try {
      slot.worker?.postMessage(m);
    } catch (e) {
      this.opts.log.warn(`plugin ${slot.spec.id}: ${(e as Error).message}`);
    }
  }

  private spawn(slot: Slot): void {
    slot.state = 'starting';
    slot.version++;
    slot.startedAt = monoMs();
    slot.lastPong = monoMs();
    slot.files.clear();
    slot.checkers.clear();
    if (slot.spec.checkFiles) {
      // the module itself before a worker exists; what it imports, in the worker's resolver
      const problem = pluginFileProblem(slot.spec.entry);
      if (problem) return this.refuse(slot, describeUnsafe(problem));
    } else if (slot.spec.origin === 'user') {
      const problem = pluginFileProblem(slot.spec.entry);
      this.opts.log.warn(
        `plugin ${slot.spec.id}: SECURITY: allow_unsafe_plugins is set, so its files are not checked` + (problem ? `; loading it although: ${describeUnsafe(problem)}` : ''),
      );
    }
    const init: WorkerInit = {
      entry: slot.spec.entry,
      config: slot.spec.config,
      pluginsSection: this.pluginsSection,
      instances: this.withStates(this.instances),
      version: slot.version,
      ...(slot.spec.checkFiles ? { checkFiles: true } : {}),
      ...(slot.spec.origin === 'builtin' ? { moduleKey: fileStamp(slot.spec.entry) ?? String(slot.version) } : {}),
    };
    // compiling takes a moment off the event loop (esbuild's own process); the slot may have
    // been stopped, failed or restarted meanwhile, and then this start is void
    const version = slot.version;
    const current = () => slot.version === version && slot.state === 'starting' && !slot.worker;
    if (slot.spec.runAs) return this.spawnProcess(slot, init, slot.spec.runAs, current);
    // a built-in's entry is its module in the build already (or its source, through tsx)
    if (slot.spec.origin === 'builtin') return this.watch(slot, this.builtins.load(init));
    if (FROM_SOURCE) return this.startWorker(slot, SOURCE_WORKER_ENTRY, init);
    this.bundle(slot, current, (b) => this.startWorker(slot, WORKER_RUNTIME, b.file !== undefined ? { ...init, entry: b.file } : { ...init, code: b.code }));
  }

  /** A user plugin bundled (compile.ts: from the cache when its files are unchanged), its files
   * checked before any of it runs, then `start`ed, unless the slot moved on meanwhile. */
  private bundle(slot: Slot, current: () => boolean, start: (b: UserBundle) => void): void {
    this.compiler.compileUser(slot.spec.entry).then(
      (b) => {
        if (!current()) return;
        for (const f of b.files) slot.files.add(f);
        if (slot.spec.checkFiles) {
          const [problem] = pluginFilesProblems(b.files);
          if (problem) return this.refuse(slot, describeUnsafe(problem));
        }
        start(b);
      },
      (e: Error) => {
        if (current()) this.fail(slot, 'setup', `cannot compile it: ${e.message.split('\n')[0]}`);
      },
    );
  }

  /** A plugin with a user of its own (global_defs.plugin_user): bundled whole, its files checked
   * (they are known before it runs), then started in a process that becomes that user. */
  private spawnProcess(slot: Slot, init: WorkerInit, runAs: NonNullable<PluginSpec['runAs']>, current: () => boolean): void {
    const ids = lookupUser(runAs.user, runAs.group);
    if (!ids) {
      const error = `plugin_user ${runAs.user}${runAs.group ? ` ${runAs.group}` : ''} does not exist`;
      slot.lastError = error;
      slot.failures++;
      this.opts.log.error(`plugin ${slot.spec.id}: ${error}`);
      this.opts.bus.publish({ type: 'plugin.failed', plugin: slot.spec.id, cause: 'setup', error, restartInMs: -1 });
      this.terminate(slot, 'waiting-for-fix');
      for (const w of slot.readyWaiters.splice(0)) w();
      return;
    }
    this.bundle(slot, current, (b) => this.startWorker(slot, WORKER_RUNTIME, init, { code: b.code, runAs: { ...ids, user: runAs.user } }));
  }

  private startWorker(slot: Slot, runtime: URL, init: WorkerInit, own?: { code: string; runAs: RunAs }): void {
    const worker: PluginRunner = own
      ? new PluginProcess(runtime, init, own.code, own.runAs, this.o.maxHeapMb)
      : new Worker(runtime, {
          workerData: init,
          execArgv: [],
          resourceLimits: { maxOldGenerationSizeMb: this.o.maxHeapMb, maxYoungGenerationSizeMb: PLUGIN_YOUNG_GENERATION_MB },
        });
    this.watch(slot, worker);
  }

  /** The slot's runner from now on: a thread, a process, or a port into the built-ins' thread. */
  private watch(slot: Slot, worker: PluginRunner): void {
    slot.worker = worker;
    const version = slot.version;
    worker.on('message', (m: WorkerMessage) => {
      if (slot.worker === worker) this.onMessage(slot, m);
    });
    worker.on('error', (e: Error) => {
      if (slot.worker === worker && slot.version === version) this.fail(slot, 'threw', e.message);
    });
    worker.on('exit', (code: number) => {
      if (slot.worker !== worker || slot.version !== version) return;
      if (slot.state === 'stopped') return;
      this.fail(slot, 'exited', `worker exited with code ${code}`);
    });
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    const id = slot.spec.id;
    switch (m.t) {
      case 'pong':
        slot.lastPong = monoMs();
        return;
      case 'ready': {
        slot.name = m.name;
        // plugins.ID, plugin_user and status know a user plugin by its file's name: a plugin
        // that calls itself something else would read another section than the one checked
        if (slot.spec.origin === 'user' && m.name !== id) {
          this.opts.onRemoved(id);
          this.waitForFix(slot, nameMismatch(slot.spec, m.name));
          return;
        }
        slot.state = 'running';
        // a name its previous worker registered and this one (after setup) did not is gone
        this.releaseCheckers(slot, (name) => !slot.checkers.has(name));
        slot.lastPong = monoMs();
        const queued = slot.queue.splice(0);
        for (const q of queued) this.send(slot, q.event, q.attempts);
        for (const w of slot.readyWaiters.splice(0)) w();
        if (slot.everReady) {
          this.opts.log.info(`plugin ${id}: restarted (${slot.restarts})`);
          this.opts.bus.publish({ type: 'plugin.restarted', plugin: id, restarts: slot.restarts });
        } else {
          this.opts.log.info(`plugin ${id}: started`);
          this.opts.bus.publish({ type: 'plugin.started', plugin: id, restarts: slot.restarts });
        }
        slot.everReady = true;
        return;
      }
      case 'setup-failed':
        if (m.issues.length > 0) {
          // A bad config does not fix itself: report it once and wait for a reload or an edit.
          // The worker's own message names the plugin already; this one says where in the
          // config file (a built-in's issues are of its derived config: no place to give)
          this.waitForFix(slot, slot.spec.origin === 'user' ? configIssuesText(slot.spec, m.configIssues ?? m.issues) : m.error);
          return;
        }
        this.fail(slot, 'setup', m.error);
        return;
      case 'adjust':
        this.opts.onAdjust(id, m.instance, m.source, m.weight);
        return;
      case 'fault':
        this.opts.onFault(id, m.instance, m.source, m.active);
        return;
      case 'log':
        this.opts.log[m.level](`plugin ${id}: ${m.msg}`);
        return;
      case 'handler-error':
        // retried once in the worker already: dropped and reported, the plugin keeps running
        slot.handlerErrors++;
        this.opts.log.error(`plugin ${id}: handler for ${m.type} (event ${m.seq}) ${m.cause} ${m.attempts} times, event dropped: ${m.error}`);
        if (m.type !== 'plugin.handler_failed') this.opts.bus.publish({ type: 'plugin.handler_failed', plugin: id, event: m.type, eventSeq: m.seq, cause: m.cause, error: m.error, attempts: m.attempts });
        return;
      case 'handled':
        slot.unacked.delete(m.seq);
        return;
      case 'crashed':
        slot.lastError = m.error;
        return;
      case 'stopped':
        slot.stoppedWaiter?.();
        return;
      case 'file':
        slot.files.add(m.file);
        return;
      case 'refused':
        this.refuse(slot, m.error);
        return;
      case 'checker':
        this.claimChecker(slot, m.name);
        return;
      case 'check-result':
        this.checkAnswered(slot, m);
        return;
    }
  }

  /** A plugin that cannot run as configured (an invalid config section, a wrong name): stopped,
   * reported once, left until a reload or an edit of the plugin starts it again. */
  private waitForFix(slot: Slot, error: string): void {
    const id = slot.spec.id;
    slot.lastError = error;
    slot.failures++;
    this.opts.log.error(`plugin ${id}: ${error}`);
    this.opts.bus.publish({ type: 'plugin.failed', plugin: id, cause: 'setup', error, restartInMs: -1 });
    this.terminate(slot, 'waiting-for-fix');
    for (const w of slot.readyWaiters.splice(0)) w();
  }

  /** A plugin with an unsafe file: stopped (if it ran), reported once, left until a reload or
   * an edit of its files starts it again (and checks them again). */
  private refuse(slot: Slot, why: string): void {
    if (slot.state === 'refused' || slot.state === 'stopped' || this.stopping) return;
    const id = slot.spec.id;
    slot.lastError = why;
    slot.failures++;
    this.opts.log.error(`plugin ${id}: refused: ${why}`);
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    // a refused plugin's queue is dropped: nothing of it may run, and a reload starts it afresh
    slot.queue = [];
    slot.unacked.clear();
    this.terminate(slot, 'refused');
    for (const w of slot.readyWaiters.splice(0)) w();
    this.opts.bus.publish({ type: 'plugin.failed', plugin: id, cause: 'unsafe', error: why, restartInMs: -1 });
  }

  /** Every file a user plugin loaded, checked again: a chmod or chown is no event chokidar
   * reports, and a directory above the files may change too. */
  private checkFiles(): void {
    for (const slot of this.slots.values()) {
      if (!slot.spec.checkFiles || slot.state === 'refused' || slot.state === 'stopped' || slot.state === 'waiting-for-fix') continue;
      const [problem] = pluginFilesProblems([slot.spec.entry, ...slot.files]);
      if (problem) this.refuse(slot, describeUnsafe(problem));
    }
  }

  /** Heartbeat and hang detection. */
  private check(): void {
    const now = monoMs();
    // This thread itself did not run for a while (the process was frozen by SIGSTOP, or the
    // event loop was blocked): the workers' pongs may be waiting unread behind this very timer,
    // so no worker is blamed for the gap. Every running worker gets a fresh window instead.
    const stalled = this.lastCheck > 0 && now - this.lastCheck > this.o.unresponsiveMs;
    this.lastCheck = now;
    if (stalled) for (const slot of this.slots.values()) if (slot.state === 'running') slot.lastPong = now;
    for (const slot of this.slots.values()) {
      if (slot.state === 'running') {
        if (now - slot.lastPong > this.o.unresponsiveMs) {
          this.fail(slot, 'unresponsive', `no heartbeat for ${Math.round(now - slot.lastPong)} ms (spinning or blocked)`);
          continue;
        }
        let oldest: Unacked | undefined;
        for (const u of slot.unacked.values()) if (!oldest || u.sentAt < oldest.sentAt) oldest = u;
        if (oldest && now - oldest.sentAt > this.o.handlerTimeoutMs) {
          this.fail(slot, 'unresponsive', `handler for event ${oldest.event.seq} (${oldest.event.type}) did not finish within ${this.o.handlerTimeoutMs} ms`);
          continue;
        }
        if (now - slot.startedAt > 60_000) slot.backoffMs = this.o.initialBackoffMs;
        this.post(slot, { t: 'ping', n: ++slot.pingN });
      } else if (slot.state === 'starting' && now - slot.startedAt > this.o.setupTimeoutMs) {
        this.fail(slot, 'unresponsive', `setup did not finish within ${this.o.setupTimeoutMs} ms`);
      }
    }
  }

  private fail(slot: Slot, cause: 'threw' | 'rejected' | 'unresponsive' | 'exited' | 'setup', error: string): void {
    if (slot.state === 'stopped' || slot.state === 'backoff' || this.stopping) return;
    const id = slot.spec.id;
    const firstError = slot.lastError && cause === 'exited' ? slot.lastError : error;
    slot.lastError = firstError;
    slot.failures++;
    const delay = slot.backoffMs;
    slot.backoffMs = Math.min(slot.backoffMs * 2, this.o.maxBackoffMs);
    this.opts.log.error(`plugin ${id}: failed (${cause}): ${firstError}; restarting in ${delay} ms`);
    this.requeueUnacked(slot);
    this.terminate(slot, 'backoff');
    for (const w of slot.readyWaiters.splice(0)) w();
    this.opts.bus.publish({ type: 'plugin.failed', plugin: id, cause, error: firstError, restartInMs: delay });
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (slot.state !== 'backoff') return;
      slot.restarts++;
      slot.lastError = undefined;
      this.spawn(slot);
    }, delay);
  }

  private withStates(instances: InstanceInfo[]): InstanceInfo[] {
    const states = this.opts.currentStates?.() ?? {};
    return instances.map((i) => {
      const state = states[i.name];
      return state === 'initialize' || state === 'backup' || state === 'master' || state === 'fault' ? { ...i, state } : i;
    });
  }

  /** Events a dead worker had not finished go to its successor, ahead of newer ones. */
  private requeueUnacked(slot: Slot): void {
    const retry: Array<{ event: VigilEvent; attempts: number }> = [];
    for (const u of [...slot.unacked.values()].sort((a, b) => a.event.seq - b.event.seq)) {
      if (u.attempts >= 2) {
        this.opts.log.error(`plugin ${slot.spec.id}: dropping event ${u.event.seq} (${u.event.type}) after ${u.attempts} failed deliveries`);
        continue;
      }
      retry.push({ event: u.event, attempts: u.attempts });
    }
    slot.unacked.clear();
    slot.queue.unshift(...retry);
  }

  private terminate(slot: Slot, next: SlotState): void {
    slot.state = next;
    this.failChecks(slot);
    const w = slot.worker;
    slot.worker = undefined;
    if (w) void w.terminate();
  }

  private restartNow(slot: Slot): void {
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    slot.restartTimer = undefined;
    slot.backoffMs = this.o.initialBackoffMs;
    slot.lastError = undefined;
    slot.everReady = false;
    this.requeueUnacked(slot);
    this.terminate(slot, 'starting');
    this.spawn(slot);
  }

  /** Asks the worker to stop (its onStop callbacks run), then ends it. */
  private async retire(slot: Slot): Promise<void> {
    if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const w = slot.worker;
    const wasRunning = slot.state === 'running';
    slot.state = 'stopped';
    this.failChecks(slot);
    if (!w) return;
    if (wasRunning) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 3000);
        slot.stoppedWaiter = () => {
          clearTimeout(t);
          resolve();
        };
        w.postMessage({ t: 'stop', timeoutMs: 2000 } satisfies HostMessage);
      });
    }
    slot.worker = undefined;
    await w.terminate();
  }
}
