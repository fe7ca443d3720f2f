// The one place that decides whether a module is a plugin and whether a config section suits it:
// the worker that runs a plugin (run-plugin.ts, runtime.ts) and `vigil -t`, which validates every
// plugin's section without running it, ask the same questions and give the same answers. Pure:
// no I/O, nothing logged (a warning goes to the caller's `warn`).

import type { z } from 'zod';
import { PLUGIN_API_VERSION, SUPPORTED_PLUGIN_API_VERSIONS, type PluginDefinition } from './api.ts';

/** One problem of a plugin's config section: where (field path inside the section) and what. */
export interface ConfigIssue {
  path: Array<string | number>;
  message: string;
}

export type ConfigValidation = { ok: true; config: unknown } | { ok: false; issues: ConfigIssue[] };

export interface CheckOptions {
  /** Where the module came from (its file), to begin error messages with. */
  source?: string;
  /** Told of what loads but should be fixed (a definition without `apiVersion`). */
  warn?: (msg: string) => void;
}

const HOW = `a plugin module must \`export default definePlugin({ apiVersion: ${PLUGIN_API_VERSION}, name, setup })\` (import { definePlugin } from 'vigil/plugin')`;

/** The definition a plugin module default-exports, checked: a name, a setup function, an
 * optional zod configSchema and an API version this daemon supports. Throws an Error that says
 * what is missing or wrong. A definition without `apiVersion` (written before there was one) is
 * taken as API 1, and `warn` is told. */
export function checkDefinition(mod: unknown, opts: CheckOptions = {}): PluginDefinition {
  const where = opts.source !== undefined ? `${opts.source}: ` : '';
  const notPlugin = (what: string) => new Error(`${where}not a plugin: ${what}; ${HOW}`);
  if (typeof mod !== 'object' || mod === null || !('default' in mod) || (mod as { default?: unknown }).default === undefined) throw notPlugin('the module has no default export');
  const def = (mod as { default: unknown }).default;
  if (typeof def !== 'object' || def === null) throw notPlugin(`its default export is ${def === null ? 'null' : `a ${typeof def}`}, not a plugin definition`);
  const d = def as Record<string, unknown>;
  if (typeof d.name !== 'string' || d.name.trim() === '') throw notPlugin('its definition has no name (a non-empty string)');
  const name = d.name;
  if (typeof d.setup !== 'function') throw notPlugin(`its definition (${name}) has no setup function`);
  if (d.configSchema !== undefined && !isSchema(d.configSchema)) throw new Error(`${where}plugin ${name}: configSchema is not a zod schema (leave it out for a plugin without config)`);
  if (d.apiVersion === undefined) {
    opts.warn?.(`plugin ${name} declares no apiVersion: taken as plugin API ${PLUGIN_API_VERSION}; add \`apiVersion: ${PLUGIN_API_VERSION}\` to its definePlugin({...})`);
  } else if (typeof d.apiVersion !== 'number' || !SUPPORTED_PLUGIN_API_VERSIONS.includes(d.apiVersion)) {
    throw new Error(`${where}plugin ${name} was written for plugin API ${JSON.stringify(d.apiVersion)}; this vigil supports ${SUPPORTED_PLUGIN_API_VERSIONS.join(', ')}`);
  }
  return def as PluginDefinition;
}

/** Recognised by shape, not instanceof: a bundled user plugin carries its own copy of zod. */
function isSchema(s: unknown): s is z.ZodType {
  return typeof s === 'object' && s !== null && typeof (s as { safeParse?: unknown }).safeParse === 'function';
}

/** A plugin's config section (`plugins.NAME`, undefined when the config has none) validated by
 * its schema: an absent section is validated as `{}`, so a schema's defaults apply. Without a
 * schema the section is the config, as written. */
export function validateConfig(def: Pick<PluginDefinition, 'configSchema'>, section: unknown): ConfigValidation {
  const schema = def.configSchema;
  if (schema === undefined) return { ok: true, config: section };
  const parsed = schema.safeParse(section ?? {});
  if (parsed.success) return { ok: true, config: parsed.data };
  return { ok: false, issues: parsed.error.issues.map((i) => ({ path: i.path.map((p) => (typeof p === 'number' ? p : String(p))), message: i.message })) };
}

/** An issue as one line: `path.to.field: message` (`(root)` for the section itself), with the
 * path under `prefix` (e.g. `plugins.NAME`) when given. */
export function issueText(issue: ConfigIssue, prefix = ''): string {
  return `${[prefix, ...issue.path.map(String)].filter(Boolean).join('.') || '(root)'}: ${issue.message}`;
}
