// SMTP_CHECK (keepalived check_smtp.c): connect (from bindto:bind_port when set), then
//   banner  must be 220: three digits followed by a space or the end of the line, so the first
//           line of a multi-line `220-` banner fails, as in keepalived;
//   HELO <helo_name>  must be answered 250 the same way;
//   QUIT    any line back passes.
// Anything else fails: a connect error, another code, the server closing before the dialogue
// is done (closing instead of answering QUIT too: keepalived needs a line), or the whole
// attempt outlasting connect_timeout.
//
// Two deliberate differences from keepalived, both only about which bytes count as a line:
// - keepalived cuts the line at '\n' and leaves a '\r' in it, so a bare "220" CRLF (valid
//   under RFC 5321) fails there; vigil drops the '\r' and passes it.
// - keepalived keeps only the first line of each read() and drops the rest of that read, so
//   extra lines a server sends early are lost or not depending on packet boundaries; vigil
//   takes lines in order.
// keepalived bounds each read by connect_timeout; vigil bounds the whole attempt, per the probe
// contract (checks.ts).

import { Socket } from 'node:net';
import type { ProbeResult, SmtpCheck } from './checks.ts';
import { runAttempt, streamErrorWords } from './probe-attempt.ts';

/** keepalived's SMTP_BUFF_MAX: a "line" longer than this is cut there (keepalived wraps its
 * buffer; either way the reply is judged on what it holds and a long line never grows memory). */
const LINE_MAX = 512;

type Stage = 'connect' | 'banner' | 'helo' | 'quit';

/** What the attempt is waiting for, for reasons ("no banner within 3000 ms"). */
const WAITING: Record<Stage, string> = {
  connect: 'no connection',
  banner: 'no banner',
  helo: 'no reply to HELO',
  quit: 'no reply to QUIT',
};

const CLOSED: Record<Stage, string> = {
  connect: 'closed before connecting',
  banner: 'closed before the banner',
  helo: 'closed after HELO',
  quit: 'closed after QUIT',
};

/** The reply code when `line` is three digits followed by a space or nothing, else undefined. */
export function smtpCode(line: string): number | undefined {
  const m = /^(\d{3})(?: |$)/.exec(line);
  return m ? Number(m[1]) : undefined;
}

/** A line as it may appear in a reason: at most 60 characters, controls shown as '?'. */
function quote(line: string): string {
  const shown = [...line].map((c) => (c >= ' ' && c <= '~' ? c : '?')).join('');
  return `'${shown.length > 60 ? `${shown.slice(0, 60)}...` : shown}'`;
}

export function smtpProbe(check: SmtpCheck, signal?: AbortSignal): Promise<ProbeResult> {
  let stage: Stage = 'connect';
  const onTimeout = (a: { fail(e: string): void }) => a.fail(`${WAITING[stage]} within ${check.timeoutMs} ms`);
  return runAttempt({ timeoutMs: check.timeoutMs, signal, onTimeout }, (a) => {
    const socket = new Socket();
    a.defer(() => socket.destroy());
    let buffered = '';

    const onLine = (line: string) => {
      const code = smtpCode(line);
      switch (stage) {
        case 'banner':
          if (code !== 220) return a.fail(`banner ${quote(line)} is not 220`);
          stage = 'helo';
          socket.write(`HELO ${check.heloName}\r\n`);
          return;
        case 'helo':
          if (code !== 250) return a.fail(`HELO answered ${quote(line)}, not 250`);
          stage = 'quit';
          socket.write('QUIT\r\n');
          return;
        case 'quit':
          return a.pass();
        case 'connect':
          return; // no data before the connection
      }
    };

    socket.setEncoding('latin1'); // bytes as they are; SMTP replies are ASCII
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while (!a.ended() && (nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).replace(/\r$/, '');
        buffered = buffered.slice(nl + 1);
        onLine(line.slice(0, LINE_MAX));
      }
      if (buffered.length > LINE_MAX) buffered = buffered.slice(-LINE_MAX);
    });
    socket.once('connect', () => {
      stage = 'banner';
    });
    socket.once('error', (e: NodeJS.ErrnoException) => {
      // a reset mid-dialogue says where it happened, like a close
      if (stage !== 'connect' && (e.code === 'ECONNRESET' || e.code === 'EPIPE')) return a.fail(`${CLOSED[stage]} (reset)`);
      a.fail(streamErrorWords(e));
    });
    // 'end': the server closed its side; 'close' covers a close without a FIN we saw
    socket.once('end', () => a.fail(CLOSED[stage]));
    socket.once('close', () => a.fail(CLOSED[stage]));
    socket.connect({
      host: check.host,
      port: check.port,
      ...(check.bindto !== undefined ? { localAddress: check.bindto } : {}),
      ...(check.bindPort !== undefined ? { localPort: check.bindPort } : {}),
    });
  });
}
