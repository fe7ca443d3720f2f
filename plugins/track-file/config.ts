// track-file's config: the files (keepalived's track_file / vrrp_track_file blocks) and, per
// VRRP instance, which files it tracks with which weight. The config loader makes the section
// from those keywords by keepalived's weight rules (src/config/plugin-sections/track-file.ts), so
// the worker only reads files and does arithmetic.

import { existsSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { readTrackFile, trackStatus } from 'vigil/plugin';

const weight = z.number().int().min(-254).max(254);

export const fileSchema = z.object({
  /** The file holding the number. */
  path: z.string().min(1),
  /** Written at start when the file is missing (keepalived's init_file [VALUE]); with
   * `overwrite`, also when it exists. */
  init: z.object({ value: z.number().int().default(0), overwrite: z.boolean().default(false) }).optional(),
});

export const trackSchema = z.object({
  instance: z.string().min(1),
  /** A key of `files`. */
  file: z.string().min(1),
  /** 0: a non-zero value (zero with `reverse`) puts the instance in FAULT; otherwise
   * value × weight is added to the priority. */
  weight: weight.default(1),
  reverse: z.boolean().default(false),
});

export const configSchema = z.object({
  files: z.record(z.string().min(1), fileSchema).default({}),
  tracks: z.array(trackSchema).default([]),
});

export type TrackFileConfig = z.infer<typeof configSchema>;
/** What the plugin reports first for each tracking instance, read the way its setup reads it:
 * the init_file value where the plugin is about to write it (file missing, or `overwrite`),
 * else the file's number (missing: 0). A file the plugin would ignore (its directory missing, a
 * number out of range) gives nothing. The daemon presets these in the engine before starting the
 * instances, as keepalived reads its track files before its VRRP instances start, and the plugin
 * confirms them when it is up (src/daemon/tracker-presets.ts). */
export function initialReports(section: unknown): Array<{ instance: string; source: string; fault: boolean; adjust: number }> {
  const { files, tracks } = configSchema.parse(section);
  const values = new Map<string, number | undefined>();
  const valueOf = (name: string, f: z.infer<typeof fileSchema>): number | undefined => {
    const path = resolvePath(f.path);
    if (!statSync(dirname(path), { throwIfNoEntry: false })?.isDirectory()) return undefined;
    if (f.init && (f.init.overwrite || !existsSync(path))) return f.init.value;
    return readTrackFile(path).value;
  };
  const out: Array<{ instance: string; source: string; fault: boolean; adjust: number }> = [];
  for (const t of tracks) {
    const f = files[t.file];
    if (!f) continue;
    if (!values.has(t.file)) values.set(t.file, valueOf(t.file, f));
    const value = values.get(t.file);
    if (value === undefined) continue;
    const e = trackStatus(value, t.weight, t.reverse);
    if (e.fault || e.adjust !== 0) out.push({ instance: t.instance, source: `track_file:${t.file}`, ...e });
  }
  return out;
}
