// Reading a track file the way keepalived does (vrrp track_file and the checker's FILE_CHECK
// alike): the first 127 bytes through strtol(buf, NULL, 0),
// so leading blanks and a sign are allowed, 0x.. is hex, a leading 0 is octal, anything after the
// number is ignored and text with no number reads as 0. Users' scripts rely on those quirks
// ("echo 10 > file", "printf 0x10"), so vigil reproduces them rather than Number().

import { closeSync, constants, openSync, readSync } from 'node:fs';

/** What one read of the file gave. `value` is set unless the number is out of keepalived's
 * accepted range, in which case the previous value is kept (keepalived logs and ignores it). */
export interface FileReading {
  value?: number;
  /** Why the value is 0 or ignored, for the log; undefined when a number was read. */
  note?: string;
}

const INT32_MIN = -(2n ** 31n);
/** keepalived accepts up to INT32_MAX + 1 (its check is `> INT32_MAX + 1`). */
const INT32_MAX_PLUS_1 = 2n ** 31n;
/** strtol on a 64-bit long: beyond this it returns ERANGE, which keepalived ignores too. */
const LONG_MAX = 2n ** 63n - 1n;
const LONG_MIN = -(2n ** 63n);

/** strtol(text, NULL, 0) on the text keepalived would have read, or why it gives no number. */
export function parseTrackValue(raw: string): FileReading {
  // keepalived reads at most sizeof(buf) - 1 = 127 bytes
  const text = raw.slice(0, 127);
  let i = 0;
  while (i < text.length && ' \t\n\v\f\r'.includes(text[i] as string)) i++;
  let negative = false;
  if (text[i] === '+' || text[i] === '-') {
    negative = text[i] === '-';
    i++;
  }
  let base = 10;
  if (text[i] === '0' && (text[i + 1] === 'x' || text[i + 1] === 'X') && isDigit(text[i + 2], 16)) {
    base = 16;
    i += 2;
  } else if (text[i] === '0') {
    base = 8;
  }
  let n = 0n;
  let digits = 0;
  while (i < text.length && isDigit(text[i], base)) {
    n = n * BigInt(base) + BigInt(parseInt(text[i] as string, base));
    digits++;
    i++;
  }
  if (digits === 0) return { value: 0, note: text.trim() === '' ? 'empty' : `no number in ${JSON.stringify(text.trim().slice(0, 32))}` };
  if (negative) n = -n;
  if (n > LONG_MAX || n < LONG_MIN || n < INT32_MIN || n > INT32_MAX_PLUS_1) return { note: `invalid number ${n} - ignoring` };
  return { value: Number(n) };
}

function isDigit(c: string | undefined, base: number): boolean {
  if (c === undefined) return false;
  const d = parseInt(c, 36);
  return !Number.isNaN(d) && d < base;
}

/** keepalived's status of one tracking object for a file value: a priority adjustment, or
 * `fault`. With weight 0 a non-zero value is a failure (with `reverse`, zero is); otherwise
 * value × weight (negated by `reverse`), where a result of -254 or less means FAULT and the
 * rest is capped at +253. */
export function trackStatus(value: number, weight: number, reverse: boolean): { fault: boolean; adjust: number } {
  if (weight === 0) return { fault: (value !== 0) !== reverse, adjust: 0 };
  const status = value * weight * (reverse ? -1 : 1);
  if (status <= -254) return { fault: true, adjust: 0 };
  // `|| 0` turns a -0 (0 × a negative weight) into 0
  return { fault: false, adjust: Math.min(status, 253) || 0 };
}

/** keepalived's process_track_file: open non-blocking (a FIFO planted there must not hang us),
 * read up to 127 bytes and parse them. A file that cannot be opened reads as 0, with the why
 * (a `note` with a value is always a value of 0). */
export function readTrackFile(path: string): FileReading {
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const buf = Buffer.alloc(127);
    const n = readSync(fd, buf, 0, buf.length, null);
    return parseTrackValue(buf.subarray(0, n).toString('latin1'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { value: 0, note: code === 'ENOENT' ? 'missing' : `unreadable (${code ?? (e as Error).message})` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
