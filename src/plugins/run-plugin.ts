// One plugin inside a worker: imports its module, runs it with the runtime, and answers the host
// protocol (protocol.ts) over a channel. Shared by the two worker entries: worker.ts (one plugin
// per thread or process: users' plugins) and builtin-worker.ts (every built-in of the daemon in
// one thread, each over a MessagePort of its own). Nothing here touches the process (exit,
// process-wide handlers): that is the entry's business, as it knows whom a crash takes down.

import { pathToFileURL } from 'node:url';
import { checkDefinition } from './definition.ts';
import { isUnsafeError } from './plugin-security.ts';
import type { HostMessage, WorkerInit, WorkerMessage } from './protocol.ts';
import { errorText, PluginConfigError, PluginRuntime, type HostPort } from './runtime.ts';

/** The plugin's line to the host: parentPort, a process's IPC channel, or a MessagePort. */
export interface Channel {
  post(m: WorkerMessage): void;
  onMessage(fn: (m: HostMessage) => void): void;
}

export interface RunningPlugin {
  /** Settles once the plugin is ready or its setup failed (reported to the host either way). */
  loaded: Promise<void>;
  /** Stops it (ctx.signal aborts, its onStop callbacks run, each bounded by `timeoutMs`) and
   * ignores the host from then on. Idempotent: a plugin the host asked to 'stop' and then
   * unloads stops once. A plugin still in its setup is stopped as soon as setup ends. */
  stop(timeoutMs: number): Promise<void>;
}

/** Loads the plugin `init` names (or `code`, a bundled module's text) and serves `channel`. */
export function runPlugin(channel: Channel, init: WorkerInit, code = init.code): RunningPlugin {
  const post = channel.post;
  const hostPort: HostPort = {
    adjust: (instance, source, weight) => post({ t: 'adjust', instance, source, weight }),
    fault: (instance, source, active) => post({ t: 'fault', instance, source, active }),
    log: (level, msg) => post({ t: 'log', level, msg }),
    handlerError: (cause, error, seq, type, attempts) => post({ t: 'handler-error', cause, error, seq, type, attempts }),
    handled: (seq) => post({ t: 'handled', seq }),
    checker: (name) => post({ t: 'checker', name }),
  };

  let runtime: PluginRuntime | undefined;
  /** Set by the first stop(): its promise, and that no 'ready' is to be sent any more. */
  let stopped: Promise<void> | undefined;
  const early: HostMessage[] = [];

  channel.onMessage((m: HostMessage) => {
    switch (m.t) {
      case 'ping':
        post({ t: 'pong', n: m.n });
        return;
      case 'event':
        if (runtime) runtime.deliver(m.event);
        else early.push(m);
        return;
      case 'stop':
        void handle.stop(m.timeoutMs).finally(() => post({ t: 'stopped' }));
        return;
      case 'check': {
        // (the host asks only a plugin that is ready; this is for the impossible case)
        if (!runtime) return post({ t: 'check-result', id: m.id, error: 'plugin not started yet' });
        void runtime.runCheck(m.id, m.checker, m.target, m.timeoutMs).then((outcome) => {
          if (outcome) post({ t: 'check-result', id: m.id, ...outcome });
        });
        return;
      }
      case 'check-abort':
        runtime?.abortCheck(m.id);
        return;
    }
  });

  const loaded = (async () => {
    try {
      const url = code !== undefined ? `data:text/javascript;base64,${Buffer.from(code).toString('base64')}` : `${pathToFileURL(init.entry).href}?v=${init.moduleKey ?? init.version}`;
      const def = checkDefinition(await import(url), { source: init.entry, warn: (msg) => post({ t: 'log', level: 'warn', msg }) });
      const config = init.config !== undefined ? init.config : init.pluginsSection[def.name];
      const rt = await PluginRuntime.start(def, config, init.instances, hostPort);
      runtime = rt;
      // stopped during its setup: it never runs, and stop() below stops what setup started
      if (stopped) return;
      post({ t: 'ready', name: rt.def.name });
      for (const m of early.splice(0)) if (m.t === 'event') rt.deliver(m.event);
    } catch (e) {
      if (e instanceof Error && isUnsafeError(e.message)) post({ t: 'refused', error: e.message });
      else if (e instanceof PluginConfigError) post({ t: 'setup-failed', error: e.message, issues: e.issues, configIssues: e.configIssues });
      else post({ t: 'setup-failed', error: errorText(e), issues: [] });
    }
  })();

  const handle: RunningPlugin = {
    loaded,
    stop(timeoutMs) {
      if (!stopped) {
        early.length = 0;
        // a plugin still importing or in its setup is stopped when that ends (or never, if its
        // setup never does: the host's setup timeout deals with that)
        stopped = runtime ? runtime.stop(timeoutMs) : loaded.then(() => runtime?.stop(timeoutMs));
      }
      return stopped;
    },
  };
  return handle;
}
