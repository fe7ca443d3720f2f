// Which processes a vrrp_track_process counts, as keepalived matches them: by the process name
// (/proc/PID/comm, what `ps -o comm` shows, at most 15 characters) unless parameters,
// param_match or full_command ask for the command line (/proc/PID/cmdline: argv[0] exactly, then
// the parameters). An exact match, not a pattern: "ssh" does not count sshd. Pure, apart from
// readProcesses, so the rules are tested on plain data.

import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessSpec {
  process: string;
  params?: string[] | undefined;
  param_match?: 'exact' | 'initial' | 'partial' | undefined;
  full_command: boolean;
}

export interface ProcessInfo {
  pid: number;
  /** /proc/PID/comm, without the newline. */
  name: string;
  /** /proc/PID/cmdline split at NUL; empty for kernel threads and zombies. */
  argv: string[];
}

/** The kernel keeps 15 characters of a process name (TASK_COMM_LEN - 1). */
const COMM_LEN = 15;

export function usesCommandLine(spec: ProcessSpec): boolean {
  return spec.full_command || spec.params !== undefined || spec.param_match !== undefined;
}

export function matches(spec: ProcessSpec, p: ProcessInfo): boolean {
  if (!usesCommandLine(spec)) return p.name === spec.process.slice(0, COMM_LEN);
  const [cmd, ...args] = p.argv;
  if (cmd !== spec.process) return false;
  const want = spec.params ?? [];
  const mode = spec.param_match ?? (spec.params === undefined ? undefined : 'exact');
  if (mode === undefined) return true; // full_command alone: the command, whatever its parameters
  if (mode === 'exact') return args.length === want.length && want.every((w, i) => args[i] === w);
  if (args.length < want.length) return false;
  return want.every((w, i) => (mode === 'initial' && i === want.length - 1 ? (args[i] ?? '').startsWith(w) : args[i] === w));
}

export function quorumMet(count: number, quorum: number, quorumMax: number | undefined): boolean {
  return count >= quorum && (quorumMax === undefined || count <= quorumMax);
}

/** Every process on the host (this PID namespace), with its command line only when asked for:
 * reading cmdline of every process costs more than comm. Processes that end while being read
 * are skipped. */
export function readProcesses(withArgv: boolean, proc = '/proc'): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync(proc)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    try {
      const name = readFileSync(`${proc}/${entry}/comm`, 'utf8').replace(/\n$/, '');
      let argv: string[] = [];
      if (withArgv) {
        const raw = readFileSync(`${proc}/${entry}/cmdline`, 'utf8');
        argv = raw === '' ? [] : raw.replace(/\0$/, '').split('\0');
      }
      out.push({ pid, name, argv });
    } catch {
      // gone since readdir
    }
  }
  return out;
}
