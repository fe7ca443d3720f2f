// `vigil -t` on the user plugins: each is bundled as the daemon bundles it (compile.ts), and
// - every plugin the daemon would refuse for unsafe files (plugin-security.ts: the files its
//   bundle is made of, the directories above them) is an error here, before anything runs;
// - every plugin the daemon would load is loaded (in a process of its own, as its plugin_user
//   when it has one: validate-user.ts) and its config section validated with its own schema,
//   each issue at its file:line:col; a module that does not compile, does not load or is not a
//   plugin is an error at its file.
// Which plugins exist against which ones the config names is inventory.ts's (the config
// loader's own check); a user plugin named like a built-in is said there and not loaded here.

import { resolve } from 'node:path';
import type { Diagnostic, PositionMap } from '../config/diagnostics.ts';
import type { Config } from '../config/schema.ts';
import { PluginCompiler } from './compile.ts';
import { builtinNames, pluginUser, userPluginFiles } from './loader.ts';
import { lookupUser } from './run.ts';
import { describeUnsafe, PLUGIN_FILE_RULE, pluginFileProblem, pluginFilesProblems } from './plugin-security.ts';
import { loadAndValidate, replyDiagnostics } from './validate-user.ts';
import { parseUserWords } from '../config/user-words.ts';

export async function checkUserPlugins(config: Config, positions?: Pick<PositionMap, 'get'>): Promise<Diagnostic[]> {
  const dir = config.global_defs.plugins_dir;
  if (!dir) return checkPluginUsers(config, positions);
  const out: Diagnostic[] = [];
  const allowUnsafe = config.global_defs.allow_unsafe_plugins;
  const severity = allowUnsafe ? ('warning' as const) : ('error' as const);
  const field = 'global_defs.plugins_dir';
  const consequence = allowUnsafe ? 'loaded anyway (allow_unsafe_plugins)' : 'refused';
  const dirProblem = pluginFileProblem(resolve(dir), 'directory');
  if (dirProblem) out.push({ file: resolve(dir), line: 1, col: 1, severity, field, message: `plugins directory ${dirProblem.at} ${dirProblem.reason}; ${PLUGIN_FILE_RULE}: every plugin in it is ${consequence}` });
  const builtins = new Set(builtinNames());
  // in memory only: a check writes nothing (no cache directory made or filled)
  const compiler = new PluginCompiler(null);
  try {
    for (const p of userPluginFiles(dir)) {
      if (builtins.has(p.id)) continue; // an error of the config's (inventory.ts): never loaded
      const say = (problems: ReturnType<typeof pluginFilesProblems>) => {
        for (const u of problems) out.push({ file: p.entry, line: 1, col: 1, severity, field, message: `plugin ${p.id}: ${describeUnsafe(u)}; it is ${consequence}` });
      };
      const own = pluginFileProblem(p.entry);
      if (own) {
        // (an unsafe directory is said once, for the directory)
        if (!dirProblem) say([own]);
        if (!allowUnsafe) continue;
      }
      let bundle;
      try {
        bundle = await compiler.compileUser(p.entry);
      } catch (e) {
        out.push({ file: p.entry, line: 1, col: 1, severity: 'error', field, message: `plugin ${p.id}: cannot compile it: ${(e as Error).message.split('\n')[0]}` });
        continue;
      }
      // what its bundle is made of, as the daemon checks it before loading; a refused plugin's
      // code does not run here either
      if (!own) {
        const problems = pluginFilesProblems(bundle.files);
        say(problems);
        if (problems.length > 0 && !allowUnsafe) continue;
      }
      const who = pluginUser(config, p.id);
      let runAs: { uid: number; gid: number; user: string } | undefined;
      if (who) {
        const ids = lookupUser(who.user, who.group);
        if (!ids) continue; // checkPluginUsers says so; it would not start
        // as root: become its user, as the daemon's plugin process does; otherwise we are
        // not root, and its code runs as this user anyway
        if (process.getuid?.() === 0) runAs = { ...ids, user: who.user };
      }
      out.push(...replyDiagnostics(p, await loadAndValidate(bundle.code, config.plugins[p.id], runAs), positions));
    }
  } finally {
    compiler.close();
  }
  out.push(...checkPluginUsers(config, positions));
  return out;
}

/** global_defs.plugin_user: each names a user that exists (which plugins they name is
 * inventory.ts's). */
function checkPluginUsers(config: Config, positions?: Pick<PositionMap, 'get'>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const [id, words] of Object.entries(config.global_defs.plugin_user)) {
    const path = ['global_defs', 'plugin_user', id];
    const place = positions?.get(path) ?? { file: '-', line: 1, col: 1 };
    const { user, group } = parseUserWords(words) ?? {};
    if (user && !lookupUser(user, group)) {
      out.push({ file: place.file, line: place.line, col: place.col, field: path.join('.'), severity: 'error', message: `user ${user}${group ? ` or group ${group}` : ''} does not exist; the plugin would not start` });
    }
  }
  return out;
}
