// The control socket: a local unix socket speaking newline-delimited JSON, what `vigil status`,
// `vigil events` and `vigil reload` talk to.
//
//   {"cmd":"status"}  -> {"ok":true,"cmd":"status","status":{daemon, engine, plugins, bus}}
//   {"cmd":"events"}  -> {"ok":true,"cmd":"events","streaming":true,...}, then {"event":{...}}
//                        per bus event until the client goes away
//   {"cmd":"reload"}  -> {"ok":true,"cmd":"reload","result":ReloadResult}
//   anything else     -> {"ok":false,"error":"..."}
//
// Who may connect: Node offers no SO_PEERCRED, so the peer's uid cannot be checked per
// connection. The socket is created 0600 (umask set around bind, so it never exists with a
// wider mode) and is owned by the daemon's user; the kernel then refuses connect() to anyone
// but that user and root. The default directory /run/vigil is 0755 and root's, so nobody else
// can swap the socket for their own. A path from control.socket or next to a pid file is only
// as safe as its directory: the daemon refuses one that someone else could change (see
// file-trust.ts; a sticky directory like /tmp is accepted, since nobody else can remove the
// socket there), and replaces a stale socket only when it is its own.
//
// The engine is never blocked by a client: events are serialized and handed to the socket's
// own buffer; a client that does not read fast enough is cut off once that buffer passes a
// bound, with a last line saying so.

import { VERSION } from '../install-paths.ts';
import { operatorPid } from './operator-pid.ts';

export { setOperatorPidFile } from './operator-pid.ts';
import { chmodSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname, extname, resolve } from 'node:path';
import type { VigilEvent } from '../bus/events.ts';
import type { EngineStatus } from '../daemon/status.ts';
import { configSecrets } from '../daemon/log.ts';
import type { Daemon, ReloadResult } from '../daemon/run.ts';
import type { PluginStatus } from '../plugins/host.ts';
import type { VirtualServerStatus } from '../lvs/balancer.ts';
import type { DataPlaneCounters } from '../lvs/model.ts';
import { dirProblem, effectiveUid } from '../config/file-trust.ts';
import { canonicalConfig, configStem, isSystemConfig } from '../daemon/pid-file.ts';

export const DEFAULT_RUN_DIR = '/run/vigil';

/** Where a daemon's control socket is, from what both the daemon and the CLI know: the
 * configured control.socket; else next to the pid file given with -p (one pid file per daemon
 * is already the rule for several daemons on a host); else /run/vigil/vigil.sock for the host's
 * daemon (config /etc/vigil/vigil.yaml or /etc/keepalived/keepalived.conf: `vigil status` with
 * no flags finds it), and a name in /run/vigil unique to the config file's absolute path for
 * any other config, so daemons with different configs never collide. */
export function controlSocketPath(opts: { file: string; pidFile?: string | undefined; socket?: string | undefined; runDir?: string }): string {
  if (opts.socket) return resolve(opts.socket);
  if (opts.pidFile) {
    const pid = resolve(opts.pidFile);
    const ext = extname(pid);
    return `${ext ? pid.slice(0, -ext.length) : pid}.sock`;
  }
  if (isSystemConfig(opts.file)) return resolve(opts.runDir ?? DEFAULT_RUN_DIR, 'vigil.sock');
  return resolve(opts.runDir ?? DEFAULT_RUN_DIR, `${configStem(opts.file)}.sock`);
}

const canonical = canonicalConfig;

const pkgVersion = VERSION;

export interface DaemonInfo {
  /** The engine's pid (the process that answers). */
  pid: number;
  /** The daemon's pid, the one to signal (-p): the supervisor's, or the engine's own when it
   * runs unsupervised. */
  mainPid: number;
  /** The engine's pid (-r, keepalived's VRRP child). */
  enginePid: number;
  supervised: boolean;
  uid: number | undefined;
  version: string;
  node: string;
  configFile: string;
  pidFile: string | undefined;
  socket: string | undefined;
  startedAt: string;
  uptimeSeconds: number;
}

/** Everything `vigil status` shows. No secrets: the engine's status carries no passwords and
 * plugin status no plugin configs. */
export interface ControlStatus {
  daemon: DaemonInfo;
  engine: EngineStatus;
  plugins: PluginStatus[];
  bus: { lastSeq: number; subscriberErrors: number };
  /** The load balancer's virtual servers (absent when none is configured). */
  lvs?: {
    virtualServers: VirtualServerStatus[];
    applies: { done: number; failed: number; lastError?: string | undefined };
    /** The data plane's counters (read from the kernel for the status command; absent in dumps). */
    counters?: DataPlaneCounters;
    /** Which data-plane service ids and backend ids belong to which virtual server (for the counters). */
    services?: Array<{ virtualServer: string; id: string; backends: string[] }>;
  };
}

/** The status with the data plane's counters, which come from the kernel (`nft`, asynchronous). */
export async function collectStatusWithCounters(daemon: Daemon, socket?: string): Promise<ControlStatus> {
  const status = collectStatus(daemon, socket);
  if (status.lvs) {
    const counters = await daemon.balancer.counters().catch(() => undefined);
    if (counters) status.lvs.counters = counters;
    status.lvs.services = daemon.balancer.serviceMap();
  }
  return status;
}

/** Forked by the supervisor, which is still there (see supervisor.ts). */
const supervised = () => process.env.VIGIL_SUPERVISED === '1' && process.connected === true;

export function collectStatus(daemon: Daemon, socket?: string): ControlStatus {
  const uptime = process.uptime();
  return {
    daemon: {
      pid: process.pid,
      mainPid: supervised() ? process.ppid : process.pid,
      enginePid: process.pid,
      supervised: supervised(),
      uid: process.getuid?.(),
      version: pkgVersion,
      node: process.version,
      configFile: canonical(daemon.opts.file),
      pidFile: daemon.opts.pidFile ? resolve(daemon.opts.pidFile) : undefined,
      socket,
      startedAt: new Date(Date.now() - uptime * 1000).toISOString(),
      uptimeSeconds: Math.round(uptime),
    },
    engine: daemon.engine.status(),
    plugins: daemon.host.status(),
    bus: { lastSeq: daemon.bus.lastSeq, subscriberErrors: daemon.bus.subscriberErrors },
    ...(daemon.balancer.active ? { lvs: { virtualServers: daemon.balancer.status(), applies: { ...daemon.balancer.applies } } } : {}),
  };
}

/** A last guard on everything the socket and the dumps put out: the config's secrets (auth_pass,
 * plugin tokens and keys) are not in any status by construction, but a plugin's error text or
 * an event could still quote one. Masked as the log masks them (values under 4 characters
 * would garble every line and protect nothing). The pattern is rebuilt when a reload changes
 * the config. */
export function secretMasker(daemon: Pick<Daemon, 'config'>): (text: string) => string {
  let seen: unknown;
  let guard: RegExp | undefined;
  return (text) => {
    const config = daemon.config();
    if (config !== seen) {
      seen = config;
      const forms = new Set<string>();
      for (const secret of configSecrets(config)) {
        if (secret.length < 4) continue;
        forms.add(secret);
        forms.add(JSON.stringify(secret).slice(1, -1)); // as it appears inside JSON
      }
      const escape = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      guard = forms.size ? new RegExp([...forms].sort((a, b) => b.length - a.length).map(escape).join('|'), 'g') : undefined;
    }
    return guard ? text.replace(guard, '[REDACTED]') : text;
  };
}

export type ControlRequest = { cmd: 'status' } | { cmd: 'events' } | { cmd: 'reload' };

export type ControlResponse =
  | { ok: true; cmd: 'status'; status: ControlStatus }
  | { ok: true; cmd: 'reload'; result: ReloadResult }
  | { ok: true; cmd: 'events'; streaming: true; lastSeq: number }
  | { event: VigilEvent }
  | { ok: false; error: string; disconnected?: boolean };

export interface ControlSocketOptions {
  /** Default: controlSocketPath from the daemon's options and config. */
  path?: string;
  /** Bytes an events client may have unread before it is cut off. */
  maxBuffer?: number;
  /** How long a cut-off client gets to read its last line before the connection is dropped. */
  lingerMs?: number;
}

export interface ControlSocket {
  readonly path: string;
  /** The config-derived path, linked to `path` when -p put the socket elsewhere, so that
   * `vigil status -f FILE` finds the daemon too (absent when taken or not needed). */
  readonly alias?: string | undefined;
  close(): Promise<void>;
}

const MAX_REQUEST = 64 * 1024;
const DEFAULT_MAX_BUFFER = 4 * 1024 * 1024;

/** The socket a daemon serves: control.socket, else derived as `vigil status` derives it. */
export function daemonSocketPath(daemon: Pick<Daemon, 'opts' | 'config'>): string {
  const operator = operatorPid();
  const pidFile = operator ? operator.pidFile : daemon.opts.pidFile;
  return controlSocketPath({ file: daemon.opts.file, pidFile, socket: daemon.config().control.socket });
}

/** Listens on the control socket; the caller registers close() with daemon.onStop. */
export async function startControlSocket(daemon: Daemon, opts: ControlSocketOptions = {}): Promise<ControlSocket> {
  const path = opts.path ?? daemonSocketPath(daemon);
  const maxBuffer = opts.maxBuffer ?? DEFAULT_MAX_BUFFER;
  const lingerMs = opts.lingerMs ?? 2000;
  const mask = secretMasker(daemon);
  if (path.startsWith(DEFAULT_RUN_DIR + '/')) mkdirSync(DEFAULT_RUN_DIR, { recursive: true, mode: 0o755 });
  // the 0600 mode is the only access check (see the top): in a directory someone else can
  // change (writable by others without the sticky bit, or theirs, or one above it), they could
  // swap the socket for their own and answer `vigil status` / `reload` in the daemon's name
  const dir = dirProblem(path);
  if (dir) throw new Error(`refusing to create ${path}: ${dir.dir} ${dir.reason}, so others could replace the socket; put it in a directory only root can write to (control.socket, or -p elsewhere)`);
  await claimPath(path);

  const clients = new Set<Socket>();
  // allowHalfOpen: a client may send its request and shut its writing side (socat, nc -N);
  // it still gets its answer, and an events client keeps streaming
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    clients.add(sock);
    sock.on('close', () => clients.delete(sock));
    serve(daemon, sock, path, maxBuffer, lingerMs, mask);
  });
  await listen(server, path);
  const inode = lstatSync(path).ino;
  // -p moved the socket next to the pid file: a link at the config's own path lets `vigil
  // status -f FILE` (or no flag at all, for the host's daemon) find it as well
  const aliasWanted = opts.path === undefined && !daemon.config().control.socket ? controlSocketPath({ file: daemon.opts.file }) : undefined;
  const alias = aliasWanted && aliasWanted !== path && (await linkAlias(aliasWanted, path)) ? aliasWanted : undefined;

  let closing: Promise<void> | undefined;
  return {
    path,
    alias,
    close: () =>
      (closing ??= new Promise<void>((done) => {
        for (const c of clients) c.destroy();
        try {
          if (alias && readlinkSync(alias) === path) unlinkSync(alias);
        } catch {
          // already gone
        }
        server.close(() => done());
        // only our own socket file: never one a later daemon put there
        try {
          if (lstatSync(path).ino === inode) unlinkSync(path);
        } catch {
          // already gone
        }
      })),
  };
}

/** Links `alias` to the socket at `target`, unless the alias path is another live daemon's
 * (its socket, or a link to one), not ours, or in a directory others could change. A link a
 * crashed daemon left behind is replaced. Never throws: without the link, -p still finds it. */
async function linkAlias(alias: string, target: string): Promise<boolean> {
  try {
    if (dirname(alias) === DEFAULT_RUN_DIR) mkdirSync(DEFAULT_RUN_DIR, { recursive: true, mode: 0o755 });
    if (dirProblem(alias)) return false;
    let st;
    try {
      st = lstatSync(alias);
    } catch {
      st = undefined;
    }
    if (st) {
      if (st.isSymbolicLink() && readlinkSync(alias) === target) return true;
      if (!st.isSymbolicLink() && !st.isSocket()) return false;
      if (st.uid !== effectiveUid()) return false;
      if (await answers(alias)) return false;
      unlinkSync(alias);
    }
    symlinkSync(target, alias);
    return true;
  } catch {
    return false;
  }
}

/** A socket file left by a crashed run is replaced, but only if it is ours (owned by the
 * daemon's user) and nothing answers on it: a running daemon's socket (the same -f/-p started
 * twice) is not stolen, another user's is not touched, and a path that is not a socket at all
 * is never deleted. */
async function claimPath(path: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; not replacing it`);
  if (st.uid !== effectiveUid()) throw new Error(`${path} exists and is owned by uid ${st.uid}, not by the daemon; not replacing it (someone else's socket: remove it once you know whose it is)`);
  if (await answers(path)) throw new Error(`a daemon already answers on ${path}; is vigil running with the same -f/-p?`);
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((done) => {
    const c = createConnection(path);
    const timer = setTimeout(() => {
      c.destroy();
      done(true); // something holds it but is slow: do not take it away
    }, 1000);
    c.once('connect', () => {
      clearTimeout(timer);
      c.destroy();
      done(true);
    });
    c.once('error', () => {
      clearTimeout(timer);
      done(false);
    });
  });
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((done, fail) => {
    server.once('error', fail);
    // bind happens synchronously inside listen(): the umask covers it, so the socket never
    // exists with a wider mode, not even for a moment
    const old = process.umask(0o177);
    try {
      server.listen(path, () => {
        server.off('error', fail);
        done();
      });
    } finally {
      process.umask(old);
    }
    try {
      chmodSync(path, 0o600);
    } catch {
      // listen failed; its error is reported through 'error'
    }
  });
}

function serve(daemon: Daemon, sock: Socket, path: string, maxBuffer: number, lingerMs: number, mask: (text: string) => string): void {
  let input = '';
  let streaming = false;
  let pending = 0;
  let inputEnded = false;
  let unsubscribe: (() => void) | undefined;
  const send = (msg: ControlResponse) => {
    if (!sock.destroyed && sock.writable) sock.write(mask(JSON.stringify(msg)) + '\n');
  };
  const maybeEnd = () => {
    if (inputEnded && pending === 0 && !streaming) sock.end();
  };
  sock.on('error', () => undefined); // a client going away mid-write is not our problem
  sock.on('close', () => unsubscribe?.());
  sock.on('end', () => {
    inputEnded = true;
    maybeEnd();
  });
  sock.on('data', (chunk: Buffer) => {
    if (streaming) return; // an events stream takes no more requests
    input += chunk.toString('utf8');
    if (input.length > MAX_REQUEST && !input.includes('\n')) {
      send({ ok: false, error: `request longer than ${MAX_REQUEST} bytes` });
      sock.end();
      return;
    }
    let nl;
    while (!streaming && (nl = input.indexOf('\n')) >= 0) {
      const line = input.slice(0, nl).trim();
      input = input.slice(nl + 1);
      if (line) handle(line);
    }
  });

  const handle = (line: string) => {
    let req: unknown;
    try {
      req = JSON.parse(line);
    } catch {
      send({ ok: false, error: 'not JSON; send one {"cmd":"status"|"events"|"reload"} per line' });
      return;
    }
    const cmd = typeof req === 'object' && req !== null ? (req as { cmd?: unknown }).cmd : undefined;
    switch (cmd) {
      case 'status':
        pending++;
        void collectStatusWithCounters(daemon, path)
          .then((status) => send({ ok: true, cmd: 'status', status }))
          .catch((e: Error) => send({ ok: false, error: `status: ${e.message}` }))
          .finally(() => {
            pending--;
            maybeEnd();
          });
        return;
      case 'reload':
        pending++;
        daemon
          .reload('control socket')
          .then((result) => send({ ok: true, cmd: 'reload', result }))
          .catch((e: Error) => send({ ok: false, error: `reload: ${e.message}` }))
          .finally(() => {
            pending--;
            maybeEnd();
          });
        return;
      case 'events':
        streaming = true;
        send({ ok: true, cmd: 'events', streaming: true, lastSeq: daemon.bus.lastSeq });
        unsubscribe = daemon.bus.subscribe((event) => {
          if (sock.destroyed) return;
          // writableLength is what the client has not taken yet: past the bound it is cut off
          // rather than letting the daemon's memory grow with a stalled reader
          if (sock.writableLength > maxBuffer) {
            unsubscribe?.();
            sock.end(JSON.stringify({ ok: false, error: `events client too slow: more than ${maxBuffer} bytes unread; disconnected (from seq ${event.seq} on, events were not sent)`, disconnected: true } satisfies ControlResponse) + '\n');
            setTimeout(() => sock.destroy(), lingerMs).unref();
            return;
          }
          sock.write(mask(JSON.stringify({ event } satisfies ControlResponse)) + '\n');
        });
        return;
      default:
        send({ ok: false, error: `unknown command ${JSON.stringify(cmd)}; known: status, events, reload` });
    }
  };
}
