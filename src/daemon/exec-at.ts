// When the daemon was exec'd, on the monotonic clock: the moment RFC 5798 calls Startup. The
// supervisor forks the engine ~0.2 s after its own exec and the engine listens ~0.2 s later;
// an instance started with the daemon counts its first Master_Down_Timer from the exec (at most
// half an advert interval of it, vrrp/fsm.ts onStartup), so a node started together with a
// keepalived peer of lower priority is not beaten by its own start-up time.

import { processStartMicros } from '../clock.ts';

/** The variable through which the supervisor hands its exec time to the first engine. */
export const EXEC_AT_ENV = 'VIGIL_EXEC_MONO_US';

/** The supervisor's exec, when it forked this engine as its first, else this process's start. A
 * value later than our own start or older than 10 s (another boot, a stray environment) is
 * ignored. */
export function daemonExecAt(env: NodeJS.ProcessEnv = process.env): number {
  const own = processStartMicros();
  const parent = Number(env[EXEC_AT_ENV]);
  return Number.isFinite(parent) && parent <= own && own - parent < 10_000_000 ? parent : own;
}
