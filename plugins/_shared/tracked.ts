// What a tracker last told the engine for one instance tracking it, and the one way to tell
// the engine what changed, as keepalived counts it: entering FAULT replaces any priority
// adjustment (keepalived subtracts the object's previous status), and only changes are sent.

import type { PluginContext } from 'vigil/plugin';

export interface Reported {
  instance: string;
  fault: boolean;
  adjust: number;
}

/** Sends what differs from `t` and records it there; says whether FAULT was set or cleared. */
export function report(ctx: Pick<PluginContext<unknown>, 'setFault' | 'adjustPriority'>, t: Reported, source: string, e: { fault: boolean; adjust: number }): 'fault' | 'cleared' | undefined {
  let change: 'fault' | 'cleared' | undefined;
  if (e.fault !== t.fault) {
    if (e.fault && t.adjust !== 0) {
      ctx.adjustPriority(t.instance, source, 0);
      t.adjust = 0;
    }
    ctx.setFault(t.instance, source, e.fault);
    t.fault = e.fault;
    change = e.fault ? 'fault' : 'cleared';
  }
  if (!e.fault && e.adjust !== t.adjust) {
    ctx.adjustPriority(t.instance, source, e.adjust);
    t.adjust = e.adjust;
  }
  return change;
}
