// The daemon's log, on pino. Two shapes of one record:
//
// - JSON lines (the default): {"level":"info","time":"...","pid":1234,"msg":"(VI_1) Entering
//   MASTER STATE","from":"backup",...}, for journald / log shippers / jq.
// - console text (-l): `Mon Nov 30 14:30:08 2026: vigil[1234] info: (VI_1) Entering MASTER STATE
//   from=backup reason=...`, keepalived-like (its console lines start with the same timestamp),
//   because operators' alerts and the test suite match that text.
// - syslog (the default, as keepalived's; -G turns it off): the text without the prefix, under
//   keepalived's ident, at the level's priority (syslog.ts). Without -l, a line syslog could not
//   take (no /dev/log, as in many containers) goes to stderr as JSON instead of being lost;
//   with -G and without -l every line does.
//
// Both go through pino, so redaction is the same: fields named like secrets are censored by
// pino's redact paths, and a last guard masks the configured secrets (auth_pass, plugin tokens)
// wherever they appear in the final line, message text included: a secret interpolated into an
// error message would otherwise slip past key-based redaction.
//
// Writes are synchronous (sonic-boom sync mode on fd 2): a daemon's log rate is low, and a line
// written before a crash or process.exit is worth more than the microseconds an async buffer
// saves. flush() exists for the stop path all the same.

import { pino } from 'pino';
import { consoleTime, SyslogSink, type LogLevel, type SyslogOptions } from './syslog.ts';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What the daemon holds: the Logger everyone else sees, plus the knobs only it turns. */
export interface DaemonLogger extends Logger {
  /** The secrets of the current config; replaced (not merged) on every call. */
  setSecrets(secrets: Iterable<string>): void;
  flush(): void;
  /** Lets go of the syslog socket. */
  close(): void;
}

export interface LoggerOptions {
  /** Debug lines (-D). */
  detail: boolean;
  /** Human-readable keepalived-like lines (-l) instead of JSON. */
  console?: boolean;
  /** Where finished lines go (tests); default: stderr, synchronously. */
  write?: (line: string) => void;
  /** The name in console lines' `name[pid]` prefix. */
  name?: string;
  /** Syslog (keepalived's default); off when absent (tests, -G). */
  syslog?: SyslogOptions | undefined;
  /** The clock of console timestamps (tests). */
  now?: () => Date;
}

export const MASK = '[REDACTED]';

/** Field names that hold secrets, wherever they appear in a log record's fields. */
const SECRET_KEYS = [
  'auth_pass',
  'password',
  'passwd',
  'pass',
  'secret',
  'secret_access_key',
  'session_token',
  'token',
  'api_key',
  'apiKey',
  'authorization',
  'Authorization',
  'cookie',
  '"x-api-key"',
];

// @pinojs/redact's wildcards match one level each; three levels cover `headers.authorization`
// in a request object inside a field.
const REDACT_PATHS = SECRET_KEYS.flatMap((k) => {
  const key = k.startsWith('"') ? `[${k}]` : `.${k}`;
  return [key.slice(key.startsWith('.') ? 1 : 0), `*${key}`, `*.*${key}`, `*.*.*${key}`];
});

/** Config keys whose string values are secrets: keepalived's auth_pass, the HTTP token, the
 * webhook secret, cloud tokens and keys, Authorization headers in webhook header maps. */
const SECRET_CONFIG_KEY = /(^|_)(pass|passwd|password|secret|token|authorization|cookie|api_?key|secret_access_key|private_key)$/i;

/** Shorter values are not masked: masking "1" would garble every line, and a secret that
 * short protects nothing (keepalived's PASS auth is a cleartext 8 bytes on the wire anyway). */
const MIN_SECRET_LENGTH = 4;

/** Every secret-looking string value in a config (or any object), for setSecrets. */
export function configSecrets(config: unknown): string[] {
  const out = new Set<string>();
  const walk = (v: unknown, key: string | undefined) => {
    if (typeof v === 'string') {
      if (key !== undefined && SECRET_CONFIG_KEY.test(key)) out.add(v);
    } else if (Array.isArray(v)) {
      for (const x of v) walk(x, key);
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) walk(x, k);
    }
  };
  walk(config, undefined);
  return [...out];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type LogRecord = Record<string, unknown>;

/** `msg k=v ...`: the text of a record without its prefix (console lines and syslog). */
function textBody(rec: LogRecord): string {
  const { level: _level, time: _time, pid: _pid, msg, ...fields } = rec;
  const extra = Object.entries(fields)
    .map(([k, v]) => ` ${k}=${v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join('');
  return `${String(msg ?? '')}${extra}`;
}

const LEVELS = new Set<string>(['debug', 'info', 'warn', 'error']);

export function createLogger(opts: LoggerOptions): DaemonLogger {
  const name = opts.name ?? 'vigil';
  const now = opts.now ?? (() => new Date());
  let guard: RegExp | undefined;
  const dest = opts.write ? undefined : pino.destination({ fd: 2, sync: true });
  const out = opts.write ?? ((line: string) => dest?.write(line + '\n'));
  const syslog = opts.syslog ? new SyslogSink(opts.syslog) : undefined;
  const mask = (line: string) => (guard ? line.replace(guard, MASK) : line);
  const stream = {
    write(json: string): void {
      let rec: LogRecord | undefined;
      try {
        rec = JSON.parse(json) as LogRecord;
      } catch {
        rec = undefined;
      }
      const level: LogLevel = rec && LEVELS.has(String(rec.level)) ? (rec.level as LogLevel) : 'info';
      const body = rec ? textBody(rec) : json.trimEnd();
      const delivered = syslog ? syslog.log(level, mask(body)) : false;
      if (opts.console) out(mask(`${consoleTime(now())}: ${name}[${String(rec?.pid ?? process.pid)}] ${level}: ${body}`));
      // JSON on stderr when there is no syslog (-G), or for a line it could not take
      else if (!delivered) out(mask(json.trimEnd()));
    },
  };
  const p = pino(
    {
      level: opts.detail ? 'debug' : 'info',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // labels, not pino's numbers: `"level":"warn"` is what a person greps for
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: MASK },
    },
    stream,
  );
  const emit = (level: 'debug' | 'info' | 'warn' | 'error') => (msg: string, fields?: Record<string, unknown>) => {
    if (fields) p[level](fields, msg);
    else p[level](msg);
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    setSecrets(secrets) {
      // each secret also as JSON escapes it (a quote or backslash in a password), longest
      // first so a secret containing another is masked whole
      const forms = new Set<string>();
      for (const s of secrets) {
        if (s.length < MIN_SECRET_LENGTH) continue;
        forms.add(s);
        forms.add(JSON.stringify(s).slice(1, -1));
      }
      guard = forms.size ? new RegExp([...forms].sort((a, b) => b.length - a.length).map(escapeRe).join('|'), 'g') : undefined;
    },
    flush() {
      p.flush();
      dest?.flushSync();
    },
    close() {
      syslog?.close();
    },
  };
}
