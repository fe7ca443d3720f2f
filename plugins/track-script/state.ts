// The health of one vrrp_script, counted exactly as keepalived 2.2 counts it
// (vrrp_scheduler.c, vrrp_script_child_thread): a counter from 0 to rise+fall-1, healthy at rise
// or above. Pure, so the rise/fall edge cases are tested without processes or timers.
//
// - `rise` successes in a row turn a failed script healthy, `fall` failures in a row turn a
//   healthy one failed; one success resets the failure count of a healthy script.
// - Before its first result a script is `init`: the first result alone decides (one success is
//   enough, one failure is enough), whatever rise and fall say.
// - init_fail starts it failed: it then needs `rise` successes like any failed script.

import type { Status } from '../_shared/track-effect.ts';

// what a status means for a tracking instance is track_process's rule too: shared
export { effect, type Status, type Tracker } from '../_shared/track-effect.ts';

export interface ScriptState {
  result: number;
  status: Status;
}

export function initialState(rise: number, initFail: boolean): ScriptState {
  return initFail ? { result: 0, status: 'fail' } : { result: rise - 1, status: 'init' };
}

/** The state after one run; `changed` when the status flipped (the moment keepalived logs and
 * adjusts priorities). */
export function step(s: ScriptState, success: boolean, rise: number, fall: number): { state: ScriptState; changed: boolean } {
  const top = rise + fall - 1;
  let { result, status } = s;
  let changed = false;
  if (success) {
    if (result < rise - 1) result++;
    else if (result !== top) {
      if (result < rise) {
        changed = status !== 'ok';
        status = 'ok';
      }
      result = top;
    }
  } else if (result > rise) {
    result--;
  } else {
    if (result === rise || status === 'init') {
      changed = status !== 'fail';
      status = 'fail';
    }
    result = 0;
  }
  // a script still `init` after a run (rise > 1 and a success that only counted up) is not
  // possible: result starts at rise-1, so the first success reaches the branch above
  return { state: { result, status }, changed };
}
