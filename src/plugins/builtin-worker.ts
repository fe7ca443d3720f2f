// The one worker thread of a daemon's built-in plugins. A worker thread is a V8 isolate of its
// own (~7.5 MiB with nothing loaded, more with the runtime and zod): one per built-in was most of
// the engine's memory for plugins we wrote and trust. Users' plugins keep a thread (or process)
// each (worker.ts).
//
// Each built-in comes as a 'load' with a MessagePort of its own and runs exactly as in a thread
// of its own (run-plugin.ts, the same protocol over that port), so the host treats it the same:
// a heartbeat per plugin (every pong comes from this event loop: if one built-in spins, all miss
// their pongs and all are restarted, which is right), a failed setup or a hung handler ends that
// plugin only ('unload'; a handler that throws is retried once and its event dropped, and ends
// nothing), while anything that escapes a plugin (an uncaught exception, an unhandled rejection,
// the heap limit) ends the thread and with it every built-in.

import { parentPort, type MessagePort } from 'node:worker_threads';
import type { HostMessage, SharedHostMessage, SharedWorkerMessage, WorkerMessage } from './protocol.ts';
import { runPlugin, type Channel, type RunningPlugin } from './run-plugin.ts';
import { errorText } from './runtime.ts';

if (!parentPort) throw new Error('builtin-worker.ts runs only as a worker thread');
const control = parentPort;

const plugins = new Map<number, { port: MessagePort; plugin: RunningPlugin }>();

function portChannel(port: MessagePort): Channel {
  return {
    // (a port the host closed drops what is posted to it: a plugin unloaded meanwhile)
    post: (m: WorkerMessage) => port.postMessage(m),
    onMessage: (fn: (m: HostMessage) => void) => void port.on('message', fn),
  };
}

const tell = (m: SharedWorkerMessage): void => control.postMessage(m);

control.on('message', (m: SharedHostMessage) => {
  switch (m.t) {
    case 'load': {
      const plugin = runPlugin(portChannel(m.port), m.init);
      plugins.set(m.id, { port: m.port, plugin });
      return;
    }
    case 'unload': {
      const p = plugins.get(m.id);
      plugins.delete(m.id);
      tell({ t: 'unloaded', id: m.id });
      if (p) void p.plugin.stop(m.timeoutMs).finally(() => p.port.close());
      return;
    }
  }
});

// An unhandled rejection cannot be traced to its plugin: the host hears why the thread ends
// (each built-in's last error), then it ends.
process.on('unhandledRejection', (e) => {
  tell({ t: 'crashed', error: `unhandled rejection: ${errorText(e)}` });
  process.exit(1);
});
