// `vigil -t`'s look inside one user plugin: a process of its own (validate-user.ts forks it)
// imports the plugin's bundle, checks its definition and validates its config section with
// the plugin's own schema, answers, and exits. The plugin's top-level code runs here, as it
// would in the daemon: so never in the `vigil -t` process itself, and, for a plugin with a
// plugin_user, only after this process has given up root for that user, as the daemon's plugin
// process does (worker.ts). The bundle comes as text over IPC and is imported from a data:
// URL: the user needs no access to any file.

import { checkDefinition, validateConfig, type ConfigIssue } from './definition.ts';
import { dropPrivileges, type RunAsIds } from './drop-privileges.ts';

export interface ValidateRequest {
  /** The plugin bundled into one module (compile.ts). */
  code: string;
  /** Its config section, `plugins.<id>` as the config has it (undefined: none). */
  section: unknown;
  /** Become this user before importing it. */
  runAs?: RunAsIds;
}

export type ValidateReply =
  /** It is a plugin: its name, what its schema says of the section, and what it should fix. */
  | { t: 'checked'; name: string; issues: ConfigIssue[]; warnings: string[] }
  /** It did not load, or is not a plugin. */
  | { t: 'failed'; error: string };

async function check(req: ValidateRequest): Promise<ValidateReply> {
  try {
    if (req.runAs) dropPrivileges(req.runAs);
    const mod: unknown = await import(`data:text/javascript;base64,${Buffer.from(req.code).toString('base64')}`);
    const warnings: string[] = [];
    const def = checkDefinition(mod, { warn: (m) => warnings.push(m) });
    const v = validateConfig(def, req.section);
    return { t: 'checked', name: def.name, issues: v.ok ? [] : v.issues, warnings };
  } catch (e) {
    return { t: 'failed', error: e instanceof Error ? e.message.replace(/\s*\n\s*/g, ' ') : String(e) };
  }
}

if (!process.send) throw new Error('validate-worker.ts runs only as a process forked by validate-user.ts');
process.once('message', (req: ValidateRequest) => {
  void check(req).then((reply) => {
    // whatever the plugin's top level left running (timers, sockets) ends with the process
    process.send?.(reply, () => process.exit(0));
  });
});
