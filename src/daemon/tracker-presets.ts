// Trackers whose first state is known before their plugin runs. The instances start at once,
// without waiting for the plugins (a plugin's worker takes a few hundred milliseconds to come
// up, and a peer started at the same moment would win the first election meanwhile), but some
// trackers must hold from the very first moment, as in keepalived, which sets them up before
// its VRRP instances start: a vrrp_script with init_fail starts failed, a tracked interface that
// is down, a track_file's value (or its init_file value).
//
// A built-in plugin's config module may export `initialReports(section, env)`: what the
// plugin will report first, computed from its section, `plugins.NAME` (and, when it exports
// `initialReportsNeed = ['links']`, the links' states). Those reports are set in the engine under
// the plugin's name and sources before the instances start, so the plugin's own report of the
// same state is a no-op. They are provisional: once the plugin has finished its first setup
// (`plugin.started`), a preset it did not report itself is withdrawn, because the plugin's view
// is what holds from then on (a link that came up meanwhile, a file rewritten).

import { dirname, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EventBus } from '../bus/bus.ts';
import type { PluginSpec } from '../plugins/host.ts';
import { GuardedRtNetlink } from '../net/rtnetlink.ts';
import type { Logger } from './log.ts';

export interface InitialReport {
  instance: string;
  source: string;
  fault: boolean;
  adjust: number;
}

export interface PresetEnv {
  /** Link name -> up (IFF_UP and IFF_RUNNING). */
  links: ReadonlyMap<string, boolean>;
}

interface PresetModule {
  initialReports?(section: unknown, env: PresetEnv): InitialReport[];
  initialReportsNeed?: readonly string[];
}

export type PluginReport = InitialReport & { plugin: string };

/** The first reports of every built-in that can tell them from its config. A module that
 * fails is logged and left out: its plugin reports when it is up, as it always did. */
export async function initialReports(specs: readonly PluginSpec[], instances: ReadonlySet<string>, log: Logger): Promise<PluginReport[]> {
  const mods: Array<[PluginSpec, PresetModule]> = [];
  for (const spec of specs) {
    if (spec.origin !== 'builtin') continue;
    // the config module beside the plugin's entry (index.ts / index.mjs); loaded already, by the
    // loader, so this import is a lookup
    const mod = (await import(pathToFileURL(join(dirname(spec.entry), `config${extname(spec.entry)}`)).href)) as PresetModule;
    if (typeof mod.initialReports === 'function') mods.push([spec, mod]);
  }
  if (mods.length === 0) return [];
  const env: PresetEnv = { links: mods.some(([, m]) => m.initialReportsNeed?.includes('links')) ? await linkStates(log) : new Map() };
  const out: PluginReport[] = [];
  for (const [spec, mod] of mods) {
    try {
      for (const r of mod.initialReports?.(spec.config, env) ?? []) if (instances.has(r.instance)) out.push({ plugin: spec.id, ...r });
    } catch (e) {
      log.warn(`plugin ${spec.id}: initial tracker states not known before it starts: ${(e as Error).message}`);
    }
  }
  return out;
}

/** Every link's state, by name, from one rtnetlink dump (a millisecond or two). Empty (every
 * link down, so trackers hold) if the dump fails; the plugin corrects it when it is up. */
async function linkStates(log: Logger): Promise<Map<string, boolean>> {
  const nl = new GuardedRtNetlink((e) => log.warn(`rtnetlink: ${e.message}`));
  const links = new Map<string, boolean>();
  try {
    for (const m of await nl.request((rt, opts) => rt.getLinks(undefined, undefined, opts))) {
      const name = m.attrs.ifname;
      if (name !== undefined) links.set(name, m.data.flags?.up === true && m.data.flags?.running === true);
    }
  } catch (e) {
    log.warn(`reading the links' states: ${(e as Error).message}`);
  } finally {
    nl.close();
  }
  return links;
}

type Kind = 'fault' | 'adjust';

/** The presets in force that their plugin has not confirmed yet. */
export class TrackerPresets {
  private readonly pending = new Map<string, { plugin: string; instance: string; source: string; kind: Kind }>();
  private readonly unsubscribe: () => void;

  constructor(
    private readonly engine: {
      adjust(plugin: string, instance: string, source: string, weight: number): void;
      setFault(plugin: string, instance: string, source: string, active: boolean): void;
    },
    bus: EventBus,
  ) {
    // `plugin.started` comes after every report the plugin made in its setup (the host handles
    // a worker's messages in order): what is still pending then, the plugin does not hold
    this.unsubscribe = bus.subscribe(
      (e) => {
        if (e.type === 'plugin.started' || e.type === 'plugin.restarted') this.settle(e.plugin);
      },
      ['plugin.started', 'plugin.restarted'],
    );
  }

  /** Sets the reports in the engine (before its instances start). */
  apply(reports: readonly PluginReport[]): void {
    for (const r of reports) {
      if (r.fault) {
        this.pending.set(key(r.plugin, r.instance, r.source, 'fault'), { ...r, kind: 'fault' });
        this.engine.setFault(r.plugin, r.instance, r.source, true);
      } else if (r.adjust !== 0) {
        this.pending.set(key(r.plugin, r.instance, r.source, 'adjust'), { ...r, kind: 'adjust' });
        this.engine.adjust(r.plugin, r.instance, r.source, r.adjust);
      }
    }
    if (this.pending.size === 0) this.unsubscribe();
  }

  /** The plugin itself reported this fault or adjustment: it is the plugin's now. */
  reported(plugin: string, instance: string, source: string, kind: Kind): void {
    if (this.pending.size > 0) this.pending.delete(key(plugin, instance, source, kind));
  }

  /** The plugin was removed (the engine forgets what it held). */
  forget(plugin: string): void {
    for (const [k, p] of this.pending) if (p.plugin === plugin) this.pending.delete(k);
  }

  /** The plugin finished its setup: withdraw what it did not report. */
  private settle(plugin: string): void {
    for (const [k, p] of this.pending) {
      if (p.plugin !== plugin) continue;
      this.pending.delete(k);
      if (p.kind === 'fault') this.engine.setFault(p.plugin, p.instance, p.source, false);
      else this.engine.adjust(p.plugin, p.instance, p.source, 0);
    }
    if (this.pending.size === 0) this.unsubscribe();
  }
}

function key(plugin: string, instance: string, source: string, kind: Kind): string {
  return `${plugin}\0${instance}\0${source}\0${kind}`;
}
