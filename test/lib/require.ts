// What a test needs of the machine (root, a user, a tool), as node:test options to spread into
// the test's or suite's own:
//
//   test('...', { ...needs('root', 'nft'), timeout: 60_000 }, async () => { ... });
//
// On a developer's laptop a missing requirement skips the test with a reason naming it. Under
// CI (CI=true, as CI services set it) it fails the test instead, with the same words and
// without running its body: a CI job that lost root or a package must go red, not report
// skips and exit 0. scripts/test.mjs checks the whole suite's list up front under CI as well;
// this is the per-test half, for a file run on its own.
//
// `have(...)` is the same for the part of a test that only compares with a tool at its end.
//
// The failure is an already-aborted `signal`: node:test then fails that one test (or suite)
// with the abort's reason and runs the rest of the file, where throwing here would take the
// whole file, or the enclosing describe, down with it.
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { lookupUser } from '../../src/plugins/run.ts';

/** 'root' (uid 0); 'user:NAME' (the user exists); an absolute path (the file exists: a
 * library to preload, a browser at a fixed path); else a command found on PATH, as the tests
 * spawn it. */
export type Requirement = string;

export interface NeedsOptions {
  skip?: string;
  signal?: AbortSignal;
}

/** The machine, as `needs` asks it; a parameter so the unit test can play any machine. */
export interface Machine {
  ci: boolean;
  root: boolean;
  hasUser(name: string): boolean;
  hasFile(path: string): boolean;
  hasCommand(name: string): boolean;
}

/** CI=true (GitHub Actions, GitLab and most services set it); 1 too, and any other value but
 * false/0, as is-ci reads it. scripts/test.mjs reads it the same way. */
export function isCi(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI?.trim().toLowerCase();
  return !!v && v !== 'false' && v !== '0';
}

/** A command is found as execvp would find it: an executable file in one of PATH's directories. */
export function onPath(name: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export const thisMachine: Machine = {
  ci: isCi(),
  root: process.getuid?.() === 0,
  hasUser: (name) => lookupUser(name) !== undefined,
  hasFile: existsSync,
  hasCommand: (name) => onPath(name),
};

/** The requirements this machine lacks, each in words for a message. */
export function missing(requirements: readonly Requirement[], m: Machine = thisMachine): string[] {
  const out: string[] = [];
  for (const r of requirements) {
    if (r === 'root') {
      if (!m.root) out.push('root');
    } else if (r.startsWith('user:')) {
      const name = r.slice('user:'.length);
      if (!m.hasUser(name)) out.push(`the user ${name}`);
    } else if (isAbsolute(r)) {
      if (!m.hasFile(r)) out.push(r);
    } else if (!m.hasCommand(r)) {
      out.push(`${r} on PATH`);
    }
  }
  return out;
}

/** node:test options for a test that needs `requirements`: nothing when the machine has them
 * all; else a skip with the reason, or under CI a failure with it. */
export function needs(...requirements: Requirement[]): NeedsOptions {
  return needsOn(thisMachine, requirements);
}

export function needsOn(m: Machine, requirements: readonly Requirement[]): NeedsOptions {
  const lack = missing(requirements, m);
  if (lack.length === 0) return {};
  if (!m.ci) return { skip: skipReason(lack) };
  return { signal: AbortSignal.abort(ciFailure(lack)) };
}

/** For the last part of a test that checks vigil alone first and then compares with a tool
 * (keepalived's own -t, say): true when the machine has `requirements`; false on a laptop
 * without them (the part is left out); under CI it throws, naming what is missing. */
export function have(...requirements: Requirement[]): boolean {
  return haveOn(thisMachine, requirements);
}

export function haveOn(m: Machine, requirements: readonly Requirement[]): boolean {
  const lack = missing(requirements, m);
  if (lack.length === 0) return true;
  if (m.ci) throw ciFailure(lack);
  return false;
}

const skipReason = (lack: string[]) => `needs ${lack.join(', ')} (CI runs the tests as root after scripts/install-test-deps.sh)`;
const ciFailure = (lack: string[]) =>
  new Error(`CI is set and this test needs ${lack.join(', ')}: CI must run the tests as root after scripts/install-test-deps.sh (without CI it would be skipped)`);
