// The inside of a plugin's thread or process: imports one plugin module, runs it with the
// runtime, and speaks the host protocol (protocol.ts). The heartbeat answer comes from this
// event loop, so a plugin that spins or blocks stops answering and the host knows.
//
// Two ways in, one protocol:
// - a worker thread (the default): the init comes as workerData, messages over parentPort;
// - a process of its own (global_defs.plugin_user, plugin-process.ts): this module runs
//   compiled, as root; the init comes as the first IPC message, with the plugin already bundled
//   into one module's text; then the process gives up root for the plugin's user (groups, gid,
//   uid: for good) and only then imports the plugin, from a data: URL, so that no file needs to
//   be readable by that user and nothing of the plugin ever runs as root.

import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from './api.ts';
import { isUnsafeError } from './plugin-security.ts';
import type { HostMessage, ProcessInit, WorkerInit, WorkerMessage } from './protocol.ts';
import { errorText, PluginConfigError, PluginRuntime, type HostPort } from './runtime.ts';

interface Channel {
  post(m: WorkerMessage): void;
  onMessage(fn: (m: HostMessage) => void): void;
}

function threadChannel(port: NonNullable<typeof parentPort>): Channel {
  return { post: (m) => port.postMessage(m), onMessage: (fn) => void port.on('message', fn) };
}

function processChannel(): Channel {
  // the engine is gone (or let go of us): so are we
  process.on('disconnect', () => process.exit(0));
  return {
    post: (m) => {
      if (process.connected) process.send?.(m);
    },
    onMessage: (fn) => void process.on('message', (m: HostMessage) => fn(m)),
  };
}

/** Gives up root for good: supplementary groups, then gid, then uid (in that order: without
 * root, the group calls fail). Throws when any step does not take. */
function dropPrivileges(who: NonNullable<ProcessInit['runAs']>): void {
  // (process.initgroups exists on Linux; @types/node does not declare it)
  const initgroups = (process as { initgroups?: (user: string, gid: number) => void }).initgroups;
  if (who.user !== undefined && initgroups) initgroups.call(process, who.user, who.gid);
  else process.setgroups?.([who.gid]);
  process.setgid?.(who.gid);
  process.setuid?.(who.uid);
  if (process.getuid?.() !== who.uid || process.geteuid?.() !== who.uid || process.getgid?.() !== who.gid) {
    throw new Error(`could not switch to uid ${who.uid} gid ${who.gid}`);
  }
}

async function main(): Promise<void> {
  let channel: Channel;
  let init: WorkerInit;
  let code: string | undefined;
  if (parentPort) {
    channel = threadChannel(parentPort);
    init = workerData as WorkerInit;
  } else if (process.send) {
    channel = processChannel();
    const first = await new Promise<ProcessInit>((resolve) => process.once('message', (m: ProcessInit) => resolve(m)));
    init = first.init;
    code = first.code;
    if (first.runAs) dropPrivileges(first.runAs);
  } else {
    throw new Error('worker.ts runs only as a worker thread or a forked plugin process');
  }
  const post = channel.post;
  const hostPort: HostPort = {
    adjust: (instance, source, weight) => post({ t: 'adjust', instance, source, weight }),
    fault: (instance, source, active) => post({ t: 'fault', instance, source, active }),
    log: (level, msg) => post({ t: 'log', level, msg }),
    handlerError: (cause, error, seq) => post({ t: 'handler-error', cause, error, seq }),
    handled: (seq) => post({ t: 'handled', seq }),
    checker: (name) => post({ t: 'checker', name }),
  };

  // Anything that escapes the plugin (a throw in a timer, an unhandled rejection) ends the
  // worker; the host sees 'exited' and restarts it with back-off.
  process.on('unhandledRejection', (e) => {
    post({ t: 'crashed', error: `unhandled rejection: ${errorText(e)}` });
    process.exit(1);
  });

  let runtime: PluginRuntime | undefined;
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
        void (runtime?.stop(m.timeoutMs) ?? Promise.resolve()).finally(() => post({ t: 'stopped' }));
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

  try {
    code ??= init.code;
    const url = code !== undefined ? `data:text/javascript;base64,${Buffer.from(code).toString('base64')}` : `${pathToFileURL(init.entry).href}?v=${init.version}`;
    const mod = (await import(url)) as { default?: PluginDefinition };
    const def = mod.default;
    const config = init.config !== undefined ? init.config : def && typeof def.name === 'string' ? init.pluginsSection[def.name] : undefined;
    runtime = await PluginRuntime.start(def as PluginDefinition, config, init.instances, hostPort);
    post({ t: 'ready', name: runtime.def.name });
    for (const m of early.splice(0)) if (m.t === 'event') runtime.deliver(m.event);
  } catch (e) {
    if (e instanceof Error && isUnsafeError(e.message)) post({ t: 'refused', error: e.message });
    else post({ t: 'setup-failed', error: e instanceof PluginConfigError ? e.message : errorText(e), issues: e instanceof PluginConfigError ? e.issues : [] });
  }
}

await main();
