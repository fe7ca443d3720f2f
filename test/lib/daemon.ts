// Runs a vigil daemon (bin/vigil -n) inside a lab namespace and follows its log.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lab } from './netns.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

export interface DaemonHandle {
  child: ChildProcess;
  log(): string;
  /** Waits until the log (from `from` on) matches. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
}

/** Collects a child's stdout and stderr and waits for patterns in all of it so far. */
export function follow(child: ChildProcess): DaemonHandle {
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  return {
    child,
    log: () => log,
    // matched against the whole log so far, so a pattern may span earlier lines
    waitFor: (pattern, ms = 15_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(log)) return resolve();
        const onData = () => {
          if (!pattern.test(log)) return;
          done();
          resolve();
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out after ${ms} ms waiting for ${pattern}; log so far:\n${log}`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
        };
        // registered after the collectors above, so `log` already holds the new chunk
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
      }),
  };
}

/** -l: the tests match the keepalived-like console lines, not the default JSON. */
export function startVigil(lab: Lab, ns: string, configFile: string, extra: string[] = []): DaemonHandle {
  // -G: as keepalived's --no-syslog below, the test daemons keep out of the host's syslog
  return follow(lab.spawn(ns, process.execPath, [bin, '-n', '-l', '-D', '-G', '-f', configFile, ...extra]));
}

/** keepalived (VRRP only) in a namespace, its files in `dir`. */
export function startKeepalived(lab: Lab, ns: string, configFile: string, dir: string): DaemonHandle {
  return follow(
    lab.spawn(ns, 'keepalived', ['--dont-fork', '--log-console', '--log-detail', '--no-syslog', '--vrrp', '-f', configFile, '-p', join(dir, 'ka.pid'), '-r', join(dir, 'vrrp.pid')]),
  );
}

/** Node death: every process in the namespace is frozen (SIGSTOP), then SIGKILLed, so none
 * can say goodbye on the wire. Freezing first matters: keepalived's VRRP child gets SIGTERM
 * when its parent dies (parent-death signal) and would send its priority-0 advert in the gap
 * between two kills. These are the lab's own processes, found by PID. */
export function killAllIn(ns: string): void {
  const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  for (const signal of ['SIGSTOP', 'SIGKILL'] as const) {
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
  }
}

/** What keepalived logs when it finds fault with a peer's adverts (bad checksum, invalid TTL,
 * wrong password, interval or address mismatch). Lines naming the test's own files are left
 * out: a random temp directory name can spell "bad". */
export function keepalivedComplaints(log: string): string[] {
  return log
    .split('\n')
    .filter((l) => !l.includes('/tmp/'))
    .filter((l) => /\b(?:bad|invalid|wrong|mismatch)\b/i.test(l));
}

/** The IPv4/IPv6 addresses on an interface in a namespace, as `ip -j addr` reports them. */
export function addressesOf(lab: Lab, ns: string, ifname: string): string[] {
  const out = JSON.parse(lab.exec(ns, 'ip', ['-j', 'addr', 'show', 'dev', ifname])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return out.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

/** Addresses on the interface that are still in duplicate address detection (IPv6). */
export function tentativeOf(lab: Lab, ns: string, ifname: string): string[] {
  const out = JSON.parse(lab.exec(ns, 'ip', ['-j', 'addr', 'show', 'dev', ifname])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number; tentative?: boolean }>;
  }>;
  return out.flatMap((l) => l.addr_info.filter((a) => a.tentative).map((a) => `${a.local}/${a.prefixlen}`));
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
