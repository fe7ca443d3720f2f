// A plugin host on a real bus with real worker threads, recording what it publishes and what
// the plugins send back (test/unit/plugin-host.test.ts, plugin-security.test.ts).
import { EventBus } from '../../src/bus/bus.ts';
import type { VigilEvent } from '../../src/bus/events.ts';
import type { Logger } from '../../src/daemon/log.ts';
import { PluginHost, type HostOptions } from '../../src/plugins/host.ts';

export interface Rig {
  bus: EventBus;
  host: PluginHost;
  events: VigilEvent[];
  adjustments: Array<[string, string, string, number]>;
  faults: Array<[string, string, string, boolean]>;
  lines: string[];
}

export function quietLog(lines: string[]): Logger {
  const w = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { debug: w('debug'), info: w('info'), warn: w('warn'), error: w('error') };
}

export function rig(opts: Partial<HostOptions> = {}): Rig {
  const bus = new EventBus();
  const events: VigilEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const adjustments: Rig['adjustments'] = [];
  const faults: Rig['faults'] = [];
  const lines: string[] = [];
  const host = new PluginHost({
    bus,
    log: quietLog(lines),
    onAdjust: (p, i, s, w) => adjustments.push([p, i, s, w]),
    onFault: (p, i, s, a) => faults.push([p, i, s, a]),
    onRemoved: () => undefined,
    heartbeatMs: 100,
    unresponsiveMs: 1000,
    initialBackoffMs: 200,
    ...opts,
  });
  return { bus, host, events, adjustments, faults, lines };
}

export async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
