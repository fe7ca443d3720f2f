// Runs a vigil daemon (bin/vigil -n) inside a lab namespace and follows its log.
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab } from './netns.ts';
import { waitForOutput } from './netns.ts';

const bin = fileURLToPath(new URL('../../bin/vigil', import.meta.url));

export interface DaemonHandle {
  child: ChildProcess;
  log(): string;
  /** Waits until the log (from `from` on) matches. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
}

export function startVigil(lab: Lab, ns: string, configFile: string, extra: string[] = []): DaemonHandle {
  const child = lab.spawn(ns, process.execPath, [bin, '-n', '-D', '-f', configFile, ...extra]);
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  return {
    child,
    log: () => log,
    waitFor: async (pattern, ms = 15_000) => {
      if (pattern.test(log)) return;
      await waitForOutput(child, pattern, ms);
    },
  };
}

/** The IPv4/IPv6 addresses on an interface in a namespace, as `ip -j addr` reports them. */
export function addressesOf(lab: Lab, ns: string, ifname: string): string[] {
  const out = JSON.parse(lab.exec(ns, 'ip', ['-j', 'addr', 'show', 'dev', ifname])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  return out.flatMap((l) => l.addr_info.map((a) => `${a.local}/${a.prefixlen}`));
}

export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
