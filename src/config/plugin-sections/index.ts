// The keepalived keywords a built-in plugin works from become that plugin's ordinary config
// section, `plugins.NAME`, here in the config layer: no plugin gets the whole config, and the
// loader validates a derived section with the plugin's schema like one the user wrote. A
// built-in runs when its section is there after this (webhook and the cloud movers: when the
// user wrote one).
//
// Sections made from keywords replace what the user wrote under the same name, except the keys
// keepalived has no keyword for (each derivation's TUNING: notify-script's timeouts,
// track-script's `refused`, everything smtp-alert's user section sets).

import type { Path } from '../diagnostics.ts';
import type { Config } from '../schema.ts';
import { deriveNotifyFifo, notifyFifoSource } from './notify-fifo.ts';
import { deriveNotifyScript, notifyScriptSource, TUNING as NOTIFY_SCRIPT_TUNING } from './notify-script.ts';
import { deriveSmtpAlert, smtpAlertSource } from './smtp-alert.ts';
import { ignoredKeys } from './tuning.ts';
import { deriveTrackFile, trackFileSource } from './track-file.ts';
import { deriveTrackInterface, trackInterfaceSource } from './track-interface.ts';
import { deriveTrackProcess, trackProcessSource } from './track-process.ts';
import { deriveTrackScript, trackScriptSource, TUNING as TRACK_SCRIPT_TUNING } from './track-script.ts';

export interface DeriveOptions {
  /** smtp-alert's defaults for the HELO name, router_id and sender (tests). */
  host?: string;
  user?: string;
}

interface Derivation {
  /** What the section is made from, for messages. */
  from: string;
  /** The keys of the user's own section kept: a list, or every key. */
  tuning: readonly string[] | 'all';
  derive(config: Config, written: unknown, opts: DeriveOptions): object | undefined;
  /** The config field a part of the derived section came from (for errors in it). */
  source(path: Path, section: never, written: unknown, config: Config): Path;
}

const DERIVATIONS: Record<string, Derivation> = {
  'notify-fifo': {
    from: "global_defs' notify_fifo, vrrp_notify_fifo and lvs_notify_fifo",
    tuning: [],
    derive: (config) => deriveNotifyFifo(config),
    source: (path, _s, _w, config) => notifyFifoSource(path, config),
  },
  'notify-script': {
    from: 'the notify scripts of vrrp_instance, vrrp_sync_group, virtual_server and real_server',
    tuning: NOTIFY_SCRIPT_TUNING,
    derive: (config, written) => deriveNotifyScript(config, written),
    source: (path) => notifyScriptSource(path),
  },
  'smtp-alert': {
    from: "global_defs' notification_email and smtp_server, and smtp_alert",
    tuning: 'all',
    derive: (config, written, o) => deriveSmtpAlert(config, written, o.host, o.user),
    source: (path, _s, written) => smtpAlertSource(path, written),
  },
  'track-file': {
    from: 'vrrp_track_file and track_file',
    tuning: [],
    derive: (config) => deriveTrackFile(config),
    source: (path, section) => trackFileSource(path, section),
  },
  'track-interface': {
    from: 'the instances\' interfaces and track_interface',
    tuning: [],
    derive: (config) => deriveTrackInterface(config),
    source: (path, section) => trackInterfaceSource(path, section),
  },
  'track-process': {
    from: 'vrrp_track_process and track_process',
    tuning: [],
    derive: (config) => deriveTrackProcess(config),
    source: (path, section) => trackProcessSource(path, section),
  },
  'track-script': {
    from: 'vrrp_script and track_script',
    tuning: TRACK_SCRIPT_TUNING,
    derive: (config, written) => deriveTrackScript(config, written),
    source: (path) => trackScriptSource(path),
  },
};

/** The built-ins whose section is made from keepalived keywords. */
export const DERIVED_SECTIONS: readonly string[] = Object.keys(DERIVATIONS).sort();

export interface DerivedSections {
  /** The sections made here (now in config.plugins). */
  names: string[];
  /** The user's own plugins sections, as written (before this). */
  written: Record<string, unknown>;
  /** The config field a problem at `path` in section `name` is about: the keyword it was made
   * from, or the user's own key. */
  source(name: string, path: Path): Path;
  /** What the user wrote that is not used, as warnings (config path and message). */
  ignored: Array<{ path: Path; message: string }>;
}

/** Fills config.plugins[NAME] for every built-in whose config comes from keepalived keywords;
 * removes the section when the config does not need the plugin. */
export function derivePluginSections(config: Config, opts: DeriveOptions = {}): DerivedSections {
  const written = { ...config.plugins };
  const names: string[] = [];
  const ignored: DerivedSections['ignored'] = [];
  for (const [name, d] of Object.entries(DERIVATIONS)) {
    const own = written[name];
    const section = d.derive(config, own, opts);
    if (section === undefined) {
      delete config.plugins[name];
      if (own !== undefined) ignored.push({ path: ['plugins', name], message: `not used: ${name} runs when the config has ${d.from}, and this one has none` });
      continue;
    }
    config.plugins[name] = section;
    names.push(name);
    if (own === undefined || d.tuning === 'all') continue;
    const keys = ignoredKeys(own, d.tuning);
    const may = d.tuning.length > 0 ? `this section may set only ${d.tuning.join(', ')}` : 'this section sets nothing';
    if (typeof own !== 'object' || own === null || Array.isArray(own)) ignored.push({ path: ['plugins', name], message: `ignored: ${name}'s config is made from ${d.from}; ${may}` });
    else for (const k of keys) ignored.push({ path: ['plugins', name, k], message: `ignored: ${name}'s config is made from ${d.from}; ${may}` });
  }
  return {
    names,
    written,
    ignored,
    source(name, path) {
      const d = DERIVATIONS[name];
      return d ? d.source(path, config.plugins[name] as never, written[name], config) : ['plugins', name, ...path];
    },
  };
}
