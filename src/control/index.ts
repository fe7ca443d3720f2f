// Control interfaces: how an operator reaches a running daemon (status socket, HTTP listener,
// signal dumps). Each starter registers its own cleanup with daemon.onStop.

import type { Daemon } from '../daemon/run.ts';
import { startSystemd } from './systemd.ts';
import { registerDumpSignals } from './dumps.ts';
import { startControlSocket, type ControlSocket } from './socket.ts';

export async function startControl(daemon: Daemon): Promise<void> {
  void daemon;
  // the status socket: a failure to claim it (another daemon on the same path, no /run) is
  // logged, not fatal, since the instances are already running and must keep running
  let socket: ControlSocket | undefined;
  try {
    socket = await startControlSocket(daemon);
    daemon.log.info(`control socket ${socket.path}${socket.alias ? ` (also reached as ${socket.alias})` : ''}`);
    const s = socket;
    daemon.onStop(() => s.close());
  } catch (e) {
    daemon.log.error(`control socket: ${(e as Error).message}; vigil status/events/reload will not reach this daemon`);
  }
  // keepalived's SIGUSR1 (state) and SIGUSR2 (statistics) dumps
  daemon.onStop(registerDumpSignals(daemon, () => socket?.path));
  // the HTTP listener (metrics, status page): off unless configured; it registers its own
  // close with daemon.onStop, and a refusal (non-loopback without token) is logged, not fatal
  const http = daemon.config().control.http;
  // (imported only then: prom-client is not small, and most daemons never serve metrics)
  if (http) {
    const { startHttpControl } = await import('./http.ts');
    await startHttpControl(daemon, { listen: http.listen, token: http.token, tokenFile: http.token_file });
  }
  // last: READY=1 tells systemd (and the supervisor) that everything above is up
  startSystemd(daemon);
}
