// A network-namespace lab for tests that need real interfaces: namespaces with names unique
// to this process, veth pairs and a bridge, commands run inside them, and a cleanup that
// removes everything it made (and ends only the processes it started) even when a test fails.
//
// Safety: tests put only documentation-range addresses (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32) on these interfaces; nothing here touches the host's links.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

let counter = 0;

export class Lab {
  /** Short unique prefix: interface names are limited to 15 characters. */
  readonly prefix = `vg${process.pid % 100000}${String.fromCharCode(97 + (counter++ % 26))}`;
  private readonly namespaces: string[] = [];
  private readonly children: ChildProcess[] = [];

  /** Creates a namespace with loopback up and IPv6 DAD off (so link-locals are usable at once). */
  addNamespace(name: string): string {
    const ns = `${this.prefix}-${name}`;
    execFileSync('ip', ['netns', 'add', ns]);
    this.namespaces.push(ns);
    this.exec(ns, 'ip', ['link', 'set', 'lo', 'up']);
    this.exec(ns, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return ns;
  }

  /** A veth pair from nsA (ifA) to nsB (ifB), both up. */
  veth(nsA: string, ifA: string, nsB: string, ifB: string): void {
    const tmpA = `${this.prefix}a${counter}`;
    const tmpB = `${this.prefix}b${counter++}`;
    execFileSync('ip', ['link', 'add', tmpA, 'netns', nsA, 'type', 'veth', 'peer', 'name', tmpB, 'netns', nsB]);
    this.exec(nsA, 'ip', ['link', 'set', tmpA, 'name', ifA]);
    this.exec(nsB, 'ip', ['link', 'set', tmpB, 'name', ifB]);
    this.exec(nsA, 'ip', ['link', 'set', ifA, 'up']);
    this.exec(nsB, 'ip', ['link', 'set', ifB, 'up']);
  }

  /** Runs a command in a namespace and returns its stdout; throws with stderr on failure. */
  exec(ns: string, cmd: string, args: string[]): string {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** Starts a long-running process in a namespace; cleanup() ends it by PID. */
  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.push(child);
    return child;
  }

  /** Ends every process this lab started, then deletes its namespaces (their links go too). */
  async cleanup(): Promise<void> {
    await Promise.all(this.children.map((c) => stopChild(c)));
    for (const ns of this.namespaces.splice(0).reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

/** A namespace holding a bridge `br0`, up: the hub of a lab's segment. */
export function bridge(lab: Lab, name: string): string {
  const ns = lab.addNamespace(name);
  lab.exec(ns, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
  lab.exec(ns, 'ip', ['link', 'set', 'br0', 'up']);
  return ns;
}

/** A veth from `ns` (as `ifname`) into the hub's bridge (as `port`). */
export function plug(lab: Lab, hub: string, ns: string, ifname: string, port: string): void {
  lab.veth(ns, ifname, hub, port);
  lab.exec(hub, 'ip', ['link', 'set', port, 'master', 'br0']);
}

/** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. */
export function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill(signal);
  });
}

/** Resolves when `pattern` appears in the child's stdout or stderr; rejects after `ms`. */
export function waitForOutput(child: ChildProcess, pattern: RegExp, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      cleanupListeners();
      reject(new Error(`timed out after ${ms} ms waiting for ${pattern}; output so far:\n${seen}`));
    }, ms);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        cleanupListeners();
        resolve(seen);
      }
    };
    const cleanupListeners = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  });
}

export interface Pair {
  lab: Lab;
  /** A temporary directory for configs and pid files, removed afterwards. */
  dir: string;
  a: string;
  b: string;
}

/** Two namespaces joined by a veth pair (eth0 on both sides, 192.0.2.1/24 and 192.0.2.2/24
 * unless `addrB` is null), a temp dir, and a cleanup of all of it whatever `fn` does. */
export async function withPair(
  names: [string, string],
  fn: (p: Pair) => Promise<void>,
  addrs: { a?: string; b?: string | null } = {},
): Promise<void> {
  const lab = new Lab();
  const dir = mkdtempSync(join(tmpdir(), 'vigil-test-'));
  try {
    const a = lab.addNamespace(names[0]);
    const b = lab.addNamespace(names[1]);
    lab.veth(a, 'eth0', b, 'eth0');
    lab.exec(a, 'ip', ['addr', 'add', addrs.a ?? '192.0.2.1/24', 'dev', 'eth0']);
    if (addrs.b !== null) lab.exec(b, 'ip', ['addr', 'add', addrs.b ?? '192.0.2.2/24', 'dev', 'eth0']);
    await fn({ lab, dir, a, b });
  } finally {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}
