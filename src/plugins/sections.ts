// The built-in plugins' section schemas, registered for the config loader (the registry of
// src/config/plugin-sections.ts): `vigil -t` reports a bad webhook URL, a missing cloud token or a
// derived section a plugin would refuse with file, line and field, before anything runs. The
// registry is built here, on the plugin side, so the config layer imports no plugin.

import type { z } from 'zod';
import { configSchema as awsVip } from '../../plugins/aws-vip/config.ts';
import { configSchema as hetznerVip } from '../../plugins/hetzner-vip/config.ts';
import { configSchema as notifyFifo } from '../../plugins/notify-fifo/config.ts';
import { configSchema as notifyScript } from '../../plugins/notify-script/config.ts';
import { configSchema as smtpAlert } from '../../plugins/smtp-alert/config.ts';
import { configSchema as trackFile } from '../../plugins/track-file/config.ts';
import { configSchema as trackInterface } from '../../plugins/track-interface/config.ts';
import { configSchema as trackProcess } from '../../plugins/track-process/config.ts';
import { configSchema as trackScript } from '../../plugins/track-script/config.ts';
import { configSchema as webhook } from '../../plugins/webhook/config.ts';
import { loadConfigFile, type LoadOptions, type LoadResult } from '../config/load.ts';
import { PluginSectionRegistry } from '../config/plugin-sections.ts';
import type { Config } from '../config/schema.ts';
import { inventoryCheck } from './inventory.ts';
import { builtinNames } from './loader.ts';

/** Every built-in's schema by its name (the folder under plugins/). */
export const BUILTIN_SCHEMAS = {
  'aws-vip': awsVip,
  'hetzner-vip': hetznerVip,
  'notify-fifo': notifyFifo,
  'notify-script': notifyScript,
  'smtp-alert': smtpAlert,
  'track-file': trackFile,
  'track-interface': trackInterface,
  'track-process': trackProcess,
  'track-script': trackScript,
  webhook,
} as const;

/** Every built-in (each folder under plugins/, builtinNames), with its schema when it has one
 * above, and (unless `inventory: false`: `vigil convert` rewrites a config for any machine) the
 * check of which plugins the config names against which exist here. */
export function builtinSections(opts: { inventory?: boolean } = {}): PluginSectionRegistry {
  const r = new PluginSectionRegistry();
  const schemas: Record<string, z.ZodType> = BUILTIN_SCHEMAS;
  for (const name of new Set([...Object.keys(schemas), ...builtinNames()])) {
    const schema = schemas[name];
    r.register(schema ? { name, schema, builtin: true } : { name, builtin: true });
  }
  // which plugins the config names against which exist: a section naming no plugin, a user
  // plugin taking a built-in's name (the daemon's start and reload refuse them as -t does)
  if (opts.inventory !== false) r.addCheck(inventoryCheck(r.builtinNames()));
  return r;
}

/** loadConfigFile with the plugins' sections validated: what every caller that runs or checks
 * a config uses. */
export function loadWithPlugins(file: string, opts: LoadOptions = {}): LoadResult {
  return loadConfigFile(file, { plugins: builtinSections(), ...opts });
}

/** The sections user plugins may read (each its own, by name): the built-ins' are left out, so
 * a change to a notify script or a webhook does not restart the user's plugins. */
export function userPluginSections(config: Config): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config.plugins).filter(([name]) => !Object.hasOwn(BUILTIN_SCHEMAS, name)));
}
