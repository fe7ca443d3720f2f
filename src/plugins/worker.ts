// The inside of a plugin worker thread: imports one plugin module, runs it with the runtime, and
// speaks the host protocol (protocol.ts) over the worker's message port. The heartbeat answer
// comes from this thread's event loop, so a plugin that spins or blocks stops answering and
// the host knows.

import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from './api.ts';
import { isUnsafeError } from './plugin-security.ts';
import type { HostMessage, WorkerInit, WorkerMessage } from './protocol.ts';
import { errorText, PluginConfigError, PluginRuntime, type HostPort } from './runtime.ts';

const port = parentPort;
if (!port) throw new Error('worker.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const post = (m: WorkerMessage) => port.postMessage(m);

const hostPort: HostPort = {
  adjust: (instance, source, weight) => post({ t: 'adjust', instance, source, weight }),
  fault: (instance, source, active) => post({ t: 'fault', instance, source, active }),
  log: (level, msg) => post({ t: 'log', level, msg }),
  handlerError: (cause, error, seq) => post({ t: 'handler-error', cause, error, seq }),
  handled: (seq) => post({ t: 'handled', seq }),
};

// Anything that escapes the plugin (a throw in a timer, an unhandled rejection) ends the
// worker; the host sees 'exited' and restarts it with back-off.
process.on('unhandledRejection', (e) => {
  post({ t: 'crashed', error: `unhandled rejection: ${errorText(e)}` });
  process.exit(1);
});

let runtime: PluginRuntime | undefined;
const early: HostMessage[] = [];

port.on('message', (m: HostMessage) => {
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
  }
});

try {
  const mod = (await import(`${pathToFileURL(init.entry).href}?v=${init.version}`)) as { default?: PluginDefinition };
  const def = mod.default;
  const config = init.config !== undefined ? init.config : def && typeof def.name === 'string' ? init.pluginsSection[def.name] : undefined;
  runtime = await PluginRuntime.start(def as PluginDefinition, config, init.instances, hostPort);
  post({ t: 'ready', name: runtime.def.name });
  for (const m of early.splice(0)) if (m.t === 'event') runtime.deliver(m.event);
} catch (e) {
  if (e instanceof Error && isUnsafeError(e.message)) post({ t: 'refused', error: e.message });
  else post({ t: 'setup-failed', error: e instanceof PluginConfigError ? e.message : errorText(e), issues: e instanceof PluginConfigError ? e.issues : [] });
}
