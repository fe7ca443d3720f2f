// Control interfaces: how an operator reaches a running daemon (status socket, HTTP listener,
// signal dumps). Each starter registers its own cleanup with daemon.onStop.

import type { Daemon } from '../daemon/run.ts';

export async function startControl(daemon: Daemon): Promise<void> {
  void daemon;
}
