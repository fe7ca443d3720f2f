// `vigil status`, `vigil events`, `vigil reload`: the operator's side of the control socket
// (src/control/socket.ts). The socket is found from the same -f / -p the daemon was started
// with (or --socket), through the one function the daemon uses too.

import { existsSync, realpathSync, statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import type { VigilEvent } from '../bus/events.ts';
import { dirProblem, effectiveUid, trustedOwner } from '../config/file-trust.ts';
import { loadWithPlugins } from '../plugins/sections.ts';
import type { InstanceStatus } from '../daemon/status.ts';
import type { ReloadResult } from '../daemon/run.ts';
import { SYSTEM_CONFIGS } from '../daemon/pid-file.ts';
import { controlSocketPath, type ControlRequest, type ControlResponse, type ControlStatus } from '../control/socket.ts';

export interface ControlCliOptions {
  file: string;
  /** -f was given; without it, the host's daemon is looked for (see resolveSocket). */
  fileGiven?: boolean | undefined;
  configId?: string | undefined;
  pidFile?: string | undefined;
  socket?: string | undefined;
  json?: boolean | undefined;
  /** Output sinks (tests). */
  out?: (s: string) => void;
  err?: (s: string) => void;
}

import type { ControlCommand } from './commands.ts';

export { CONTROL_COMMANDS, type ControlCommand } from './commands.ts';

/** The socket a daemon started with these flags listens on. control.socket from the config
 * wins, as in the daemon; a config that does not load (being edited, unreadable) falls back
 * to the derived path. */
export function resolveSocket(opts: Pick<ControlCliOptions, 'file' | 'fileGiven' | 'configId' | 'pidFile' | 'socket'>): string {
  if (opts.socket) return controlSocketPath({ file: opts.file, socket: opts.socket });
  // no -f: the host's daemon, whose config is the installed unit's /etc/vigil/vigil.yaml or
  // keepalived's default (both give /run/vigil/vigil.sock; the first that exists may move it)
  const file = opts.fileGiven === false ? (SYSTEM_CONFIGS.find((c) => existsSync(c)) ?? opts.file) : opts.file;
  let configured: string | undefined;
  try {
    configured = loadWithPlugins(file, opts.configId ? { configId: opts.configId } : {}).config?.control.socket;
  } catch {
    configured = undefined;
  }
  return controlSocketPath({ file, pidFile: opts.pidFile, socket: configured });
}

class ControlError extends Error {}

/** Why the socket at `path` must not be talked to, or undefined. Node cannot ask who is on the
 * other end (no SO_PEERCRED), so what is trusted is who could have put the socket there: an
 * impostor answering `vigil status` or `reload` in the daemon's name. A socket owned by root or
 * by the caller is trusted unless its directory (or one above) is one others can change
 * without the sticky bit. One owned by another user (a daemon run as its own user) only when
 * nobody but root and that user can change any directory from / down to it (a sticky,
 * world-writable directory is not enough: anyone may create a socket there). Missing: connect()
 * says so. */
export function trustProblem(path: string): string | undefined {
  const uid = effectiveUid();
  let real: string;
  let owner: number;
  try {
    real = realpathSync(path);
    owner = statSync(real).uid;
  } catch {
    return undefined;
  }
  if (trustedOwner(owner, uid)) {
    const d = dirProblem(real, { euid: uid });
    return d ? `${path} is in a directory others can change (${d.dir} ${d.reason}): it could be anyone's socket; not talking to it` : undefined;
  }
  const d = dirProblem(real, { euid: uid, also: owner, sticky: false });
  if (!d) return undefined;
  const where = d.reason.startsWith('is writable') ? 'in a directory others can write to' : `in ${d.dir}, which ${d.reason}`;
  return `${path} is owned by uid ${owner}, neither root nor you (uid ${uid}), ${where}; not talking to it`;
}

/** One connection: sends a request, hands each response line to `onLine` until it returns
 * true (done) or the daemon closes the connection. */
function converse(path: string, req: ControlRequest, onLine: (msg: ControlResponse) => boolean, timeoutMs: number | undefined): Promise<void> {
  const refused = trustProblem(path);
  if (refused) return Promise.reject(new ControlError(refused));
  return new Promise((resolve, reject) => {
    const sock: Socket = createConnection(path);
    let buf = '';
    let finished = false;
    const finish = (e?: Error) => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      sock.destroy();
      if (e) reject(e);
      else resolve();
    };
    const timer = timeoutMs ? setTimeout(() => finish(new ControlError(`the daemon on ${path} did not answer within ${timeoutMs / 1000} s`)), timeoutMs) : undefined;
    sock.on('connect', () => sock.write(JSON.stringify(req) + '\n'));
    sock.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT' || e.code === 'ECONNREFUSED') finish(new ControlError(`no vigil daemon answers on ${path} (started with the same -f/-p?)`));
      else if (e.code === 'EACCES' || e.code === 'EPERM') finish(new ControlError(`permission denied on ${path}: the socket is 0600, owned by the daemon's user; run as that user or root`));
      else finish(new ControlError(`${path}: ${e.message}`));
    });
    sock.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl;
      while (!finished && (nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        let msg: ControlResponse;
        try {
          msg = JSON.parse(line) as ControlResponse;
        } catch {
          finish(new ControlError(`unexpected answer from ${path}: ${line.slice(0, 200)}`));
          return;
        }
        try {
          if (onLine(msg)) finish();
        } catch (e) {
          finish(e as Error);
        }
      }
    });
    sock.on('close', () => finish(new ControlError(`the daemon on ${path} closed the connection`)));
  });
}

/** Runs a control subcommand; resolves to the exit code. */
export async function controlCommand(command: ControlCommand, opts: ControlCliOptions): Promise<number> {
  const out = opts.out ?? ((s: string) => void process.stdout.write(s));
  const err = opts.err ?? ((s: string) => void process.stderr.write(s));
  const path = resolveSocket(opts);
  try {
    switch (command) {
      case 'status':
        return await status(path, opts.json ?? false, out);
      case 'reload':
        return await reload(path, opts.json ?? false, out, err);
      case 'events':
        return await events(path, opts.json ?? false, out, err);
    }
  } catch (e) {
    err(`vigil ${command}: ${(e as Error).message}\n`);
    return 1;
  }
}

function failed(msg: ControlResponse): never {
  throw new ControlError('error' in msg ? msg.error : `unexpected answer: ${JSON.stringify(msg).slice(0, 200)}`);
}

async function status(path: string, json: boolean, out: (s: string) => void): Promise<number> {
  let result: ControlStatus | undefined;
  await converse(path, { cmd: 'status' }, (msg) => {
    if ('ok' in msg && msg.ok && msg.cmd === 'status') result = msg.status;
    else failed(msg);
    return true;
  }, 10_000);
  if (!result) return 1;
  out(json ? JSON.stringify(result, null, 2) + '\n' : renderStatus(result));
  return 0;
}

async function reload(path: string, json: boolean, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let result: ReloadResult | undefined;
  // plugins restart within a reload; a minute is generous, and a hung daemon is worth saying
  await converse(path, { cmd: 'reload' }, (msg) => {
    if ('ok' in msg && msg.ok && msg.cmd === 'reload') result = msg.result;
    else failed(msg);
    return true;
  }, 60_000);
  if (!result) return 1;
  if (json) out(JSON.stringify(result, null, 2) + '\n');
  else if (result.ok) out(renderReload(result));
  else err(`reload rejected; the running configuration stays:\n${result.errors.map((e) => `  ${e}\n`).join('')}`);
  return result.ok ? 0 : 1;
}

async function events(path: string, json: boolean, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  let code = 0;
  try {
    await converse(path, { cmd: 'events' }, (msg) => {
      if ('event' in msg) {
        out((json ? JSON.stringify(msg.event) : formatEvent(msg.event)) + '\n');
        return false;
      }
      if ('ok' in msg && msg.ok) {
        if (!json) err(`following events on ${path} (from seq ${msg.cmd === 'events' ? msg.lastSeq + 1 : '?'}); Ctrl-C ends\n`);
        return false;
      }
      // cut off as a slow reader: said, and not a clean end
      err(`vigil events: ${'error' in msg ? msg.error : JSON.stringify(msg)}\n`);
      code = 1;
      return true;
    }, undefined);
  } catch (e) {
    if (e instanceof ControlError && /closed the connection/.test(e.message)) {
      err(`vigil events: the daemon closed the connection (stopped?)\n`);
      return 1;
    }
    throw e;
  }
  return code;
}

// --- rendering ------------------------------------------------------------------------------

const STATE = (s: string) => ({ initialize: 'INIT', backup: 'BACKUP', master: 'MASTER', fault: 'FAULT' })[s] ?? s.toUpperCase();

/** 75 s -> "1m15s"; for ages and uptimes a human reads at a glance. */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

function trackers(i: InstanceStatus): string {
  const parts = Object.entries(i.adjustments).map(([src, w]) => `${src}${w > 0 ? '+' : ''}${w}`);
  for (const f of i.faults) parts.push(`FAULT:${f}`);
  return parts.join(' ') || '-';
}

function drops(i: InstanceStatus): string {
  const entries = Object.entries(i.counters?.dropped ?? {}).filter(([, n]) => (n ?? 0) > 0);
  if (entries.length === 0) return '0';
  const total = entries.reduce((n, [, v]) => n + (v ?? 0), 0);
  return `${total} (${entries.map(([r, n]) => `${r}=${n}`).join(' ')})`;
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c] ?? 0))).join('  ')).join('\n') + '\n';
}

export function renderStatus(s: ControlStatus, now = Date.now()): string {
  const d: Omit<ControlStatus['daemon'], 'mainPid' | 'enginePid' | 'supervised'> & Partial<ControlStatus['daemon']> = s.daemon;
  let text = `vigil ${d.version}, up ${formatAge(d.uptimeSeconds)}, config ${d.configFile}\n`;
  // a daemon from before these fields said only `pid` (its engine's)
  if (d.mainPid === undefined) text += `engine pid ${d.pid}\n`;
  else if (d.supervised) text += `daemon pid ${d.mainPid} (the supervisor: signal this one), engine pid ${d.enginePid}\n`;
  else text += `daemon pid ${d.mainPid} (signal this one; the engine runs in it, unsupervised)\n`;
  text += `reloads: ${s.engine.reloads.applied} applied, ${s.engine.reloads.rejected} rejected\n\n`;
  const rows = [['INSTANCE', 'STATE', 'PRIO', 'TRACKERS', 'MASTER', 'LAST TRANSITION', 'ADVERTS RX/TX', 'DROPS']];
  for (const i of s.engine.instances) {
    const t = i.transitions.at(-1);
    const last = t ? `${STATE(t.from)}->${STATE(t.to)} ${t.reason}${t.detail ? ` (${t.detail})` : ''}, ${formatAge((now - Date.parse(t.time)) / 1000)} ago` : '-';
    rows.push([
      i.name,
      STATE(i.state) + (i.waitingForInterface ? ' (no interface)' : ''),
      `${i.basePriority}/${i.effectivePriority}`,
      trackers(i),
      i.masterAddress ?? '-',
      last,
      `${i.counters?.advertsReceived ?? 0}/${i.counters?.advertsSent ?? 0}`,
      drops(i),
    ]);
  }
  text += table(rows);
  text += renderElections(s.engine.instances);
  const ifaceDrops = Object.entries(s.engine.drops).filter(([scope]) => scope.startsWith('interface:'));
  if (ifaceDrops.length > 0) {
    text += '\nunclaimed packets dropped: ' + ifaceDrops.map(([scope, c]) => `${scope.slice('interface:'.length)}: ${Object.entries(c).map(([r, n]) => `${r}=${n}`).join(' ')}`).join('; ') + '\n';
  }
  if (s.plugins.length > 0) {
    const prow = [['PLUGIN', 'STATE', 'RESTARTS', 'FAILURES', 'ERRORS', 'EVENTS', 'LAST ERROR']];
    for (const p of s.plugins) prow.push([p.id, p.user ? `${p.state} (as ${p.user})` : p.state, String(p.restarts), String(p.failures), String(p.handlerErrors), String(p.eventsDelivered), p.lastError ?? '-']);
    text += '\n' + table(prow);
  }
  if (s.lvs) text += '\n' + renderLvs(s.lvs);
  return text;
}

/** Instances elected on etcd: who leads, the lease's time to its fencing deadline, renewals. */
function renderElections(instances: InstanceStatus[]): string {
  const rows = [['ELECTED ON', 'INSTANCE', 'NODE', 'LEADER', 'LEASE', 'RENEWALS OK/FAILED/LOST', 'ETCD']];
  for (const i of instances) {
    const e = i.election;
    if (!e) continue;
    const lease = e.lease ? `${(e.lease.remainingMs / 1000).toFixed(1)} s left of ${e.lease.ttl} s` : 'none';
    const r = e.renewals;
    const etcd = e.keeping ? `quorum lost: keeping the VIPs (${e.policy})` : e.connected ? 'connected' : (e.lastError ?? 'not connected');
    rows.push([e.backend, i.name, e.name, e.leader ?? '-', lease, r ? `${r.ok}/${r.failed}/${r.lost}` : '-', etcd]);
  }
  return rows.length > 1 ? '\n' + table(rows) : '';
}

function renderLvs(lvs: NonNullable<ControlStatus['lvs']>): string {
  const rows = [['VIRTUAL SERVER', 'QUORUM', 'WEIGHT', 'CONNS/PKTS/BYTES', 'REAL SERVER', 'STATE', 'CONNS/PKTS/BYTES', 'CHECKS']];
  const sum = (cs: Array<{ connections: number; packets: number; bytes: number } | undefined>) => {
    const present = cs.filter((c) => c !== undefined);
    if (present.length === 0) return '-';
    const t = present.reduce((a, c) => ({ connections: a.connections + c.connections, packets: a.packets + c.packets, bytes: a.bytes + c.bytes }));
    return `${t.connections}/${t.packets}/${t.bytes}`;
  };
  for (const vs of lvs.virtualServers) {
    const quorum = `${vs.quorumUp ? 'up' : 'down'}${vs.sorryServerActive ? ' (sorry server)' : ''}`;
    const ids = (lvs.services ?? []).filter((s) => s.virtualServer === vs.name);
    const vsCounters = sum(ids.map((s) => lvs.counters?.services[s.id]));
    vs.realServers.forEach((rs, i) => {
      const checks = rs.checks.map((c) => `${c.name} ${c.up ? 'ok' : 'FAIL'}`).join(', ') || '-';
      const rsId = ids[0]?.backends[i];
      const rsCounters = rsId === undefined ? '-' : sum(ids.map((s) => lvs.counters?.backends[s.id]?.[rsId]));
      const state = rs.alive ? `up (weight ${rs.weight})` : 'DOWN';
      rows.push(i === 0 ? [vs.name, quorum, `${vs.weight}/${vs.quorum}`, vsCounters, rs.name, state, rsCounters, checks] : ['', '', '', '', rs.name, state, rsCounters, checks]);
    });
  }
  const applies = `data plane: ${lvs.applies.done} applied, ${lvs.applies.failed} refused${lvs.applies.lastError ? ` (last: ${lvs.applies.lastError})` : ''}\n`;
  return table(rows) + applies;
}

function renderReload(r: Extract<ReloadResult, { ok: true }>): string {
  const list = (xs: string[]) => xs.join(', ') || '-';
  const { diff } = r;
  return (
    'reload applied\n' +
    `  unchanged:  ${list(diff.unchanged)}\n` +
    `  updated:    ${list(diff.updated)}\n` +
    `  re-created: ${list(diff.recreated)}\n` +
    `  added:      ${list(diff.added)}\n` +
    `  removed:    ${list(diff.removed)}\n` +
    `  plugins restarted: ${list(r.pluginsRestarted)}\n` +
    (r.pluginsRemoved?.length ? `  plugins removed: ${list(r.pluginsRemoved)}\n` : '')
  );
}

/** One line per event: time, type, then what it says, keepalived-like for transitions. */
export function formatEvent(e: VigilEvent): string {
  const head = `${e.time} #${e.seq} ${e.type}`;
  switch (e.type) {
    case 'instance.transition':
      return `${head} ${e.instance} ${STATE(e.from)} -> ${STATE(e.to)} reason=${e.reason} priority=${e.priority}${e.detail ? ` detail=${e.detail}` : ''}`;
    case 'instance.priority':
      return `${head} ${e.instance} ${e.previous} -> ${e.effective} (base ${e.base}) cause=${e.cause}`;
    case 'instance.fault':
      return `${head} ${e.instance} ${e.active ? 'set' : 'cleared'} by ${e.source}; in force: ${e.faults.join(', ') || '-'}`;
    case 'instance.reasserted':
      return `${head} ${e.instance} against ${e.peer} (priority ${e.peerPriority}, ours ${e.priority})`;
    case 'config.rejected':
      return `${head} ${e.file}\n${e.errors.map((x) => `  ${x}`).join('\n')}`;
    default: {
      const rest = Object.entries(e)
        .filter(([k]) => !['type', 'v', 'seq', 'time', 'mono'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
      return `${head} ${rest.join(' ')}`;
    }
  }
}
