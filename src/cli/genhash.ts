// `vigil genhash` (also `vigil -T ...` / `vigil --genhash ...`, keepalived's spelling): fetch one
// page the way HTTP_GET / SSL_GET does and print the MD5 their `digest` expects. keepalived's
// genhash (check_genhash.c) in options, output and exit codes:
// - plain output is one line, the body's MD5; the status is not checked (a 404 page is hashed);
// - a failed exchange prints keepalived's line for it on stdout (`Connection failed`,
//   `Timeout connecting`, ...) and still exits 0; vigil adds its own reason on stderr;
// - headers that never complete: `no data received from remote webserver` on stderr, exit 0;
// - a usage error, and -h, print the usage on stderr and exit 1.
// It uses the probe's own fetch (lvs/http-check.ts), so the digest printed is the one the probe
// computes, chunked bodies included. Imports nothing of the daemon or the config reader.

import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { httpFetch, type HttpFetchResult, type HttpTarget } from '../lvs/http-check.ts';

// keepalived's default with no -t: UINT_MAX microseconds, about 71 minutes
const DEFAULT_TIMEOUT_MS = Math.floor(0xffffffff / 1000);

function usageText(prog: string): string {
  return `Usage: ${prog} COMMAND [OPTIONS]
Commands:
   -s server-address -p port -u url
   -S -s server-address -p port -u url
   -h

Options:
Either long or short options are allowed.
   --use-ssl         -S       Use SSL connection to remote server.
   --use-sni         -I       Use SNI during SSL handshake (uses virtualhost setting; see -V).
   --server          -s       Use the specified remote server address.
   --port            -p       Use the specified remote server port.
   --url             -u       Use the specified remote server url.
   --use-virtualhost -V       Use the specified virtualhost in GET query.
   --verbose         -v       Use verbose mode output.
   --help            -h       Display this short inlined help screen.
   --fwmark          -m       Use the specified FW mark (not supported by vigil: ignored).
   --protocol        -P       Use the specified HTTP protocol - '1.0', 1.0c', '1.1'.
                                1.0c means 1.0 with 'Connection: close'
   --timeout         -t       Timeout in seconds
`;
}

export interface GenhashOptions {
  target: HttpTarget;
  verbose: boolean;
  /** -m: parsed as keepalived does, then ignored (vigil cannot mark the probe's packets here). */
  fwmark?: number;
}

/** Parses genhash's options; a string is the error to print before the usage. */
export function parseGenhash(argv: string[]): GenhashOptions | string | 'help' {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        verbose: { type: 'boolean', short: 'v' },
        'use-ssl': { type: 'boolean', short: 'S' },
        'use-sni': { type: 'boolean', short: 'I' },
        server: { type: 'string', short: 's' },
        'use-virtualhost': { type: 'string', short: 'V' },
        port: { type: 'string', short: 'p' },
        // keepalived keeps the last -u
        url: { type: 'string', short: 'u', multiple: true },
        fwmark: { type: 'string', short: 'm' },
        protocol: { type: 'string', short: 'P' },
        timeout: { type: 'string', short: 't' },
      },
    }));
  } catch (e) {
    return (e as Error).message.replace(/\. To specify a positional argument.*$/s, '');
  }
  if (values.help) return 'help';
  if (positionals.length > 0) return `Unexpected argument(s): ${positionals.join(' ')}`;
  const server = values.server;
  if (server !== undefined && isIP(server) === 0) return `server should be an IP, not ${server}`;
  let port: number | undefined;
  if (values.port !== undefined) {
    port = /^\d+$/.test(values.port) ? Number(values.port) : NaN;
    if (!(port >= 1 && port <= 65535)) return `invalid port number '${values.port}'`;
  }
  const protocols: Record<string, HttpTarget['protocol']> = { '1.0': '1.0', '1.0c': '1.0C', '1.0C': '1.0C', '1.1': '1.1' };
  const protocol = values.protocol === undefined ? '1.0' : protocols[values.protocol];
  if (protocol === undefined) return `invalid HTTP protocol version '${values.protocol}'`;
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    const s = values.timeout.replace(/^[ \t]+/, '');
    if (!/^\d+$/.test(s)) return `invalid timeout '${values.timeout}'`;
    // -t 0 would time out before connecting: take it as keepalived's default instead
    if (Number(s) > 0) timeoutMs = Math.min(Number(s) * 1000, DEFAULT_TIMEOUT_MS);
  }
  if (values.fwmark !== undefined && !/^[ \t]*\d+$/.test(values.fwmark)) return `invalid fwmark '${values.fwmark}'`;
  const path = values.url?.at(-1);
  // the mandatory three; keepalived prints only the usage when one is missing
  if (server === undefined || port === undefined || path === undefined) return '';
  const vhost = values['use-virtualhost'];
  const tls = values['use-ssl'] ?? false;
  return {
    verbose: values.verbose ?? false,
    ...(values.fwmark !== undefined ? { fwmark: Number(values.fwmark.trim()) } : {}),
    target: {
      host: server,
      port,
      ...(tls ? { tls: { verify: false, ...(values['use-sni'] && vhost !== undefined ? { sni: vhost } : {}) } } : {}),
      protocol,
      path,
      hostHeader: vhost ?? (isIP(server) === 6 ? `[${server}]:${port}` : `${server}:${port}`),
      timeoutMs,
      // genhash hashes what it is given, however long (keepalived has no bound either)
      maxBodyBytes: Number.MAX_SAFE_INTEGER,
    },
  };
}

/** keepalived's hex dump: a 4-digit decimal offset, 16 bytes in hex (a `-` after 8), then the
 * printable ones. */
export function hexDump(buf: Buffer): string {
  let out = '';
  for (let line = 0; line < buf.length; line += 16) {
    const bytes = buf.subarray(line, line + 16);
    let hex = '';
    for (let i = 0; i < 16; i++) {
      hex += i < bytes.length ? ` ${(bytes[i] as number).toString(16).padStart(2, '0')}` : '   ';
      if (i === 7) hex += ' -';
    }
    const ascii = [...bytes].map((b) => (b >= 0x20 && b <= 0x7e ? String.fromCharCode(b) : '.')).join('').padEnd(16, ' ');
    out += `${String(line & 0xffff).padStart(4, '0')} ${hex}   ${ascii}\n`;
  }
  return out;
}

const section = (title: string) => `-----------------------[${title}]-----------------------\n`;

/** keepalived's line on stdout for a failed exchange, by where it failed. */
function keepalivedLine(r: Extract<HttpFetchResult, { ok: false }>, tls: boolean): string | undefined {
  if (r.error === 'aborted') return undefined;
  if (r.phase === 'connect') return r.timedOut ? 'Timeout connecting' : 'Connection failed';
  if (r.phase === 'tls') return r.timedOut ? 'Timeout connecting' : 'SSL handshake/communication error connecting to';
  if (r.timedOut) return tls ? 'Timeout SSL read' : 'Timeout HTTP read';
  return tls ? 'SSL read error from' : 'Read error with';
}

/** Runs genhash with its arguments (after `genhash` / `-T`); resolves to the exit code. */
export async function genhash(argv: string[], prog = 'vigil genhash', out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  const parsed = argv.length === 0 ? '' : parseGenhash(argv);
  if (typeof parsed === 'string') {
    if (parsed !== '' && parsed !== 'help') err.write(`${parsed}\n`);
    err.write(usageText(prog));
    return 1;
  }
  if (parsed.fwmark !== undefined) {
    err.write(`${prog}: -m (fwmark) is not supported: the request goes out unmarked\n`);
  }
  const { target, verbose } = parsed;
  // Ctrl-C ends the fetch (and its socket) rather than the process mid-write
  const ac = new AbortController();
  const onSignal = () => ac.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = performance.now();
  let r: HttpFetchResult;
  try {
    r = await httpFetch({ ...target, keep: verbose }, ac.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const tls = target.tls !== undefined;
  if (verbose && r.ok) {
    const header = r.header ?? Buffer.alloc(0);
    out.write(section('    HTTP Header Buffer    ') + hexDump(header));
    out.write(section(' HTTP Header Ascii Buffer ') + `${header.toString('latin1')}\n`);
    out.write(section('        HTML Buffer        ') + hexDump(r.body ?? Buffer.alloc(0)));
    out.write('\n' + section('    HTML hash resulting    ') + hexDump(Buffer.from(r.md5, 'hex')) + section(' HTML hash final resulting '));
  }
  if (r.ok) {
    out.write(`${r.md5}\n`);
  } else if (r.phase === 'response' && /^connection closed (without a response|mid-headers)/.test(r.error)) {
    err.write('no data received from remote webserver\n');
  } else {
    const line = keepalivedLine(r, tls);
    if (line !== undefined) out.write(`${line}\n`);
    err.write(`${prog}: ${target.host}:${target.port}${target.path}: ${r.error}\n`);
  }
  if (verbose) out.write(`\nGlobal response time for [${target.path}] = ${Math.round((performance.now() - started) * 1000)} usecs\n`);
  return 0;
}
