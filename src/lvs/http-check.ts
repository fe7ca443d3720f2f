// HTTP_GET / SSL_GET (keepalived's check_http.c, check_ssl.c) and the fetch `vigil genhash`
// shares with it.
//
// The request is keepalived's, byte for byte:
//   GET <path> HTTP/1.<0|1>\r\nUser-Agent: KeepAliveClient\r\n[Connection: close\r\n]Host: <host>\r\n\r\n
// with Connection: close for 1.0C and 1.1 only. The response is read until the server closes the
// connection, as keepalived does (a server that keeps it open fails by timeout). The MD5 covers
// the bytes after the blank line, stopping at Content-Length when that header is present.
// A chunked body is hashed as it arrives, chunk-size lines included: keepalived does not decode
// chunking either, so a digest its genhash printed stays valid here, and `vigil genhash` prints
// the digest this probe computes. (A server answers HTTP/1.0 requests unchunked anyway; only
// http_protocol 1.1 can see chunking.)
//
// Written on node:net / node:tls rather than node:http: we choose every byte sent, and we decide
// what a broken response is (node:http repairs or tolerates several). Stricter than keepalived,
// which bounds each read by connect_timeout but not the whole exchange, and not the body:
// - one url's exchange (connect + TLS + headers + body) ends within timeoutMs in total, so a
//   slow-drip body fails by timeout;
// - a body beyond maxBodyBytes fails at once, headers beyond MAX_HEADER_BYTES too;
// - anything but `HTTP/x.y NNN` as the first line fails as "not an HTTP response";
// - a close before the end of the headers, or before Content-Length bytes, fails (keepalived
//   only logs a length mismatch).
// Every path ends in finish(): the timer cleared, the abort listener removed, the sockets destroyed.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP, Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { HttpCheck, HttpUrl, ProbeResult } from './checks.ts';
import { monoMs } from '../clock.ts';

/** Headers longer than this fail the exchange (keepalived's buffer holds 4 KiB). */
export const MAX_HEADER_BYTES = 64 * 1024;

export interface HttpTls {
  /** SNI; absent (or an IP address, which SNI cannot carry): none sent. */
  sni?: string;
  /** Verify the certificate chain (against caFile, else the system's CAs) and verifyName. */
  verify: boolean;
  verifyName?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  keyPassword?: string;
}

/** One GET: where, what, and its bounds. */
export interface HttpTarget {
  host: string;
  port: number;
  bindto?: string;
  bindPort?: number;
  /** Absent: plain HTTP. */
  tls?: HttpTls;
  protocol: HttpCheck['protocol'];
  path: string;
  /** The Host header's value, as written. */
  hostHeader: string;
  timeoutMs: number;
  maxBodyBytes: number;
  /** Keep the header block and the hashed body bytes in the result (genhash -v). */
  keep?: boolean;
}

export interface HttpTimings {
  connectMs: number;
  tlsMs?: number;
  firstByteMs?: number;
  totalMs: number;
}

/** Where an exchange failed: genhash words its messages after keepalived's by phase. */
export type HttpPhase = 'connect' | 'tls' | 'response';

export type HttpFetchResult =
  | {
      ok: true;
      status: number;
      /** The header block as received, status line included, without the blank line. */
      headerText: string;
      contentLength?: number;
      /** Bytes hashed (the body, up to Content-Length) and received after the headers. */
      hashedBytes: number;
      receivedBytes: number;
      /** MD5 of the hashed bytes, 32 lowercase hex digits. */
      md5: string;
      timings: HttpTimings;
      /** With `keep`: the header block as received, blank line included, and the hashed bytes. */
      header?: Buffer;
      body?: Buffer;
    }
  | { ok: false; error: string; phase: HttpPhase; timedOut: boolean; ms: number };

/** The exact bytes keepalived sends. */
export function httpRequest(path: string, protocol: HttpCheck['protocol'], hostHeader: string): string {
  return (
    `GET ${path} HTTP/1.${protocol === '1.1' ? 1 : 0}\r\n` +
    'User-Agent: KeepAliveClient\r\n' +
    (protocol === '1.0' ? '' : 'Connection: close\r\n') +
    `Host: ${hostHeader}\r\n\r\n`
  );
}

const SOCKET_WORDS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  EADDRNOTAVAIL: 'bind address not available',
  EADDRINUSE: 'bind port in use',
};

// OpenSSL's and Node's certificate errors, in a few stable words.
const TLS_WORDS: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in the chain',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'certificate not signed by a trusted CA',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'certificate not signed by a trusted CA',
  CERT_HAS_EXPIRED: 'certificate expired',
  CERT_NOT_YET_VALID: 'certificate not yet valid',
  ECONNRESET: 'connection reset',
};

function tlsWords(e: NodeJS.ErrnoException & { reason?: string }, name: string | undefined): string {
  if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `TLS: certificate not for ${name ?? 'this host'}`;
  const known = TLS_WORDS[e.code ?? ''];
  // OpenSSL's own words ("tlsv13 alert certificate required"), else the message without
  // OpenSSL's "error:0A000410:SSL routines::" prefix
  return `TLS: ${known ?? e.reason ?? e.message.replace(/^.*routines::?/s, '').trim()}`;
}

/** The host part of a Host header value: `[2001:db8::1]:80` -> `2001:db8::1`, `a.example:80` -> `a.example`. */
export function hostPart(hostHeader: string): string {
  const bracketed = /^\[([^\]]+)\]/.exec(hostHeader);
  if (bracketed) return bracketed[1] as string;
  const colon = hostHeader.indexOf(':');
  return colon >= 0 && colon === hostHeader.lastIndexOf(':') ? hostHeader.slice(0, colon) : hostHeader;
}

const HTTP_PREFIX = Buffer.from('HTTP/');
const STATUS_LINE = /^HTTP\/\d\.\d (\d{3})(?: [^\r\n]*)?\r?$/;

/** Where the header block ends: [end of headers, start of body], or undefined. */
function headerEnd(buf: Buffer): [number, number] | undefined {
  const crlf = buf.indexOf('\r\n\r\n');
  const lf = buf.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return [crlf, crlf + 4];
  if (lf >= 0) return [lf, lf + 2];
  return undefined;
}

/** Content-Length, when present once (or repeated with one value) and a plain number. */
function contentLength(headerText: string): number | undefined | 'invalid' {
  const values = new Set<string>();
  for (const line of headerText.split(/\r?\n/).slice(1)) {
    const m = /^content-length[ \t]*:[ \t]*(.*?)[ \t]*$/i.exec(line);
    if (m) values.add(m[1] as string);
  }
  if (values.size === 0) return undefined;
  const [v] = [...values];
  return values.size === 1 && /^\d{1,15}$/.test(v as string) ? Number(v) : 'invalid';
}

/** One GET on a fresh connection. Never rejects; ends within t.timeoutMs. */
export function httpFetch(t: HttpTarget, signal?: AbortSignal): Promise<HttpFetchResult> {
  const started = monoMs();
  const elapsed = () => monoMs() - started;
  return new Promise((resolve) => {
    let done = false;
    let phase: HttpPhase = 'connect';
    const raw = new Socket();
    let secure: TLSSocket | undefined;
    const timings: HttpTimings = { connectMs: 0, totalMs: 0 };

    // response state
    let head: Buffer = Buffer.alloc(0);
    let statusSeen = false;
    let status = 0;
    let headerText: string | undefined;
    let headerRaw: Buffer | undefined;
    let length: number | undefined;
    let received = 0;
    let hashed = 0;
    const md5 = createHash('md5');
    const kept: Buffer[] = [];

    const fail = (error: string, timedOut = false) => finish({ ok: false, error, phase, timedOut, ms: elapsed() });
    const finish = (r: HttpFetchResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      secure?.destroy();
      raw.destroy();
      resolve(r);
    };
    const complete = () => {
      timings.totalMs = elapsed();
      finish({
        ok: true,
        status,
        headerText: headerText ?? '',
        ...(length !== undefined ? { contentLength: length } : {}),
        hashedBytes: hashed,
        receivedBytes: received,
        md5: md5.digest('hex'),
        timings,
        ...(t.keep ? { header: headerRaw ?? Buffer.alloc(0), body: Buffer.concat(kept) } : {}),
      });
    };

    const onTimeout = () => {
      const within = `within ${t.timeoutMs} ms`;
      if (phase === 'connect') return fail(`no connection ${within}`, true);
      if (phase === 'tls') return fail(`no TLS handshake ${within}`, true);
      if (head.length === 0 && headerText === undefined) return fail(`no response ${within}`, true);
      if (headerText === undefined) return fail(`headers not complete ${within}`, true);
      if (length !== undefined && hashed >= length) return fail(`connection not closed ${within}`, true);
      fail(`body not complete ${within}`, true);
    };
    const timer = setTimeout(onTimeout, t.timeoutMs);
    const onAbort = () => fail('aborted');
    if (signal?.aborted) return fail('aborted');
    signal?.addEventListener('abort', onAbort, { once: true });

    const onBody = (chunk: Buffer) => {
      received += chunk.length;
      if (received > t.maxBodyBytes) return fail(`body larger than ${t.maxBodyBytes} bytes`);
      const take = length === undefined ? chunk.length : Math.max(0, Math.min(chunk.length, length - hashed));
      if (take > 0) {
        const part = take === chunk.length ? chunk : chunk.subarray(0, take);
        md5.update(part);
        if (t.keep) kept.push(Buffer.from(part));
        hashed += take;
      }
    };

    const onData = (chunk: Buffer) => {
      if (done) return;
      timings.firstByteMs ??= elapsed();
      if (headerText !== undefined) return onBody(chunk);
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      // garbage shows in its first bytes: no need to wait for a line that may never come
      const n = Math.min(head.length, HTTP_PREFIX.length);
      if (!head.subarray(0, n).equals(HTTP_PREFIX.subarray(0, n))) return fail('not an HTTP response');
      if (!statusSeen) {
        const eol = head.indexOf('\n');
        if (eol >= 0) {
          const m = STATUS_LINE.exec(head.subarray(0, eol).toString('latin1'));
          if (!m) return fail('not an HTTP response');
          statusSeen = true;
          status = Number(m[1]);
        }
      }
      const end = headerEnd(head);
      if (!end) {
        if (head.length > MAX_HEADER_BYTES) fail(`headers larger than ${MAX_HEADER_BYTES} bytes`);
        return;
      }
      if (end[0] > MAX_HEADER_BYTES) return fail(`headers larger than ${MAX_HEADER_BYTES} bytes`);
      headerText = head.subarray(0, end[0]).toString('latin1');
      if (t.keep) headerRaw = Buffer.from(head.subarray(0, end[1]));
      const cl = contentLength(headerText);
      if (cl === 'invalid') return fail('invalid Content-Length');
      length = cl;
      if (length !== undefined && length > t.maxBodyBytes) return fail(`body larger than ${t.maxBodyBytes} bytes (Content-Length ${length})`);
      const rest = head.subarray(end[1]);
      head = Buffer.alloc(0);
      if (rest.length > 0) onBody(rest);
    };

    // the server closed its side: the response is what we have
    const onEnd = () => {
      if (done) return;
      if (headerText === undefined) {
        return fail(head.length === 0 ? 'connection closed without a response' : statusSeen ? 'connection closed mid-headers' : 'not an HTTP response');
      }
      if (length !== undefined && hashed < length) return fail(`connection closed after ${hashed} of ${length} body bytes`);
      complete();
    };

    const onError = (e: NodeJS.ErrnoException & { reason?: string }) => {
      if (done) return;
      // OpenSSL's errors carry a reason; TLS 1.3 reports some (a refused client certificate)
      // only after the handshake, while we read
      if (phase === 'tls' || e.code?.startsWith('ERR_SSL_')) return fail(tlsWords(e, t.tls?.verifyName));
      // a reset after a complete Content-Length body loses nothing
      if (phase === 'response' && headerText !== undefined && length !== undefined && hashed >= length) return complete();
      const words = SOCKET_WORDS[e.code ?? ''] ?? e.code ?? e.message;
      fail(phase === 'response' && headerText === undefined && head.length > 0 && words === 'connection reset' ? 'connection reset mid-headers' : words);
    };

    const send = (stream: Socket) => {
      phase = 'response';
      stream.on('data', onData);
      stream.once('end', onEnd);
      stream.write(httpRequest(t.path, t.protocol, t.hostHeader));
    };

    const startTls = (tls: HttpTls) => {
      phase = 'tls';
      let files: { ca?: Buffer; cert?: Buffer; key?: Buffer };
      try {
        files = {
          ...(tls.verify && tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
          ...(tls.certFile !== undefined ? { cert: readFileSync(tls.certFile) } : {}),
          ...(tls.keyFile !== undefined ? { key: readFileSync(tls.keyFile) } : {}),
        };
      } catch (e) {
        return fail(`TLS: ${(e as Error).message}`);
      }
      const name = tls.verifyName;
      try {
        secure = tlsConnect({
          socket: raw,
          ...(tls.sni !== undefined && tls.sni !== '' && isIP(tls.sni) === 0 ? { servername: tls.sni } : {}),
          rejectUnauthorized: tls.verify,
          ...files,
          ...(tls.keyPassword !== undefined ? { passphrase: tls.keyPassword } : {}),
          // the name is the url's (SNI, else the Host header's host), not the address dialled
          checkServerIdentity: (_host: string, cert: PeerCertificate) => (name === undefined ? undefined : checkServerIdentity(name, cert)),
        });
      } catch (e) {
        // a key that cannot be decrypted, a malformed certificate file
        return fail(`TLS: ${(e as Error).message}`);
      }
      secure.on('error', onError);
      secure.once('secureConnect', () => {
        timings.tlsMs = elapsed();
        if (secure) send(secure);
      });
    };

    raw.on('error', onError);
    raw.once('connect', () => {
      timings.connectMs = elapsed();
      if (t.tls) startTls(t.tls);
      else send(raw);
    });
    try {
      raw.connect({
        host: t.host,
        port: t.port,
        ...(t.bindto !== undefined ? { localAddress: t.bindto } : {}),
        ...(t.bindPort !== undefined ? { localPort: t.bindPort } : {}),
      });
    } catch (e) {
      // a port out of range, an address family mismatch: refused before any packet
      fail((e as Error).message);
    }
  });
}

/** `200-299`, `200-299,404`. */
export function formatRanges(ranges: Array<[number, number]>): string {
  return ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',');
}

/** The target of one url of a check. */
export function urlTarget(check: HttpCheck, url: HttpUrl): HttpTarget {
  return {
    host: check.host,
    port: check.port,
    ...(check.bindto !== undefined ? { bindto: check.bindto } : {}),
    ...(check.bindPort !== undefined ? { bindPort: check.bindPort } : {}),
    ...(check.tls
      ? {
          tls: {
            ...(url.sni !== undefined ? { sni: url.sni } : {}),
            verify: check.verifyTls,
            verifyName: url.sni ?? hostPart(url.host),
            ...(check.caFile !== undefined ? { caFile: check.caFile } : {}),
            ...(check.certFile !== undefined ? { certFile: check.certFile } : {}),
            ...(check.keyFile !== undefined ? { keyFile: check.keyFile } : {}),
            ...(check.keyPassword !== undefined ? { keyPassword: check.keyPassword } : {}),
          },
        }
      : {}),
    protocol: check.protocol,
    path: url.path,
    hostHeader: url.host,
    timeoutMs: check.timeoutMs,
    maxBodyBytes: check.maxBodyBytes,
  };
}

/** Why a fetched url fails the check, or undefined when it passes. */
function judge(url: HttpUrl, r: Extract<HttpFetchResult, { ok: true }>): string | undefined {
  const ranges = url.statusCodes.length > 0 ? url.statusCodes : ([[200, 299]] as Array<[number, number]>);
  if (!ranges.some(([a, b]) => r.status >= a && r.status <= b)) return `status ${r.status} not in ${formatRanges(ranges)}`;
  if (url.digest !== undefined && r.md5 !== url.digest.toLowerCase()) return `digest ${r.md5} != expected ${url.digest.toLowerCase()}`;
  return undefined;
}

/** One attempt of HTTP_GET / SSL_GET: every url in order, each on its own connection and within
 * timeoutMs; all must pass. Never rejects. */
export async function httpProbe(check: HttpCheck, signal?: AbortSignal): Promise<ProbeResult> {
  const started = monoMs();
  const ms = () => monoMs() - started;
  // with several urls the reason says which one failed
  const which = (url: HttpUrl, why: string) => (check.urls.length > 1 ? `${url.path}: ${why}` : why);
  if (check.urls.length === 0) return { ok: false, error: 'no url to check', ms: ms() };
  for (const url of check.urls) {
    const r = await httpFetch(urlTarget(check, url), signal);
    if (!r.ok) return { ok: false, error: which(url, r.error), ms: ms() };
    const why = judge(url, r);
    if (why !== undefined) return { ok: false, error: which(url, why), ms: ms() };
  }
  return { ok: true, ms: ms() };
}
