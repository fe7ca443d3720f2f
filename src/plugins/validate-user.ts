// `vigil -t` on a user plugin: its module loaded as the daemon would load it (bundled by
// compile.ts, then imported in a process of its own, as its plugin_user when it has one:
// validate-worker.ts), its definition checked and its `plugins.<id>` section validated with its
// own schema. Every finding is a Diagnostic: a config issue at the section's file:line:col, a
// module that does not load or is not a plugin at the plugin's file.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Diagnostic, PositionMap } from '../config/diagnostics.ts';
import { distUrl, FROM_SOURCE, ROOT } from '../install-paths.ts';
import type { RunAsIds } from './drop-privileges.ts';
import { nameMismatch } from './inventory.ts';
import type { UserPluginFile } from './loader.ts';
import type { ValidateReply, ValidateRequest } from './validate-worker.ts';

/** How long a plugin's module may take to load before it counts as hanging. */
const LOAD_TIMEOUT_MS = 10_000;

/** The worker: the build's, or the source through tsx (tests). */
const WORKER = FROM_SOURCE ? { file: fileURLToPath(new URL('./validate-worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'], cwd: ROOT } : { file: fileURLToPath(distUrl('plugin-validate.mjs')), execArgv: [], cwd: '/' };

/** Loads `code` (a plugin's bundle) in a process of its own, as `runAs` when given, and
 * validates `section` with it. Never rejects. */
export function loadAndValidate(code: string, section: unknown, runAs?: RunAsIds, timeoutMs = LOAD_TIMEOUT_MS): Promise<ValidateReply> {
  return new Promise((resolve) => {
    const child = fork(WORKER.file, [], { execArgv: WORKER.execArgv, cwd: WORKER.cwd, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], serialization: 'advanced' });
    let stderr = '';
    let reply: ValidateReply | undefined;
    child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    const timer = setTimeout(() => {
      reply ??= { t: 'failed', error: `its module did not finish loading within ${timeoutMs} ms` };
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('message', (m: ValidateReply) => (reply ??= m));
    child.on('error', (e) => (reply ??= { t: 'failed', error: e.message }));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      // an uncaught error of the plugin's top level (a throw in a timer, a rejection) ends the
      // process before it answers: Node's own words on stderr say why
      const why = stderr.split('\n').find((l) => /Error|error:/.test(l))?.trim();
      resolve(reply ?? { t: 'failed', error: `it ended the process (${signal ?? `exit code ${code}`}) while loading${why ? `: ${why}` : ''}` });
    });
    const req: ValidateRequest = { code, section, ...(runAs ? { runAs } : {}) };
    child.send(req);
  });
}

/** What `reply` (for plugin file `p`) means for the config, as diagnostics. */
export function replyDiagnostics(p: UserPluginFile, reply: ValidateReply, positions: Pick<PositionMap, 'get'> | undefined): Diagnostic[] {
  const atFile = { file: p.entry, line: 1, col: 1, field: 'global_defs.plugins_dir' };
  if (reply.t === 'failed') return [{ ...atFile, severity: 'error', message: `plugin ${p.id}: it does not load: ${reply.error}` }];
  const out: Diagnostic[] = reply.warnings.map((w) => ({ ...atFile, severity: 'warning' as const, message: w }));
  // its section is plugins.<id>: a name of its own would have it read another one
  if (reply.name !== p.id) return [...out, { ...atFile, severity: 'error', message: `plugin ${p.id}: ${nameMismatch(p, reply.name)}` }];
  for (const issue of reply.issues) {
    const path = ['plugins', p.id, ...issue.path];
    const place = positions?.get(path) ?? positions?.get([]) ?? { file: '-', line: 1, col: 1 };
    out.push({ file: place.file, line: place.line, col: place.col, severity: 'error', field: path.join('.'), message: issue.message });
  }
  return out;
}
