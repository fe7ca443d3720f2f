// Module resolution for plugins. A user's plugin lives in a directory of its own, usually with
// no package.json and no node_modules, yet it imports vigil's API and zod:
// - 'vigil/plugin' (or 'vigil') resolves to the daemon's sdk.ts (the public plugin module: api.ts
//   and sdk-helpers.ts), and 'zod' to the daemon's zod,
//   so the plugin's schema is built with the same zod the host validates with;
// - its own modules are ES modules whatever directory they sit in (without a package.json
//   saying "type": "module", Node would take a .ts or .js file there for CommonJS).
// - every file it loads from outside vigil's own code (the plugin, its sibling modules, packages
//   in the plugins directory) passes plugin-security.ts before it is loaded, and is reported to
//   the worker (which tells the host, whose periodic check stops the plugin if one of them turns
//   unsafe later). Checked at resolution, the whole static import graph is refused before any
//   of it runs; a dynamic import is checked when it happens.
import { fileURLToPath } from 'node:url';
import { describeUnsafe, pluginFileProblem } from './plugin-security.ts';

const API = new URL('./sdk.ts', import.meta.url).href;
const ROOT = new URL('../../', import.meta.url).href;
/** vigil's own code and packages: trusted as the daemon itself is. */
const TRUSTED = ['src/', 'plugins/', 'node_modules/'].map((d) => ROOT + d);
const SELF = import.meta.url;
const ESM_SOURCE = /\.(?:ts|mts|js|mjs)$/;

/** Set by the worker: whether to refuse unsafe files, and where to report loaded ones. */
let enforce = false;
let port;

export function initialize(data) {
  enforce = data?.enforce === true;
  port = data?.port;
}

export async function resolve(specifier, context, next) {
  if (specifier === 'vigil' || specifier === 'vigil/plugin') return next(API, { ...context, parentURL: SELF });
  if (specifier === 'zod' || specifier.startsWith('zod/')) return next(specifier, { ...context, parentURL: SELF });
  const r = await next(specifier, context);
  if (!r.url.startsWith('file:')) return r;
  const path = r.url.split('?')[0];
  if (TRUSTED.some((t) => path.startsWith(t))) return r;
  // tsx's own resolution may carry a query inside the path (file.ts%3Ftsx-...): the file is
  // what comes before it (a name with a real '?' is then refused as missing: fails closed)
  const file = fileURLToPath(path).split('?')[0];
  if (enforce) {
    const problem = pluginFileProblem(file);
    if (problem) throw new Error(describeUnsafe(problem));
  }
  port?.postMessage(file);
  if (!path.includes('/node_modules/') && ESM_SOURCE.test(path)) return { ...r, format: 'module' };
  return r;
}
