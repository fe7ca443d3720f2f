// systemd's notify protocol (sd_notify(3)): READY=1 once the instances run, RELOADING=1 /
// READY=1 around a reload, STOPPING=1 on stop, WATCHDOG=1 every WATCHDOG_USEC/2.
//
// The messages are datagrams to $NOTIFY_SOCKET, an AF_UNIX SOCK_DGRAM socket (a path, or an
// abstract name written with a leading '@'). Node has no unix datagram sockets: src/net/
// unix-datagram.ts calls libc's socket/sendto/close through koffi.
//
// Under the supervisor (the default), systemd's main PID is the parent, and systemd accepts
// notifications only from it unless NotifyAccess=all: the engine child hands its messages to the
// parent over the fork IPC channel and the parent sends them. The watchdog is still driven by
// the engine's event loop, so a wedged engine is what stops the pings.

import type { Daemon } from '../daemon/run.ts';
import { AF_UNIX, libcCalls, MSG_NOSIGNAL, SOCK_CLOEXEC, SOCK_DGRAM, sockaddrUnix } from '../net/unix-datagram.ts';
import { monoMicros } from '../clock.ts';

/** struct sockaddr_un for a path or an '@abstract' name, and its length. */
export function sockaddrUn(path: string): { addr: Buffer; len: number } {
  const abstract = path.startsWith('@');
  const sa = sockaddrUnix(abstract ? path.slice(1) : path, abstract);
  if (!sa) throw new Error(`NOTIFY_SOCKET too long: ${path}`);
  return sa;
}

/** Sends one notification to `socketPath` (default $NOTIFY_SOCKET). False when there is no
 * socket to send to (not under systemd); throws if the send fails. */
export function sdNotify(state: string, socketPath = process.env.NOTIFY_SOCKET): boolean {
  if (!socketPath) return false;
  const { addr, len } = sockaddrUn(socketPath);
  const l = libcCalls();
  const fd = l.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error('sd_notify: socket() failed');
  try {
    const msg = Buffer.from(state, 'utf8');
    if (l.sendto(fd, msg, msg.length, MSG_NOSIGNAL, addr, len) < 0) throw new Error(`sd_notify: sendto ${socketPath} failed`);
  } finally {
    l.close(fd);
  }
  return true;
}

/** The fork IPC message an engine child sends its supervisor. */
export interface SdNotifyMessage {
  vigil: 'sd_notify';
  state: string;
}

export function isSdNotifyMessage(m: unknown): m is SdNotifyMessage {
  return typeof m === 'object' && m !== null && (m as { vigil?: unknown }).vigil === 'sd_notify' && typeof (m as { state?: unknown }).state === 'string';
}

/** Whether this process is an engine child whose supervisor relays for it. */
const supervised = () => process.env.VIGIL_SUPERVISED === '1' && typeof process.send === 'function' && process.connected;

/** Notifies systemd, directly or through the supervisor. Never throws: systemd being away or
 * slow must not disturb the engine; failures are returned for the caller to log. */
export function notify(state: string): Error | undefined {
  try {
    if (supervised()) process.send?.({ vigil: 'sd_notify', state } satisfies SdNotifyMessage);
    else sdNotify(state);
    return undefined;
  } catch (e) {
    return e as Error;
  }
}

/** RELOADING=1 carries the monotonic time for Type=notify-reload (systemd 253+): CLOCK_MONOTONIC
 * (src/clock.ts), as systemd reads it. */
export function reloadingState(): string {
  return `RELOADING=1\nMONOTONIC_USEC=${monoMicros()}`;
}

/** The watchdog interval in ms (half of WATCHDOG_USEC), or undefined when off or meant for
 * another process (WATCHDOG_PID names the main PID; under the supervisor the child pings for
 * it through the relay). */
export function watchdogInterval(env = process.env, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid && !supervised()) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** Hooks a running daemon to systemd: READY=1 now (the instances are started), READY=1 again
 * after each reload, RELOADING=1 on SIGHUP, STOPPING=1 on stop, and the watchdog. A no-op when
 * neither $NOTIFY_SOCKET nor a supervisor is there. */
export function startSystemd(daemon: Daemon): void {
  if (!process.env.NOTIFY_SOCKET && !supervised()) return;
  const send = (state: string) => {
    const err = notify(state);
    if (err) daemon.log.warn(`systemd notify: ${err.message}`);
  };
  const instances = Object.keys(daemon.config().vrrp_instance).length;
  send(`READY=1\nSTATUS=${instances} VRRP instance(s) running\nMAINPID=${supervised() ? process.ppid : process.pid}`);
  // SIGHUP is systemctl reload (ExecReload=kill -HUP); the reload itself runs on runDaemon's
  // listener, after this one. A reload from the file watcher or the control socket ends with
  // READY=1 as well, which systemd takes as "still ready".
  const onHup = () => send(reloadingState());
  if (!supervised()) process.on('SIGHUP', onHup);
  const unsubscribe = daemon.bus.subscribe(
    (e) => send(`READY=1\nSTATUS=${e.type === 'config.reloaded' ? 'configuration reloaded' : 'reload rejected; running configuration kept'}`),
    ['config.reloaded', 'config.rejected'],
  );
  const every = watchdogInterval();
  const timer = every ? setInterval(() => send('WATCHDOG=1'), every) : undefined;
  // the watchdog must not keep a stopping daemon alive
  timer?.unref();
  daemon.onStop(() => {
    send('STOPPING=1');
    clearInterval(timer);
    unsubscribe();
    process.off('SIGHUP', onHup);
  });
}
