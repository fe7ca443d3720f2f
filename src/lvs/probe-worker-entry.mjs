// The probe worker's first module: plain JavaScript, because the TypeScript loader is not in
// place yet (as for the plugin workers, worker-entry.mjs): it registers tsx, then hands over.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./probe-worker.ts', import.meta.url).href);
