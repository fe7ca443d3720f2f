// The address effects of running instances: virtual addresses, routes and rules, added when an
// instance becomes Master and removed when it stops being one. Serialized per instance (one
// queue each, in the order its state machine asked) and fenced by generation (DESIGN.md rule
// 3): an add requested for a state the instance has left is dropped, not applied late.
// Removals are always safe to apply.

import { AddressManager, type AddressSpec } from '../net/addresses.ts';
import { RouteManager, type RouteSpec } from '../net/routes.ts';
import type { RuleSpec } from '../net/rules.ts';
import type { Logger } from './log.ts';
import type { Running } from './running.ts';

export class AddressEffects {
  private readonly addresses: AddressManager;
  private readonly routes: RouteManager;

  constructor(private readonly log: Logger) {
    // a netlink socket error (an overflowed receive buffer) is reported, never thrown: thrown
    // from the native callback it would abort the daemon (see net/rtnetlink.ts)
    const netlinkError = (e: Error) => this.log.warn(`rtnetlink: ${e.message}; requests time out and are retried`);
    this.addresses = new AddressManager(netlinkError);
    this.routes = new RouteManager(netlinkError);
  }

  /** Queue an add or a removal of everything the instance holds as Master; resolves when done. */
  queue(run: Running, generation: number, op: 'add' | 'remove'): Promise<void> {
    run.effects = run.effects.then(async () => {
      if (op === 'add' && run.instance.currentGeneration !== generation) return;
      // an etcd instance's addresses live no longer than its lease can (0: its deadline is
      // too near, or past after a pause: they must not be added at all)
      const lifetime = op === 'add' ? run.lifetime?.() : undefined;
      if (lifetime === 0) return;
      // routes need their addresses, rules their routes: added in that order, removed in reverse
      const steps: Array<() => Promise<unknown>> =
        op === 'add'
          ? [
              ...run.vips.map((v) => () => this.addresses.add(lifetime === undefined ? v : { ...v, lifetime })),
              ...run.routes.map((r) => () => this.routes.add(r, run.dev)),
              ...run.rules.map((r) => () => this.routes.addRule(r)),
            ]
          : [
              ...run.rules.map((r) => () => this.routes.removeRule(r)),
              ...run.routes.map((r) => () => this.routes.remove(r, run.dev)),
              ...run.vips.map((v) => () => this.addresses.remove(v)),
            ];
      for (const step of steps) {
        try {
          await step();
        } catch (e) {
          this.log.error(`(${run.name}) ${(e as Error).message}`);
        }
      }
    });
    return run.effects;
  }

  /** Queue the removal of what a reload took from a Master (rules, routes, then addresses). */
  queueRemoval(run: Running, gone: { vips: AddressSpec[]; routes: RouteSpec[]; rules: RuleSpec[] }): void {
    const warn = (e: Error) => this.log.warn(`(${run.name}) ${e.message}`);
    run.effects = run.effects.then(async () => {
      for (const r of gone.rules) await this.routes.removeRule(r).catch(warn);
      for (const r of gone.routes) await this.routes.remove(r, run.dev).catch(warn);
      for (const v of gone.vips) await this.addresses.remove(v).catch(warn);
    });
  }

  /** At start: what a crashed earlier run may have left behind. */
  async removeStale(dev: string, vips: AddressSpec[], routes: RouteSpec[], rules: RuleSpec[]): Promise<void> {
    for (const r of rules) await this.routes.removeRule(r).catch(() => undefined);
    for (const r of routes) await this.routes.remove(r, dev).catch(() => undefined);
    for (const vip of vips) {
      const r = await this.addresses.remove(vip).catch((e: Error) => this.log.warn(e.message));
      if (r === 'removed') this.log.info(`removed stale address ${vip.address} from ${vip.dev}`);
    }
  }

  close(): void {
    this.addresses.close();
    this.routes.close();
  }
}
