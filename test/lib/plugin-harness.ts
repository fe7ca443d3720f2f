// Runs one plugin in-process, exactly as the worker would (same runtime, same context), with a
// port that records what the plugin tells the engine. For plugin tests that need no worker.
import type { z } from 'zod';
import { EventBus } from '../../src/bus/bus.ts';
import type { EventBody, VigilEvent } from '../../src/bus/events.ts';
import type { InstanceInfo, PluginDefinition } from '../../src/plugins/api.ts';
import { PluginRuntime, type HostPort } from '../../src/plugins/runtime.ts';

export interface Recorded {
  adjustments: Array<{ instance: string; source: string; weight: number }>;
  faults: Array<{ instance: string; source: string; active: boolean }>;
  logs: Array<{ level: string; msg: string }>;
  errors: Array<{ cause: string; error: string; seq: number }>;
  handled: number[];
}

export interface Harness {
  runtime: PluginRuntime;
  recorded: Recorded;
  /** Publishes an event (envelope stamped by a real bus) to the plugin. */
  emit(body: EventBody): VigilEvent;
  /** Waits until every emitted event has been handled. */
  idle(): Promise<void>;
  /** The current weight per `instance/source`, from the last adjustment of each. */
  weights(): Record<string, number>;
  /** The fault sources in force per instance. */
  faultsInForce(): Record<string, string[]>;
  stop(): Promise<void>;
}

export const sampleInstances: InstanceInfo[] = [
  { name: 'VI_1', vrid: 51, interface: 'eth0', family: 4, version: 2, priority: 100, virtualAddresses: ['192.0.2.100/24'] },
];

export async function startPlugin<S extends z.ZodType>(
  def: PluginDefinition<S>,
  config: z.input<S> | unknown,
  instances: InstanceInfo[] = sampleInstances,
): Promise<Harness> {
  const recorded: Recorded = { adjustments: [], faults: [], logs: [], errors: [], handled: [] };
  const port: HostPort = {
    adjust: (instance, source, weight) => recorded.adjustments.push({ instance, source, weight }),
    fault: (instance, source, active) => recorded.faults.push({ instance, source, active }),
    log: (level, msg) => recorded.logs.push({ level, msg }),
    handlerError: (cause, error, seq) => recorded.errors.push({ cause, error, seq }),
    handled: (seq) => recorded.handled.push(seq),
  };
  const runtime = await PluginRuntime.start(def as unknown as PluginDefinition, config, instances, port);
  const bus = new EventBus();
  bus.subscribe((e) => runtime.deliver(e));
  return {
    runtime,
    recorded,
    emit: (body) => bus.publish(body),
    idle: () => runtime.idle(),
    weights: () => {
      const out: Record<string, number> = {};
      for (const a of recorded.adjustments) out[`${a.instance}/${a.source}`] = a.weight;
      return out;
    },
    faultsInForce: () => {
      const by = new Map<string, Set<string>>();
      for (const f of recorded.faults) {
        const set = by.get(f.instance) ?? new Set<string>();
        if (f.active) set.add(f.source);
        else set.delete(f.source);
        by.set(f.instance, set);
      }
      return Object.fromEntries([...by].map(([k, v]) => [k, [...v].sort()]));
    },
    stop: () => runtime.stop(),
  };
}

/** A transition event body for tests. */
export function transition(instance: string, from: 'initialize' | 'backup' | 'master' | 'fault', to: 'initialize' | 'backup' | 'master' | 'fault', priority = 100): EventBody {
  return { type: 'instance.transition', instance, vrid: 51, interface: 'eth0', from, to, reason: to === 'master' ? 'master-down-timer' : 'startup', priority };
}
