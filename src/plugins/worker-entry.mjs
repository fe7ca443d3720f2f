// A plugin worker's first module: plain JavaScript, because the TypeScript loader is not in
// place yet. It registers tsx (so plugins and vigil's own sources load as .ts without a build)
// and the resolver that lets a user's plugin import 'vigil/plugin' and 'zod' from any
// directory, then hands over to worker.ts.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
register(new URL('./resolve-hook.mjs', import.meta.url));
await import(new URL('./worker.ts', import.meta.url).href);
