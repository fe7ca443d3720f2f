// keepalived's track_file: a number in a file, read whenever the file changes, adjusts the
// priority of the instances tracking it (value × weight) or, with weight 0, holds them in FAULT
// while it is non-zero. Changes are seen through inotify on the file's directory (fs.watch), so
// a file replaced by rename (write to a temp file, mv over) is picked up like an in-place write,
// and a deleted file counts as 0, as in keepalived.

import { existsSync, statSync, writeFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { definePlugin, readTrackFile, trackStatus } from 'vigil/plugin';
import { report } from '../_shared/tracked.ts';
import { configSchema } from './config.ts';

/** Writes come as truncate + write (two inotify events); reading between them would see an
 * empty file, i.e. a spurious 0. Reading once the events have paused for this long avoids it. */
const SETTLE_MS = 40;
/** Only if inotify cannot be used (e.g. the watch limit is reached): re-read this often. */
const FALLBACK_POLL_MS = 1000;

interface Watched {
  name: string;
  path: string;
  value: number;
  /** The last problem logged, so a missing file is reported once, not on every event. */
  note: string | undefined;
  tracks: Array<{ instance: string; weight: number; reverse: boolean; fault: boolean; adjust: number }>;
}

export default definePlugin({
  apiVersion: 1,
  name: 'track-file',
  configSchema,
  setup(ctx) {
    const { files, tracks } = ctx.config;
    const known = new Set(ctx.instances.map((i) => i.name));

    // init_file: keepalived writes "VALUE\n" at start when the file is missing (or always with
    // overwrite), tracked or not.
    for (const [name, f] of Object.entries(files)) {
      if (!f.init) continue;
      const exists = existsSync(f.path);
      if (exists && !f.init.overwrite) continue;
      if (exists && !statSync(f.path).isFile()) {
        ctx.log.error(`track_file ${name}: cannot initialise ${f.path}: not a regular file`);
        continue;
      }
      try {
        writeFileSync(f.path, `${f.init.value}\n`);
        ctx.log.info(`track_file ${name}: initialised ${f.path} with ${f.init.value}`);
      } catch (e) {
        ctx.log.error(`track_file ${name}: unable to initialise ${f.path}: ${(e as Error).message}`);
      }
    }

    const watched = new Map<string, Watched>();
    for (const t of tracks) {
      const f = files[t.file];
      if (!f) {
        ctx.log.error(`${t.instance}: track_file ${t.file} is not defined - ignoring`);
        continue;
      }
      if (!known.has(t.instance)) ctx.log.warn(`track_file ${t.file}: instance ${t.instance} is not configured`);
      let w = watched.get(t.file);
      if (!w) {
        w = { name: t.file, path: resolve(f.path), value: 0, note: undefined, tracks: [] };
        watched.set(t.file, w);
      }
      w.tracks.push({ instance: t.instance, weight: t.weight, reverse: t.reverse, fault: false, adjust: 0 });
    }

    const source = (w: Watched) => `track_file:${w.name}`;

    /** Tells the engine what changed for each instance tracking `w`. */
    const apply = (w: Watched) => {
      for (const t of w.tracks) {
        const change = report(ctx, t, source(w), trackStatus(w.value, t.weight, t.reverse));
        if (change) ctx.log.info(`${t.instance}: tracked file ${w.name} ${change === 'fault' ? 'now FAULT' : 'leaving FAULT'} (value ${w.value})`);
      }
    };

    const note = (w: Watched, msg: string | undefined, level: 'info' | 'warn' = 'warn') => {
      if (msg !== undefined && msg !== w.note) ctx.log[level](`track_file ${w.name} (${w.path}): ${msg}`);
      w.note = msg;
    };

    const read = (w: Watched) => {
      const r = readTrackFile(w.path);
      if (r.value === undefined) {
        // keepalived: "Invalid number ... - ignoring", the previous value stays
        note(w, r.note);
        return;
      }
      note(w, r.note === undefined ? undefined : `${r.note} - value 0`);
      w.value = r.value;
      apply(w);
    };

    // One inotify watch per directory; events name the entry, so files are matched by name.
    const byDir = new Map<string, Watched[]>();
    for (const w of watched.values()) {
      const dir = dirname(w.path);
      if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) {
        // keepalived: "Track file directory for X does not exist - removing"
        ctx.log.error(`track_file ${w.name}: directory ${dir} does not exist - ignoring`);
        continue;
      }
      byDir.set(dir, [...(byDir.get(dir) ?? []), w]);
    }

    const timers = new Set<NodeJS.Timeout>();
    const pending = new Map<Watched, NodeJS.Timeout>();
    const schedule = (w: Watched) => {
      const old = pending.get(w);
      if (old) clearTimeout(old);
      pending.set(
        w,
        setTimeout(() => {
          pending.delete(w);
          if (!ctx.signal.aborted) read(w);
        }, SETTLE_MS),
      );
    };

    const watchers: FSWatcher[] = [];
    const poll = (list: Watched[]) => {
      const t = setInterval(() => list.forEach(read), FALLBACK_POLL_MS);
      timers.add(t);
    };
    for (const [dir, list] of byDir) {
      try {
        const watcher = watch(dir, { persistent: false }, (_event, filename) => {
          // no name (rare, e.g. the directory itself changed): re-read them all
          for (const w of list) if (filename === null || filename === basename(w.path)) schedule(w);
        });
        watcher.on('error', (e) => {
          ctx.log.error(`watching ${dir}: ${e.message}; falling back to reading every ${FALLBACK_POLL_MS} ms`);
          watcher.close();
          poll(list);
        });
        watchers.push(watcher);
      } catch (e) {
        ctx.log.error(`cannot watch ${dir} (${(e as Error).message}); falling back to reading every ${FALLBACK_POLL_MS} ms`);
        poll(list);
      }
      // the initial value, after the watch is in place so no write between the two is missed
      for (const w of list) read(w);
    }

    ctx.onStop(() => {
      for (const watcher of watchers) watcher.close();
      for (const t of timers) clearInterval(t);
      for (const t of pending.values()) clearTimeout(t);
    });
  },
});
