// FILE_CHECK (keepalived check_file.c over its track_file machinery): no attempts, no timer, no
// retry, no alpha. The file named by the track_file block is read whenever it changes (inotify
// on its directory, so a file replaced by rename is seen as well as an in-place write; a deleted
// file reads 0) and its value decides:
// - weight 0: a non-zero value takes the real server down, 0 brings it up (the other way
//   round with reverse);
// - otherwise value x weight (negated with reverse) is this checker's share of the real server's
//   weight, and a share at or below -2^31 takes it down.
// Reading follows keepalived to the byte (track-value.ts), as the VRRP side's track_file does.

import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { readTrackFile } from '../plugins/track-value.ts';
import type { FileCheck } from './checks.ts';

/** A write is truncate + write (two events): reading between them would see a spurious 0. */
const SETTLE_MS = 40;
/** Only when inotify cannot be used (its watch limit reached): read this often. */
const FALLBACK_POLL_MS = 1000;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

export interface FileVerdict {
  up: boolean;
  share: number;
  reason: string;
}

/** What a value means for the checker (pure). */
export function fileVerdict(check: FileCheck, value: number): { up: boolean; share: number } {
  // weight 0 with reverse turns it round: 0 is down, anything else up (track_file.c)
  if (check.weight === 0) return { up: (value === 0) !== check.reverse, share: 0 };
  // `|| 0`: no -0 for a 0 value under a negative weight
  const share = value * check.weight * (check.reverse ? -1 : 1) || 0;
  // keepalived's weight_range: the product is held in an int, so a share never exceeds INT_MAX
  return share <= INT32_MIN ? { up: false, share: 0 } : { up: true, share: Math.min(share, INT32_MAX) };
}

export interface FileWatch {
  stop(): void;
  current(): { up: boolean; share: number };
}

/** Watches `check`'s file; `onChange` hears every change of the verdict (not of the value alone). */
export function watchFileCheck(check: FileCheck, onChange: (v: FileVerdict) => void): FileWatch {
  const path = resolve(check.path);
  let value = 0;
  const read = (): number => {
    const r = readTrackFile(path);
    // an out-of-range number is ignored as keepalived does: the previous value stays
    if (r.value !== undefined) value = r.value;
    return value;
  };
  let now = fileVerdict(check, read());
  const update = () => {
    const next = fileVerdict(check, read());
    if (next.up === now.up && next.share === now.share) return;
    now = next;
    const what = check.weight === 0 ? `value ${value}${check.reverse ? ' (reverse)' : ''}` : `value ${value} x weight ${check.weight}${check.reverse ? ' reversed' : ''} = ${now.share}`;
    onChange({ ...now, reason: `${check.name}: ${check.path} ${what}${now.up ? '' : ', down'}` });
  };

  let settle: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  const schedule = () => {
    clearTimeout(settle);
    settle = setTimeout(update, SETTLE_MS);
  };
  const fallBack = () => {
    watcher?.close();
    watcher = undefined;
    poll ??= setInterval(update, FALLBACK_POLL_MS);
  };
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
    watcher = watch(dir, { persistent: false }, (_event, name) => {
      if (name === null || name === basename(path)) schedule();
    });
    watcher.on('error', fallBack);
  } catch {
    fallBack();
  }
  // the value again now that the watch is in place: no write between the two is missed
  update();

  return {
    stop() {
      clearTimeout(settle);
      clearInterval(poll);
      watcher?.close();
    },
    current: () => ({ up: now.up, share: now.share }),
  };
}
