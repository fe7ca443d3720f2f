// A plugin worker's first module: plain JavaScript, because the TypeScript loader is not in
// place yet. It registers tsx (so plugins and vigil's own sources load as .ts without a build)
// and the resolver that lets a user's plugin import 'vigil/plugin' and 'zod' from any
// directory and checks every file the plugin loads (resolve-hook.mjs), then hands over to
// worker.ts, or to builtin-worker.ts for the shared thread of the built-ins (workerData
// { shared: true }). The resolver names each file it let through on a port; the host hears of
// each, to check them again while the plugin runs (users' plugins only: built-ins are not
// checked).
import { register } from 'node:module';
import { MessageChannel, parentPort, workerData } from 'node:worker_threads';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
const shared = workerData?.shared === true;
if (shared) {
  register(new URL('./resolve-hook.mjs', import.meta.url), { data: { enforce: false } });
} else {
  const files = new MessageChannel();
  files.port2.on('message', (file) => parentPort?.postMessage({ t: 'file', file }));
  files.port2.unref();
  register(new URL('./resolve-hook.mjs', import.meta.url), {
    data: { enforce: workerData?.checkFiles === true, port: files.port1 },
    transferList: [files.port1],
  });
}
await import(new URL(shared ? './builtin-worker.ts' : './worker.ts', import.meta.url).href);
