// The checker worker (probe-runner.ts): runs each attempt it is sent and answers with its result,
// and hosts the nftables data plane (one per table, created on its first call). Attempts run
// concurrently; an abort from the engine ends one early (its balancer stopped or reloaded the
// virtual server). Data-plane calls are serialised by the data plane itself.

import { parentPort } from 'node:worker_threads';
import { NftDataPlane } from './nft-dataplane.ts';
import { runProbe, type ProbeReply, type ProbeRequest } from './probe-runner.ts';

const port = parentPort;
if (!port) throw new Error('probe-worker.ts runs only as a worker thread');
const reply = (m: ProbeReply) => port.postMessage(m);
const inFlight = new Map<number, AbortController>();
const planes = new Map<string, NftDataPlane>();

port.on('message', (m: ProbeRequest) => {
  switch (m.t) {
    case 'abort':
      inFlight.get(m.id)?.abort();
      return;
    case 'run': {
      const abort = new AbortController();
      inFlight.set(m.id, abort);
      void runProbe(m.check, abort.signal).then((result) => {
        inFlight.delete(m.id);
        reply({ t: 'result', id: m.id, result });
      });
      return;
    }
    case 'dataplane': {
      const key = JSON.stringify(m.options);
      let plane = planes.get(key);
      if (!plane) {
        plane = new NftDataPlane({ ...m.options, warn: (message) => reply({ t: 'warn', message }) });
        planes.set(key, plane);
      }
      const call = m.call;
      const done = call.op === 'apply' ? plane.apply(call.state) : call.op === 'remove' ? plane.remove() : plane.counters();
      done.then(
        (value) => reply({ t: 'dataplane', id: m.id, ok: true, ...(value ? { value } : {}) }),
        (e: Error) => reply({ t: 'dataplane', id: m.id, ok: false, error: e.message }),
      );
      return;
    }
  }
});
