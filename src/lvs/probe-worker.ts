// The probe worker (probe-runner.ts): runs each attempt it is sent and answers with its result.
// Attempts run concurrently; an abort from the engine ends one early (its balancer stopped or
// reloaded the virtual server).

import { parentPort } from 'node:worker_threads';
import { runProbe, type ProbeReply, type ProbeRequest } from './probe-runner.ts';

const port = parentPort;
if (!port) throw new Error('probe-worker.ts runs only as a worker thread');
const inFlight = new Map<number, AbortController>();

port.on('message', (m: ProbeRequest) => {
  if (m.t === 'abort') {
    inFlight.get(m.id)?.abort();
    return;
  }
  const abort = new AbortController();
  inFlight.set(m.id, abort);
  void runProbe(m.check, abort.signal).then((result) => {
    inFlight.delete(m.id);
    port.postMessage({ id: m.id, result } satisfies ProbeReply);
  });
});
