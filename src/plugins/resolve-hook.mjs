// Module resolution for plugins. A user's plugin lives in a directory of its own, usually with
// no package.json and no node_modules, yet it imports vigil's API and zod:
// - 'vigil/plugin' (or 'vigil') resolves to the daemon's api.ts, and 'zod' to the daemon's zod,
//   so the plugin's schema is built with the same zod the host validates with;
// - its own modules are ES modules whatever directory they sit in (without a package.json
//   saying "type": "module", Node would take a .ts or .js file there for CommonJS).
const API = new URL('./api.ts', import.meta.url).href;
const ROOT = new URL('../../', import.meta.url).href;
const SELF = import.meta.url;
const ESM_SOURCE = /\.(?:ts|mts|js|mjs)$/;

export async function resolve(specifier, context, next) {
  if (specifier === 'vigil' || specifier === 'vigil/plugin') return next(API, { ...context, parentURL: SELF });
  if (specifier === 'zod' || specifier.startsWith('zod/')) return next(specifier, { ...context, parentURL: SELF });
  const r = await next(specifier, context);
  const path = r.url.split('?')[0];
  if (r.url.startsWith('file:') && !path.startsWith(ROOT) && !path.includes('/node_modules/') && ESM_SOURCE.test(path)) {
    return { ...r, format: 'module' };
  }
  return r;
}
