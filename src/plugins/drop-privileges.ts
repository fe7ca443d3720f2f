// Giving up root for a plugin's user (global_defs.plugin_user), before any of the plugin's code
// runs: in its process (worker.ts) and in `vigil -t`'s check of its config (validate-worker.ts).

/** Who to become: ids from the passwd database (run.ts lookupUser), and the name for initgroups. */
export interface RunAsIds {
  uid: number;
  gid: number;
  user?: string;
}

/** Gives up root for good: supplementary groups, then gid, then uid (in that order: without
 * root, the group calls fail). Throws when any step does not take. */
export function dropPrivileges(who: RunAsIds): void {
  // (process.initgroups exists on Linux; @types/node does not declare it)
  const initgroups = (process as { initgroups?: (user: string, gid: number) => void }).initgroups;
  if (who.user !== undefined && initgroups) initgroups.call(process, who.user, who.gid);
  else process.setgroups?.([who.gid]);
  process.setgid?.(who.gid);
  process.setuid?.(who.uid);
  if (process.getuid?.() !== who.uid || process.geteuid?.() !== who.uid || process.getgid?.() !== who.gid) {
    throw new Error(`could not switch to uid ${who.uid} gid ${who.gid}`);
  }
}
