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
import type { HostMessage, ProcessInit, WorkerInit } from './protocol.ts';
import { runPlugin, type Channel } from './run-plugin.ts';
import { errorText } from './runtime.ts';
import { dropPrivileges } from './drop-privileges.ts';

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
  // Anything that escapes the plugin (a throw in a timer, an unhandled rejection) ends the
  // worker; the host sees 'exited' and restarts it with back-off.
  process.on('unhandledRejection', (e) => {
    channel.post({ t: 'crashed', error: `unhandled rejection: ${errorText(e)}` });
    process.exit(1);
  });
  await runPlugin(channel, init, code).loaded;
}

await main();
